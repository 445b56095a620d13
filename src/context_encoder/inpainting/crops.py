"""A window cut from the photo at model size: the square (mirrored past the photo's border) and its
area downscale, in which a model pixel is the mean of the image pixels it covers.

A window larger than the photo (a long stroke across it gets one window, downscaled 40×) is
mostly mirrored copies of the photo: cropping it first would build and average tens of millions
of pixels. :func:`downscaled` then applies the downscale as two sparse weight matrices, one per
axis, with the mirroring folded into them, so each photo pixel is read once.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from context_encoder.geometry import reflect_index


def crop(array: np.ndarray, top: int, left: int, side: int) -> np.ndarray:
    """The (side, side, ...) square of ``array`` at (top, left), mirrored past its border."""
    h, w = array.shape[:2]
    if top >= 0 and left >= 0 and top + side <= h and left + side <= w:
        return array[top : top + side, left : left + side]
    r0, r1, c0, c1 = max(top, 0), min(top + side, h), max(left, 0), min(left + side, w)
    pads = (r0 - top, top + side - r1, c0 - left, left + side - c1)  # (top, bottom, left, right)
    if r1 - r0 >= max(pads[:2]) and c1 - c0 >= max(pads[2:]):  # one mirror of the part inside will do
        part = np.ascontiguousarray(array[r0:r1, c0:c1])
        return cv2.copyMakeBorder(part.view(np.uint8) if part.dtype == bool else part, *pads,
                                  cv2.BORDER_REFLECT).view(array.dtype)  # edge pixel repeated
    rows, cols = reflect_index(top, side, h), reflect_index(left, side, w)
    return np.take(np.take(array, rows, axis=0), cols, axis=1)


def _area_weights(start: int, side: int, size: int, length: int) -> Any:
    """Model pixel i's weights over the image's rows (or columns) for the window's ``side`` pixels
    from ``start``, mirrored into [0, length): CSR (size, length) float32. As cv2's INTER_AREA: the
    share of each window pixel inside the model pixel's span, overlaps under 1e-3 px ignored."""
    from scipy import sparse

    scale = side / size
    k = np.arange(side)
    cell = np.minimum((k / scale).astype(np.int64), size - 1)  # the model pixel holding k's start
    share = np.clip(np.minimum((cell + 1) * scale, side) - k, 0.0, 1.0)  # of pixel k in it; the rest: cell + 1
    cells = np.concatenate([cell, cell + 1])
    weights = np.concatenate([share, 1.0 - share]) / scale
    source = np.tile(reflect_index(start, side, length), 2)
    keep = (weights * scale > 1e-3) & (cells < size)
    return sparse.csr_matrix((weights[keep].astype(np.float32), (cells[keep], source[keep])), shape=(size, length))


class Downscaler:
    """:func:`downscaled` for many windows of one ``array`` that does not change meanwhile: for
    windows larger than the photo, its float32 copy is made once (on first need), not once per window
    (48 MB at 4 MP, most of such a window's cost), and the weight matrices span the whole photo."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array
        self._float: np.ndarray | None = None  # (H, W * C) float32

    def __call__(self, top: int, left: int, side: int, size: int) -> np.ndarray:
        """The (side, side) window at (top, left), mirrored past the border, area-resized to
        (size, size[, C]): uint8 (rounded) for uint8, else float32 (a bool mask: the True share)."""
        array = self.array
        h, w = array.shape[:2]
        if side <= max(h, w):  # no more than one mirrored copy of the photo: crop, then resize
            part = crop(array, top, left, side)  # a view when inside the photo: OpenCV reads it in place
            part = part if part.dtype == np.uint8 else part.astype(np.float32)
            return part if side == size else cv2.resize(part, (size, size), interpolation=cv2.INTER_AREA)
        if self._float is None:
            self._float = array.astype(np.float32).reshape(h, -1)
        channels = array.shape[2] if array.ndim == 3 else 1
        by_row, by_col = _area_weights(top, side, size, h), _area_weights(left, side, size, w)
        rows_done = (by_row @ self._float).reshape(size, w, channels)
        out = by_col @ rows_done.transpose(1, 0, 2).reshape(w, size * channels)  # (size: columns, size * C)
        out = out.reshape(size, size, channels).transpose(1, 0, 2)
        out = out if array.ndim == 3 else out[..., 0]
        if array.dtype == np.uint8:
            return np.clip(out + 0.5, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(out)


def downscaled(array: np.ndarray, top: int, left: int, side: int, size: int) -> np.ndarray:
    """The (side, side) window of ``array`` (H, W[, C]) at (top, left), mirrored past its border,
    area-resized to (size, size[, C]): uint8 (rounded) for uint8, else float32 (for a bool mask:
    the share of each model pixel that is True). Many windows of one array: :class:`Downscaler`."""
    return Downscaler(array)(top, left, side, size)
