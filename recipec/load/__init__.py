"""Load a recipe: YAML with locations -> validated ``Recipe`` plus its source map.

Every error is a located ``Diagnostic`` (file:line:col and the config path) inside a ``RecipecError``.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recipec.diagnostics import Diagnostic, Location, RecipecError, one_line
from recipec.load.yaml_source import SourceMap, decode_utf8, format_path, parse_yaml, read_text

__all__ = ["LoadedRecipe", "load_recipe", "load_recipe_text", "validation_diagnostics", "SourceMap", "format_path"]


@dataclass(frozen=True)
class LoadedRecipe:
    recipe: Any  # recipec.recipe.Recipe
    source_map: SourceMap
    path: str
    sha256: str
    text: str
    overrides: tuple[tuple[str, str], ...] = ()  # each --set as (config path, value as typed), in order

    def locate(self, path: tuple | str, prefer_key: bool = False) -> Location:
        if isinstance(path, str):
            path = parse_config_path(path)
        return self.source_map.locate(path, prefer_key=prefer_key)


def parse_config_path(text: str) -> tuple:
    """'optimizer.betas[0]' -> ('optimizer', 'betas', 0)."""
    parts: list = []
    for chunk in text.split("."):
        while "[" in chunk and chunk.endswith("]"):
            head, _, idx = chunk.partition("[")
            if head:
                parts.append(head)
            chunk = "[" + idx
            inner, _, rest = chunk[1:].partition("]")
            parts.append(int(inner) if inner.isdigit() else inner)
            chunk = rest
        if chunk:
            parts.append(chunk)
    return tuple(parts)


def load_recipe(path: str | Path, sets: list[str] | None = None, display: str | None = None) -> LoadedRecipe:
    p = Path(path)
    display = display or str(path)
    text = read_text(p, display)
    return load_recipe_text(text, display, sets=sets)


def load_recipe_text(text: str | bytes, display: str = "<recipe>", sets: list[str] | None = None) -> LoadedRecipe:
    from recipec.recipe import Recipe

    if isinstance(text, bytes):
        text = decode_utf8(text, display)
    data, smap = parse_yaml(text, display)
    if data is None:
        raise RecipecError(Diagnostic("the recipe is empty", location=Location(display, 1, 1)))
    if not isinstance(data, dict):
        raise RecipecError(
            Diagnostic(f"the recipe must be a mapping at the top level (got {_type_name(data)})",
                       location=Location(display, 1, 1))
        )
    overrides = tuple(_apply_set(data, assignment, smap) for assignment in sets or ())
    recipe = validate_model(Recipe, data, smap)
    _check_semantics(recipe, smap)
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return LoadedRecipe(recipe=recipe, source_map=smap, path=display, sha256=sha, text=text, overrides=overrides)


MAX_SET_CHARS = 4096  # one --set value; a recipe value is a line or two of text


def set_location(assignment: str) -> Location:
    """Where a ``--set`` value comes from: the command-line argument itself (``--set KEY=VALUE: …``)."""
    shown = assignment if len(assignment) <= 80 else assignment[:77] + "..."
    return Location(f"--set {one_line(shown)}")


def _apply_set(data: dict, assignment: str, smap: SourceMap) -> tuple[str, str]:
    where = set_location(assignment)
    key, sep, raw = assignment.partition("=")
    key = key.strip()
    if not sep or not key:
        raise RecipecError(Diagnostic("expected KEY.PATH=VALUE", location=where))
    path = parse_config_path(key)
    if not path or any(p == "" for p in path) or any(not p for p in key.split(".")):
        raise RecipecError(Diagnostic(f"{key!r} is not a config path (expected names joined by '.', "
                                      "e.g. optimizer.lr or optimizer.betas[0])", location=where))
    if len(raw) > MAX_SET_CHARS:
        raise RecipecError(Diagnostic(f"the value is too long ({len(raw)} characters; the limit is {MAX_SET_CHARS})",
                                      location=where, path=format_path(path)))
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        value = YAML(typ="safe", pure=True).load(raw) if raw.strip() else None
    except YAMLError as e:
        problem = getattr(e, "problem", None) or str(e).split("\n", 1)[0]
        raise RecipecError(Diagnostic(f"cannot parse value: {problem}", location=where,
                                      path=format_path(path))) from None
    except (ValueError, RecursionError) as e:  # an integer past Python's digit limit, nesting past the stack
        raise RecipecError(Diagnostic(f"cannot parse value: {str(e).split(';')[0]}", location=where,
                                      path=format_path(path))) from None
    if _depth(value) > 32:
        raise RecipecError(Diagnostic("the value nests too deeply", location=where, path=format_path(path)))
    node: Any = data
    for i, part in enumerate(path[:-1]):
        nxt = node.get(part) if isinstance(node, dict) else None
        if nxt is None:
            nxt = {}
            node[part] = nxt
        if not isinstance(nxt, dict):
            raise RecipecError(
                Diagnostic(f"cannot set inside {_type_name(nxt)}", location=where, path=format_path(path[: i + 1]))
            )
        node = nxt
    if isinstance(node, dict):
        node[path[-1]] = value
    else:
        raise RecipecError(Diagnostic(f"cannot set inside {_type_name(node)}", location=where,
                                      path=format_path(path[:-1])))
    smap.overrides[path] = where
    # Anything under the replaced value no longer comes from the file.
    for table in (smap.keys, smap.values):
        for p in [p for p in table if p[: len(path)] == path]:
            del table[p]
    return format_path(path), raw


def _depth(value: Any, level: int = 0) -> int:
    if level > 32 or not isinstance(value, (dict, list)):
        return level
    items = value.values() if isinstance(value, dict) else value
    return max((_depth(v, level + 1) for v in items), default=level + 1)


# --------------------------------------------------------------------------- pydantic -> diagnostics


def validate_model(model_cls: type, data: Any, smap: SourceMap):
    from pydantic import ValidationError

    try:
        return model_cls.model_validate(data)
    except ValidationError as e:
        raise RecipecError(validation_diagnostics(e, smap, model_cls)) from None


def _type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _show(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return _type_name(value)
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _at_least(e: dict) -> str:
    from recipec.recipe import MIN_REAL

    bound, got = e["ctx"]["ge"], e["input"]
    if bound == MIN_REAL and isinstance(got, (int, float)) and got <= 0:
        return f"must be > 0 (got {_show(got)})"  # the magnitude floor matters only to tiny positive values
    return f"must be ≥ {_num(bound)} (got {_show(got)})"


def _clean_loc(loc: tuple) -> tuple:
    """Drop pydantic's union-branch and function markers from an error location."""
    out = []
    for part in loc:
        if isinstance(part, str) and (part in ("str", "TransferRef", "constrained-str", "[key]")
                                      or part.startswith("function-")):
            continue
        out.append(part)
    return tuple(out)


