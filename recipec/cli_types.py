"""click parameter types for the values the command line parses: each checks its value as click reads it,
so a bad one is click's usage error ("Invalid value for '--x': …", exit 2) before anything runs.

The checks themselves live beside the code that uses the values (``recipec.render.launchers``); these
types only adapt them to click. The ``verify`` command's options are parsed in ``recipec.verify``.
"""

from __future__ import annotations

import click


class Checked(click.ParamType):
    """A string checked and converted by ``parse`` (raises ValueError with the reason), found by its dotted
    name when first used so that importing the CLI imports nothing else."""

    def __init__(self, parse: str, metavar: str):
        self.parse, self.name = parse, metavar

    def convert(self, value, param, ctx):
        if not isinstance(value, str):  # a default, or a value already converted
            return value
        import importlib

        module, _, function = self.parse.rpartition(".")
        try:
            return getattr(importlib.import_module(module), function)(value)
        except ValueError as e:
            self.fail(str(e), param, ctx)


ENV_ASSIGNMENT = Checked("recipec.render.launchers.parse_env_assignment", "NAME=VALUE")  # -> (NAME, VALUE)
K8S_VOLUME = Checked("recipec.render.launchers.parse_k8s_volume", "CLAIM:/PATH")  # -> (CLAIM, /PATH)
IMAGE = Checked("recipec.render.launchers.parse_image", "IMAGE")  # not blank


class Between(click.ParamType):
    """A number between ``low`` and ``high`` (inclusive; NaN is refused): 'must be between LOW and HIGH (got X)'.
    A bound may be given as the dotted name of a constant (read when a value is checked)."""

    def __init__(self, low: float | str, high: float | str, *, integer: bool = False):
        self.low, self.high, self.integer = low, high, integer
        self.name = "integer" if integer else "float"

    @staticmethod
    def _bound(bound: float | str) -> float:
        if isinstance(bound, str):
            import importlib

            module, _, name = bound.rpartition(".")
            return getattr(importlib.import_module(module), name)
        return bound

    def convert(self, value, param, ctx):
        number = (click.INT if self.integer else click.FLOAT).convert(value, param, ctx)
        low, high = self._bound(self.low), self._bound(self.high)
        if not (low <= number <= high):  # NaN compares false: refused too
            shown = [str(v) if self.integer else f"{v:g}" for v in (low, high, number)]
            self.fail(f"must be between {shown[0]} and {shown[1]} (got {shown[2]})", param, ctx)
        return number
