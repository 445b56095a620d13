"""The Laplace system and its solves (laplace.py, multigrid.py): the vectorised system is the
4-neighbour stencil with no flux across the photo's edge, and the multigrid solve of large holes
matches the sparse LU on holes of every kind: touching the edge, one pixel wide, many regions."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy.sparse.linalg import spsolve

from context_encoder import laplace
from context_encoder.multigrid import Multigrid


def stencil_by_loops(hole: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same system, pixel by pixel: dense (n, n) and rhs (n, C)."""
    rows, cols = np.nonzero(hole)
    index = {(r, c): i for i, (r, c) in enumerate(zip(rows, cols))}
    matrix, rhs = np.zeros((len(rows), len(rows))), np.zeros((len(rows), values.shape[-1]))
    for i, (r, c) in enumerate(zip(rows, cols)):
        for rr, cc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if not (0 <= rr < hole.shape[0] and 0 <= cc < hole.shape[1]):
                continue  # past the photo's edge: no neighbour, no flux
            matrix[i, i] += 1
            if hole[rr, cc]:
                matrix[i, index[rr, cc]] -= 1
            else:
                rhs[i] += values[rr, cc]
    return matrix, rhs


def test_laplace_system_is_the_four_neighbour_stencil() -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        hole = rng.random((13, 17)) < 0.4
        hole[0, :5] = hole[:, -1] = True  # along the photo's edges
        values = rng.integers(-50, 50, (13, 17, 2)).astype(np.int16)
        matrix, rhs = laplace.laplace_system(hole, values)
        want_matrix, want_rhs = stencil_by_loops(hole, values)
        assert np.array_equal(matrix.toarray(), want_matrix)
        assert np.array_equal(rhs, want_rhs)


def thin_lines(h: int, w: int) -> np.ndarray:
    """One-pixel lines on every third row and a diagonal: a hole that coarsening cannot shrink fast."""
    hole = np.zeros((h, w), bool)
    hole[1::3, 5 : w - 5] = True
    idx = np.arange(min(h, w))
    hole[idx, idx] = True
    return hole


def blobs_at_the_edges(h: int, w: int) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (w // 3, h // 2), (w // 4, h // 3), 20, 0, 360, 1, -1)
    cv2.circle(mask, (w - 10, 10), 40, 1, -1)  # cut by the top and right edges
    mask[h - 3 :, :] = 1  # the whole bottom rows
    mask[::7, ::11] = 1  # specks
    return mask > 0


@pytest.mark.parametrize("make", [thin_lines, blobs_at_the_edges])
def test_multigrid_matches_the_sparse_lu(make) -> None:  # noqa: ANN001
    hole = make(150, 210)
    yy, xx = np.mgrid[0:150, 0:210]
    values = np.stack([60 * np.sin(xx / 9.0) + 40 * np.cos(yy / 5.0), (xx * 7 + yy * 3) % 50 - 25.0], -1)
    matrix, rhs = laplace.laplace_system(hole, values)
    exact = spsolve(matrix.tocsc(), rhs)
    solved = Multigrid(hole, matrix).solve(rhs, tol=laplace.TOL)
    assert len(Multigrid(hole, matrix).matrices) > 2  # coarse levels, not only a direct solve
    assert np.abs(solved - exact).max() < 0.05  # grey levels; the values span ±100


def test_harmonic_fill_takes_the_multigrid_path_for_large_holes(monkeypatch: pytest.MonkeyPatch) -> None:
    hole = blobs_at_the_edges(120, 160)
    values = np.random.default_rng(1).normal(0, 30, (120, 160, 3))
    direct = laplace.harmonic_fill(hole, values)
    monkeypatch.setattr(laplace, "DIRECT_MAX", 100)
    iterative = laplace.harmonic_fill(hole, values)
    assert iterative.shape == direct.shape and iterative.dtype == np.float64
    assert np.abs(iterative - direct).max() < 0.05