_MESSAGES = {
    "missing": lambda e: "required key is missing",
    "extra_forbidden": lambda e: "unknown key",
    "greater_than_equal": lambda e: _at_least(e),
    "greater_than": lambda e: f"must be > {_num(e['ctx']['gt'])} (got {_show(e['input'])})",
    "less_than_equal": lambda e: f"must be ≤ {_num(e['ctx']['le'])} (got {_show(e['input'])})",
    "less_than": lambda e: f"must be < {_num(e['ctx']['lt'])} (got {_show(e['input'])})",
    "finite_number": lambda e: f"must be a finite number (got {_show(e['input'])})",
    "int_type": lambda e: f"must be an integer (got {_show(e['input'])})",
    "int_parsing": lambda e: f"must be an integer (got {_show(e['input'])})",
    "int_from_float": lambda e: f"must be a whole number (got {_show(e['input'])})",
    "float_type": lambda e: f"must be a number (got {_show(e['input'])})",
    "float_parsing": lambda e: f"must be a number (got {_show(e['input'])})",
    "bool_type": lambda e: f"must be true or false (got {_show(e['input'])})",
    "bool_parsing": lambda e: f"must be true or false (got {_show(e['input'])})",
    "string_type": lambda e: f"must be a string (got {_show(e['input'])})",
    "dict_type": lambda e: f"must be a mapping (got {_show(e['input'])})",
    "model_type": lambda e: f"must be a mapping (got {_show(e['input'])})",
    "model_attributes_type": lambda e: f"must be a mapping (got {_show(e['input'])})",
    "list_type": lambda e: f"must be a list (got {_show(e['input'])})",
    "tuple_type": lambda e: f"must be a list (got {_show(e['input'])})",
    "too_short": lambda e: f"must have at least {e['ctx'].get('min_length')} item(s)",
    "too_long": lambda e: f"must have at most {e['ctx'].get('max_length')} item(s)",
    "string_too_short": lambda e: "must not be empty",
    "string_too_long": lambda e: f"is too long (at most {e['ctx'].get('max_length')} characters)",
    "string_pattern_mismatch": lambda e: (f"{_show(e['input'])} is not a valid name "
                                          "(letters, digits, '.', '_', '-'; at most 64)"),
    "literal_error": lambda e: f"must be one of {e['ctx']['expected']} (got {_show(e['input'])})",
}


