"""PSNR over the hole and seconds per photo against the finest refinement scale on large photos.

Five ``bsd100`` photos upscaled (bicubic) to each of ``--mp`` megapixels, each with the painted
hole of ``large_photo_speed.py`` (an ellipse and two thick strokes, ≈ 15 %), filled by
``Inpainter.inpaint`` at each ``--scales`` (``InpaintConfig.finest_scale``) and ``--sides``
(``InpaintConfig.finest_side``, 0 = no bound) setting; the upscaled photo is the reference.
Upscaled photos hold no detail finer than the original's, so this shows the time a coarser
finest scale saves, not what the finest level adds at a real photo's border.

    python benchmarks/finest_scale.py --data ../shared/data --checkpoint pretrained --mp 4 8 12 --sides 0 640
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
    p.add_argument("--scales", type=float, nargs="+", default=[2.0], help="finest_scale settings")
    p.add_argument("--sides", type=int, nargs="+", default=[0, InpaintConfig().finest_side],
                   help="finest_side settings (0 = no bound)")
    p.add_argument("--mp", type=float, nargs="+", default=[4.0], help="megapixels of the upscaled photos")
    args = p.parse_args()
    print(describe(), f"checkpoint={args.checkpoint}")
    print("| photo size | finest scale | finest side | PSNR per photo (dB) | mean PSNR (dB) | s / photo |")
    print("| ---: | ---: | ---: | --- | ---: | ---: |")
    bases = [np.asarray(Image.open(args.data / "bsd100" / f"{name}.png").convert("RGB")) for name in PHOTOS]
    for mp in args.mp:
        photos = [cv2.resize(b, None, fx=(f := (mp * 1e6 / (b.shape[0] * b.shape[1])) ** 0.5), fy=f,
                             interpolation=cv2.INTER_CUBIC) for b in bases]
        for scale in args.scales:
            for side in args.sides:
                config = InpaintConfig(finest_scale=scale, finest_side=side)
                inpainter = Inpainter.from_checkpoint(args.checkpoint, "cpu", config=config)
                scores, seconds = [], []
                for photo in photos:
                    hole = painted_hole(*photo.shape[:2])
                    start = time.perf_counter()
                    out = inpainter.inpaint(np.where(hole[..., None], 0, photo).astype(np.uint8), hole)
                    seconds.append(time.perf_counter() - start)
                    scores.append(psnr(out, photo, hole))
                print(f"| {mp:g} MP | {scale:g} | {side} | {' / '.join(f'{s:.2f}' for s in scores)} "
                      f"| {np.mean(scores):.2f} | {np.mean(seconds):.2f} |", flush=True)


if __name__ == "__main__":
    main()
