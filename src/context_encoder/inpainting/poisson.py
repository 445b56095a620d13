"""Harmonic interpolation over a hole: the linear solve behind the Poisson paste (compose.py).

Given values on the known pixels that border a hole, find the smoothest field over the hole
that meets them: the discrete Laplace equation, 4-neighbour stencil, Dirichlet values on the
border and no flux across the photo's edge. Up to ``DIRECT_MAX`` hole pixels a sparse LU solves
it exactly (750,000 pixels: ~5 s, 1.5 GB). Larger holes are solved coarse to fine: the problem
at half resolution (recursively) gives the starting point of conjugate gradients at full
resolution, which then only has to fix detail near the border. Memory stays linear in the hole.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

DIRECT_MAX = 1_000_000  # hole pixels solved by sparse LU; more: coarse to fine
REFINE_ITERS = 300  # conjugate-gradient steps at each finer level


def hole_border(hole: np.ndarray) -> np.ndarray:
    """The known pixels 4-adjacent to the hole: (H, W) bool, where the boundary values are read."""
    grown = cv2.dilate(hole.astype(np.uint8), np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8))
    return grown.astype(bool) & ~hole


def _system(hole: np.ndarray, values: np.ndarray) -> tuple[Any, np.ndarray]:
    """The Laplace system over the hole pixels (np.nonzero order): matrix (n, n), rhs (n, C)."""
    from scipy import sparse  # imported on first solve: only the Poisson paste needs SciPy

    h, w = hole.shape
    rows, cols = np.nonzero(hole)
    n = len(rows)
    index = np.full((h, w), -1, np.int64)
    index[rows, cols] = np.arange(n)
    diag, rhs = np.zeros(n), np.zeros((n, values.shape[-1]))
    pairs_i, pairs_j = [], []
    for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        r, c = rows + dr, cols + dc
        inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)  # no neighbour past the photo's edge
        diag += inside
        rr, cc, me = r[inside], c[inside], np.nonzero(inside)[0]
        other = index[rr, cc]
        in_hole = other >= 0
        pairs_i.append(me[in_hole])
        pairs_j.append(other[in_hole])
        np.add.at(rhs, me[~in_hole], values[rr[~in_hole], cc[~in_hole]])
    i, j = np.concatenate(pairs_i), np.concatenate(pairs_j)
    data = np.concatenate([diag, -np.ones(len(i))])
    ij = (np.concatenate([np.arange(n), i]), np.concatenate([np.arange(n), j]))
    return sparse.csc_matrix((data, ij), shape=(n, n)), rhs


def _coarse_guess(hole: np.ndarray, values: np.ndarray, border: np.ndarray) -> np.ndarray:
    """The solution at half resolution, upsampled: (n, C) at the hole pixels."""
    h, w = hole.shape
    size = ((w + 1) // 2, (h + 1) // 2)
    small_hole = cv2.resize(hole.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0.5
    weight = cv2.resize(border.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    summed = cv2.resize((values * border[..., None]).astype(np.float32), size, interpolation=cv2.INTER_AREA)
    small_values = summed.reshape(*weight.shape, -1) / np.maximum(weight, 1e-6)[..., None]
    small = np.zeros((*small_hole.shape, values.shape[-1]), np.float32)
    if small_hole.any():
        small[small_hole] = harmonic_fill(small_hole, small_values)
    up = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, -1)
    return up[hole]


def harmonic_fill(hole: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The harmonic interpolant of ``values`` (H, W, C; read on the hole's border) over the hole
    pixels of ``hole`` (H, W) bool, in ``np.nonzero`` order: (n, C) float64."""
    from scipy.sparse.linalg import cg, spsolve

    values = values.astype(np.float64)
    matrix, rhs = _system(hole, values)
    n = matrix.shape[0]
    if n <= DIRECT_MAX:
        return spsolve(matrix, rhs, permc_spec="MMD_AT_PLUS_A").reshape(n, -1)
    guess = _coarse_guess(hole, values, hole_border(hole))
    return np.stack([cg(matrix, rhs[:, k], x0=guess[:, k], rtol=1e-6, maxiter=REFINE_ITERS)[0]
                     for k in range(rhs.shape[1])], axis=1)
