"""Training through the Poisson paste: the loss taken on what ``inpaint`` writes, not on the raw net.

``inpaint`` pastes a prediction by Poisson blending (:mod:`context_encoder.inpainting.blend`): over
the hole P it writes ``pred + H(photo − pred)``, where ``H`` is the harmonic interpolation over P of
the mismatch on P's border ∂P (the known pixels 4-adjacent to it, which the net also predicts).
That map is linear in ``pred``, so it can be trained through: the error of the pasted output is
``r − H(r)`` with ``r = pred − target``, which is blind to every harmonic part of ``r``. A net
trained this way is not asked for absolute colour (the photo's border gives that for free, as the
parameter-free harmonic fill shows) but for the detail a harmonic fill lacks.

Forward: one sparse LU of P's Laplacian per sample (cached: laplace.factorized, shared with a
harmonic hole fill of the input). Backward: the adjoint, ``∂L/∂pred = g`` on P and ``−Bᵀ A⁻¹ g`` on ∂P, with the same LU
(the Laplacian is symmetric).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from context_encoder.laplace import factorized, hole_border, laplace_system


def _factor(hole: np.ndarray, mismatch: np.ndarray) -> tuple[Any, np.ndarray]:
    """(LU of the Laplacian over ``hole``, right-hand side (n, C) from ``mismatch`` on its border)."""
    matrix, rhs = laplace_system(hole, mismatch)
    return factorized(hole, matrix), rhs


def _neighbour_sum(image: np.ndarray) -> np.ndarray:
    """Sum of each pixel's 4 neighbours inside the image: (h, w, C) -> (h, w, C)."""
    out = np.zeros_like(image)
    out[1:] += image[:-1]
    out[:-1] += image[1:]
    out[:, 1:] += image[:, :-1]
    out[:, :-1] += image[:, 1:]
    return out


class _PoissonPaste(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, pred: torch.Tensor, target: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
        p = pred.detach().float().permute(0, 2, 3, 1).cpu().numpy().astype(np.float64)  # (N, h, w, C)
        t = target.detach().float().permute(0, 2, 3, 1).cpu().numpy().astype(np.float64)
        holes = hole.detach().cpu().numpy().astype(bool)  # (N, h, w)
        out = p.copy()
        factors = []
        for i in range(len(p)):
            if not holes[i].any():
                factors.append(None)
                continue
            lu, rhs = _factor(holes[i], t[i] - p[i])
            out[i][holes[i]] += lu.solve(rhs)
            factors.append(lu)
        ctx.factors, ctx.holes = factors, holes
        return torch.from_numpy(out).to(pred.device, torch.float32).permute(0, 3, 1, 2)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        g = grad.detach().float().permute(0, 2, 3, 1).cpu().numpy().astype(np.float64)  # (N, h, w, C)
        out = g.copy()
        for i, lu in enumerate(ctx.factors):
            if lu is None:
                continue
            hole = ctx.holes[i]
            y = np.zeros_like(g[i])
            y[hole] = lu.solve(g[i][hole])  # A⁻¹ g over the hole (A symmetric)
            border = hole_border(hole)
            out[i][border] -= _neighbour_sum(y)[border]  # −Bᵀ A⁻¹ g on the border
        return torch.from_numpy(out).to(grad.device, grad.dtype).permute(0, 3, 1, 2), None, None


def poisson_paste(pred: torch.Tensor, target: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """``pred`` Poisson-pasted into ``target`` over ``hole``, differentiable in ``pred``.

    pred, target (N, C, h, w) float; hole (N, h, w) bool, with every pixel of its border inside the
    image (as the hidden square of a center net is). Returns (N, C, h, w) float32: on the hole,
    ``pred`` plus the harmonic interpolation of ``target − pred`` read on the hole's border (what
    :func:`context_encoder.inpainting.blend.paste` writes with ``mode="poisson"``, before rounding);
    elsewhere ``pred``. Gradients flow to ``pred`` only.
    """
    return _PoissonPaste.apply(pred, target, hole)
