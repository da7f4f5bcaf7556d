"""Broken on purpose: attention logits scaled by 1/√head_dim, the standard-parametrization scale, kept
under muP (which wants 1/head_dim) — documented but never wired, as in gmboquet/mixle#258.

Only visible where head_dim grows with width (the example recipe keeps 2 heads, so head_dim = width/2):
once q and k align during training their dot product grows ∝ head_dim and the logits ∝ √head_dim. The
coord check flags ``attn_logits`` (the q·k·scale of every scaled_dot_product_attention call).
"""

import math

from gpt import GPT


def build(spec):
    return GPT(spec, attn_scale=1.0 / math.sqrt(spec.head_dim))
