"""Harmonic interpolation over a hole: the linear solve behind the Poisson paste (inpainting/blend.py)
and the harmonic baseline, shared by inference and the loss through the paste (training/paste.py).

Given values on the known pixels that border a hole, find the smoothest field over the hole
that meets them: the discrete Laplace equation, 4-neighbour stencil, Dirichlet values on the
border and no flux across the photo's edge. Up to ``DIRECT_MAX`` hole pixels a sparse LU solves
it exactly; larger holes go to geometric multigrid (:mod:`context_encoder.multigrid`) to a relative
residual of ``TOL``, linear in time and memory.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import cv2
import numpy as np

DIRECT_MAX = 20_000  # hole pixels solved by sparse LU; more: multigrid
TOL = 1e-4  # relative residual of the multigrid solve: errors of ~0.01 grey levels on a 4 MP photo
# neighbour offsets in raster order, the hole pixel itself in the middle: each matrix row's columns come sorted
_STENCIL = ((-1, 0), (0, -1), (0, 0), (0, 1), (1, 0))
FACTOR_CACHE = 40  # LU factorisations of model-size holes kept: a training batch's, reused by its loss
_factors: OrderedDict[bytes, Any] = OrderedDict()


def hole_border(hole: np.ndarray) -> np.ndarray:
    """The known pixels 4-adjacent to the hole: (H, W) bool, where the boundary values are read."""
    grown = cv2.dilate(hole.astype(np.uint8), np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8))
    return grown.astype(bool) & ~hole


class Stencil:
    """The hole's unknowns (np.nonzero order) and their 4 neighbours: what the Laplace system over
    ``hole`` (H, W) bool needs, whatever the boundary values."""

    def __init__(self, hole: np.ndarray) -> None:
        h, w = hole.shape
        rows, cols = np.nonzero(hole)
        n = len(rows)
        index = np.full((h + 2, w + 2), -2, np.int32)  # -2: past the photo's edge, -1: known, else the unknown's row
        index[1:-1, 1:-1] = -1
        index[rows + 1, cols + 1] = np.arange(n, dtype=np.int32)
        at = (rows + 1) * (w + 2) + cols + 1  # flat positions in the framed index
        self.columns = np.stack([index.ravel()[at + dr * (w + 2) + dc] for dr, dc in _STENCIL], 1)  # (n, 5)
        self.pixel, self.width, self.size = rows * w + cols, w, h * w

    def matrix(self) -> Any:
        """CSR (n, n) float64: 4-neighbour Laplacian, no flux across the photo's edge."""
        from scipy import sparse  # imported on first solve: only the Poisson paste needs SciPy

        columns, n = self.columns, len(self.columns)
        valid = columns >= 0
        entries = np.where(valid, -1.0, 0.0)
        entries[:, 2] = 4 - (columns == -2).sum(1)  # neighbours inside the photo (no flux across its edge)
        indptr = np.concatenate([[0], np.cumsum(valid.sum(1))])
        return sparse.csr_matrix((entries[valid], columns[valid], indptr), shape=(n, n))

    def rhs(self, values: np.ndarray) -> np.ndarray:
        """(n, C) float64: the sum of each unknown's known neighbours in ``values`` (H, W, C)."""
        flat_values, w = values.reshape(self.size, -1), self.width
        rhs = np.zeros((len(self.columns), flat_values.shape[1]))
        for k, (dr, dc) in enumerate(_STENCIL):
            known = np.nonzero(self.columns[:, k] == -1)[0]  # each pixel has one neighbour per offset
            rhs[known] += flat_values[self.pixel[known] + dr * w + dc]
        return rhs


def laplace_system(hole: np.ndarray, values: np.ndarray) -> tuple[Any, np.ndarray]:
    """The Laplace system over the hole pixels (np.nonzero order): CSR matrix (n, n) float64 and
    rhs (n, C) float64 from ``values`` (H, W, C), read on the hole's border only."""
    stencil = Stencil(hole)
    return stencil.matrix(), stencil.rhs(values)


class HarmonicSolver:
    """:func:`harmonic_fill` over one hole, split: the system and the multigrid hierarchy are built
    here from the hole alone (so they can be built while the prediction is computed), and
    :meth:`fill` solves for any boundary values."""

    def __init__(self, hole: np.ndarray) -> None:
        self.stencil = Stencil(hole)
        self.matrix = self.stencil.matrix()
        self.multigrid = None
        if self.matrix.shape[0] > DIRECT_MAX:
            from context_encoder.multigrid import Multigrid

            self.multigrid = Multigrid(hole, self.matrix)

    def fill(self, values: np.ndarray) -> np.ndarray:
        """The harmonic interpolant of ``values`` (H, W, C; read on the hole's border) over the hole
        pixels, in ``np.nonzero`` order: (n, C) float64."""
        rhs = self.stencil.rhs(values)
        if self.multigrid is not None:
            return self.multigrid.solve(rhs, tol=TOL).astype(np.float64)
        from scipy.sparse.linalg import spsolve

        return spsolve(self.matrix.tocsc(), rhs, permc_spec="MMD_AT_PLUS_A").reshape(len(rhs), -1)


def harmonic_fill(hole: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The harmonic interpolant of ``values`` (H, W, C; read on the hole's border) over the hole
    pixels of ``hole`` (H, W) bool, in ``np.nonzero`` order: (n, C) float64."""
    return HarmonicSolver(hole).fill(values)


def factorized(hole: np.ndarray, matrix: Any = None) -> Any:
    """The sparse LU of the Laplacian over ``hole`` (H, W) bool (``laplace_system``'s matrix), cached.

    For model-size holes (training batches, inference windows): the input's harmonic fill and the
    loss through the Poisson paste (training/paste.py) factor each hole once. Not for photo-size
    holes, which :func:`harmonic_fill` solves uncached. Cached on the main thread only: SciPy's
    SuperLU leaks an LU freed on another thread than the one that made it (scipy issue 15921; 2 MB
    per `inpaint` call when the Inpainter's prefetch thread filled the cache), so any other thread
    gets a fresh LU, freed where it was made.
    """
    from scipy.sparse.linalg import splu

    cached = threading.current_thread() is threading.main_thread()
    key = np.packbits(hole).tobytes() + bytes(str(hole.shape), "ascii")
    lu = _factors.get(key) if cached else None
    if lu is not None:
        _factors.move_to_end(key)
        return lu
    if matrix is None:  # the caller's laplace_system matrix for this hole, when it has one
        matrix, _ = laplace_system(hole, np.zeros(hole.shape + (1,)))
    # The Laplacian is symmetric and diagonally dominant: no pivoting needed, and the symmetric
    # mode factors it 1.5x faster than the general one (same fill, same solution; benchmarks/paste_step.py).
    lu = splu(matrix.tocsc(), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
              options={"SymmetricMode": True})
    if cached:
        _factors[key] = lu
        if len(_factors) > FACTOR_CACHE:
            _factors.popitem(last=False)
    return lu


def harmonic_fill_small(hole: np.ndarray, values: np.ndarray) -> np.ndarray:
    """:func:`harmonic_fill` through the cached LU (:func:`factorized`), for model-size holes:
    ``values`` (H, W, C) read on the border of ``hole`` (H, W) bool -> (n, C) float64."""
    matrix, rhs = laplace_system(hole, values.astype(np.float64))
    return factorized(hole, matrix).solve(rhs).reshape(rhs.shape)
