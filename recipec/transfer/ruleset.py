"""Transfer rule sets: the data in ``rules/*.yaml``, their schema, and loading by name or path.

A rule set says, per axis (width, depth, batch, tokens, head_dim), per parameter class and per
hyperparameter, either a power-law exponent (value · ratio^exponent) or a fixed value; it may also
hold absolute scaling-law formulas (coefficient · C^a · N^b · D^c). Exponents may be arithmetic
expressions over the rule set's parameters (CompleteP's ``alpha - 1``).

Over 300 lines on purpose: one file format — its schema, the exponent evaluator, loading, and the
``recipec rulesets`` view.
"""

from __future__ import annotations

import ast
import math
import operator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator

from recipec.diagnostics import Diagnostic, Location, RecipecError
from recipec.kinds import KINDS, PARAM_CLASSES

AXES: tuple[str, ...] = ("width", "depth", "batch", "tokens", "head_dim", "experts", "top_k", "lr_batch")
AXIS_SYMBOL = {"width": "m", "depth": "l", "batch": "b", "tokens": "t", "head_dim": "h", "experts": "E", "top_k": "k",
               "lr_batch": "r"}
# ``experts`` and ``top_k`` are the mixture of experts' number of routed experts and experts per token
# (target / proxy; 1 for a dense model). An expert's width (granularity) moves its kinds' fan ratios.
# ``lr_batch`` is not a size ratio but the factor by which the batch and tokens rules changed the same
# parameter kind's LR; only weight-decay rules may use it (the AdamW timescale B/(η·λ·D) sees that LR).
# How a width rule measures width: the model's width ratio m, or the kind's own fan-in / fan-out ratio
# (muP's per-tensor infshape: mup's width_mult() is the fan-in ratio), or, for Muon, the kind's *spectral*
# ratio: how √(fan_out/fan_in) / s changes, s being the optimizer's own per-matrix LR factor
# (``recipec.kinds.muon_scale``), so that η·s tracks the spectral condition ‖ΔW‖ ∝ √(fan_out/fan_in).
WIDTH_RATIOS: tuple[str, ...] = ("width", "fan_in", "fan_out", "spectral")
# Which optimizer's hyperparameters a rule acts on: the recipe's main optimizer or Muon (lr and weight_decay).
RULE_OPTIMIZERS: tuple[str, ...] = ("main", "muon")
GLOBAL_HPARAMS: tuple[str, ...] = ("output_multiplier", "embedding_multiplier", "residual_multiplier",
                                   "attn_logit_scale")
