"""The evaluation report: ``summary.json``, ``per_image.csv``, ``table.md`` (Table 1's layout), ``examples.png``.

Every file is rendered in memory first, then written under a temporary name and renamed into
place, so a failed evaluation never leaves a half-written report behind.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from context_encoder.atomic import atomic_open
from context_encoder.config import MEAN_RGB
from context_encoder.data import uint8_to_float
from context_encoder.evaluation.evaluate import Evaluation
from context_encoder.evaluation.metrics import METRICS, mean_rows
from context_encoder.figures import grid_rows

BUCKET_EDGES = (0, 10, 20, 30, 40, 50, 60, 100)  # hole share of the image, %
DIGITS = 4  # decimals kept in summary.json
REPORT_FILES = ("summary.json", "per_image.csv", "table.md", "examples.png")


def hole_bucket(share_pct: float) -> str:
    """The hole-share bucket of a mask hiding ``share_pct`` % of the image, e.g. ``"10-20%"``."""
    for lo, hi in zip(BUCKET_EDGES[:-1], BUCKET_EDGES[1:]):
        if share_pct < hi or hi == BUCKET_EDGES[-1]:
            return f"{lo}-{hi}%"
    raise AssertionError("unreachable")


def hole_shares(ev: Evaluation) -> np.ndarray:
    """Percentage of each image's pixels that are hidden: (N,) float."""
    return np.array([float(np.mean(m)) * 100.0 for m in ev.eval_set.masks])


def _summary_row(rows: list[dict[str, float]]) -> dict[str, float]:
    """Mean metrics of some images, rounded; plus seconds per image where they were timed."""
    out = {k: round(v, DIGITS) for k, v in mean_rows(rows).items()}
    if rows and "seconds" in rows[0]:
        out["seconds"] = round(float(np.mean([r["seconds"] for r in rows])), DIGITS)
    return out


def summarize(ev: Evaluation) -> dict[str, Any]:
    """The report's summary: protocol, hidden region, image count, mean metrics per method
    (``l1``/``l2`` in %, ``psnr`` in dB, ``ssim``), plus per hole-share bucket for masks."""
    s = ev.eval_set
    out: dict[str, Any] = {
        "protocol": s.protocol,
        "hidden_region": s.hidden_region,
        "n_images": len(s.images),
        "methods": {name: _summary_row(rows) for name, rows in ev.per_image.items()},
        "ssim_region": "composited center 64x64 patch" if s.protocol == "center" else "SSIM map over the hole",
        **ev.info,
    }
    if s.protocol in ("masks", "photos"):
        labels = [hole_bucket(v) for v in hole_shares(ev)]
        buckets: dict[str, Any] = {}
        for label in sorted(set(labels), key=lambda b: int(b.split("-")[0])):
            pick = [i for i, b in enumerate(labels) if b == label]
            buckets[label] = {"n_images": len(pick), "methods": {
                name: _summary_row([rows[i] for i in pick]) for name, rows in ev.per_image.items()}}
        out["buckets"] = buckets
    return out


def metrics_table(methods: dict[str, dict[str, float]]) -> list[str]:
    """Markdown rows of the paper's layout: method | mean L1 (%) | mean L2 (%) | PSNR (dB) | SSIM, then
    sharpness and seconds per photo where every method has them (older reports lack sharpness)."""
    sharp = all("sharpness" in m for m in methods.values())
    timed = all("seconds" in m for m in methods.values())
    head = "| method | mean L1 (%) | mean L2 (%) | PSNR (dB) | SSIM |" + (" sharpness |" if sharp else "")
    lines = [head + (" s / photo |" if timed else ""),
             "| --- | ---: | ---: | ---: | ---: |" + (" ---: |" if sharp else "") + (" ---: |" if timed else "")]
    lines += [f"| {name} | {m['l1']:.2f} | {m['l2']:.2f} | {m['psnr']:.2f} | {m['ssim']:.3f} |"
              + (f" {m['sharpness']:.2f} |" if sharp else "") + (f" {m['seconds']:.3f} |" if timed else "")
              for name, m in methods.items()]
    return lines


