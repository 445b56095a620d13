"""Regenerate the before/after figures of docs/inpainting.md with the ``context-encoder inpaint`` CLI.

BSD100 photos (never trained on) with irregular masks (NVIDIA test set, resized to each photo),
inpainted by the CLI in batch mode from a trained checkpoint, once with the paper's hard paste and
once with the default ``--blend poisson``, plus the paper's setting (no mask: the center square). A table
gives the hole PSNR of each ``--blend`` on 16 more photo/mask pairs, next to OpenCV Telea and the
mean colour. From the repository root, with the shared data at ../shared/data:

    python benchmarks/make_inpainting_figures.py          # the packaged model; --checkpoint RUN for another

Inputs and CLI outputs go to a scratch folder (--work, outside the repository); only the
montages are written to docs/inpainting/, and the ``<!-- figures -->`` block of
docs/inpainting.md is rewritten with the checkpoint's step and the exact commands run.
"""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image, ImageDraw

from context_encoder.checkpoint import PRETRAINED, read_model_config, resolve_weights
from context_encoder.config import MEAN_RGB, ModelConfig
from context_encoder.geometry import center_hole

# (BSD100 photo, irregular mask): hole shares of about 11-21 %, 4 to 31 separate holes.
# All landscape (480×320), so the montages line up.
PAIRS = (("img_020", "02400"), ("img_051", "03000"), ("img_054", "03600"), ("img_043", "04800"))
CENTER_PHOTOS = ("img_018", "img_059", "img_014", "img_100")
# the table: the first 16 BSD100 photos, masks from 6 % to 21 % of hole
TABLE_PAIRS = tuple((f"img_{i + 1:03d}", f"{1200 + 240 * i:05d}") for i in range(16))
BLEND_MODES = ("hard", "feather", "poisson")
LABEL_H = 18


def _cli(argv: list[str], commands: list[str]) -> None:
    commands.append("context-encoder " + shlex.join(argv))
    print(commands[-1], flush=True)
    subprocess.run([sys.executable, "-m", "context_encoder.cli", *argv], check=True)


def _prepare(data: Path, folder: Path, pairs: tuple[tuple[str, str | None], ...]) -> None:
    """Symlink the photos into folder/photos and write masks resized to each photo into folder/masks."""
    (folder / "photos").mkdir(parents=True)
    (folder / "masks").mkdir()
    for name, mask_name in pairs:
        photo = data / "bsd100" / f"{name}.png"
        (folder / "photos" / photo.name).symlink_to(photo.resolve())
        if mask_name is not None:
            with Image.open(photo) as img, Image.open(data / "irregular-masks" / f"{mask_name}.png") as mask:
                mask.convert("L").resize(img.size, Image.NEAREST).save(folder / "masks" / f"{name}.png")