# What a rule names: one parameter class, every class ("all"), or the global multipliers ("global").
ClassName = Literal[PARAM_CLASSES + ("all", "global")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


Exponent = Annotated[float, Strict(), Field(ge=-64, le=64)] | Annotated[str, Field(min_length=1, max_length=200)]
Real = Annotated[float, Strict(), Field(ge=-1e30, le=1e30)]


class Source(_Model):
    citation: str = Field(min_length=1, description="Who and where: authors, year, arXiv id or section.")
    url: str | None = None


class Requires(_Model):
    optimizer: list[Literal["adamw", "adam", "sgd"]] | None = Field(
        None, description="The optimizers the rule set is valid for."
    )
    muon: bool | None = Field(
        None, description="true: only for recipes that train matrices with Muon (optimizer.muon); false: only without."
    )


class Rule(_Model):
    """One power law (``exponent``) or fixed value (``value``) for (axis, class, hyperparameter)."""

    axis: Literal["width", "depth", "batch", "tokens", "head_dim", "experts", "top_k", "lr_batch"] | None = Field(
        None, description="The axis whose ratio is raised to the exponent; omitted for fixed values. 'lr_batch' "
                          "(weight_decay only) is the factor the batch and tokens rules applied to the same kind's LR."
    )
    ratio: Literal["width", "fan_in", "fan_out", "spectral"] = Field(
        "width", description="Width rules only: scale by the model width ratio m, or by each parameter kind's own "
                             "fan-in or fan-out ratio (muP's per-tensor infshape), or (Muon rules) by its spectral "
                             "ratio, the change of sqrt(fan_out/fan_in) / s with s Muon's own per-matrix LR factor."
    )
    optimizer: Literal["main", "muon"] = Field(
        "main", description="lr / weight_decay / eps rules: act on the kinds the main optimizer trains ('main') or on "
                            "those Muon trains ('muon'). Init and multiplier rules act on every kind."
    )
    kinds: list[Literal[KINDS]] | None = Field(
        None, description="Restrict the rule to these parameter kinds of its class (recipec.kinds); default: all."
    )
    cls: ClassName = Field(
        alias="class", description="Parameter class; 'all' expands to the four classes; 'global' for multipliers."
    )
    hp: Literal[
        "lr", "weight_decay", "eps", "init_std",
        "output_multiplier", "embedding_multiplier", "residual_multiplier", "attn_logit_scale",
    ]
    exponent: Exponent | None = None
    value: Annotated[float, Strict(), Field(ge=0, le=1e30)] | None = None
    note: str | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, populate_by_name=True)

    @model_validator(mode="after")
    def _check(self) -> Rule:
        if (self.exponent is None) == (self.value is None):
            raise ValueError("give exactly one of 'exponent' (power law) or 'value' (fixed)")
        if self.exponent is not None and self.axis is None:
            raise ValueError("a power law needs an 'axis'")
        if self.value is not None and self.axis is not None:
            raise ValueError("a fixed 'value' holds at every size: leave out 'axis'")
        if self.ratio != "width" and self.axis != "width":
            raise ValueError("'ratio' (fan_in, fan_out) applies to width rules only")
        if self.axis == "lr_batch" and self.hp != "weight_decay":
            raise ValueError("axis 'lr_batch' is for weight_decay rules only")
        if self.optimizer == "muon" and self.hp not in ("lr", "weight_decay"):
            raise ValueError("'optimizer: muon' rules set lr or weight_decay (Muon has no transferred eps; init and "
                             "multipliers do not depend on the optimizer)")
        if self.ratio == "spectral" and self.optimizer != "muon":
            raise ValueError("'ratio: spectral' measures Muon's update: it needs 'optimizer: muon'")
        if self.kinds is not None:
            from recipec.kinds import KIND_CLASS

            wrong = [k for k in self.kinds if self.cls not in ("all", KIND_CLASS[k])]
            if wrong or self.cls == "global":
                raise ValueError(f"kinds {', '.join(wrong or self.kinds)} are not of class '{self.cls}'")
        is_global = self.hp in GLOBAL_HPARAMS
        if is_global != (self.cls == "global"):
            what = ("global multiplier: use class: global" if is_global
                    else "per-class hyperparameter: class must be hidden, embedding, output, vector or all")
            raise ValueError(f"'{self.hp}' is a {what}")
        return self

    def classes(self) -> tuple[str, ...]:
        return PARAM_CLASSES if self.cls == "all" else (self.cls,)

    def applies_to(self, kind: str | None, muon: bool = False) -> bool:
        """Whether the rule acts on ``kind`` (``None``: a global multiplier), trained by Muon or not."""
        if self.hp in ("lr", "weight_decay", "eps") and (self.optimizer == "muon") != muon:
            return False
        return self.kinds is None or kind in self.kinds


class Formula(_Model):
    """An absolute scaling law: hp = coefficient · compute^a · params^b · tokens^c."""

    cls: ClassName = Field("all", alias="class")
    hp: Literal["lr", "batch_tokens"]
    coefficient: Annotated[float, Strict(), Field(ge=1e-30, le=1e30)]
    terms: dict[Literal["compute", "params", "tokens"], Annotated[float, Strict(), Field(ge=-64, le=64)]] = Field(
        description="Exponent per variable: compute C (training FLOPs), params N (non-embedding), tokens D."
    )
    note: str | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, populate_by_name=True)

    @model_validator(mode="after")
    def _check(self) -> Formula:
        if self.hp == "batch_tokens" and self.cls not in ("global", "all"):
            raise ValueError("batch_tokens is global: use class: global")
        return self

    def classes(self) -> tuple[str, ...]:
        if self.hp == "batch_tokens":
            return ("global",)
        return PARAM_CLASSES if self.cls == "all" else (self.cls,)


