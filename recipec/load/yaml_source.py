"""Read YAML with a source map: every config path -> (line, column).

Safety bounds: file size, alias expansion (node count) and nesting depth are limited; custom tags
(``!!python/object``, ``!foo``) and duplicate keys are errors; input must be UTF-8.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recipec.diagnostics import Diagnostic, Location, RecipecError

MAX_FILE_BYTES = 1 << 20  # 1 MiB: a recipe is a page of text
MAX_NODES = 50_000  # after alias expansion (defeats "billion laughs"); a recipe with 256 sizes has ~6,000
MAX_DEPTH = 64


def format_path(parts: tuple) -> str:
    """('optimizer', 'betas', 0) -> 'optimizer.betas[0]'."""
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out


@dataclass
class SourceMap:
    """Positions (1-based) of keys and values, by config path tuple."""

    file: str
    keys: dict[tuple, tuple[int, int]] = field(default_factory=dict)
    values: dict[tuple, tuple[int, int]] = field(default_factory=dict)
    overrides: dict[tuple, Location] = field(default_factory=dict)  # values that came from --set

    def locate(self, path: tuple, prefer_key: bool = False) -> Location:
        """The best location for a config path: the value, else the key, else the nearest parent."""
        path = tuple(path)
        for n in range(len(path), 0, -1):
            if path[:n] in self.overrides:
                return self.overrides[path[:n]]
        # a key that only --set introduced (``--set a.b=1`` makes 'a'): blame the --set, not line 1
        below = [where for p, where in self.overrides.items() if p[: len(path)] == path and len(p) > len(path)]
        if below and not (path in self.keys or path in self.values):
            return below[0]
        while True:
            table = (self.keys, self.values) if prefer_key else (self.values, self.keys)
            for t in table:
                if path in t:
                    line, col = t[path]
                    return Location(self.file, line, col)
            if not path:
                return Location(self.file, 1, 1)
            path = path[:-1]

    def has(self, path: tuple) -> bool:
        path = tuple(path)
        return path in self.values or path in self.keys or path in self.overrides


def _err(file: str, line: int, col: int, message: str, path: str = "") -> RecipecError:
    return RecipecError(Diagnostic(message, path=path, location=Location(file, line, col)))


def read_text(path: Path, display: str | None = None) -> str:
    """A recipe or rule file's text: regular files only, at most ``MAX_FILE_BYTES``, UTF-8."""
    display = display or str(path)
    return decode_utf8(read_bounded(path, display, MAX_FILE_BYTES), display)


