"""Variants of the ``inpaint`` path on the ``photos`` protocol, paired per photo against Telea (issue 13).

The same photos and held-out masks as ``evaluate --protocol photos`` (seed 0, 10-50 % hole
share). Each variant is ``Inpainter.inpaint`` with one setting changed (a checkpoint, flip
averaging, the finest refinement scale), or a per-pixel mix of two fills: the mean of two
models, or the model blended with OpenCV Telea by depth into the hole (Telea at the border,
the model from ``d`` px in). Prints PSNR over the hole and the paired gain over Telea (± its
standard error) for each, then the RMS error of the default path and of Telea by distance into
the hole.

    python scripts/photo_variants.py --data ../shared/data/bsd100 --limit 20 [--whole runs/wi5000]
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

from context_encoder.config import InpaintConfig
from context_encoder.evaluation.evaluate import build_set
from context_encoder.evaluation.methods import load_checkpoint
from context_encoder.evaluation.protocol import score
from context_encoder.inpainting.inpainter import Inpainter

DEPTHS = (0, 2, 4, 8, 16, 32, 64, np.inf)  # distance-into-the-hole bins, px


def fills(inpainter: Inpainter, photos: list[np.ndarray], masks: list[np.ndarray]) -> list[np.ndarray]:
    """``inpainter`` on each photo with its hole zeroed: [(H, W, 3) float32]."""
    return [np.asarray(inpainter.inpaint(np.where(m[..., None], 0, x).astype(np.uint8), m), np.float32)
            for x, m in zip(photos, masks)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--mask-dir", default="runs/masks/heldout")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--whole", default=None, help="a whole-image checkpoint to compare and mix in")
    args = p.parse_args()
    es, _ = build_set("photos", data=args.data, mask_dir=args.mask_dir, seed=0, max_side=0,
                      hole_share=(10.0, 50.0), overlap=lambda: 4, limit=args.limit)
    photos, masks = list(es.images), list(es.masks)
    center = load_checkpoint("pretrained")
    out = {"center (default)": fills(Inpainter(center.generator, center.cfg), photos, masks)}
    out["center, flip averaging"] = fills(Inpainter(center.generator, center.cfg, config=InpaintConfig(flip_tta=True)),
                                          photos, masks)
    for finest in (1.0, 4.0):
        out[f"center, finest scale {finest:g}"] = fills(
            Inpainter(center.generator, center.cfg, config=InpaintConfig(finest_scale=finest)), photos, masks)
    out["telea"] = [cv2.inpaint(np.where(m[..., None], 0, x).astype(np.uint8), m.astype(np.uint8) * 255, 5,
                                cv2.INPAINT_TELEA).astype(np.float32) for x, m in zip(photos, masks)]
    depth = [cv2.distanceTransform(m.astype(np.uint8), cv2.DIST_L2, 3)[..., None] for m in masks]
    out["mean of center and Telea"] = [(a + b) / 2 for a, b in zip(out["center (default)"], out["telea"])]
    for d in (2, 4, 8):
        out[f"Telea at the border, center from {d} px in"] = [
            np.clip(z / d, 0, 1) * a + (1 - np.clip(z / d, 0, 1)) * b
            for a, b, z in zip(out["center (default)"], out["telea"], depth)]
    if args.whole:
        whole = load_checkpoint(args.whole)
        out[f"whole-image ({whole.name})"] = fills(Inpainter(whole.generator, whole.cfg), photos, masks)
        out["mean of center and whole-image"] = [(a + b) / 2 for a, b in
                                                 zip(out["center (default)"], out[f"whole-image ({whole.name})"])]
    psnr = {k: np.array([score(np.clip(o + 0.5, 0, 255).astype(np.uint8), x, m, "photos")["psnr"]
                         for o, x, m in zip(v, photos, masks)]) for k, v in out.items()}
    print(f"{args.data}, {len(photos)} photos, protocol photos (masks {args.mask_dir}, 10-50 %, seed 0)")
    print("| variant | PSNR (dB) | gain over Telea (dB) |\n| --- | ---: | ---: |")
    for k, v in psnr.items():
        gain = v - psnr["telea"]
        print(f"| {k} | {v.mean():.2f} | {gain.mean():+.2f} ± {gain.std(ddof=1) / np.sqrt(len(gain)):.2f} |")
    print("\n| px into the hole | share of hole px | RMS error, center (default) | RMS error, Telea |")
    print("| --- | ---: | ---: | ---: |")
    for lo, hi in zip(DEPTHS[:-1], DEPTHS[1:]):
        sel = [(z[..., 0] > lo) & (z[..., 0] <= hi) & m for z, m in zip(depth, masks)]
        count = sum(int(s.sum()) for s in sel)
        rms = {k: np.sqrt(sum(float((((o - x.astype(np.float32)) ** 2).mean(-1))[s].sum())
                              for o, x, s in zip(out[k], photos, sel)) / max(count, 1))
               for k in ("center (default)", "telea")}
        print(f"| {lo:g}–{hi:g} | {count / sum(int(m.sum()) for m in masks):.0%} "
              f"| {rms['center (default)']:.1f} | {rms['telea']:.1f} |")


if __name__ == "__main__":
    main()