class RuleSetFile(_Model):
    """The schema of a transfer rule-set file (``rules/*.yaml``)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    title: str
    source: Source
    description: str | None = None
    convention: Literal["coupled", "independent"] = Field(
        "coupled", description="The weight-decay convention the WD rules are written in."
    )
    requires: Requires = Field(default_factory=Requires)
    params: dict[str, Real] = Field(default_factory=dict, description="Parameters with defaults, used in exponents.")
    # ``lambda: []``, not ``list``: see recipec.recipe.Recipe.transfer (start-up time)
    rules: list[Rule] = Field(default_factory=lambda: [], max_length=1024)
    formulas: list[Formula] = Field(default_factory=lambda: [], max_length=64)


# --------------------------------------------------------------------------- exponent expressions

# Power-law exponents of published rules are between -2 and 2; ±64 leaves room and keeps a ratio of up to
# 2^24 (recipec.recipe.MAX_SHAPE) raised to it far inside a float's range.
MAX_EXPONENT = 64.0

_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.Pow: operator.pow}


def evaluate_exponent(expr: float | str, params: dict[str, float]) -> float:
    """Evaluate '1 - alpha' style arithmetic over the rule set's parameters (no names but params)."""
    if isinstance(expr, (int, float)):
        return float(expr)

    def ev(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return float(node.value)
        if isinstance(node, ast.Name):
            if node.id not in params:
                raise ValueError(f"unknown parameter '{node.id}' (known: {', '.join(sorted(params)) or 'none'})")
            return float(params[node.id])
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = ev(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](ev(node.left), ev(node.right))
        raise ValueError("only numbers, parameter names and + - * / ** ( ) are allowed")

    try:
        tree = ast.parse(expr, mode="eval")
        value = ev(tree)
    except (SyntaxError, RecursionError, MemoryError):
        raise ValueError(f"cannot parse exponent {expr!r}") from None
    except ZeroDivisionError:
        raise ValueError(f"exponent {expr!r} divides by zero") from None
    except OverflowError:
        raise ValueError(f"exponent {expr!r} is too large (at most {MAX_EXPONENT:g} in magnitude)") from None
    if isinstance(value, complex):  # (-1) ** 0.5
        raise ValueError(f"exponent {expr!r} is not a real number")
    if not math.isfinite(value):
        raise ValueError(f"exponent {expr!r} is not finite")
    if abs(value) > MAX_EXPONENT:
        raise ValueError(f"exponent {expr!r} is {value:g}, outside [-{MAX_EXPONENT:g}, {MAX_EXPONENT:g}]")
    return value


# --------------------------------------------------------------------------- loaded rule sets


@dataclass(frozen=True)
class RuleSet:
    """A rule set loaded from a file, with its parameters bound and exponents evaluated."""

    spec: RuleSetFile
    file: str  # for messages: 'rules/fan2025.yaml' or the user's path
    params: tuple[tuple[str, float], ...]
    exponents: tuple[float | None, ...]  # aligned with spec.rules
    builtin: bool

    @property
    def name(self) -> str:
        return self.spec.name


def builtin_names() -> list[str]:
    from recipec.resources import rules_dir

    folder = rules_dir()
    return list(_listing(str(folder), folder.stat().st_mtime_ns))


@lru_cache(maxsize=4)
def _listing(folder: str, mtime_ns: int) -> tuple[str, ...]:
    """The rule-set names in ``folder``, listed again only when the folder changes (lint asks once a rule set)."""
    return tuple(sorted(p.stem for p in Path(folder).glob("*.yaml")))


@lru_cache(maxsize=64)
def _parse_rule_file(path: str, display: str, mtime_ns: int):
    from recipec.load import validate_model
    from recipec.load.yaml_source import parse_yaml, read_text

    text = read_text(Path(path), display)
    data, smap = parse_yaml(text, display)
    if not isinstance(data, dict):
        raise RecipecError(Diagnostic("a rule set must be a mapping", location=Location(display, 1, 1)))
    return validate_model(RuleSetFile, data, smap), smap


def _params_text(params: dict) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, (int, float)) else f"{k}={v!r}" for k, v in sorted(params.items()))


def _short(ref: str) -> str:
    text = repr(ref)
    return text if len(text) <= 80 else text[:77] + "..."


