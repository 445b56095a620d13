"""Writing predictions into one hole region: its coarse fill, then finer levels near its border.

A region's *own* pixels are its hole pixels and the known pixels 4-adjacent to them (where the
Poisson paste reads the prediction's mismatch). Everything here touches only those: a window's
prediction is sampled (bicubic) at the own pixels it covers, not resized over its whole box, since
a long thin stroke's windows are mostly photo; and another region's pixels in the same bounding box
are never written (overwriting a neighbouring hole's fill left a straight step across it).

A refinement level (:class:`Level`) averages its windows' predictions with their tent weights
(:meth:`context_encoder.inpainting.windows.RefineWindow.weights`) and fades the mean into the
fill: fully within a quarter hole box of the border, not at all deeper than half a box.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from context_encoder.inpainting.windows import RefineWindow, Window

_CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8)
_REMAP_WIDTH = 8192  # points per row of a remap call (OpenCV takes under 32,767 columns)


@dataclass(frozen=True)
class Region:
    """One hole region's own pixels: ``rows``, ``cols`` (image px), its ``n_hole`` hole pixels first,
    then its border pixels; their ``depth`` (px to the nearest known pixel, 0 on the border);
    ``index`` (h, w) over its bounding box grown by 1 px at (top, left): each pixel's position, or -1;
    and ``flat``: each own pixel's row-major position in the image (rows * W + cols)."""

    top: int
    left: int
    index: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    depth: np.ndarray
    n_hole: int
    flat: np.ndarray

    @classmethod
    def of(cls, window: Window, edge: np.ndarray, depth: np.ndarray) -> Region:
        """The region that ``window`` fills; ``edge`` (H, W) bool: the known pixels next to any hole,
        ``depth`` (H, W) float32 (cv2.distanceTransform of the hole)."""
        r0, r1, c0, c1 = window.target_box()
        r0, r1, c0, c1 = max(r0 - 1, 0), min(r1 + 1, edge.shape[0]), max(c0 - 1, 0), min(c1 + 1, edge.shape[1])
        mine = np.zeros((r1 - r0, c1 - c0), np.uint8)
        mine[window.rows - r0, window.cols - c0] = 1
        near = cv2.dilate(mine, _CROSS).astype(bool) & edge[r0:r1, c0:c1]
        b_rows, b_cols = np.nonzero(near)
        rows, cols = np.concatenate([window.rows, b_rows + r0]), np.concatenate([window.cols, b_cols + c0])
        index = np.full((r1 - r0, c1 - c0), -1, np.int32)
        index[rows - r0, cols - c0] = np.arange(len(rows), dtype=np.int32)
        return cls(r0, c0, index, rows, cols, depth[rows, cols], len(window.rows), rows * edge.shape[1] + cols)

    def within(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        """Positions of the own pixels in image rows r0:r1, columns c0:c1 (row-major order)."""
        top, left = self.top, self.left
        part = self.index[max(r0 - top, 0) : max(r1 - top, 0), max(c0 - left, 0) : max(c1 - left, 0)]
        return part[part >= 0]

    def read(self, work: np.ndarray, border: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """The values (m, 3) at own pixels ``ids`` (sorted): hole pixels from ``work``, border pixels
        from ``border``."""
        split = np.searchsorted(ids, self.n_hole)
        return np.concatenate([np.take(_pixels(work), self.flat[ids[:split]], axis=0),
                               np.take(_pixels(border), self.flat[ids[split:]], axis=0)])

    def write(self, work: np.ndarray, border: np.ndarray, ids: np.ndarray, values: np.ndarray) -> None:
        """Write ``values`` (m, 3) uint8 at own pixels ``ids``: hole pixels into ``work``, border
        pixels (the prediction on the known pixels, for Poisson) into ``border``."""
        inside = ids < self.n_hole
        for target, sel in ((work, inside), (border, ~inside)):
            _pixels(target)[self.flat[ids[sel]]] = values[sel]


def _pixels(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) ``image`` as a (H * W, 3) view (1-D indexing is faster than by rows and columns)."""
    if not image.flags.c_contiguous:
        raise ValueError("the fill and border images must be C-contiguous")
    return image.reshape(-1, image.shape[-1])


def sample(pred: np.ndarray, window: Window | RefineWindow, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """A window's prediction (S, S, 3) in [-1, 1] bicubically resized to the window's side, at image
    pixels (``rows``, ``cols``) only: (m, 3) float32 in [0, 255]. cv2.resize's sampling, model
    coordinate (x + 0.5) * S / side - 0.5."""
    size = pred.shape[0]
    if window.side == size:
        up = pred[rows - window.top, cols - window.left]
    else:
        k = size / window.side
        m = len(rows)
        shape = (math.ceil(m / _REMAP_WIDTH), _REMAP_WIDTH) if m > _REMAP_WIDTH else (1, max(m, 1))
        maps = [np.zeros(shape[0] * shape[1], np.float32) for _ in range(2)]
        maps[0][:m] = (cols - window.left + 0.5) * k - 0.5
        maps[1][:m] = (rows - window.top + 0.5) * k - 0.5
        up = cv2.remap(np.ascontiguousarray(pred), maps[0].reshape(shape), maps[1].reshape(shape), cv2.INTER_CUBIC,
                       borderMode=cv2.BORDER_REPLICATE).reshape(-1, 3)[:m]
    return (np.clip(up, -1.0, 1.0) + 1.0) * 127.5


def paste_coarse(region: Region, window: Window, pred: np.ndarray, work: np.ndarray, border: np.ndarray) -> None:
    """Write the region's whole coarse fill from ``window``'s prediction (S, S, 3), and the
    prediction on its border pixels (inside the net's predicted square: a center net's overlap ring)."""
    ids = np.arange(len(region.rows))
    region.write(work, border, ids, np.rint(sample(pred, window, region.rows, region.cols)).astype(np.uint8))


class Level:
    """One refinement level of one region: its windows' predictions, weighted, at the own pixels
    within half a hole box of the border (deeper ones keep the coarser fill)."""

    def __init__(self, region: Region, box: float) -> None:
        self.region, self.box = region, box  # box: the hole-box side at this level, image px
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (own pixels, weights, predictions)

    def add(self, window: RefineWindow, pred: np.ndarray) -> None:
        """Take ``window``'s prediction (S, S, 3) over its hole box, with its tent weights."""
        br, bc, b = window.box
        ids = self.region.within(math.floor(br), math.ceil(br + b), math.floor(bc), math.ceil(bc + b))
        ids = ids[self.region.depth[ids] < self.box / 2]  # deeper: faded out (apply)
        rows, cols = self.region.rows[ids], self.region.cols[ids]
        weight = window.weights(rows, cols)
        keep = weight > 0
        self.parts.append((ids[keep], weight[keep], sample(pred, window, rows[keep], cols[keep])))

    def apply(self, work: np.ndarray, border: np.ndarray) -> None:
        """Fade the weighted mean of the level's predictions into ``work`` (the fill) and ``border``
        (the prediction on the known pixels): fully within a quarter box of the border, not at
        all deeper than half."""
        if not self.parts:
            return
        ids, weight, pred = (np.concatenate(part) for part in zip(*self.parts))
        n = len(self.region.rows)
        wsum = np.bincount(ids, weights=weight, minlength=n)
        acc = np.stack([np.bincount(ids, weights=weight * pred[:, c], minlength=n) for c in range(3)], 1)
        ids = np.nonzero(wsum)[0]
        fade = np.clip(2.0 - 4.0 * self.region.depth[ids] / max(self.box, 1e-6), 0.0, 1.0)
        alpha = (np.minimum(wsum[ids], 1.0) * fade)[:, None]
        mean = acc[ids] / wsum[ids, None]
        self.region.write(work, border, ids, np.clip(alpha * mean + (1 - alpha) * self.region.read(work, border, ids)
                                                     + 0.5, 0, 255).astype(np.uint8))
