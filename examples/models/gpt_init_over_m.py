"""Broken on purpose: hidden matrices initialised with std ÷ m instead of ÷ √m (variance 1/fan_in²).

Every hidden layer's output at init then shrinks ∝ m^-1/2 while its update stays Θ(1): the coord
check flags the hidden kinds (q, o, mlp_in, mlp_out: activation slope about -0.5 at step 0). By steady
state weight decay has forgotten the init, so the σ ladder cannot see this one.
"""

from gpt import GPT


def build(spec):
    return GPT(spec, hidden_std=spec.base_init_std / spec.width_mult)