def format_table(summary: dict[str, Any]) -> str:
    """``table.md``: the paper's Table 1 layout (method | mean L1 | mean L2 | PSNR | SSIM), plus sharpness."""
    size = f"{summary['image_size']} px" if summary["image_size"] else "own size"
    lines = [f"Protocol `{summary['protocol']}` on `{summary['data']}` ({summary['n_images']} images, "
             f"{size}); hidden: {summary['hidden_region']}; SSIM: {summary['ssim_region']}.",
             "", *metrics_table(summary["methods"])]
    for label, bucket in summary.get("buckets", {}).items():
        lines += ["", f"Hole share {label} ({bucket['n_images']} images):", "", *metrics_table(bucket["methods"])]
    return "\n".join(lines) + "\n"


def per_image_csv(ev: Evaluation) -> str:
    """One row per (image, method): image, mask, hole share (%), l1, l2, psnr, ssim."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["image", "mask", "hole_share", "method", *METRICS])
    shares = hole_shares(ev)
    masks = ev.eval_set.mask_names or [""] * len(shares)
    for name, rows in ev.per_image.items():
        for image, mask, share, row in zip(ev.eval_set.names, masks, shares, rows):
            writer.writerow([image, mask, f"{share:.2f}", name, *(f"{row[k]:.6f}" for k in METRICS)])
    return buf.getvalue()


def examples_png(ev: Evaluation) -> bytes | None:
    """A grid, one row per example image: input with hole | each method | original. PNG bytes."""
    if not ev.example_index:
        return None

    def as_float(images: list[np.ndarray]) -> torch.Tensor:  # K x (H, W, 3) u8 -> (K, 3, S, S) in [-1, 1]
        stacked = np.stack([thumbnail(x) for x in images])
        return uint8_to_float(torch.from_numpy(stacked).permute(0, 3, 1, 2))

    original = as_float([ev.eval_set.images[i] for i in ev.example_index])
    hidden = [np.where(ev.eval_set.masks[i][..., None], np.array(MEAN_RGB, np.uint8), ev.eval_set.images[i])
              for i in ev.example_index]
    columns = [as_float(hidden), *(as_float(x) for x in ev.examples.values()), original]
    grid = grid_rows(columns).mul(255).round().byte().permute(1, 2, 0).numpy()  # (H, W, 3)
    labelled = with_column_labels(Image.fromarray(grid), ["input", *ev.examples, "original"])
    buf = io.BytesIO()
    labelled.save(buf, format="png")
    return buf.getvalue()


THUMB = 192  # px, the square each example of a photos report is fitted into


def thumbnail(image: np.ndarray) -> np.ndarray:
    """A square image as it is; any other fitted into THUMB×THUMB on white: (S, S, 3) uint8."""
    h, w = image.shape[:2]
    if h == w:
        return image
    scale = THUMB / max(h, w)
    small = Image.fromarray(image).resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.LANCZOS)
    canvas = Image.new("RGB", (THUMB, THUMB), "white")
    canvas.paste(small, ((THUMB - small.width) // 2, (THUMB - small.height) // 2))
    return np.asarray(canvas)


LABEL_HEIGHT = 16  # px of the header row that names each column of examples.png


def with_column_labels(grid: Image.Image, labels: list[str]) -> Image.Image:
    """``grid`` (K equal columns) below a white header row naming each column."""
    out = Image.new("RGB", (grid.width, grid.height + LABEL_HEIGHT), "white")
    out.paste(grid, (0, LABEL_HEIGHT))
    draw, font = ImageDraw.Draw(out), ImageFont.load_default()
    width = grid.width / len(labels)
    for k, label in enumerate(labels):
        while len(label) > 3 and draw.textlength(label, font=font) > width - 4:
            label = label[:-2] + "…"
        x = k * width + (width - draw.textlength(label, font=font)) / 2
        draw.text((x, 2), label, fill="black", font=font)
    return out


def write_report(ev: Evaluation, out_dir: str | Path) -> dict[str, Any]:
    """Write the four report files into ``out_dir`` atomically; return the summary."""
    summary = summarize(ev)
    rendered: dict[str, bytes] = {
        "summary.json": (json.dumps(summary, indent=2) + "\n").encode(),
        "per_image.csv": per_image_csv(ev).encode(),
        "table.md": format_table(summary).encode(),
    }
    png = examples_png(ev)
    if png is not None:
        rendered["examples.png"] = png
    out = Path(out_dir)
    # Each file under a fresh name, renamed over its target only once all of them are written.
    with contextlib.ExitStack() as files:
        for name, payload in rendered.items():
            files.enter_context(atomic_open(out / name)).write(payload)
    if png is None:  # no stale grid from an earlier report next to these numbers
        (out / "examples.png").unlink(missing_ok=True)
    return summary
