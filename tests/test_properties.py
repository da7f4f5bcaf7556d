"""Property tests: transfer is a group action — round trips return home, two steps equal one."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from recipec.load import load_recipe_text
from recipec.transfer import rebase, resolve
from tests.conftest import BASE

COMBOS = [
    "[fan2025]",
    "[mup-adamw]",
    "[mup-megatron]",
    "[fan2025, completep, adam-sqrt-batch]",
    "[mup-adamw, {name: completep, params: {alpha: 0.5}}, adamw-timescale]",
    "[deepseek-2024]",
    "[step-law-2025]",
]

widths = st.integers(min_value=1, max_value=128).map(lambda k: 64 * k)  # head_dim 64
depths = st.integers(min_value=1, max_value=96)
# sequences of 256 tokens, a whole number of micro batches (1) on each of the 8 data-parallel ranks
batches = st.integers(min_value=1, max_value=512).map(lambda k: 8 * k)
tokens = st.integers(min_value=10**6, max_value=10**12)


def _recipe(combo: str, convention: str):
    text = BASE.replace("transfer: [fan2025]", f"transfer: {combo}")
    if convention == "independent":
        text = text.replace("weight_decay: 0.1", "weight_decay: 3.0e-4").replace(
            "wd_convention: coupled", "wd_convention: independent")
    return load_recipe_text(text, "t.yaml").recipe


def _size(recipe, name, width, depth, seqs, toks):
    data = recipe.model_dump(by_alias=True)
    data["sizes"] = {name: {"model": {"width": width, "depth": depth},
                            "batch": {"global_sequences": seqs}, "run": {"tokens": toks}}}
    return type(recipe).model_validate(data)


def _assert_same(a, b, rel=1e-12):
    va, vb = a.values(), b.values()
    assert va.keys() == vb.keys()
    for key in va:
        x, y = va[key].value, vb[key].value
        assert math.isclose(x, y, rel_tol=rel, abs_tol=0.0), (key, x, y)


@settings(max_examples=60, deadline=None)
@given(combo=st.sampled_from(COMBOS), convention=st.sampled_from(["coupled", "independent"]),
       width=widths, depth=depths, seqs=batches, toks=tokens)
def test_round_trip_returns_to_the_proxy(combo, convention, width, depth, seqs, toks):
    recipe = _size(_recipe(combo, convention), "a", width, depth, seqs, toks)
    home = resolve(recipe, None)
    at_a = resolve(recipe, "a")
    back = resolve(rebase(recipe, at_a, keep_sizes={"home": home}), "home")
    _assert_same(back, home)


@settings(max_examples=60, deadline=None)
@given(combo=st.sampled_from(COMBOS), convention=st.sampled_from(["coupled", "independent"]),
       w1=widths, w2=widths, d1=depths, d2=depths, s1=batches, s2=batches, t1=tokens, t2=tokens)
def test_two_steps_equal_one(combo, convention, w1, w2, d1, d2, s1, s2, t1, t2):
    base = _recipe(combo, convention)
    mid_recipe = _size(base, "mid", w1, d1, s1, t1)
    far_recipe = _size(base, "far", w2, d2, s2, t2)
    mid = resolve(mid_recipe, "mid")
    direct = resolve(far_recipe, "far")
    two_step = resolve(rebase(mid_recipe, mid, keep_sizes={"far": direct}), "far")
    _assert_same(two_step, direct)


def test_example_two_steps_256_1024_4096():
    recipe = _size(_recipe("[fan2025]", "coupled"), "mid", 1024, 4, 32, 10**8)
    mid = resolve(recipe, "mid")
    far = resolve(_size(_recipe("[fan2025]", "coupled"), "far", 4096, 4, 32, 10**8), "far")
    two = resolve(rebase(recipe, mid, keep_sizes={"far": far}), "far")
    _assert_same(two, far)
    assert math.isclose(two.classes["hidden"].weight_decay.value, 0.4, rel_tol=1e-12)