def _hole_psnr(result: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> float:
    """PSNR (dB) over the hole pixels, on the [0, 1] scale."""
    err = (result[hole].astype(np.float64) - truth[hole]) / 255
    return float(10 * np.log10(1 / max(float(np.mean(err**2)), 1e-12)))


def _table(folder: Path) -> list[str]:
    """Mean hole PSNR of each blend's CLI outputs, OpenCV Telea and the mean colour."""
    scores: dict[str, list[float]] = {m: [] for m in (*BLEND_MODES, "telea", "mean")}
    for name, _ in TABLE_PAIRS:
        truth = np.asarray(Image.open(folder / "photos" / f"{name}.png").convert("RGB"))
        hole = np.asarray(Image.open(folder / "masks" / f"{name}.png")) > 0
        for mode in BLEND_MODES:
            scores[mode].append(_hole_psnr(np.asarray(Image.open(folder / mode / f"{name}.png")), truth, hole))
        telea = cv2.inpaint(truth, hole.astype(np.uint8), 5, cv2.INPAINT_TELEA)
        scores["telea"].append(_hole_psnr(telea, truth, hole))
        scores["mean"].append(_hole_psnr(np.where(hole[..., None], np.array(MEAN_RGB), truth), truth, hole))
    labels = {"hard": "context encoder, `--blend hard` (the paper's paste)",
              "feather": "context encoder, `--blend feather`",
              "poisson": "context encoder, `--blend poisson` (default)", "telea": "OpenCV Telea (radius 5)",
              "mean": "mean colour (117, 104, 123)"}
    rows = ["| method | hole PSNR (dB) |", "| --- | --- |"]
    rows += [f"| {labels[k]} | {np.mean(v):.2f} |" for k, v in scores.items()]
    return rows


def _labelled(img: Image.Image, text: str) -> Image.Image:
    out = Image.new("RGB", (img.width, img.height + LABEL_H), "white")
    out.paste(img.convert("RGB"), (0, LABEL_H))
    ImageDraw.Draw(out).text((4, 3), text, fill="black")
    return out


def _row(panels: list[tuple[Image.Image, str]], gap: int = 4) -> Image.Image:
    tiles = [_labelled(img, text) for img, text in panels]
    out = Image.new("RGB", (sum(t.width for t in tiles) + gap * (len(tiles) - 1), tiles[0].height), "white")
    x = 0
    for tile in tiles:
        out.paste(tile, (x, 0))
        x += tile.width + gap
    return out


def _with_hole(photo: Path, hole: np.ndarray) -> Image.Image:
    """The photo with its hole painted white (what is removed)."""
    with Image.open(photo) as img:
        pixels = np.array(img.convert("RGB"))
    pixels[hole] = 255
    return Image.fromarray(pixels)


def _save(img: Image.Image, path: Path, max_bytes: int = 300_000) -> None:
    for quality in (88, 80, 72, 64):
        img.save(path, quality=quality, optimize=True)
        if path.stat().st_size <= max_bytes:
            return
    raise RuntimeError(f"{path} is larger than {max_bytes} bytes")


def _montages(work: Path, out_dir: Path, cfg: ModelConfig) -> list[str]:
    names, fig = [], work / "figures"
    for i, (name, mask_name) in enumerate(PAIRS, start=1):
        with Image.open(fig / "masks" / f"{name}.png") as m:
            hole = np.asarray(m) > 0
        row = _row([(_with_hole(fig / "photos" / f"{name}.png", hole), f"bsd100/{name} + mask {mask_name}"),
                    (Image.open(fig / "hard" / f"{name}.png"), "inpainted (--blend hard)"),
                    (Image.open(fig / "poisson" / f"{name}.png"), "inpainted (default: --blend poisson)")])
        names.append(f"irregular_{i}.jpg")
        _save(row, out_dir / names[-1])
    rows = []
    for name in CENTER_PHOTOS:
        after = Image.open(work / "center" / "poisson" / f"{name}.png")
        hole = center_hole(after.height, after.width, cfg)
        rows.append(_row([(_with_hole(work / "center" / "photos" / f"{name}.png", hole), f"bsd100/{name}, center hole"),
                          (after, "inpainted (no --mask)")]))
    grid = Image.new("RGB", (rows[0].width * 2 + 8, (rows[0].height + 4) * ((len(rows) + 1) // 2)), "white")
    for k, row in enumerate(rows):
        grid.paste(row, ((k % 2) * (row.width + 8), (k // 2) * (row.height + 4)))
    names.append("center.jpg")
    _save(grid, out_dir / names[-1])
    return names


def _step(weights: Path) -> str:
    state = weights.parent / "training_state.pt"
    if state.is_file():
        return "training step " + str(torch.load(state, map_location="cpu", weights_only=True)["step"])
    return "the weights as packaged"


def _update_doc(doc: Path, block: str) -> None:
    text = doc.read_text()
    new, n = re.subn(r"<!-- figures -->.*?<!-- /figures -->", f"<!-- figures -->\n{block}\n<!-- /figures -->",
                     text, flags=re.S)
    if n != 1:
        raise SystemExit(f"{doc} has no <!-- figures --> ... <!-- /figures --> block")
    doc.write_text(new)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default=PRETRAINED, help="trained model (default: the packaged one)")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"), help="shared data root")
    parser.add_argument("--work", type=Path, default=Path("/tmp/ce_inpainting_figures"), help="scratch folder")
    parser.add_argument("--out-dir", type=Path, default=Path("docs/inpainting"), help="where the montages go")
    parser.add_argument("--doc", default="docs/inpainting.md", help="doc whose figures block is rewritten ('': none)")
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    w = args.work
    _prepare(args.data, w / "figures", PAIRS)
    _prepare(args.data, w / "center", tuple((name, None) for name in CENTER_PHOTOS))
    _prepare(args.data, w / "table", TABLE_PAIRS)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    weights = resolve_weights(args.checkpoint)  # the step is fixed now, even if training goes on
    commands: list[str] = []
    runs = [("figures", "hard"), ("figures", "poisson"), ("center", "poisson")] + [("table", m) for m in BLEND_MODES]
    for folder, mode in runs:
        masks = ["--mask-dir", f"{w}/{folder}/masks"] if folder != "center" else []
        _cli(["inpaint", "--input-dir", f"{w}/{folder}/photos", *masks, "--output-dir", f"{w}/{folder}/{mode}",
              "--checkpoint", args.checkpoint if args.checkpoint == PRETRAINED else str(weights), "--blend", mode],
             commands)
    names = _montages(w, args.out_dir, read_model_config(weights))
    step = _step(weights)
    block = "\n".join([
        f"Made from `{args.checkpoint}` ({step}) by `python benchmarks/make_inpainting_figures.py`, "
        "which ran:", "", "```", *commands, "```", "",
        *[f"![{name}](inpainting/{name})" for name in names], "",
        f"Hole PSNR on {len(TABLE_PAIRS)} more pairs (BSD100 `img_001`-`img_016`, irregular masks "
        f"`{TABLE_PAIRS[0][1]}`-`{TABLE_PAIRS[-1][1]}`, 6-21 % of the photo), averaged per image:", "",
        *_table(w / "table")])
    if args.doc:
        _update_doc(Path(args.doc), block)
    print(f"wrote {', '.join(names)} to {args.out_dir} ({step})")


if __name__ == "__main__":
    main()
