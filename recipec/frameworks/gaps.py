"""What each framework cannot express of a resolved recipe: one list that render and lint share.

Every renderer writes these as ``notes`` into its output (and the CLI prints them); ``recipec lint
--target`` reports the same list as RC603 (framework-inexact) before anything is rendered. Keeping
them in one place is what stops the two from drifting apart. Values a renderer *can* express by
rewriting them (muP form-A lowering of multipliers into init, LR, ε and WD) are not gaps: the
renderer says how it lowered them in its own notes.

It sits below lint, render and inspect (all three read it) and reads only ``Resolved``: the rope θ and
norm ε a framework may round come from ``resolved.shape``. Standard library only: lint loads it on its
start-up path.
"""

from __future__ import annotations

from dataclasses import dataclass

from recipec.frameworks import fmt, is_one
from recipec.kinds import PARAM_CLASSES

# Gaps that leave a forward multiplier unapplied, by key (what `recipec inspect` lists instead of a difference).
MULTIPLIER_GAPS: dict[str, str] = {"tied_emb": "embedding_multiplier", "emb": "embedding_multiplier",
                                   "tied_out": "output_multiplier", "attn": "attn_logit_scale"}


@dataclass(frozen=True)
class Gap:
    key: str  # stable per target: lint reports a key once and anchors it in the recipe by key
    note: str  # "<value> is NOT applied: <why>" (or "is approximated", "is rounded"), as written into the output
    kind: str | None = None  # the parameter kind whose values the target cannot give (recipec inspect) …
    checks: tuple[str, ...] = ()  # … and which of them: lr, weight_decay, eps, init_std


def gaps(target: str, resolved) -> list[Gap]:
    """The gaps of ``resolved`` in ``target`` (empty for ``neutral`` and unknown targets)."""
    fn = _BY_TARGET.get(target)
    return fn(resolved) if fn else []


def target_gaps(targets, resolved) -> list[tuple[str, Gap]]:
    """(target, gap) for each selected target, in order, each target once: ``compile --strict``'s list."""
    return [(t, g) for t in dict.fromkeys(targets) for g in gaps(t, resolved)]


def default_attn_scale(resolved) -> float:
    """The frameworks' own attention logit scale, 1/sqrt(head_dim)."""
    return resolved.shape.head_dim ** -0.5


def _attn_is_default(r) -> bool:
    scale = r.multipliers.attn_logit_scale.value
    return abs(scale - default_attn_scale(r)) <= 1e-12 * scale


def _torchtitan(r) -> list[Gap]:
    m, out = r.multipliers, []
    emb, out_mult = m.embedding_multiplier.value, m.output_multiplier.value
    if r.shape.tied_embeddings and not is_one(emb):
        out.append(Gap("tied_emb", f"embedding_multiplier={fmt(emb)} is NOT applied: torchtitan has no embedding "
                                   "multiplier and tied embeddings cannot be lowered into the weight"))
    if r.shape.tied_embeddings and not is_one(out_mult):
        out.append(Gap("tied_out", f"output_multiplier={fmt(out_mult)} is NOT applied: torchtitan has no logit "
                                   "multiplier and the tied lm_head shares the embedding weight, "
                                   "so it cannot be lowered"))
    if r.shape.bias:
        out.append(Gap("bias", "bias: true is NOT applied: torchtitan's Llama3 linears have no bias"))
    if r.shape.norm != "rmsnorm":
        out.append(Gap("norm", f"norm: {r.shape.norm} is NOT applied: torchtitan's Llama3 uses RMSNorm"))
    if not _attn_is_default(r):
        out.append(Gap("attn", f"attn_logit_scale={fmt(m.attn_logit_scale.value)} is NOT applied: torchtitan's "
                               f"attention uses 1/sqrt(head_dim) = {fmt(default_attn_scale(r))}"))
    if r.optimizer.z_loss > 0:
        out.append(Gap("z_loss", f"z_loss={fmt(r.optimizer.z_loss)} is NOT applied: torchtitan's cross-entropy loss "
                                 "has no z-loss term"))
    if r.precision in ("fp16", "fp8"):
        out.append(Gap("precision", f"precision {r.precision} is NOT applied: torchtitan mixed precision runs in "
                                    "bfloat16 (fp8 needs a Float8 model converter)"))
    if r.moe is not None and r.moe.aux_loss_coeff > 0:
        out.append(Gap("aux_loss", f"aux_loss_coeff={fmt(r.moe.aux_loss_coeff)} is NOT applied: torchtitan 0.3 has no "
                                   "load-balancing auxiliary loss (its MoE load_balance_coeff is aux-loss-free "
                                   "expert-bias balancing, a different method; left off)"))
    if r.shape.moe and r.precision == "fp32":
        out.append(Gap("moe_dtype", "precision fp32 is approximated in the experts: torchtitan's grouped experts "
                                    "compute in bfloat16 whatever the training dtype"))
    if r.muon is not None:
        out.append(Gap("muon", f"Muon ({', '.join(r.muon.kinds)}) is NOT applied: torchtitan 0.3's DistMuon takes one "
                               "parameter group (no per-kind Muon LR / weight decay) and needs DTensor parameters "
                               "on CUDA with a per-parameter sharding plan, so recipec cannot build and check it; "
                               "compile --target torchtitan refuses the recipe"))
    k, v = r.kind_coupled("k"), r.kind_coupled("v")
    if k.init_std is not None and v.init_std is not None and abs(k.init_std - v.init_std) > 1e-12 * v.init_std:
        out.append(Gap("kv_init", f"v init std {fmt(v.init_std)} is NOT applied: torchtitan's QKVLinear builds wk "
                                  f"and wv from one Linear config (qkv_linear.wkv), so wv starts with k's init std "
                                  f"{fmt(k.init_std)}", kind="v", checks=("init_std",)))
    return out


