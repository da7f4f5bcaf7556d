"""The model a rung trains: recipec's reference decoder, or the user's own (``--model``).

The user's model comes from a *factory*, named ``package.module:callable`` (imported) or
``path/to/file.py:callable`` (loaded from the file, its folder put on ``sys.path`` as for a script, so it
can import its siblings). The protocol:

* the factory is called once per rung with one argument, a :class:`RungSpec` (defined in
  ``recipec.verify.spec``, importable from here): the rung's resolved shape (width, depth, heads,
  kv_heads, head_dim, ffn_hidden, vocab_size, seq_len, tied_embeddings, norm, norm_eps, qk_norm,
  bias, rope_theta), its forward multipliers (``output_multiplier``, ``embedding_multiplier``,
  ``residual_multiplier``, ``attn_logit_scale``), the init std of every matrix
  kind (``init_std["q"]``, …, ``init_std["output"]``), the width ratio to the proxy (``width_mult``) and
  the whole :class:`recipec.resolved.Resolved` (``resolved``) for anything else;
* it returns a ``torch.nn.Module`` whose ``forward(tokens)`` maps a ``(batch, seq)`` LongTensor of token
  ids to ``(batch, seq, vocab_size)`` logits, already initialised, applying the multipliers itself —
  that is the code under test, so recipec never re-initialises it or patches its forward;
* the parameter kinds come from ``recipec.torch.classify_kinds`` (by the model's structure: module
  names, ``nn.Embedding``, the declared readout), refined by ``--kind-map REGEX=KIND`` on the command
  line or a ``recipec_kind_map`` dict attribute on the returned module (the same ``overrides``);
* the AdamW groups are ``recipec.torch.param_groups(model, resolved)`` — one per kind, LR, coupled
  weight decay (× the run's time compression) and eps as the recipe resolves them for that kind; a kind
  the recipe trains with Muon gets a torch.optim.Muon group instead (``recipec.verify.train.kind_hyper``:
  its own LR and coupled weight decay, Muon's momentum, Nesterov, Newton–Schulz steps, eps, adjust_lr),
  which needs every parameter of that kind to be a 2-D matrix.

Under torchrun the model is sharded with FSDP2: one unit per child of the first ``nn.ModuleList`` (the
repeated blocks), then the root.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recipec.diagnostics import RecipecError
from recipec.kinds import KINDS, PARAM_CLASSES
from recipec.verify.options import OptionError
from recipec.verify.spec import RungSpec, rung_spec  # noqa: F401  (RungSpec: the protocol's type, for users)


def load_factory(text: str) -> Callable:
    """``module:callable`` or ``path/file.py:callable`` → the callable; a located error otherwise."""
    where, sep, attr = text.rpartition(":")
    if not sep or not where or not attr:
        raise OptionError("model", f"expected MODULE:CALLABLE or path/to/file.py:CALLABLE (got {text!r})")
    try:
        if where.endswith(".py") or "/" in where or Path(where).is_file():
            path = Path(where)
            if not path.is_file():
                raise OptionError("model", f"no such file: {where}")
            name = f"recipec_user_model_{abs(hash(str(path.resolve())))}"
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module  # dataclasses and pickling look modules up by name
            folder = str(path.resolve().parent)
            if folder not in sys.path:  # as when the file runs as a script: its siblings import
                sys.path.insert(0, folder)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
    except RecipecError:
        raise
    except Exception as e:  # the user's code: say what failed, where
        raise OptionError("model", f"importing {where} failed: {type(e).__name__}: {e}") from e
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise OptionError("model", f"{where} has no callable {attr!r}")
    return factory


def parse_kind_map(items) -> dict[str, str]:
    """``REGEX=KIND`` strings (``--kind-map``) → overrides for ``recipec.torch.classify_kinds``."""
    out = {}
    for item in items or ():
        pattern, sep, kind = item.rpartition("=")
        if not sep or not pattern:
            raise OptionError("kind_map", f"expected REGEX=KIND (got {item!r})")
        try:
            re.compile(pattern)
        except re.error as e:
            raise OptionError("kind_map", f"{pattern!r} is not a regular expression: {e}") from None
        if kind not in KINDS and kind not in PARAM_CLASSES:
            raise OptionError("kind_map", f"{kind!r} is not a kind ({', '.join(KINDS)}) or a class")
        out[pattern] = kind
    return out


@dataclass
class Built:
    """A rung's model, ready to train: the module, the kind of every parameter, its AdamW groups."""

    module: Any
    kinds: dict[str, str]  # parameter name -> kind (or a class for an undocumented matrix)
    make_groups: Callable[[], list[dict]]  # call after any sharding: fully_shard replaces the parameters
    description: str

    @property
    def groups(self) -> list[dict]:
        return self.make_groups()


