"""Read YAML with a source map: every config path -> (line, column).

Safety bounds: file size, alias expansion (node count) and nesting depth are limited; custom tags
(``!!python/object``, ``!foo``) and duplicate keys are errors; input must be UTF-8.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recipec.diagnostics import Diagnostic, Location, RecipecError

MAX_FILE_BYTES = 1 << 20  # 1 MiB: a recipe is a page of text
MAX_NODES = 100_000  # after alias expansion (defeats "billion laughs")
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
    display = display or str(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise RecipecError(Diagnostic("file not found", location=Location(display))) from None
    except OSError as e:
        raise RecipecError(Diagnostic(f"cannot read file: {e.strerror}", location=Location(display))) from None
    if path.is_dir():
        raise RecipecError(Diagnostic("is a directory, expected a YAML file", location=Location(display)))
    if size > MAX_FILE_BYTES:
        raise RecipecError(
            Diagnostic(f"file is too large ({size} bytes; the limit is {MAX_FILE_BYTES})",
                       location=Location(display, 1, 1))
        )
    data = path.read_bytes()
    return decode_utf8(data, display)


def decode_utf8(data: bytes, display: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        before = data[: e.start]
        line = before.count(b"\n") + 1
        col = e.start - (before.rfind(b"\n") + 1) + 1
        raise _err(display, line, col, f"not valid UTF-8 (byte 0x{data[e.start]:02x}); save the file as UTF-8") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def _mark_of(exc: Exception) -> tuple[int, int]:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is None:
        return 0, 0
    return mark.line + 1, mark.column + 1


def _path_at(text: str, line: int, col: int) -> str:
    """The config path of the key at (line, col), found on the composed node graph (no construction)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.nodes import MappingNode, SequenceNode

    try:
        root = YAML(typ="safe", pure=True).compose(text)
    except Exception:  # noqa: BLE001 - best effort: the located message stands without a path
        return ""
    stack = [(root, ())]
    seen = 0
    while stack and seen < MAX_NODES:
        node, path = stack.pop()
        seen += 1
        if isinstance(node, MappingNode):
            for k, v in node.value:
                child = path + (str(k.value),)
                if k.start_mark.line + 1 == line and k.start_mark.column + 1 == col:
                    return format_path(child)
                stack.append((v, child))
        elif isinstance(node, SequenceNode):
            stack.extend((v, path + (i,)) for i, v in enumerate(node.value))
    return ""


def parse_yaml(text: str, display: str) -> tuple[Any, SourceMap]:
    """Parse YAML text into plain Python data (dict/list/str/int/float/bool/None) and its source map."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = False
    try:
        doc = yaml.load(text)
    except MarkedYAMLError as e:
        line, col = _mark_of(e)
        problem = e.problem or "YAML syntax error"
        path = ""
        if "duplicate key" in problem:
            key = problem.split('"')[1] if problem.count('"') >= 2 else ""
            problem = f'duplicate key "{key}" (a key may appear once in a mapping)' if key else "duplicate key"
            path = _path_at(text, line, col)
        context = f" {e.context}" if e.context and "duplicate" not in problem else ""
        raise _err(display, line, col, f"YAML error: {problem}{context}".strip(), path) from None
    except YAMLError as e:  # unmarked errors (rare)
        raise _err(display, 1, 1, f"YAML error: {e}") from None
    except RecursionError:
        raise _err(display, 1, 1, f"YAML error: nesting deeper than the limit") from None
    smap = SourceMap(display)
    return _Converter(display, smap).convert(doc), smap


class _Converter:
    def __init__(self, display: str, smap: SourceMap):
        self.display = display
        self.smap = smap
        self.nodes = 0

    def _position(self, path: tuple) -> tuple[int, int]:
        loc = self.smap.locate(path)
        return loc.line, loc.column

    def convert(self, node: Any, path: tuple = (), depth: int = 0) -> Any:
        from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar

        self.nodes += 1
        if self.nodes > MAX_NODES:
            line, col = self._position(path)
            raise _err(
                self.display, line, col,
                f"document expands to more than {MAX_NODES} nodes (alias expansion is bounded)",
                format_path(path),
            )
        if depth > MAX_DEPTH:
            line, col = self._position(path)
            raise _err(self.display, line, col, f"nesting deeper than {MAX_DEPTH} levels", format_path(path))
        tag = getattr(node, "tag", None)
        tag_value = getattr(tag, "value", tag) if tag is not None else None
        if isinstance(node, TaggedScalar) or (tag_value and isinstance(node, (CommentedMap, CommentedSeq))):
            line, col = self._position(path)
            raise _err(
                self.display, line, col,
                f"YAML tag {str(tag_value).replace('tag:yaml.org,2002:', '!!')} is not allowed (recipes are plain data)",
                format_path(path),
            )
        if isinstance(node, CommentedMap):
            out: dict = {}
            for key, value in node.items():
                if not isinstance(key, (str, int, float, bool)) or key is None:
                    raise _err(self.display, *self._position(path), "mapping keys must be plain scalars", format_path(path))
                key = str(key) if not isinstance(key, str) else key
                child = path + (key,)
                try:
                    kl, kc = node.lc.key(key)
                    self.smap.keys[child] = (kl + 1, kc + 1)
                    vl, vc = node.lc.value(key)
                    self.smap.values[child] = (vl + 1, vc + 1)
                except (KeyError, TypeError, AttributeError):
                    pass  # keys brought in by a merge key carry no position of their own
                out[key] = self.convert(value, child, depth + 1)
            return out
        if isinstance(node, CommentedSeq):
            out_list = []
            for i, value in enumerate(node):
                child = path + (i,)
                try:
                    il, ic = node.lc.item(i)
                    self.smap.values[child] = (il + 1, ic + 1)
                except (KeyError, TypeError, AttributeError):
                    pass
                out_list.append(self.convert(value, child, depth + 1))
            return out_list
        if isinstance(node, bool) or node is None:
            return node
        if isinstance(node, int):
            return int(node)
        if isinstance(node, float):
            return float(node)
        if isinstance(node, str):
            return str(node)
        if isinstance(node, (datetime.date, datetime.datetime)):
            return node.isoformat()
        line, col = self._position(path)
        raise _err(self.display, line, col, f"unsupported YAML value of type {type(node).__name__}", format_path(path))
