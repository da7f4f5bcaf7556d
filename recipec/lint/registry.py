"""The explicit registry of lint checks: code -> ``Check``. Add a new check here (and a fixture file)."""

from __future__ import annotations

from recipec.lint.check import Check
from recipec.lint.checks import (
    absolute_schedule,
    adam_eps,
    adamw_timescale,
    attn_scale_head_dim,
    batch_rule,
    critical_batch,
    depth_without_rule,
    extrapolation,
    framework_inexact,
    grad_clip,
    hidden_wd_width,
    moe_axis,
    muon_lr_width,
    muon_non_hidden,
    muon_shared_wd,
    no_norm,
    recipe_error,
    router_readout,
    ruleset_optimizer,
    size_override,
    sp_init_under_mup,
    stability,
    tied_readout,
    tokens_per_param,
    unused_suppression,
    vector_weight_decay,
    wd_convention,
    wd_convention_framework,
)

_MODULES = (
    recipe_error, unused_suppression,
    vector_weight_decay, hidden_wd_width, wd_convention, wd_convention_framework, muon_shared_wd,
    sp_init_under_mup, attn_scale_head_dim, tied_readout,
    size_override, extrapolation, depth_without_rule,
    adam_eps, batch_rule, ruleset_optimizer, critical_batch, grad_clip,
    router_readout, moe_axis, muon_non_hidden, muon_lr_width,
    absolute_schedule, adamw_timescale, tokens_per_param,
    no_norm, stability, framework_inexact,
)

CHECKS: dict[str, Check] = {c.code: c for c in map(Check.from_module, _MODULES)}


def get(code_or_name: str) -> Check | None:
    if code_or_name.upper() in CHECKS:
        return CHECKS[code_or_name.upper()]
    return next((c for c in CHECKS.values() if c.name == code_or_name), None)