def layer_index(name: str) -> int | None:
    """The repeated block a parameter belongs to: the first integer in its dotted path."""
    return next((int(p) for p in name.split(".") if p.isdigit()), None)


@dataclass
class ModelSource:
    """Where a rung's model comes from. ``factory`` None: the reference decoder."""

    factory: Callable | None = None
    name: str = "reference"  # the --model text, for the report
    kind_map: dict[str, str] = field(default_factory=dict)

    @property
    def is_reference(self) -> bool:
        return self.factory is None

    def build(self, resolved, cfg, hyper, compression: float, device) -> Built:
        import torch

        from recipec.verify.model import Decoder, classify
        from recipec.verify.train import kind_hyper, muon_group, param_groups

        if self.factory is None:
            model = Decoder(cfg).to(device)
            kinds = {n: classify(n, p)[1] for n, p in model.named_parameters()}
            return Built(model, kinds, lambda: param_groups(model, hyper, resolved.optimizer.betas, resolved,
                                                            compression),
                         "reference LLaMA-style decoder (recipec.verify.model)")
        from recipec.torch import UnclassifiedParameterError, classify_kinds
        from recipec.torch import param_groups as kind_groups

        spec = rung_spec(resolved, cfg)
        try:
            model = self.factory(spec)
        except Exception as e:
            raise OptionError("model", f"{self.name}: the factory failed at width {cfg.width}: "
                                          f"{type(e).__name__}: {e}") from e
        if not isinstance(model, torch.nn.Module):
            raise OptionError("model", f"{self.name}: the factory returned {type(model).__name__}, not a "
                                          "torch.nn.Module")
        overrides = {**dict(getattr(model, "recipec_kind_map", None) or {}), **self.kind_map}
        model = model.to(device)
        try:
            kinds = classify_kinds(model, overrides)
            kind_groups(model, resolved, overrides=overrides)  # fail here, before any training, if it cannot
        except (UnclassifiedParameterError, ValueError) as e:
            raise OptionError("kind_map", f"{self.name}: {e}") from None

        muon = {k for k, h in kind_hyper(resolved, compression).items() if h.optimizer == "muon"}
        flat = [n for n, kind in kinds.items() if kind in muon and dict(model.named_parameters())[n].ndim != 2]
        if flat:
            raise OptionError("model", f"{self.name}: the recipe trains {', '.join(sorted(muon))} with Muon, which "
                                       f"takes 2-D matrices only (torch.optim.Muon), but {flat[0]} has "
                                       f"{dict(model.named_parameters())[flat[0]].ndim} dimensions")

        def make_groups() -> list[dict]:
            groups = []
            hyper_of = kind_hyper(resolved, compression)
            for g in kind_groups(model, resolved, overrides=overrides):
                if g["name"] in muon:  # Muon's own numbers and group, as for the reference model
                    groups.append(muon_group(g["params"], hyper_of[g["name"]], g["name"]))
                    continue
                g["weight_decay"] *= compression  # the run's time compression, as for the reference model
                for key in ("param_names", "lowered", "cls"):
                    g.pop(key, None)
                g["optimizer"] = "adamw"
                groups.append(g)
            return groups

        return Built(model, kinds, make_groups, f"user model {self.name}")
