"""Loss curves of a run directory (``metrics.jsonl``) as a PNG."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

from context_encoder.atomic import atomic_open

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PANELS = (("loss_rec", "L2 reconstruction (ring-weighted)"), ("loss_d", "discriminator BCE"),
          ("loss_adv", "generator adversarial BCE"), ("img_per_s", "images / s"))


def read_metrics(run_dir: str | Path) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"no metrics.jsonl in {run_dir}")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not rows:
        raise ValueError(f"{path} is empty")
    return rows


def smooth(values: list[float], window: int) -> list[float]:
    """Trailing moving average over ``window`` >= 1 points."""
    if window < 1:
        raise ValueError(f"the moving-average window must be >= 1 log line, got {window}")
    out, acc = [], 0.0
    for i, v in enumerate(values):
        acc += v - (values[i - window] if i >= window else 0.0)
        out.append(acc / min(i + 1, window))
    return out


def plot_metrics(run_dir: str | Path, output: str | Path, *, window: int = 10) -> Path:
    """One panel per logged quantity (raw and smoothed) against the step; returns ``output``."""
    rows = read_metrics(run_dir)
    panels = [(k, t) for k, t in PANELS if any(k in r for r in rows)]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    for ax, (key, title) in zip(axes[0], panels):
        # a resumed run may change the loss (e.g. joint -> l2): plot each key where it was logged
        steps = [r["step"] for r in rows if key in r]
        values = [r[key] for r in rows if key in r]
        ax.plot(steps, values, color="0.75", lw=0.8, label="logged")
        ax.plot(steps, smooth(values, window), color="C0", lw=1.6, label=f"mean of {window}")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(Path(run_dir).name, fontsize=10)
    fig.tight_layout()
    output = Path(output)
    try:
        with atomic_open(output) as f:
            fig.savefig(f, format="png", dpi=110)
    finally:
        plt.close(fig)
    return output