def _megatron(r) -> list[Gap]:
    """megatron-core 0.19.2 through recipec's wrapper (megatron_pretrain.py): per-kind config_overrides, the
    residual multiplier lowered into linear_proj / linear_fc2, every matrix re-initialised at its kind's std,
    the attention scale and output multiplier through --mup-* (recipec.frameworks.megatron)."""
    m, sh, out = r.multipliers, r.shape, []
    rope_theta = sh.rope_theta
    if not float(rope_theta).is_integer():
        out.append(Gap("rope", f"rope_theta={fmt(float(rope_theta))} is rounded to {round(rope_theta)}: Megatron's "
                               "--rotary-base is an integer"))
    if sh.norm == "none":
        out.append(Gap("norm", "norm: none is NOT applied: Megatron always normalises (LayerNorm written)"))
    res = m.residual_multiplier.value
    if not is_one(res) and sh.bias:
        out.append(Gap("residual_bias", f"residual_multiplier={fmt(res)} is NOT applied to the biases of linear_proj "
                                        "and linear_fc2: recipec lowers it into their weights only, so those biases "
                                        "train with the bias kind's numbers"))
    q = r.kind_coupled("q")
    for kind in ("k", "v"):
        c = r.kind_coupled(kind)
        differ = [(n, getattr(c, n)) for n in ("lr", "weight_decay", "eps")
                  if abs(getattr(c, n) - getattr(q, n)) > 1e-12 * max(abs(getattr(q, n)), abs(getattr(c, n)))]
        if differ:
            values = ", ".join(f"{n} {fmt(v)}" for n, v in differ)
            out.append(Gap(f"qkv_{kind}", f"{kind}'s {values} is NOT applied: Megatron's linear_qkv holds q, k and v "
                                          "in one tensor (one optimizer group), which trains with q's numbers",
                           kind=kind, checks=tuple(n for n, _ in differ)))
    if r.optimizer.z_loss > 0:
        out.append(Gap("z_loss", f"z_loss={fmt(r.optimizer.z_loss)} is NOT applied: pretrain_gpt.py has no z-loss "
                                 "for dense GPT models"))
    if r.optimizer.name == "adam" and any(r.coupled(c).weight_decay > 0 for c in PARAM_CLASSES):
        out.append(Gap("adam_wd", "optimizer adam: Megatron's Adam applies weight decay decoupled (AdamW)"))
    if r.muon is not None:
        # compile -t megatron refuses such a recipe (recipec.render.megatron, whose docstring has the sources)
        out.append(Gap("muon", f"optimizer.muon ({', '.join(r.muon.kinds)}) is NOT applied: megatron-core 0.19.2's "
                               "Muon orthogonalises linear_fc1 (gate and up in one tensor, in every expert too) as one "
                               "matrix and needs the external emerging_optimizers package; compile -t megatron "
                               "refuses the recipe"))
    return out


