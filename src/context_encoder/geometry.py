"""Center-square geometry of the paper's inpainting setting (Sec. 3 and 5.1), in one place.

The center net sees an S×S image and predicts its central S/2 square (:func:`center_box`); in
training only the inner (S/2 − 2·overlap) square of it is hidden, the overlap ring being context
(:func:`center_mask`). Whole-image nets may be given holes anywhere; :func:`hole_box` is where a
hole may lie in a model window. :func:`center_hole` is that setting on a photo of any size and
:func:`center_square` the paper's test-time crop: the largest centered square, resized to S.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from context_encoder.config import ModelConfig


def center_box(image_size: int) -> tuple[int, int]:
    """(start, end) rows/columns of the predicted center square: the middle half of the side."""
    return image_size // 4, image_size // 4 + image_size // 2


def center_mask(n: int, image_size: int, overlap: int) -> torch.Tensor:
    """The center square minus an ``overlap``-px ring kept as context. (n, 1, S, S), 1 = hidden."""
    lo, hi = center_box(image_size)
    mask = torch.zeros(n, 1, image_size, image_size)
    mask[:, :, lo + overlap : hi - overlap, lo + overlap : hi - overlap] = 1.0
    return mask


def hole_box(cfg: ModelConfig) -> tuple[int, int]:
    """(lo, hi): the square [lo, hi)² of the model's input where holes may lie: the hidden square
    of a center net (inside its overlap ring), the central S/2 square for whole-image nets."""
    lo, hi = center_box(cfg.image_size)
    ring = cfg.overlap_px if cfg.predicts_center else 0
    return lo + ring, hi - ring


def center_hole(height: int, width: int, cfg: ModelConfig) -> np.ndarray:
    """The paper's setting on any image: the model's hole box on the largest centered square,
    i.e. the hole seen when that square is resized to S×S. (H, W) bool."""
    lo, hi = hole_box(cfg)
    side = min(height, width)
    hole_side = max(1, round(side * (hi - lo) / cfg.image_size))
    top, left = (height - hole_side) // 2, (width - hole_side) // 2
    hole = np.zeros((height, width), dtype=bool)
    hole[top : top + hole_side, left : left + hole_side] = True
    return hole


def reflect_index(start: int, length: int, size: int) -> np.ndarray:
    """Indices ``start .. start+length-1`` mirrored into ``[0, size)`` (edge pixel repeated)."""
    idx = np.arange(start, start + length) % (2 * size)
    return np.where(idx < size, idx, 2 * size - 1 - idx)


def center_square(img: Image.Image, size: int) -> Image.Image:
    """The largest centered square of ``img``, resized to ``size``×``size`` with Pillow bicubic."""
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return img.crop((left, top, left + side, top + side)).resize((size, size), Image.BICUBIC)
