"""PSNR over the hole and seconds per photo against ``--finest-scale`` on 4 MP photos.

Five ``bsd100`` photos upscaled (bicubic) to ``--mp`` megapixels, each with the painted hole of
``large_photo_speed.py`` (an ellipse and two thick strokes, ≈ 15 %), filled by ``Inpainter.inpaint``
at each finest refinement scale; the upscaled photo is the reference. Upscaled photos hold no
detail finer than the original's, so this shows the time a coarser finest scale saves, not what
the finest level adds at a real photo's border.

    python benchmarks/finest_scale.py --data ../shared/data --checkpoint pretrained --scales 1 2 4
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
from large_photo_speed import painted_hole
from machine import describe
from PIL import Image

from context_encoder import Inpainter
from context_encoder.config import InpaintConfig

PHOTOS = ("img_011", "img_042", "img_087", "img_001", "img_060")


def psnr(out: np.ndarray, ref: np.ndarray, hole: np.ndarray) -> float:
    """PSNR (dB) over the ``hole`` (H, W) bool pixels of two (H, W, 3) uint8 images."""
    diff = (out[hole].astype(np.float64) - ref[hole].astype(np.float64)) / 255
    return float(10 * np.log10(1 / np.mean(diff**2)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument("--checkpoint", default="pretrained")
    p.add_argument("--scales", type=float, nargs="+", default=[1.0, 2.0, 4.0])
    p.add_argument("--mp", type=float, default=4.0, help="megapixels of the upscaled photos")
    args = p.parse_args()
    print(describe(), f"checkpoint={args.checkpoint}")
    print("| finest scale | PSNR per photo (dB) | mean PSNR (dB) | s / photo |")
    print("| ---: | --- | ---: | ---: |")
    for scale in args.scales:
        inpainter = Inpainter.from_checkpoint(args.checkpoint, "cpu", config=InpaintConfig(finest_scale=scale))
        scores, seconds = [], []
        for name in PHOTOS:
            base = np.asarray(Image.open(args.data / "bsd100" / f"{name}.png").convert("RGB"))
            f = (args.mp * 1e6 / (base.shape[0] * base.shape[1])) ** 0.5
            photo = cv2.resize(base, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC)
            hole = painted_hole(*photo.shape[:2])
            start = time.perf_counter()
            out = inpainter.inpaint(np.where(hole[..., None], 0, photo).astype(np.uint8), hole)
            seconds.append(time.perf_counter() - start)
            scores.append(psnr(out, photo, hole))
        print(f"| {scale:g} | {' / '.join(f'{s:.2f}' for s in scores)} | {np.mean(scores):.2f} "
              f"| {np.mean(seconds):.2f} |", flush=True)


if __name__ == "__main__":
    main()
