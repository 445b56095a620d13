"""Rectangular hole masks: boxes as someone draws them on a photo, for the `photos` protocol.

Writes COUNT 512×512 PNG masks (white = hole) into OUT, each one axis-aligned box covering a share
of the image drawn uniformly from [--min-share, --max-share] with an aspect ratio exp(U(-0.7, 0.7)),
placed uniformly; seeded, so the same command writes the same masks. `evaluate --protocol photos
--mask-dir OUT` resizes each to its photo (nearest neighbour):

    python scripts/rect_masks.py /tmp/rect
    context-encoder evaluate --data ../shared/data/bsd100 --protocol photos --mask-dir /tmp/rect \\
        --hole-share 10-50 --limit 40 --methods model,harmonic,opencv-telea --report runs/eval/rect-bsd100
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

SIDE = 512


def box_mask(rng: np.random.Generator, min_share: float, max_share: float) -> np.ndarray:
    """One (SIDE, SIDE) uint8 mask, 255 inside a random box."""
    share = rng.uniform(min_share, max_share)
    aspect = np.exp(rng.uniform(-0.7, 0.7))
    h = min(0.95, np.sqrt(share / aspect))
    w = min(0.95, share / h)
    top, left = rng.uniform(0, 1 - h), rng.uniform(0, 1 - w)
    mask = np.zeros((SIDE, SIDE), np.uint8)
    mask[int(top * SIDE) : int((top + h) * SIDE), int(left * SIDE) : int((left + w) * SIDE)] = 255
    return mask


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path, help="folder for the masks (created; existing masks of the same names are kept)")
    p.add_argument("--count", type=int, default=120)
    p.add_argument("--min-share", type=float, default=0.10)
    p.add_argument("--max-share", type=float, default=0.40)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    written = 0
    for i in range(args.count):
        mask = box_mask(rng, args.min_share, args.max_share)
        path = args.out / f"r{i:03d}.png"
        if path.exists() or path.is_symlink():
            continue
        Image.fromarray(mask).save(path)
        written += 1
    print(f"wrote {written} masks to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
