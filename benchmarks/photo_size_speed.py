"""Seconds per photo of the default ``inpaint`` path against OpenCV Telea, as the photo grows.

One photo (``bsd100/img_011`` from ``--data``, else a generated smooth one) at 1x, 2x and 4x its
size (480×320 up to 1920×1280), with the same painted hole scaled along: an ellipse and a
stroke, ≈ 10 % of the photo. Each row times, in this process and in the same run,
``Inpainter.inpaint`` with the packaged model (default Poisson paste, and the hard paste) and
``cv2.inpaint`` Telea (radius 5), median of ``--repeats``; the ratio is model / Telea.

    python benchmarks/photo_size_speed.py [--data ../shared/data] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
from machine import describe
from PIL import Image

from context_encoder import Inpainter

SCALES = (1, 2, 4)


def base_photo(data: Path | None) -> np.ndarray:
    """(H, W, 3) uint8: the BSD100 photo (480×320) when the data is there, else smooth waves."""
    path = None if data is None else data / "bsd100" / "img_011.png"
    if path is not None and path.is_file():
        return np.asarray(Image.open(path).convert("RGB"))
    yy, xx = np.mgrid[0:321, 0:481] / 481
    return np.clip(np.stack([128 + 90 * np.sin(7 * xx + 5 * yy + c) for c in range(3)], -1), 0, 255).astype(np.uint8)


def painted_hole(h: int, w: int) -> np.ndarray:
    """An ellipse and a stroke scaled with the photo: (h, w) bool, ≈ 10 % of it."""
    k = w / 480
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (w // 2, h // 2), (round(75 * k), round(50 * k)), 20, 0, 360, 255, -1)
    cv2.line(mask, (round(25 * k), round(25 * k)), (w - round(75 * k), h - round(38 * k)), 255, max(1, round(10 * k)))
    return mask > 0


def median_seconds(fn, repeats: int) -> float:  # noqa: ANN001 - any zero-argument callable
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=None, help="the shared data folder (for bsd100/img_011.png)")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    print(describe())
    inpainter = Inpainter.from_pretrained("cpu")
    base = base_photo(args.data)
    inpainter.inpaint(base, painted_hole(*base.shape[:2]))  # warm-up: first-call imports and allocations
    print("| photo | hole px | model, Poisson paste (s) | model, hard paste (s) | Telea (s) "
          "| Poisson / Telea | hard / Telea |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for scale in SCALES:
        photo = cv2.resize(base, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC) if scale > 1 else base
        print(row(inpainter, photo, args.repeats), flush=True)


def row(inpainter: Inpainter, photo: np.ndarray, repeats: int) -> str:
    """One table row: the three timings on ``photo`` (H, W, 3) with its painted hole."""
    hole = painted_hole(*photo.shape[:2])
    given = np.where(hole[..., None], 0, photo).astype(np.uint8)
    poisson = median_seconds(lambda: inpainter.inpaint(given, hole), repeats)
    hard = median_seconds(lambda: inpainter.inpaint(given, hole, blend="hard"), repeats)
    telea = median_seconds(lambda: cv2.inpaint(given, hole.astype(np.uint8) * 255, 5, cv2.INPAINT_TELEA), repeats)
    return (f"| {photo.shape[1]}×{photo.shape[0]} | {int(hole.sum()):,} | {poisson:.2f} | {hard:.2f} | {telea:.2f} "
            f"| {poisson / telea:.1f}× | {hard / telea:.1f}× |")

if __name__ == "__main__":
    main()
