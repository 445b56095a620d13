"""Planning the model-size windows that fill holes of any shape in photos of any size.

The paper's inpainting net sees an S×S image and predicts its center S/2 square; in training only
the inner (S/2 - 2·overlap) square was hidden (Sec. 3, "overlap"). A whole-image net (arbitrary
region masks, Sec. 3.3) predicts every pixel. Either way, each connected hole region gets a square
window of side W ≥ S around it, chosen so that the hole's bounding box, scaled by S/W, lies inside
the model's *hole box* (:func:`fill_box`: the inner square; for whole-image nets the whole window
but a thin frame), however far it must be downscaled: a hole is never cut into tiles, so no tile
grid or seam can appear.

A hole larger than the hole box is then refined coarse to fine (:func:`refine_windows`): at each
finer scale, windows on a half-overlapping grid cover the part of the hole near its border, where
the photo's context has detail at that scale; their predictions are averaged with smooth weights
and faded into the coarser fill with depth, so no window boundary shows either.

Windows may reach past the image border; their pixels there are mirrored from the image.
Coordinates are (row, column) in image pixels; a window's ``side / S`` is its scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from context_encoder.config import ModelConfig
from context_encoder.geometry import hole_box, reflect_index

WHOLE_IMAGE_FRAME = 1 / 16  # of a whole-image net's window kept as context on each side of its hole box


def fill_box(cfg: ModelConfig) -> tuple[int, int]:
    """(lo, hi): the square [lo, hi)² of a model window that holds the holes a window fills.

    A center net's hole box (:func:`context_encoder.geometry.hole_box`). A whole-image net was
    trained on holes anywhere in its window, so its box is the window but a frame of
    ``WHOLE_IMAGE_FRAME`` (8 px at 128), for coarse windows (refinement windows keep the central
    S/2 square). With the photo-size bound of ``_window``: +0.08 / +0.05 dB on 20 held-out photos
    of bsd100 / camvid test, +0.13 / +0.20 dB on the masks protocol (docs/results.md).
    """
    if cfg.predicts_center:
        return hole_box(cfg)
    frame = round(cfg.image_size * WHOLE_IMAGE_FRAME)
    return frame, cfg.image_size - frame


@dataclass(frozen=True)
class Window:
    """A square of the image (top, left, side), possibly past its border, and the hole pixels
    (``rows``, ``cols``, image coordinates) that it fills."""

    top: int
    left: int
    side: int
    rows: np.ndarray
    cols: np.ndarray

    def target_box(self) -> tuple[int, int, int, int]:
        """(row0, row1, col0, col1), end-exclusive bounding box of the filled pixels."""
        return int(self.rows.min()), int(self.rows.max()) + 1, int(self.cols.min()), int(self.cols.max()) + 1


def _place(start: int, length: int, *, side: int, box: tuple[int, int], model_size: int, image_len: int) -> int:
    """The window's first row (or column) so that [start, start+length) falls in the hole box,
    keeping the window inside the image where the slack allows."""
    scale = side / model_size
    lo, hi = box
    first = math.ceil(start + length - hi * scale - 1e-9)  # lowest start that keeps the hole's end
    last = math.floor(start - lo * scale + 1e-9)  # highest start that keeps the hole's start
    if image_len >= side:
        preferred = round(start + length / 2 - (lo + hi) / 2 * scale)
        preferred = min(max(preferred, 0), image_len - side)
    else:  # window larger than the image: center the image in it
        preferred = (image_len - side) // 2
    return min(max(preferred, first), last)


def _window_side(extent: int, inner: int, model_size: int) -> int:
    """Window side for a hole extent (px): S at scale 1, else a downscale with 1 px of slack."""
    if extent <= inner:
        return model_size
    return math.ceil((extent + 1) * model_size / inner)


def _window(rows: np.ndarray, cols: np.ndarray, *, cfg: ModelConfig, shape: tuple[int, int]) -> Window:
    box, central = fill_box(cfg), hole_box(cfg)
    s = cfg.image_size
    r0, c0 = int(rows.min()), int(cols.min())
    h, w = int(rows.max()) - r0 + 1, int(cols.max()) - c0 + 1
    # as much context as the hole box gives (half the hole's extent on each side for a whole-image
    # net), but no more than the photo holds: past its border a window's context is only mirrored
    roomy = _window_side(max(h, w), central[1] - central[0], s)
    side = max(_window_side(max(h, w), box[1] - box[0], s), min(roomy, max(shape)))
    top = _place(r0, h, side=side, box=box, model_size=s, image_len=shape[0])
    left = _place(c0, w, side=side, box=box, model_size=s, image_len=shape[1])
    return Window(top, left, side, rows, cols)


def plan_windows(hole: np.ndarray, cfg: ModelConfig) -> list[Window]:
    """Windows that fill every pixel of ``hole`` (H, W) bool once: one per connected hole region,
    except that small regions (at most half the hole box across) lying in the same cell of a grid
    of hole-box-sized cells share a window, so a mask of thousands of specks needs few windows."""
    lo, hi = fill_box(cfg)
    inner = hi - lo
    n, labels, stats, _ = cv2.connectedComponentsWithStats(hole.astype(np.uint8), connectivity=8)
    groups: dict[tuple[int, ...], list[int]] = {}
    for k in range(1, n):
        x, y, w, h = (int(v) for v in stats[k, :4])
        if max(w, h) <= inner // 2:  # fits one cell of the grid shifted by 0 or inner/2 on each axis
            oy = 0 if y // inner == (y + h - 1) // inner else inner // 2
            ox = 0 if x // inner == (x + w - 1) // inner else inner // 2
            groups.setdefault((oy, ox, (y - oy) // inner, (x - ox) // inner), []).append(k)
        else:
            groups[(-1, k)] = [k]
    windows = []
    for members in groups.values():
        boxes = [stats[k, :4] for k in members]
        y0, x0 = min(int(b[1]) for b in boxes), min(int(b[0]) for b in boxes)
        y1, x1 = max(int(b[1] + b[3]) for b in boxes), max(int(b[0] + b[2]) for b in boxes)
        rows, cols = np.nonzero(np.isin(labels[y0:y1, x0:x1], members))
        windows.append(_window(rows + y0, cols + x0, cfg=cfg, shape=hole.shape))
    return windows


@dataclass(frozen=True)
class RefineWindow:
    """A window (top, left, side) of a refinement level and its hole box in image pixels."""

    top: int
    left: int
    side: int
    box: tuple[float, float, float]  # (row0, col0, side) of the hole box, image px

    def weights(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Smooth weights of image pixels (rows, cols): 1 in the middle half of the hole box, falling
        linearly to 0 at its edges, 0 outside. Half-overlapping boxes sum to >= 1 inside."""
        r0, c0, b = self.box
        u = (rows + 0.5 - r0) / b
        v = (cols + 0.5 - c0) / b
        tent = lambda t: np.clip(4 * np.minimum(t, 1 - t), 0.0, 1.0)  # noqa: E731
        return tent(u) * tent(v)


