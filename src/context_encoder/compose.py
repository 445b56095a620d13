"""Pasting a prediction into the photo: hard paste (the original's), feathered edge, or Poisson.

Only hole pixels ever change; every other pixel keeps its input value byte for byte.
Images are (H, W, 3) uint8, holes (H, W) bool.
"""

from __future__ import annotations

import cv2
import numpy as np

BLENDS = ("hard", "feather", "poisson")


def _feather(original: np.ndarray, filled: np.ndarray, hole: np.ndarray, radius: int) -> np.ndarray:
    """Fade, over ``radius`` px inside the hole, from a blur across the seam into the prediction."""
    hard = np.where(hole[..., None], filled, original)
    depth = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 3)  # 1 at the hole's edge
    alpha = np.clip(depth / max(radius, 1), 0.0, 1.0)[..., None]
    seam = cv2.GaussianBlur(hard.astype(np.float32), (0, 0), sigmaX=max(radius, 1) / 2)
    out = alpha * filled.astype(np.float32) + (1 - alpha) * seam
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _poisson(original: np.ndarray, filled: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """OpenCV seamless cloning (Pérez et al. 2003): the prediction's gradients, the photo's seam."""
    pad = 2  # seamlessClone ignores the mask's outer 1 px and needs the region inside the image
    grow = cv2.dilate(hole.astype(np.uint8) * 255, np.ones((3, 3), np.uint8))
    src = cv2.copyMakeBorder(filled, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    dst = cv2.copyMakeBorder(original, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    mask = cv2.copyMakeBorder(grow, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    x, y, w, h = cv2.boundingRect(mask)
    # OpenCV places the region at center - size // 2; this center puts it back where it was.
    out = cv2.seamlessClone(src, dst, mask, (x + w // 2, y + h // 2), cv2.NORMAL_CLONE)
    return out[pad:-pad, pad:-pad]


def blend(original: np.ndarray, filled: np.ndarray, hole: np.ndarray, *, mode: str = "hard",
          feather_px: int = 8) -> np.ndarray:
    """The photo with its hole pixels from ``filled``, pasted by ``mode``: (H, W, 3) uint8."""
    if mode not in BLENDS:
        raise ValueError(f"blend must be one of {BLENDS}, got '{mode}'")
    if mode == "feather":
        filled = _feather(original, filled, hole, feather_px)
    elif mode == "poisson":
        filled = _poisson(original, filled, hole)
    return np.where(hole[..., None], filled, original)
