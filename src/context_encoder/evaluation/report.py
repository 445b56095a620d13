"""The evaluation report: ``summary.json``, ``per_image.csv``, ``table.md`` (Table 1's layout), ``examples.png``.

Every file is rendered in memory first, then written under a temporary name and renamed into
place, so a failed evaluation never leaves a half-written report behind.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from context_encoder.data import uint8_to_float
from context_encoder.evaluation.evaluate import Evaluation
from context_encoder.evaluation.metrics import METRICS, mean_rows
from context_encoder.figures import grid_rows
from context_encoder.masks import fill_hole

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
    return ev.eval_set.masks.reshape(len(ev.eval_set.masks), -1).mean(axis=1) * 100.0


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {k: round(values[k], DIGITS) for k in METRICS}


def summarize(ev: Evaluation) -> dict[str, Any]:
    """The report's summary: protocol, hidden region, image count, mean metrics per method
    (``l1``/``l2`` in %, ``psnr`` in dB, ``ssim``), plus per hole-share bucket for masks."""
    s = ev.eval_set
    out: dict[str, Any] = {
        "protocol": s.protocol,
        "hidden_region": s.hidden_region,
        "n_images": len(s.images),
        "methods": {name: _rounded(mean_rows(rows)) for name, rows in ev.per_image.items()},
        "ssim_region": "composited center 64x64 patch" if s.protocol == "center" else "SSIM map over the hole",
        **ev.info,
    }
    if s.protocol == "masks":
        labels = [hole_bucket(v) for v in hole_shares(ev)]
        buckets: dict[str, Any] = {}
        for label in sorted(set(labels), key=lambda b: int(b.split("-")[0])):
            pick = [i for i, b in enumerate(labels) if b == label]
            buckets[label] = {"n_images": len(pick), "methods": {
                name: _rounded(mean_rows(rows[i] for i in pick)) for name, rows in ev.per_image.items()}}
        out["buckets"] = buckets
    return out


def metrics_table(methods: dict[str, dict[str, float]]) -> list[str]:
    """Markdown rows of the paper's layout: method | mean L1 (%) | mean L2 (%) | PSNR (dB) | SSIM."""
    lines = ["| method | mean L1 (%) | mean L2 (%) | PSNR (dB) | SSIM |", "| --- | ---: | ---: | ---: | ---: |"]
    lines += [f"| {name} | {m['l1']:.2f} | {m['l2']:.2f} | {m['psnr']:.2f} | {m['ssim']:.3f} |"
              for name, m in methods.items()]
    return lines


def format_table(summary: dict[str, Any]) -> str:
    """``table.md``: the paper's Table 1 layout (method | mean L1 | mean L2 | PSNR | SSIM)."""
    lines = [f"Protocol `{summary['protocol']}` on `{summary['data']}` ({summary['n_images']} images, "
             f"{summary['image_size']} px); hidden: {summary['hidden_region']}; SSIM: {summary['ssim_region']}.",
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

    def as_float(images: np.ndarray) -> torch.Tensor:  # (K, S, S, 3) u8 -> (K, 3, S, S) in [-1, 1]
        return uint8_to_float(torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2))

    original = as_float(ev.eval_set.images[ev.example_index])
    mask = torch.from_numpy(ev.eval_set.masks[ev.example_index])[:, None].float()  # (K, 1, S, S)
    columns = [fill_hole(original, mask), *(as_float(x) for x in ev.examples.values()), original]
    grid = grid_rows(columns).mul(255).round().byte().permute(1, 2, 0).numpy()  # (H, W, 3)
    labelled = with_column_labels(Image.fromarray(grid), ["input", *ev.examples, "original"])
    buf = io.BytesIO()
    labelled.save(buf, format="png")
    return buf.getvalue()


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
    out.mkdir(parents=True, exist_ok=True)
    staged = [(out / f".{name}.tmp-{os.getpid()}", out / name, payload) for name, payload in rendered.items()]
    try:
        for tmp, _, payload in staged:
            tmp.write_bytes(payload)
    except OSError:
        for tmp, _, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, final, _ in staged:
        os.replace(tmp, final)
    if png is None:  # no stale grid from an earlier report next to these numbers
        (out / "examples.png").unlink(missing_ok=True)
    return summary
