"""The σ probe of a training rung: the top singular value of every matrix at each checkpoint, warm-started
from the previous checkpoint's block (``recipec.verify.sigma``); under torchrun each matrix is gathered
and estimated on one rank, and the results shared.
"""

from __future__ import annotations

import math
import time

import torch

from recipec.verify.distributed import Dist, full_matrix
from recipec.verify.factory import layer_index
from recipec.verify.sigma import top_singular_value


class SigmaProbe:
    """The σ probe: the top singular value of every matrix of a known kind, warm-started from the last
    checkpoint's block; per kind the mean over layers (``curve``) and each layer's (``per_layer``)."""

    def __init__(self, model, kind_of: dict[str, str], seed: int, dist: Dist | None = None):
        self.matrices = [(n, p) for n, p in model.named_parameters() if p.ndim == 2 and n in kind_of]
        self.kind_of, self.seed, self.dist = kind_of, seed, dist
        self.warm_blocks: dict[str, torch.Tensor] = {}
        self.curve: dict[str, list[tuple[int, float]]] = {}
        self.per_layer: dict[str, list[float]] = {}
        self.iterations = self.unconverged = 0
        self.seconds = 0.0

    def _estimate(self, name: str, w: torch.Tensor):
        res = top_singular_value(w, init=self.warm_blocks.get(name), seed=self.seed)
        self.warm_blocks[name] = res.block
        return res

    def estimates(self) -> list[tuple[float, int, bool]]:
        """(σ, iterations, converged) of every matrix, in ``matrices`` order."""
        dist = self.dist
        if dist is None:
            return [(r.sigma, r.iterations, r.converged) for r in (self._estimate(n, p) for n, p in self.matrices)]
        # Sharded: gather each whole matrix (a collective on every rank), estimate matrix i on rank
        # i mod world (which keeps its warm block), then share the results; a sum with zeros is exact.
        shared = torch.zeros(len(self.matrices), 3, dtype=torch.float64, device=dist.device)
        for i, (name, p) in enumerate(self.matrices):
            with torch.no_grad():
                w = full_matrix(p.detach())
            if i % dist.world == dist.rank:
                res = self._estimate(name, w)
                shared[i, 0], shared[i, 1], shared[i, 2] = res.sigma, res.iterations, float(res.converged)
            del w
        return [(s, int(n), bool(c)) for s, n, c in dist.all_sum(shared).tolist()]

    def measure(self, step: int) -> float:
        """Estimate at ``step`` and record it; returns the seconds it took."""
        started = time.perf_counter()
        by_kind: dict[str, list[tuple[int | None, float]]] = {}
        for (name, _), (sigma, its, converged) in zip(self.matrices, self.estimates()):
            self.iterations += its
            self.unconverged += 0 if converged else 1
            by_kind.setdefault(self.kind_of[name], []).append((layer_index(name), sigma))
        for kind, values in by_kind.items():
            sigmas = [v for _, v in values]
            self.curve.setdefault(kind, []).append((step, sum(sigmas) / len(sigmas)))
            if kind in ("embedding", "output"):
                self.per_layer[kind] = sigmas
                continue
            layers: dict[int, list[float]] = {}
            for layer, v in values:
                layers.setdefault(layer, []).append(v)
            self.per_layer[kind] = [sum(v) / len(v) for _, v in sorted(layers.items())]
        seconds = time.perf_counter() - started
        self.seconds += seconds
        return seconds

    def non_finite(self) -> bool:
        return any(not math.isfinite(c[-1][1]) for c in self.curve.values())
