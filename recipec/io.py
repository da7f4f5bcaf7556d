"""Writing one output file safely: atomic for regular files, direct for devices and FIFOs, never a rename
over anything else.

``write_atomic(path, text)``:

* a regular file (or a path that does not exist yet) is written to a temporary file beside it and
  renamed over it, so a reader sees the old bytes or the new bytes, never half of them;
* a symbolic link is followed to the file it names (the link stays a link);
* a character device (``/dev/null``, ``/dev/stdout``) or a FIFO is written directly — renaming over it
  would replace the device node with a regular file; a FIFO without a reader is an error, not a hang;
* anything else (a directory, a socket, a block device) is refused.

Every failure is a ``RecipecError`` naming the path and the reason (exit code 2), never a traceback.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from recipec.diagnostics import Diagnostic, Location, RecipecError


def output_error(path: str | Path, e: BaseException, what: str = "cannot write") -> RecipecError:
    """A one-line error for an output path (``OSError`` → its reason)."""
    reason = getattr(e, "strerror", None) or str(e)
    if getattr(e, "errno", None) == errno.ELOOP:
        reason = "a loop of symbolic links"
    return RecipecError(Diagnostic(f"{what}: {reason}", location=Location(str(path))))


def _encode(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode("utf-8")


def _write_special(path: Path, mode: int, data: bytes) -> None:
    flags = os.O_WRONLY | getattr(os, "O_CLOEXEC", 0)
    if stat.S_ISFIFO(mode):
        flags |= os.O_NONBLOCK  # ENXIO at once when nobody reads, instead of blocking for ever
    try:
        fd = os.open(path, flags)
    except OSError as e:
        if e.errno == errno.ENXIO:
            raise RecipecError(Diagnostic("cannot write: the FIFO has no reader", location=Location(str(path)))) \
                from None
        raise output_error(path, e) from None
    try:
        if stat.S_ISFIFO(mode):
            os.set_blocking(fd, True)  # a reader is there: let it take the bytes at its pace
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except OSError as e:
        raise output_error(path, e) from None
    finally:
        os.close(fd)


def write_atomic(path: str | Path, text: str | bytes) -> None:
    """Write ``text`` (UTF-8, ``\\n`` line ends) or bytes to ``path``; see the module docstring."""
    import tempfile

    path = Path(path)
    if str(path) in ("", "."):
        raise RecipecError(Diagnostic("the output path is empty", location=Location(repr(str(path)))))
    data = _encode(text)
    try:
        st = os.stat(path)  # follows links: what the path names
    except FileNotFoundError:
        st = None
    except OSError as e:  # ELOOP, ENOTDIR (a parent is a file), EACCES
        raise output_error(path, e) from None
    if st is not None:
        if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
            _write_special(path, st.st_mode, data)
            return
        if stat.S_ISDIR(st.st_mode):
            raise RecipecError(Diagnostic("cannot write: is a directory", location=Location(str(path))))
        if not stat.S_ISREG(st.st_mode):
            raise RecipecError(Diagnostic("cannot write: not a regular file, a character device or a FIFO",
                                          location=Location(str(path))))
        if path.is_symlink():
            path = Path(os.path.realpath(path))  # replace the file the link names, keep the link
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:64]}.", dir=path.parent)
    except OSError as e:
        raise output_error(path, e) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        if st is not None:
            os.chmod(tmp, stat.S_IMODE(st.st_mode))
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # as open() would create it
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise output_error(path, e) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
