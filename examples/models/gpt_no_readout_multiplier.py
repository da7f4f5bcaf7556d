"""Broken on purpose: the readout multiplier (muP's 1/m on the logits) is never applied.

The gpt-neox failure (EleutherAI/gpt-neox#1061): muP configured, the output multiplier not wired, so
the logits' update grows ∝ m. The coord check flags kind ``output`` (its ΔW·x slope is about +1).
"""

from gpt import GPT


def build(spec):
    return GPT(spec, readout_multiplier=1.0)