def read_bounded(path: Path, display: str, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes, else a located error.

    Devices (``/dev/zero``), FIFOs and sockets are refused before anything is read (they may never end
    or never start); the read itself stops one byte past the limit, so a file that grows meanwhile is
    still bounded.
    """
    import os
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise RecipecError(Diagnostic("file not found", location=Location(display))) from None
    except IsADirectoryError:
        raise RecipecError(Diagnostic("is a directory, expected a YAML file", location=Location(display))) from None
    except (OSError, ValueError) as e:
        reason = getattr(e, "strerror", None) or str(e)
        raise RecipecError(Diagnostic(f"cannot read file: {reason}", location=Location(display))) from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise RecipecError(Diagnostic("is a directory, expected a YAML file", location=Location(display)))
        if not stat.S_ISREG(st.st_mode):
            raise RecipecError(Diagnostic("is not a regular file (a device, FIFO or socket); expected a YAML file",
                                          location=Location(display)))
        if st.st_size > limit:
            raise RecipecError(Diagnostic(f"file is too large ({st.st_size} bytes; the limit is {limit})",
                                          location=Location(display, 1, 1)))
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 16, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise RecipecError(Diagnostic(f"file is too large (over {limit} bytes)", location=Location(display, 1, 1)))
        return b"".join(chunks)
    except OSError as e:
        raise RecipecError(Diagnostic(f"cannot read file: {e.strerror}", location=Location(display))) from None
    finally:
        os.close(fd)


def decode_utf8(data: bytes, display: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        before = data[: e.start]
        line = before.count(b"\n") + 1
        col = e.start - (before.rfind(b"\n") + 1) + 1
        raise _err(display, line, col,
                   f"not valid UTF-8 (byte 0x{data[e.start]:02x}); save the file as UTF-8") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def _mark_of(exc: Exception) -> tuple[int, int]:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is None:
        return 0, 0
    return mark.line + 1, mark.column + 1


_STD = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_STD + t for t in ("int", "float", "bool", "null")}


def _composer():
    """A YAML 1.2 composer: libyaml's C parser when ruamel.yaml.clib is installed (about 10x faster)."""
    from ruamel.yaml import YAML

    try:
        return YAML(typ="safe", pure=False)
    except Exception:  # noqa: BLE001 - no C extension: the pure-Python parser gives the same nodes
        return YAML(typ="safe", pure=True)


def parse_yaml(text: str, display: str) -> tuple[Any, SourceMap]:
    """Parse YAML text into plain Python data (dict/list/str/int/float/bool/None) and its source map.

    Works on the composed node graph (every node carries its line and column), so positions come
    for free and duplicate keys, tags, merges and alias expansion are handled here explicitly.
    """
    from ruamel.yaml.error import MarkedYAMLError, YAMLError
    from ruamel.yaml.reader import ReaderError

    yaml = _composer()
    try:
        _check_depth(yaml, text, display)  # before composing: libyaml's composer recurses without a limit
        root = yaml.compose(text)
    except ReaderError as e:  # a control character (NUL, BEL, ESC…): ruamel gives only an offset
        line, col = _line_col(text, e.position)
        char = f"U+{e.character:04X}" if isinstance(e.character, int) else repr(e.character)
        raise _err(display, line, col, f"YAML error: the control character {char} is not allowed") from None
    except MarkedYAMLError as e:
        line, col = _mark_of(e)
        problem = e.problem or "YAML syntax error"
        context = f" {e.context}" if e.context else ""
        raise _err(display, line, col, f"YAML error: {problem}{context}".strip()) from None
    except YAMLError as e:  # unmarked errors (rare)
        raise _err(display, 1, 1, f"YAML error: {e}") from None
    except RecursionError:
        raise _err(display, 1, 1, "YAML error: nesting deeper than the limit") from None
    smap = SourceMap(display)
    if root is None:
        return None, smap
    return _Converter(display, smap, yaml.constructor).convert(root), smap


def _line_col(text: str, position: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    before = text[: max(0, min(position, len(text)))]
    return before.count("\n") + 1, position - (before.rfind("\n") + 1) + 1


def _check_depth(yaml, text: str, display: str) -> None:
    """Refuse nesting deeper than ``MAX_DEPTH`` and more than ``MAX_NODES`` nodes from the parser's events
    (iterative, bounded memory).

    Composing a deeply nested document recurses once per level in libyaml's composer, which crashes
    the interpreter (a segfault, not a RecursionError) long before the converter's own check runs.
    """
    from ruamel.yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent, ScalarEvent

    depth = nodes = 0
    for event in yaml.parse(text):
        if isinstance(event, (ScalarEvent, AliasEvent, CollectionStartEvent)):
            nodes += 1
            if nodes > MAX_NODES:  # before composing: the composer's time and memory grow with the nodes
                mark = event.start_mark
                raise _err(display, mark.line + 1, mark.column + 1, f"document has more than {MAX_NODES} nodes")
        if isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                mark = event.start_mark
                raise _err(display, mark.line + 1, mark.column + 1, f"nesting deeper than {MAX_DEPTH} levels")
        elif isinstance(event, CollectionEndEvent):
            depth -= 1


class _Converter:
    def __init__(self, display: str, smap: SourceMap, constructor):
        self.display = display
        self.smap = smap
        self.constructor = constructor
        self.nodes = 0

    def _fail(self, node, message: str, path: tuple):
        return _err(self.display, node.start_mark.line + 1, node.start_mark.column + 1, message, format_path(path))

    def convert(self, node: Any, path: tuple = (), depth: int = 0) -> Any:
        from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self._fail(node, f"document expands to more than {MAX_NODES} nodes (alias expansion is bounded)",
                             path)
        if depth > MAX_DEPTH:
            raise self._fail(node, f"nesting deeper than {MAX_DEPTH} levels", path)
        tag = node.tag or ""
        if isinstance(node, ScalarNode):
            if tag == _STD + "str":
                if "\x00" in node.value:  # a "\0" escape: no file name, shell word or config can carry it
                    raise self._fail(node, "a NUL character (\\0) is not allowed in a recipe", path)
                return node.value
            if tag in _SCALAR_TAGS:
                try:
                    return self.constructor.construct_object(node, deep=True)
                except Exception as e:  # noqa: BLE001 - a malformed number such as 0x
                    raise self._fail(node, f"cannot read {node.value!r}: {e}", path) from None
            if tag == _STD + "timestamp":
                return node.value  # dates stay text: recipes have no date fields
        elif isinstance(node, MappingNode) and tag == _STD + "map":
            return self._mapping(node, path, depth)
        elif isinstance(node, SequenceNode) and tag == _STD + "seq":
            out = []
            for i, item in enumerate(node.value):
                child = path + (i,)
                self.smap.values.setdefault(child, (item.start_mark.line + 1, item.start_mark.column + 1))
                out.append(self.convert(item, child, depth + 1))
            return out
        shown = tag.replace(_STD, "!!")
        raise self._fail(node, f"YAML tag {shown} is not allowed (recipes are plain data)", path)

    def _mapping(self, node, path: tuple, depth: int) -> dict:
        from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

        out: dict = {}
        merges = []
        for key_node, value_node in node.value:
            if key_node.tag == _STD + "merge":
                merges.append(value_node)
                continue
            if not isinstance(key_node, ScalarNode):
                raise self._fail(key_node, "mapping keys must be plain scalars", path)
            key = self.convert(key_node, path, depth + 1)
            if key is None or isinstance(key, (list, dict)):
                raise self._fail(key_node, "mapping keys must be plain scalars", path)
            key = key if isinstance(key, str) else str(key)
            child = path + (key,)
            if key in out:
                raise self._fail(key_node, f'YAML error: duplicate key "{key}" (a key may appear once in a mapping)',
                                 child)
            self.smap.keys[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            self.smap.values[child] = (value_node.start_mark.line + 1, value_node.start_mark.column + 1)
            out[key] = self.convert(value_node, child, depth + 1)
        # YAML merge keys (<<: *base): explicit keys win over merged ones.
        for merge in merges:
            sources = merge.value if isinstance(merge, SequenceNode) else [merge]
            for source in sources:
                if not isinstance(source, MappingNode):
                    raise self._fail(source, "a merge key (<<) takes a mapping or a list of mappings", path)
                for key, value in self._mapping(source, path, depth + 1).items():
                    out.setdefault(key, value)
        return out
