"""Figure of docs/inpainting.md: a large hole on a 2000×1500 photo, before and after coarse to fine.

Columns: the photo with its hole | the fill of an earlier version (optional, ``--before``) | this
version's ``context-encoder inpaint`` | OpenCV Telea (radius 5). Rows: the default center hole
and a large elliptical blob. Each output is timed in the same run.

    python benchmarks/large_photo_figure.py runs/big/photo.png --blob runs/big/blob.png \\
        --before runs/big/center_before.png runs/big/blob_before.png -o docs/inpainting/large_photo.jpg
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
from context_encoder.geometry import center_hole

THUMB = 640  # px, width of each panel


def labelled(panels: list[np.ndarray], labels: list[str]) -> Image.Image:
    """Panels (H, W, 3) side by side, each resized to THUMB px wide, with a label above each."""
    small = [Image.fromarray(p).resize((THUMB, round(p.shape[0] * THUMB / p.shape[1])), Image.LANCZOS)
             for p in panels]
    out = Image.new("RGB", (THUMB * len(small) + 4 * (len(small) - 1), small[0].height + 20), "white")
    draw, font = ImageDraw.Draw(out), ImageFont.load_default()
    for k, (panel, label) in enumerate(zip(small, labels)):
        out.paste(panel, (k * (THUMB + 4), 20))
        draw.text((k * (THUMB + 4) + 4, 4), label, fill="black", font=font)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photo", type=Path)
    parser.add_argument("--blob", type=Path, required=True, help="mask of the second row (white = hole)")
    parser.add_argument("--before", type=Path, nargs=2, help="earlier version's outputs: center, blob")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    photo = np.asarray(Image.open(args.photo).convert("RGB"))
    inpainter = Inpainter.from_pretrained(device="cpu")
    rows = []
    holes = {"center hole": center_hole(*photo.shape[:2], inpainter.cfg),
             "blob": np.asarray(Image.open(args.blob).convert("L")) > 127}
    for k, (name, hole) in enumerate(holes.items()):
        shown = np.where(hole[..., None], np.array(MEAN_RGB, np.uint8), photo)
        t = time.perf_counter()
        after = np.asarray(inpainter.inpaint(photo, hole))
        t_model = time.perf_counter() - t
        t = time.perf_counter()
        telea = cv2.inpaint(photo, hole.astype(np.uint8), 5, cv2.INPAINT_TELEA)
        t_telea = time.perf_counter() - t
        panels, labels = [shown], [f"{name}, {photo.shape[1]}x{photo.shape[0]}"]
        if args.before:
            panels.append(np.asarray(Image.open(args.before[k]).convert("RGB")))
            labels.append("before: tiles at up to 4x downscale")
        panels += [after, telea]
        labels += [f"now: coarse to fine ({t_model:.1f} s)", f"OpenCV Telea ({t_telea:.1f} s)"]
        print(f"{name}: model {t_model:.2f} s, Telea {t_telea:.2f} s")
        rows.append(labelled(panels, labels))
    figure = Image.new("RGB", (rows[0].width, sum(r.height for r in rows) + 4), "white")
    y = 0
    for row in rows:
        figure.paste(row, (0, y))
        y += row.height + 4
    args.output.parent.mkdir(parents=True, exist_ok=True)
    figure.save(args.output, quality=90)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
