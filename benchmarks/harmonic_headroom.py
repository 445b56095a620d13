"""How much a perfect coarse prediction would add over the harmonic fill (issue 23).

On the `photos` protocol's photos and held-out masks (the first ``--limit`` photos of a set at their
own size, 10–50 % holes, seed 0), the hole is filled with the harmonic fill plus the true residual
(photo − harmonic fill) low-passed by a downscale of factor s (area) and an upscale (bilinear):
what a net that predicted the hole exactly, but only at 1/s of the photo's resolution, would give.
The second row of each factor is the same low-passed photo Poisson-pasted, as ``inpaint`` pastes
a prediction. The gap between these ceilings and the default path's gain shows whether the net's
resolution or its prediction limits it.

    python benchmarks/harmonic_headroom.py --data ../shared/data/bsd100
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from context_encoder.evaluation.baselines import harmonic_inpaint
from context_encoder.evaluation.protocol import HOLE_SHARE, load_photos, photo_masks, score
from context_encoder.inpainting.blend import paste

FACTORS = (1.5, 2.0, 3.75, 8.0, 16.0)


def low_pass(x: np.ndarray, factor: float) -> np.ndarray:
    """``x`` (H, W, C) float32 downscaled by ``factor`` (area) and back (bilinear)."""
    h, w = x.shape[:2]
    small = cv2.resize(x, (max(1, round(w / factor)), max(1, round(h / factor))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="a folder of photos, e.g. ../shared/data/bsd100")
    p.add_argument("--mask-dir", type=Path, default=Path("runs/masks/heldout"))
    p.add_argument("--limit", type=int, default=20)
    args = p.parse_args()
    _, photos = load_photos(args.data, limit=args.limit)
    _, masks = photo_masks([ph.shape[:2] for ph in photos], args.mask_dir, band=HOLE_SHARE)
    rows: dict[str, list[float]] = {}
    for img, hole in zip(photos, masks):
        harm = harmonic_inpaint(img[None], hole[None])[0]
        rows.setdefault("harmonic", []).append(score(harm, img, hole, "photos")["psnr"])
        residual = img.astype(np.float32) - harm.astype(np.float32)
        for f in FACTORS:
            filled = np.clip(harm + low_pass(residual, f), 0, 255).round()
            out = np.where(hole[..., None], filled, img).astype(np.uint8)
            low = np.clip(low_pass(img.astype(np.float32), f), 0, 255).round().astype(np.uint8)
            pasted = paste(np.ascontiguousarray(img), low, hole, mode="poisson", border=low)
            for name, fill in ((f"harmonic + true residual at 1/{f:g}", out),
                               (f"Poisson paste of the photo at 1/{f:g}", pasted)):
                rows.setdefault(name, []).append(score(fill, img, hole, "photos")["psnr"])
    base = float(np.mean(rows["harmonic"]))
    print(f"{args.data}, {len(photos)} photos at their own size, masks {args.mask_dir} (10-50 %)\n")
    print("| fill | PSNR (dB) | over harmonic |\n| --- | ---: | ---: |")
    for name, values in rows.items():
        print(f"| {name} | {np.mean(values):.2f} | {np.mean(values) - base:+.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
