"""Pasting a prediction into the photo: hard paste (the original's), feathered edge, or Poisson.

Poisson blending uses what the paper's overlap gives: the net also predicts the known pixels
around the hole, so the mismatch between its prediction and the photo there is known and is
spread smoothly over the hole (the prediction's gradients, the photo's border).

Only hole pixels ever change; every other pixel keeps its input value.
Images are (H, W, 3) uint8, holes (H, W) bool.
"""

from __future__ import annotations

import cv2
import numpy as np

from context_encoder.config import BLENDS
from context_encoder.laplace import HarmonicSolver, hole_border


def _feather(original: np.ndarray, filled: np.ndarray, hole: np.ndarray, radius: int) -> np.ndarray:
    """Fade, over ``radius`` px inside the hole, from a blur across the seam into the prediction."""
    hard = np.where(hole[..., None], filled, original)
    depth = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 3)  # 1 at the hole's edge
    alpha = np.clip(depth / max(radius, 1), 0.0, 1.0)[..., None]
    seam = cv2.GaussianBlur(hard.astype(np.float32), (0, 0), sigmaX=max(radius, 1) / 2)
    out = alpha * filled.astype(np.float32) + (1 - alpha) * seam
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _box(hole: np.ndarray) -> tuple[slice, slice]:
    """The hole's bounding box grown by 1 px: it holds every border pixel the solve reads."""
    rows, cols = np.nonzero(hole.any(1))[0], np.nonzero(hole.any(0))[0]
    return slice(max(rows[0] - 1, 0), rows[-1] + 2), slice(max(cols[0] - 1, 0), cols[-1] + 2)


def poisson_solver(hole: np.ndarray) -> HarmonicSolver:
    """What the Poisson paste solves over ``hole`` (H, W) bool (not empty), built from the hole
    alone: :class:`Inpainter` builds it in a thread while the generator runs."""
    return HarmonicSolver(hole[_box(hole)])


def _poisson(original: np.ndarray, guide: np.ndarray, hole: np.ndarray,
             solver: HarmonicSolver | None = None) -> np.ndarray:
    """Poisson image editing (Pérez et al. 2003) with the prediction as guidance field.

    Solves, over the hole pixels, for the image whose Laplacian is the prediction's and whose
    values on the hole's border are the photo's: the prediction plus the harmonic (membrane)
    interpolation of the photo-minus-prediction mismatch on the border. ``guide`` (H, W, 3) holds
    the prediction inside the hole and on :func:`hole_border`; only the photo's pixels *outside*
    the hole are read, so hidden content can never leak in (OpenCV's ``seamlessClone`` erodes
    the mask and takes the destination's own gradients near the hole's edge). The solve is
    :func:`context_encoder.laplace.harmonic_fill` (``solver``: :func:`poisson_solver` of ``hole``).
    """
    rows, cols = np.nonzero(hole)
    sub = _box(hole)
    mismatch = np.subtract(original[sub], guide[sub], dtype=np.int16)  # (h', w', 3), read on the border only
    solver = solver or poisson_solver(hole)
    correction = solver.fill(mismatch)  # (n, 3), the same np.nonzero order as rows, cols
    out = guide.copy()
    out[rows, cols] = np.clip(guide[rows, cols] + correction + 0.5, 0, 255).astype(np.uint8)
    return out


def paste(original: np.ndarray, filled: np.ndarray, hole: np.ndarray, *, mode: str = "hard",
          feather_px: int = 8, border: np.ndarray | None = None,
          solver: HarmonicSolver | None = None) -> np.ndarray:
    """The photo with its hole pixels from ``filled``, pasted by ``mode``: (H, W, 3) uint8.

    ``border`` (H, W, 3): the prediction on :func:`hole_border` (elsewhere ignored), needed by
    ``poisson``; without it the border mismatch is zero and ``poisson`` equals ``hard``. ``solver``:
    :func:`poisson_solver` of ``hole``, if already built.
    """
    if mode not in BLENDS:
        raise ValueError(f"blend must be one of {BLENDS}, got '{mode}'")
    if mode == "feather":
        filled = _feather(original, filled, hole, feather_px)
    elif mode == "poisson" and border is not None and hole.any():
        guide = np.where(hole_border(hole)[..., None], border, filled)
        filled = _poisson(original, guide, hole, solver)
    return np.where(hole[..., None], filled, original)
