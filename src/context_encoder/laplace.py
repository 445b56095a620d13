"""Harmonic interpolation over a hole: the linear solve behind the Poisson paste (inpainting/blend.py)
and the harmonic baseline, shared by inference and the loss through the paste (training/paste.py).

Given values on the known pixels that border a hole, find the smoothest field over the hole
that meets them: the discrete Laplace equation, 4-neighbour stencil, Dirichlet values on the
border and no flux across the photo's edge. Up to ``DIRECT_MAX`` hole pixels a sparse LU solves
it exactly; larger holes go to algebraic multigrid (PyAMG's Ruge-Stuben hierarchy as the
preconditioner of conjugate gradients, to a relative residual of ``AMG_TOL``), which is 3x faster
than the LU at 250,000 pixels (0.8 s against 2.4 s) and stays linear in time and memory.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import cv2
import numpy as np

DIRECT_MAX = 20_000  # hole pixels solved by sparse LU; more: algebraic multigrid (equal speed at ~15,000)
AMG_TOL = 1e-4  # relative residual of the multigrid solve: errors of ~0.005 grey levels
FACTOR_CACHE = 40  # LU factorisations of model-size holes kept: a training batch's, reused by its loss
_factors: OrderedDict[bytes, Any] = OrderedDict()


def hole_border(hole: np.ndarray) -> np.ndarray:
    """The known pixels 4-adjacent to the hole: (H, W) bool, where the boundary values are read."""
    grown = cv2.dilate(hole.astype(np.uint8), np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8))
    return grown.astype(bool) & ~hole


def laplace_system(hole: np.ndarray, values: np.ndarray) -> tuple[Any, np.ndarray]:
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
        rhs[me[~in_hole]] += values[rr[~in_hole], cc[~in_hole]]  # each pixel has one neighbour per offset
    i, j = np.concatenate(pairs_i), np.concatenate(pairs_j)
    data = np.concatenate([diag, -np.ones(len(i))])
    ij = (np.concatenate([np.arange(n), i]), np.concatenate([np.arange(n), j]))
    return sparse.csc_matrix((data, ij), shape=(n, n)), rhs


def harmonic_fill(hole: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The harmonic interpolant of ``values`` (H, W, C; read on the hole's border) over the hole
    pixels of ``hole`` (H, W) bool, in ``np.nonzero`` order: (n, C) float64."""
    values = values.astype(np.float64)
    matrix, rhs = laplace_system(hole, values)
    n = matrix.shape[0]
    if n <= DIRECT_MAX:
        from scipy.sparse.linalg import spsolve

        return spsolve(matrix, rhs, permc_spec="MMD_AT_PLUS_A").reshape(n, -1)
    import pyamg  # imported on the first large solve only

    solver = pyamg.ruge_stuben_solver(matrix.tocsr())
    return np.stack([solver.solve(rhs[:, k], tol=AMG_TOL, accel="cg") for k in range(rhs.shape[1])], axis=1)


def factorized(hole: np.ndarray) -> Any:
    """The sparse LU of the Laplacian over ``hole`` (H, W) bool (``laplace_system``'s matrix), cached.

    For model-size holes (training batches, inference windows): the input's harmonic fill and the
    loss through the Poisson paste (training/paste.py) factor each hole once. Not for photo-size
    holes, which :func:`harmonic_fill` solves uncached.
    """
    from scipy.sparse.linalg import splu

    key = np.packbits(hole).tobytes() + bytes(str(hole.shape), "ascii")
    lu = _factors.get(key)
    if lu is None:
        matrix, _ = laplace_system(hole, np.zeros(hole.shape + (1,)))
        lu = splu(matrix.tocsc(), permc_spec="MMD_AT_PLUS_A")
        _factors[key] = lu
        if len(_factors) > FACTOR_CACHE:
            _factors.popitem(last=False)
    else:
        _factors.move_to_end(key)
    return lu


def harmonic_fill_small(hole: np.ndarray, values: np.ndarray) -> np.ndarray:
    """:func:`harmonic_fill` through the cached LU (:func:`factorized`), for model-size holes:
    ``values`` (H, W, C) read on the border of ``hole`` (H, W) bool -> (n, C) float64."""
    _, rhs = laplace_system(hole, values.astype(np.float64))
    return factorized(hole).solve(rhs).reshape(rhs.shape)