# hf gaps that would train a different model or a parameter with the wrong optimizer: compile -t hf refuses
# them (recipec.render.hf) after lint has listed them as RC603.
HF_REFUSED: frozenset[str] = frozenset({"moe_shared", "moe_router_score", "muon_experts"})


def _hf(r) -> list[Gap]:
    """transformers 5.24 through hf_train.py: LlamaForCausalLM for a dense recipe, Qwen3MoeForCausalLM for a
    mixture of experts (recipec.frameworks.hf); optimizers from recipec.torch (torch.optim.Muon + AdamW)."""
    from recipec.frameworks.hf import model_class

    m, s, sh, out = r.multipliers, r.schedule, r.shape, []
    moe = getattr(sh, "num_experts", 0) > 0
    model = {"LlamaForCausalLM": "Llama", "Qwen3MoeForCausalLM": "Qwen3-MoE"}[model_class(r)]
    if s.decay == "linear" and s.min_lr_ratio > 0:
        out.append(Gap("min_lr", f"min_lr_ratio={fmt(s.min_lr_ratio)} is NOT applied: the Trainer's linear schedule "
                                 "decays to 0"))
    if r.precision == "fp8":
        out.append(Gap("precision", "precision fp8 is NOT applied by the Trainer arguments: bf16 written"))
    if sh.tied_embeddings and not is_one(m.embedding_multiplier.value):
        out.append(Gap("emb", f"embedding_multiplier={fmt(m.embedding_multiplier.value)} is NOT applied: HF {model} "
                              "has no embedding multiplier and tied embeddings cannot be lowered into the weight"))
    if not _attn_is_default(r):
        out.append(Gap("attn", f"attn_logit_scale={fmt(m.attn_logit_scale.value)} is NOT applied: HF {model} uses "
                               "1/sqrt(head_dim)"))
    if sh.qk_norm and not moe:
        out.append(Gap("qk_norm", "qk_norm is NOT applied by hf_train.py's model: HF Llama has no qk-norm (bring a "
                                  "model that has it)"))
    if moe and not sh.qk_norm:
        out.append(Gap("qk_norm_added", "qk_norm: false is NOT applied by hf_train.py's model: Qwen3-MoE always "
                                        "normalises q and k per head (RMSNorm gains, trained as qk_norm)"))
    if sh.norm != "rmsnorm":
        out.append(Gap("norm", f"norm: {sh.norm} is NOT applied by hf_train.py's model: HF {model} uses RMSNorm"))
    if r.optimizer.z_loss > 0:
        out.append(Gap("z_loss", f"z_loss={fmt(r.optimizer.z_loss)} is NOT applied: the Trainer's loss has no "
                                 "z-loss term"))
    if sh.tied_embeddings and not is_one(m.output_multiplier.value):
        out.append(Gap("tied_out", f"output_multiplier={fmt(m.output_multiplier.value)} is NOT applied: HF {model} "
                                   "has no logit multiplier and the tied lm_head shares the embedding weight, so the "
                                   "hook cannot lower it"))
    if moe and sh.shared_experts:
        out.append(Gap("moe_shared", f"shared_experts={sh.shared_experts} is NOT applied: Qwen3-MoE has no shared "
                                     "expert (Qwen2-MoE's is sigmoid-gated and has no qk-norm), so hf cannot train "
                                     "this model; compile -t hf refuses it"))
    if moe and r.moe.router_score != "softmax":
        out.append(Gap("moe_router_score", f"router_score: {r.moe.router_score} is NOT applied: "
                                           "Qwen3-MoE's router is a softmax over the experts; "
                                           "compile -t hf refuses it"))
    muon_3d = [k for k in ("expert_in", "expert_out") if r.kinds.get(k) is not None and r.kinds[k].optimizer == "muon"]
    if moe and muon_3d:
        out.append(Gap("muon_experts", f"Muon for {', '.join(muon_3d)} is NOT applied: Qwen3-MoE stores the routed "
                                       "experts as fused 3-D tensors and torch.optim.Muon takes 2-D matrices only "
                                       "(they would not move to AdamW silently); compile -t hf refuses it — leave "
                                       "them out of optimizer.muon.kinds"))
    return out


_BY_TARGET = {"torchtitan": _torchtitan, "megatron": _megatron, "hf": _hf}
