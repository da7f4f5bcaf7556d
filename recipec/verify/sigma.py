"""Top singular value of a matrix on its own device: block power (subspace) iteration with a convergence check.

σ₁(W) is estimated as the largest singular value of W·Q for an orthonormal n×k block Q refined by
Q ← orth(Wᵀ W Q). The estimate rises monotonically towards σ₁ (σ₁(WQ) ≤ σ₁(W)); iteration stops when
it changes by less than ``tol`` (relative) between iterations. Passing the previous call's block as
``init`` warm-starts the next checkpoint, which then converges in a few iterations.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class SigmaResult:
    sigma: float
    iterations: int
    converged: bool
    block: torch.Tensor  # the final orthonormal block, for warm starts


@torch.no_grad()
def top_singular_value(weight: torch.Tensor, *, k: int = 16, tol: float = 2e-4, max_iter: int = 300,
                       init: torch.Tensor | None = None, seed: int = 0) -> SigmaResult:
    if weight.ndim != 2:
        raise ValueError(f"expected a matrix, got shape {tuple(weight.shape)}")
    w = weight.detach().float()
    transpose = w.shape[0] < w.shape[1]
    if transpose:  # iterate on the smaller Gram matrix
        w = w.T
    m, n = w.shape
    k = max(1, min(k, n))
    if not bool(torch.isfinite(w).all()):  # a diverged weight: report it instead of failing inside the SVD
        return SigmaResult(sigma=float("nan"), iterations=0, converged=False,
                           block=torch.zeros(n, k, dtype=w.dtype, device=w.device))
    if init is not None and init.shape == (n, k):
        q = init.to(device=w.device, dtype=w.dtype)
    else:
        gen = torch.Generator(device="cpu").manual_seed(seed)
        q = torch.randn(n, k, generator=gen, dtype=w.dtype).to(w.device)
    q, _ = torch.linalg.qr(q)
    previous = 0.0
    sigma = 0.0
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        z = w @ q  # m×k
        sigma_t = torch.linalg.svdvals(z)[0]
        q, _ = torch.linalg.qr((z.T @ w).T)  # = wᵀz; this order keeps the large operand row-major
        sigma = float(sigma_t)  # one host sync per iteration: the convergence check needs the value
        if not (sigma == sigma) or sigma in (float("inf"), float("-inf")):
            break
        if it > 1 and abs(sigma - previous) <= tol * max(sigma, 1e-30):
            converged = True
            break
        previous = sigma
    return SigmaResult(sigma=sigma, iterations=it, converged=converged, block=q)
