"""The refusal of a plan beyond the time budget, with the command line of a ladder that fits. No torch."""

from __future__ import annotations

import math

from recipec.verify import ladder
from recipec.verify.options import flag
from recipec.verify.progress import duration


def over_budget(loaded, opts, widths, costs, cost, depth, budget_seconds, budget_minutes) -> str:
    """The refusal of a plan beyond the budget, with the command of a ladder that fits."""
    total = sum(c.seconds for c in costs)
    fit = None
    for top in range(len(widths) - 1, 1, -1):  # the narrowest rungs first: drop the widest
        sub = widths[:top]
        sub_rungs = ladder.plan(loaded, opts.size, sub, depth)
        sub_steps = ladder.choose_steps_and_compression(sub_rungs, opts.steps, opts.compression)[0]
        seconds = sum(cost(r, sub_steps).seconds for r in sub_rungs)
        if seconds <= budget_seconds:
            fit = (sub, seconds)
            break
    text = (f"the plan needs about {duration(total)}, more than the budget of {duration(budget_seconds)}"
            + ("" if opts.budget_minutes is not None else
               f" (the CPU default; {flag('budget_minutes')} MINUTES allows more)"))
    if fit is None:
        two = widths[:2]
        two_rungs = ladder.plan(loaded, opts.size, two, depth)
        two_steps = ladder.choose_steps_and_compression(two_rungs, opts.steps, opts.compression)[0]
        need = sum(cost(r, two_steps).seconds for r in two_rungs)
        lower = ", ".join(flag(f) for f in ("batch", "seq_len", "depth"))
        widened = command_with_list(opts.command, flag("widths"), ",".join(map(str, two)))
        return text + (f"; no ladder of two or more of these widths fits: lower {lower} or {flag('steps')}, "
                       f"or allow the two narrowest (about {duration(need)}): "
                       + command_with(widened, flag("budget_minutes"), f"{math.ceil(need / 60 * 1.2 * 100) / 100:g}"))
    cmd = command_with(opts.command, flag("widths"), ",".join(map(str, fit[0])))
    return text + f"; a ladder that fits (about {duration(fit[1])}): {cmd}"


def command_with(argv: list[str] | None, option: str, value: str) -> str:
    """The command line ``argv`` with ``option`` set to ``value`` (replacing it where it is given)."""
    import shlex

    return shlex.join(command_with_list(argv, option, value))


def command_with_list(argv: list[str] | None, option: str, value: str) -> list[str]:
    argv = list(argv or ["recipec", "verify", "RECIPE", flag("size"), "SIZE"])
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == option:
            skip = True
            continue
        if a.startswith(option + "="):
            continue
        out.append(a)
    return out + [option, value]
