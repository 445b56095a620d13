"""Seconds per large photo (4, 8, 12 MP) with a painted hole (≈ 15 %): ours against OpenCV Telea
and the harmonic fill, in this process and through the CLI (start-up included), in one run.

The photo is ``bsd100/img_011`` from ``--data`` upscaled (bicubic) to each size, else generated
smooth waves; the hole an ellipse and two thick strokes scaled with the photo. In-process rows
time ``Inpainter.inpaint`` (``--checkpoint``, by default the packaged pair; default Poisson
paste), ``cv2.inpaint`` Telea (radius 5) and ``harmonic_inpaint`` on the same arrays, median of
``--repeats``; the CLI column times one ``context-encoder inpaint PHOTO --mask MASK -o OUT`` from
a fresh process. Ratios are against Telea's in-process time of the same row. Torch's OpenMP
threads wait passively (OMP_WAIT_POLICY=PASSIVE, set here before torch loads, as
``context-encoder`` sets it): spinning, GNU OpenMP's default, made the generator 3-5x slower on a
CPU shared with other work.

    python benchmarks/large_photo_speed.py [--data ../shared/data] [--repeats 1] [--sizes 4 8 12]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads; the CLI's default (cli.main)

import argparse  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from machine import describe  # noqa: E402
from photo_size_speed import base_photo, median_seconds  # noqa: E402
from PIL import Image  # noqa: E402

from context_encoder import Inpainter  # noqa: E402
from context_encoder.evaluation.baselines import harmonic_inpaint  # noqa: E402


def painted_hole(h: int, w: int) -> np.ndarray:
    """An ellipse and two thick strokes apart from it, scaled with the photo: (h, w) bool, ≈ 15 %."""
    k = w / 1000
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (w // 2, round(0.4 * h)), (round(150 * k), round(100 * k)), 10, 0, 360, 255, -1)
    strokes = [[(0.06, 0.45), (0.36, 0.92), (0.94, 0.45)], [(0.08, 0.08), (0.3, 0.2), (0.2, 0.6)]]
    for stroke in strokes:
        points = np.array([(round(x * w), round(y * h)) for x, y in stroke], np.int32)
        cv2.polylines(mask, [points], False, 255, round(32 * k))
    return mask > 0


def cli_seconds(photo: np.ndarray, hole: np.ndarray, checkpoint: str = "pretrained") -> float:
    """One ``context-encoder inpaint`` run from a fresh process, start-up included."""
    with tempfile.TemporaryDirectory() as tmp:
        src, mask, out = Path(tmp, "photo.png"), Path(tmp, "mask.png"), Path(tmp, "out.png")
        Image.fromarray(photo).save(src, compress_level=1)
        Image.fromarray(hole.astype(np.uint8) * 255).save(mask)
        start = time.perf_counter()
        model = [] if checkpoint == "pretrained" else ["--checkpoint", checkpoint]
        subprocess.run(["context-encoder", "inpaint", str(src), "--mask", str(mask), "-o", str(out), *model],
                       check=True, capture_output=True)
        return time.perf_counter() - start


def row(inpainter: Inpainter, photo: np.ndarray, repeats: int, checkpoint: str = "pretrained") -> str:
    """One table row: ours (in-process and CLI), Telea and harmonic on ``photo`` (H, W, 3)."""
    hole = painted_hole(*photo.shape[:2])
    given = np.where(hole[..., None], 0, photo).astype(np.uint8)
    ours = median_seconds(lambda: inpainter.inpaint(given, hole), repeats)
    telea = median_seconds(lambda: cv2.inpaint(given, hole.astype(np.uint8) * 255, 5, cv2.INPAINT_TELEA), repeats)
    harmonic = median_seconds(lambda: harmonic_inpaint(given[None], hole[None]), repeats)
    cli = cli_seconds(given, hole, checkpoint)
    mp = photo.shape[0] * photo.shape[1] / 1e6
    return (f"| {photo.shape[1]}×{photo.shape[0]} ({mp:.1f} MP) | {hole.mean():.1%} | {ours:.2f} | {cli:.2f} "
            f"| {telea:.2f} | {harmonic:.2f} | {ours / telea:.1f}× | {cli / telea:.1f}× | {harmonic / telea:.1f}× |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=None, help="the shared data folder (for bsd100/img_011.png)")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--sizes", type=float, nargs="+", default=[4, 8, 12], help="megapixels")
    p.add_argument("--checkpoint", default="pretrained",
                   help="the model of the 'ours' columns (default: the packaged pair, as inpaint runs it; "
                        "painted holes go to its residual net)")
    args = p.parse_args()
    print(describe(), f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}", f"checkpoint={args.checkpoint}")
    inpainter = Inpainter.from_checkpoint(args.checkpoint, "cpu")
    base = base_photo(args.data)
    inpainter.inpaint(base, painted_hole(*base.shape[:2]))  # warm-up: first-call imports and allocations
    print("| photo | hole | ours (s) | ours, CLI (s) | Telea (s) | harmonic (s) | ours / Telea | CLI / Telea "
          "| harmonic / Telea |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for mp in args.sizes:
        f = (mp * 1e6 / (base.shape[0] * base.shape[1])) ** 0.5
        photo = cv2.resize(base, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC)
        print(row(inpainter, photo, args.repeats, args.checkpoint), flush=True)


if __name__ == "__main__":
    main()
