"""The options of ``recipec verify``: one frozen object, validated once, that knows the flag of each field.

Library code in ``recipec.verify`` raises :class:`OptionError` about a *field* (``micro_batches``); the
command line turns it into a diagnostic about the *flag* (``--micro-batches``) with :func:`flag_names`.
Where a message suggests another option, it names it with :func:`flag` (one table, ``FLAGS``).
No torch here.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass

from recipec.diagnostics import Diagnostic, Location, RecipecError
from recipec.verify.coord_verdict import CoordTolerance
from recipec.verify.report import DEFAULT_TOLERANCES, Tolerances

DEFAULT_COORD_STEPS, DEFAULT_COORD_SEEDS = 10, 3

# field (or field.part) -> the command-line flag that sets it
FLAGS = {
    "size": "--size", "widths": "--widths", "depth": "--depth", "steps": "--steps", "device": "--device",
    "data": "--data", "data_dtype": "--data-dtype", "seed": "--seed", "batch": "--batch",
    "micro_batches": "--micro-batches", "seq_len": "--seq-len", "checkpoints": "--checkpoints",
    "compression": "--wd-compression", "warmup_fraction": "--warmup-fraction", "compile": "--compile",
    "budget_minutes": "--budget", "tolerance.slope": "--max-slope", "tolerance.ratio": "--ratio-range",
    "tolerance.plateau": "--plateau", "progress": "--quiet", "model": "--model", "kind_map": "--kind-map",
    "coord": "--coord-check", "coord_steps": "--coord-steps", "coord_seeds": "--coord-seeds",
    "coord_tolerance.slope": "--coord-max-slope", "calibrate": "--calibrate",
}


def flag(field: str) -> str:
    """The flag of a field, for messages that suggest another option."""
    return FLAGS[field]


class OptionError(RecipecError):
    """A bad verify option, named by its field (``VerifyOptions``): library callers see the field, the
    command line the flag (:func:`flag_names`)."""

    def __init__(self, field: str, messages: str | list[str], location: Location | None = None):
        self.field = field
        super().__init__([Diagnostic(m, path=field, location=location)
                          for m in ([messages] if isinstance(messages, str) else messages)])


@contextlib.contextmanager
def flag_names():
    """Report every :class:`OptionError` raised inside as a diagnostic about the flag of its field."""
    try:
        yield
    except OptionError as e:
        raise RecipecError([dataclasses.replace(d, path=FLAGS.get(d.path, d.path)) for d in e.diagnostics]) from None


@dataclass(frozen=True)
class VerifyOptions:
    """Everything a verify run is asked to do; checked on construction (``OptionError`` on a bad value)."""

    size: str
    widths: str = "auto"
    depth: int = 4
    steps: int | None = None
    device: str | None = None
    data: str = "builtin"
    data_dtype: str = "uint16"
    seed: int = 0
    batch: int | None = None
    micro_batches: int | None = None  # default: one per process
    seq_len: int | None = None
    checkpoints: int = 20
    compression: str | float | None = "auto"  # "auto", "none" or a factor > 0
    warmup_fraction: float = 0.05
    compile: bool = False
    budget_minutes: float | None = None  # with widths "auto": the widest ladder that fits this many GPU-minutes
    tolerance: Tolerances = DEFAULT_TOLERANCES
    progress: bool = True
    model: str | None = None  # a factory MODULE:CALLABLE or path/file.py:CALLABLE; None: the reference
    kind_map: dict = dataclasses.field(default_factory=dict)  # {regex: kind} for recipec.torch
    coord: str | None = None  # "only" (the coord check alone) or "also" (before the ladder)
    coord_steps: int = DEFAULT_COORD_STEPS
    coord_seeds: int = DEFAULT_COORD_SEEDS
    coord_tolerance: CoordTolerance = CoordTolerance()
    calibrate: bool = False  # fit the hidden weight-decay width exponent and confirm it (recipec.verify.calibrate)
    command: list[str] | None = None  # the command line, to print a ladder that fits the budget

    def __post_init__(self) -> None:
        if not self.size:
            raise OptionError("size", "verify needs a size: the ladder runs from the proxy towards that size's width")
        if self.depth is not None and self.depth <= 0:
            raise OptionError("depth", "must be > 0")
        for name in ("steps", "batch", "seq_len", "micro_batches"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise OptionError(name, f"must be > 0 (got {value})")
        if self.compression not in (None, "auto", "none") and not float(self.compression) > 0:
            raise OptionError("compression", "must be > 0, 'auto' or 'none'")
        if self.budget_minutes is not None and not self.budget_minutes > 0:
            raise OptionError("budget_minutes", f"must be > 0 (got {self.budget_minutes:g})")
        if self.kind_map and not self.model:
            raise OptionError("kind_map", f"only with {flag('model')} (the reference model's kinds are known)")
        if self.coord is not None and (self.coord_steps < 2 or self.coord_seeds < 1):
            raise OptionError("coord_steps", f"needs {flag('coord_steps')} ≥ 2 and {flag('coord_seeds')} ≥ 1")
        if self.calibrate and self.coord == "only":
            raise OptionError("calibrate", f"needs the σ ladder, not {flag('coord')} alone (use {flag('coord')} also)")

    @classmethod
    def from_flags(cls, params: dict, command: list[str] | None = None) -> VerifyOptions:
        """From the command line's values (click's parameter names): the flags that are text parsed here."""
        from recipec.verify.factory import parse_kind_map

        p = dict(params)
        low, high = _ratio_range(p.pop("ratio_range"))
        tolerance = Tolerances(slope=p.pop("max_slope"), ratio_low=low, ratio_high=high, plateau=p.pop("plateau"))
        return cls(size=p.pop("size"), compression=_compression(p.pop("wd_compression")),
                   tolerance=tolerance, coord_tolerance=CoordTolerance(slope=p.pop("coord_max_slope")),
                   progress=not p.pop("quiet"), budget_minutes=p.pop("budget"), compile=p.pop("use_compile"),
                   kind_map=parse_kind_map(p.pop("kind_map")), command=command, **p)


def _ratio_range(text: str) -> tuple[float, float]:
    try:
        low, high = (float(x) for x in text.split(","))
    except ValueError:
        raise OptionError("tolerance.ratio", "expected LOW,HIGH, e.g. 0.8,1.25") from None
    return low, high


def _compression(text: str) -> str | float:
    if text in ("auto", "none"):
        return text
    try:
        return float(text)
    except ValueError:
        raise OptionError("compression", f"expected a number, 'auto' or 'none' (got {text!r})") from None