def _message(err: dict) -> str:
    kind = err["type"]
    if kind == "value_error":
        msg = str(err.get("ctx", {}).get("error", err["msg"]))
        return msg
    fn = _MESSAGES.get(kind)
    if fn is not None:
        try:
            return fn(err)
        except (KeyError, TypeError):
            pass
    return err["msg"][0].lower() + err["msg"][1:]


def _known_fields(model_cls: type, loc: tuple) -> list[str]:
    """The field names allowed at ``loc`` (for did-you-mean hints)."""
    from pydantic import BaseModel

    current: Any = model_cls
    for part in loc:
        if isinstance(part, int) or current is None:
            return []
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            # dict[str, Model]: the key is user data; look at the value type
            return []
        ann = field.annotation
        current = _model_in(ann)
    if current is not None and isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _model_in(ann: Any):
    import typing

    from pydantic import BaseModel

    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in typing.get_args(ann):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def validation_diagnostics(exc, smap: SourceMap, model_cls: type | None = None) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    seen: set = set()
    union_paths: dict[tuple, int] = {}
    errors = exc.errors(include_url=False)
    for err in errors:
        union_paths[_clean_loc(err["loc"])] = union_paths.get(_clean_loc(err["loc"]), 0) + 1
    for err in errors:
        loc = _clean_loc(err["loc"])
        message = _message(err)
        hint = ""
        if err["type"] == "extra_forbidden" and model_cls is not None and loc:
            allowed = _known_fields(model_cls, loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            if close:
                hint = f"did you mean '{close[0]}'?"
            elif allowed:
                hint = "allowed keys: " + ", ".join(allowed)
        location = smap.locate(loc, prefer_key=err["type"] == "extra_forbidden")
        key = (location, format_path(loc), message)
        if key in seen:
            continue
        seen.add(key)
        diags.append(Diagnostic(message, path=format_path(loc), location=location, hint=hint))
    diags.sort(key=lambda d: (d.location.line if d.location else 0, d.location.column if d.location else 0))
    return diags


# --------------------------------------------------------------------------- semantic checks


def _check_semantics(recipe, smap: SourceMap) -> None:
    """Checks that need more than one field: shapes of the proxy and of every size."""
    from recipec.shape import ShapeError, resolve_shape

    diags: list[Diagnostic] = []
    try:
        resolve_shape(recipe.model)
    except ShapeError as e:
        path = ("model",) + e.field
        raise RecipecError(Diagnostic(e.message, path=format_path(path), location=smap.locate(path))) from None
    for name, size in recipe.sizes.items():
        try:
            resolve_shape(recipe.model, size.model)
        except ShapeError as e:
            path = ("sizes", name, "model") + e.field
            if not smap.has(path):
                path = ("sizes", name, "model") if smap.has(("sizes", name, "model")) else ("sizes", name)
                msg = f"{e.message} (at size {name!r}; '{'.'.join(map(str, e.field))}' comes from the proxy)"
            else:
                msg = e.message
            diags.append(Diagnostic(msg, path=format_path(path), location=smap.locate(path)))
    if diags:
        raise RecipecError(diags)
