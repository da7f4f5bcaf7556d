"""Training data without downloads: the built-in corpus and nanoGPT-style token files.

* ``builtin``: the bytes of the Python standard library's own source files (sorted paths, excluding
  site-packages and the test suite), byte-level vocabulary of 256. Found on every machine with Python;
  its sha256 goes into the report because it differs between Python versions.
* a path: a flat binary file of token ids as nanoGPT's ``prepare.py`` writes them (``np.uint16``
  memmap by default; ``uint32`` for vocabularies beyond 65536).

Batches are contiguous windows at start offsets drawn from a seeded generator: the same seed gives the
same data order at every width of a ladder.
"""

from __future__ import annotations

import hashlib
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recipec.diagnostics import Location, RecipecError
from recipec.verify.options import OptionError, flag

BYTE_VOCAB = 256


@dataclass
class Corpus:
    tokens: np.ndarray  # 1-D integer array (memmap for files)
    vocab_size: int
    description: str
    sha256: str


def builtin_corpus(want_tokens: int, min_tokens: int | None = None) -> Corpus:
    """Up to ``want_tokens`` bytes (at least 1 MiB, fewer where the library is smaller: batches are random
    windows, so a run may pass over the corpus more than once); an error below ``min_tokens`` (default
    ``want_tokens``)."""
    min_tokens = want_tokens if min_tokens is None else min_tokens
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = {"site-packages", "dist-packages", "test", "tests", "idlelib", "__pycache__"}
    files = sorted(p for p in root.rglob("*.py") if not (skip & set(p.relative_to(root).parts)))
    want = max(want_tokens, 1 << 20)
    chunks, total, h = [], 0, hashlib.sha256()
    for path in files:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        chunks.append(data)
        h.update(data)
        total += len(data)
        if total >= want:
            break
    if total < min_tokens:
        raise RecipecError(f"the built-in corpus has {total} bytes, fewer than the {min_tokens} this run needs; "
                           f"lower {flag('seq_len')} or pass {flag('data')} PATH")
    arr = np.frombuffer(b"".join(chunks), dtype=np.uint8)
    return Corpus(arr, BYTE_VOCAB, f"Python {sysconfig.get_python_version()} standard library source, "
                                   f"{len(chunks)} files, {total:,} bytes (byte-level)", h.hexdigest())


def token_file(path: str, dtype: str, vocab_size: int, min_tokens: int) -> Corpus:
    p = Path(path)
    if not p.is_file():
        raise OptionError("data", "token file not found", location=Location(path))
    itemsize = np.dtype(dtype).itemsize
    if p.stat().st_size % itemsize:
        raise OptionError("data", f"file size is not a multiple of {itemsize} bytes: not a {dtype} token file",
                          location=Location(path))
    arr = np.memmap(p, dtype=dtype, mode="r")
    if len(arr) < min_tokens:
        raise OptionError("data", f"{len(arr):,} tokens, fewer than the {min_tokens:,} this run needs",
                          location=Location(path))
    sample = np.asarray(arr[: min(len(arr), 1 << 22)])
    top = int(sample.max()) if len(sample) else 0
    if top >= vocab_size:
        raise OptionError("data", f"token id {top} is outside the recipe's vocabulary of {vocab_size}",
                          location=Location(path))
    h = hashlib.sha256()
    h.update(sample.tobytes())
    return Corpus(arr, vocab_size, f"{p.name}: {len(arr):,} {dtype} tokens", h.hexdigest())


class Batches:
    """Deterministic (seeded) random windows of ``seq_len + 1`` tokens."""

    def __init__(self, corpus: Corpus, batch: int, seq_len: int, seed: int):
        n = len(corpus.tokens) - seq_len - 1
        if n <= 0:
            raise RecipecError(f"the corpus is shorter than one sequence of {seq_len + 1} tokens")
        self.corpus, self.batch, self.seq_len = corpus, batch, seq_len
        self.rng = np.random.default_rng(seed)
        self.n = n

    def next(self) -> np.ndarray:
        starts = self.rng.integers(0, self.n, size=self.batch)
        idx = starts[:, None] + np.arange(self.seq_len + 1)[None, :]
        return np.asarray(self.corpus.tokens[idx], dtype=np.int64)


def corpus_for(opts, vocab_size: int, seq_len: int, need: int) -> Corpus:
    """The run's corpus (``opts.data``): the built-in one of at least ``need`` tokens, or the token file
    (checked against the recipe's ``vocab_size``)."""
    if opts.data == "builtin":
        return builtin_corpus(need, min_tokens=seq_len + 2)
    return token_file(opts.data, opts.data_dtype, vocab_size, seq_len + 2)