def refine_scales(coarse: float, finest: float = 1.0) -> list[float]:
    """The finer scales after a coarse window at scale ``coarse``: halving while >= ``finest``."""
    scales, s = [], coarse / 2
    while s >= finest:
        scales.append(s)
        s /= 2
    return scales


def refine_windows(rows: np.ndarray, cols: np.ndarray, depth: np.ndarray, *, scale: float,
                   cfg: ModelConfig) -> list[RefineWindow]:
    """Windows at ``scale`` whose hole boxes, on a grid of stride half a box, cover every pixel of
    one hole region (``rows``, ``cols``) that lies within half a box of the hole's border
    (``depth`` (n,): each pixel's distance to the nearest known pixel)."""
    s = cfg.image_size
    lo, hi = hole_box(cfg)
    side = max(s, round(s * scale))
    box = (hi - lo) * side / s  # hole-box side, image px
    offset = lo * side / s  # the hole box's first row inside the window
    stride = box / 2
    near = depth < box / 2
    r, c = rows[near], cols[near]
    origin_r, origin_c = rows.min() - box / 4, cols.min() - box / 4
    # Box k spans [k, k + 2) strides; a pixel at p strides gets weight 1 from the box whose middle
    # half holds it: box floor(p - 0.5). One box per pixel covers the border band fully.
    ky = np.floor((r + 0.5 - origin_r) / stride - 0.5).astype(np.int64)
    kx = np.floor((c + 0.5 - origin_c) / stride - 0.5).astype(np.int64)
    if not len(ky):
        return []
    width = int(kx.max()) + 1  # ky, kx >= 0: the origin is a quarter box before the region
    cells = np.unique(ky * width + kx)  # sorted by row of boxes, then column
    out = []
    for y, x in zip((cells // width).tolist(), (cells % width).tolist()):
        top, left = round(origin_r + y * stride - offset), round(origin_c + x * stride - offset)
        out.append(RefineWindow(top, left, side, (top + offset, left + offset, box)))
    return out


def read_box(window: Window, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """(row0, row1, col0, col1): the image pixels a window reads, mirroring included."""
    ys = reflect_index(window.top, window.side, shape[0])
    xs = reflect_index(window.left, window.side, shape[1])
    return int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1


def schedule(windows: list[Window], shape: tuple[int, int]) -> list[int]:
    """A wave number per window: a window runs after every earlier window whose pixels it reads,
    so running each wave as one batch gives the result of running the windows one by one."""
    reads = [read_box(w, shape) for w in windows]
    targets = [w.target_box() for w in windows]
    waves: list[int] = []
    for i, (r0, r1, c0, c1) in enumerate(reads):
        deps = [waves[j] for j in range(i) if targets[j][0] < r1 and r0 < targets[j][1]
                and targets[j][2] < c1 and c0 < targets[j][3]]
        waves.append(max(deps) + 1 if deps else 0)
    return waves