def load_ruleset(ref: str, params: dict[str, float] | None = None, base_dir: Path | None = None,
                 where: Location | None = None, path_text: str = "") -> RuleSet:
    """Load a rule set by built-in name or by path (relative paths resolve against ``base_dir``)."""
    from recipec.resources import rules_dir

    looks_like_path = "/" in ref or "\\" in ref or ref.endswith((".yaml", ".yml"))
    if looks_like_path:
        p = Path(ref)
        if not p.is_absolute() and base_dir is not None:
            p = base_dir / p
        display, builtin = ref, False
        try:
            found = p.is_file()
        except (OSError, ValueError) as e:  # a name too long for the file system, a NUL in the path
            reason = getattr(e, "strerror", None) or str(e)
            raise RecipecError(Diagnostic(f"rule-set file {_short(ref)}: {reason}", path=path_text,
                                          location=where)) from None
        if not found:
            raise RecipecError(Diagnostic(f"rule-set file {_short(ref)} not found", path=path_text, location=where))
    else:
        p = rules_dir() / f"{ref}.yaml"
        display, builtin = f"rules/{ref}.yaml", True
        if ref not in builtin_names():  # never ask the file system about an arbitrary name
            import difflib

            names = builtin_names()
            close = difflib.get_close_matches(ref, names, n=1)
            hint = f"did you mean '{close[0]}'?" if close else "known: " + ", ".join(names)
            raise RecipecError(
                Diagnostic(f"unknown rule set {_short(ref)}", path=path_text, location=where, hint=hint)
            )
    spec, smap = _parse_rule_file(str(p), display, p.stat().st_mtime_ns)
    bound = dict(spec.params)
    for key, value in (params or {}).items():
        if key not in bound:
            known = ", ".join(sorted(bound)) or "none"
            raise RecipecError(
                Diagnostic(f"rule set '{spec.name}' has no parameter '{key}' (known: {known})",
                           path=f"{path_text}.params.{key}" if path_text else key, location=where)
            )
        bound[key] = float(value)
    exponents = []
    for i, rule in enumerate(spec.rules):
        if rule.exponent is None:
            exponents.append(None)
            continue
        try:
            exponents.append(evaluate_exponent(rule.exponent, bound))
        except ValueError as e:
            at = smap.locate(("rules", i, "exponent"))
            if params and where is not None:  # the recipe's parameters made it so: point at the recipe
                raise RecipecError(Diagnostic(f"rule set '{spec.name}' with {_params_text(params)}: {e} "
                                              f"(rules[{i}].exponent, {at})", path=f"{path_text}.params",
                                              location=where)) from None
            raise RecipecError(Diagnostic(str(e), path=f"rules[{i}].exponent", location=at)) from None
    return RuleSet(spec=spec, file=display, params=tuple(sorted(bound.items())), exponents=tuple(exponents),
                   builtin=builtin)


# --------------------------------------------------------------------------- showing a rule set


def _exponent_text(rule: Rule, exponent: float | None) -> str:
    if exponent is None:
        return ""
    if isinstance(rule.exponent, str):
        return f"{exponent:g} ({rule.exponent})"
    return f"{exponent:g}"


def ruleset_json(rs: RuleSet) -> dict:
    """A rule set as ``recipec rulesets NAME --format json`` prints it: exponents evaluated with its parameters."""
    rules = [{"hp": r.hp, "class": r.cls, "kinds": list(r.kinds) if r.kinds else None, "axis": r.axis,
              "ratio": r.ratio if r.axis == "width" else None, "exponent": e,
              "expression": r.exponent if isinstance(r.exponent, str) else None, "value": r.value, "note": r.note}
             for r, e in zip(rs.spec.rules, rs.exponents)]
    formulas = [{"hp": f.hp, "class": f.cls, "coefficient": f.coefficient, "terms": dict(f.terms), "note": f.note}
                for f in rs.spec.formulas]
    return {"name": rs.name, "file": rs.file, "title": rs.spec.title, "citation": rs.spec.source.citation,
            "url": rs.spec.source.url, "convention": rs.spec.convention, "optimizers": rs.spec.requires.optimizer,
            "params": dict(rs.params), "rules": rules, "formulas": formulas}


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in (header, *rows)]


def ruleset_text(rs: RuleSet) -> str:
    """A rule set as ``recipec rulesets NAME`` prints it: its source, parameters and one row per rule."""
    spec = rs.spec
    lines = [f"{rs.name}: {spec.title}", f"source: {spec.source.citation}"]
    if spec.source.url:
        lines.append(f"url: {spec.source.url}")
    lines.append(f"weight-decay convention: {spec.convention}")
    if spec.requires.optimizer:
        lines.append("optimizers: " + ", ".join(spec.requires.optimizer))
    if rs.params:
        lines.append("params: " + ", ".join(f"{k}={v:g}" for k, v in rs.params))
    if spec.rules:
        rows = [(r.hp, r.cls, ",".join(r.kinds) if r.kinds else "all", r.axis or "",
                 r.ratio if r.axis == "width" else "", _exponent_text(r, e),
                 "" if r.value is None else f"{r.value:g}") for r, e in zip(spec.rules, rs.exponents)]
        lines += ["", *_table(("hp", "class", "kinds", "axis", "ratio", "exponent", "value"), rows)]
    if spec.formulas:
        rows = [(f.hp, f.cls, f"{f.coefficient:g}", " · ".join(f"{v}^{e:g}" for v, e in f.terms.items()))
                for f in spec.formulas]
        lines += ["", *_table(("hp", "class", "coefficient", "terms"), rows)]
    return "\n".join(lines) + "\n"
