"""Figure of docs/inpainting.md (issue 23): what the net adds over a harmonic fill, on large photos.

Three shared photos upscaled 4x (bicubic, to about 1924×1284: the shared sets hold no photo over
1500 px), each with a large painted hole (an ellipse and two thick strokes, about 13 % of the
photo, drawn from a fixed seed). Columns: the photo with its hole | harmonic fill (no model) |
the new default ``inpaint`` | the old default (``--old``: the previous packaged weights) | OpenCV
Telea (radius 5). Each panel is a full-resolution crop (``--crop`` px square, 1 photo px = 1 figure
px) around the hole; every method is timed in the same run on the whole photo.

    python benchmarks/harmonic_figure.py --data ../shared/data --old runs/old_center.safetensors \\
        -o docs/inpainting/harmonic_vs_net.jpg
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from context_encoder import Inpainter
from context_encoder.config import MEAN_RGB
from context_encoder.evaluation.baselines import harmonic_inpaint

PHOTOS = ("bsd100/img_011.png", "bsd100/img_042.png", "bsd100/img_087.png")
SCALE = 4


def painted_hole(h: int, w: int, seed: int) -> np.ndarray:
    """An ellipse and two thick strokes, as a person paints over objects: (h, w) bool."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((h, w), np.uint8)
    cy, cx = int(h * rng.uniform(0.4, 0.6)), int(w * rng.uniform(0.35, 0.65))
    cv2.ellipse(mask, (cx, cy), (int(w * 0.12), int(h * 0.16)), float(rng.uniform(0, 180)), 0, 360, 255, -1)
    for _ in range(2):
        pts = np.stack([rng.uniform(0.1, 0.9, 4) * w, rng.uniform(0.1, 0.9, 4) * h], 1).astype(np.int32)
        cv2.polylines(mask, [pts], False, 255, thickness=int(0.035 * min(h, w)))
    return mask > 0


def panel(image: np.ndarray, box: tuple[int, int, int], label: str) -> Image.Image:
    """The ``box`` (top, left, side) crop of ``image`` at full resolution, a label above it."""
    top, left, side = box
    crop = Image.fromarray(np.ascontiguousarray(image[top : top + side, left : left + side]))
    out = Image.new("RGB", (side, side + 18), "white")
    out.paste(crop, (0, 18))
    ImageDraw.Draw(out).text((4, 3), label, fill="black", font=ImageFont.load_default())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--model", action="append", default=[], metavar="LABEL=CHECKPOINT",
                        help="a model column (repeatable; default: default=pretrained)")
    parser.add_argument("--crop", type=int, default=512)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    models = {label: Inpainter.from_checkpoint(path, device="cpu")
              for label, path in (m.split("=", 1) for m in args.model or ["default=pretrained"])}
    rows = []
    for seed, name in enumerate(PHOTOS):
        small = Image.open(args.data / name).convert("RGB")
        photo = np.asarray(small.resize((small.width * SCALE, small.height * SCALE), Image.BICUBIC))
        h, w = photo.shape[:2]
        hole = painted_hole(h, w, seed)
        outs, times = {}, {}
        methods = {"harmonic (no model)": lambda x, m: harmonic_inpaint(x[None], m[None])[0]}
        methods |= {label: (lambda x, m, net=net: np.asarray(net.inpaint(x, m))) for label, net in models.items()}
        methods["OpenCV Telea"] = lambda x, m: cv2.inpaint(x, m.astype(np.uint8), 5, cv2.INPAINT_TELEA)
        for label, fill in methods.items():
            start = time.perf_counter()
            outs[label] = fill(photo, hole)
            times[label] = time.perf_counter() - start
        rows_, cols_ = np.nonzero(hole)
        top = int(np.clip(rows_.mean() - args.crop // 2, 0, h - args.crop))
        left = int(np.clip(cols_.mean() - args.crop // 2, 0, w - args.crop))
        box = (top, left, args.crop)
        shown = np.where(hole[..., None], np.array(MEAN_RGB, np.uint8), photo)
        panels = [panel(shown, box, f"{name} x{SCALE}, {w}x{h}, hole {hole.mean():.0%}")]
        panels += [panel(out, box, f"{label} ({times[label]:.1f} s)") for label, out in outs.items()]
        print(f"{name}: {w}x{h}, hole {hole.mean():.1%}, "
              + ", ".join(f"{k} {v:.2f} s" for k, v in times.items()), flush=True)
        row = Image.new("RGB", (sum(p.width for p in panels) + 4 * (len(panels) - 1), panels[0].height), "white")
        for k, p in enumerate(panels):
            row.paste(p, (k * (p.width + 4), 0))
        rows.append(row)
    figure = Image.new("RGB", (rows[0].width, sum(r.height for r in rows) + 4 * (len(rows) - 1)), "white")
    for k, row in enumerate(rows):
        figure.paste(row, (0, k * (row.height + 4)))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    figure.save(args.output, quality=90)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
