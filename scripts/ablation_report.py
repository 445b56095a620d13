"""The loss ablation's figures and tables (issue 16) from what scripts/run_ablation.py left.

At the last step all three runs reached: on each held-out set, ``evaluate`` (center protocol,
inner 56×56 hole, hard paste) of the L2, adversarial and joint nets beside OpenCV Telea, with its
grid of examples (input | L2 | adv | joint | Telea | original); and the held-out PSNR against
images seen for the three runs. Written to docs/ablations/.

    python scripts/ablation_report.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from context_encoder.checkpoint import step_dirs, step_number  # noqa: E402
from context_encoder.evaluation.evaluate import evaluate  # noqa: E402
from context_encoder.evaluation.report import write_report  # noqa: E402

LOSSES = ("l2", "adv", "joint")
HELD_OUT = {"bsd100": "../shared/data/bsd100", "camvid-test": "../shared/data/camvid/test"}
ROOT = Path("runs/ablation")
OUT = Path("docs/ablations")


def common_step() -> int:
    """The newest step every run has a snapshot of."""
    steps = [{step_number(p) for p in step_dirs(ROOT / "snapshots" / loss / "checkpoints")} for loss in LOSSES]
    shared = set.intersection(*steps)
    if not shared:
        raise SystemExit("no step that all three runs have a snapshot of: run scripts/run_ablation.py first")
    return max(shared)


def curve_plot(curve: Path, out: Path) -> None:
    """Held-out PSNR against images seen, one panel per set, one line per loss."""
    rows = [json.loads(line) for line in curve.read_text().splitlines()]
    fig, axes = plt.subplots(1, len(HELD_OUT), figsize=(5 * len(HELD_OUT), 3.6), sharey=True)
    for ax, (label, data) in zip(axes, HELD_OUT.items()):
        for loss in LOSSES:
            pts = sorted((r["images"], r["psnr"]) for r in rows if r["loss"] == loss and r["data"] == data)
            if pts:
                ax.plot([p[0] / 1000 for p in pts], [p[1] for p in pts], marker="o", ms=3, label=loss)
        ax.set_title(f"{label}: inner 56×56 hole")
        ax.set_xlabel("training images seen (thousands)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("held-out PSNR (dB)")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    step = common_step()
    snaps = [ROOT / "snapshots" / loss / "checkpoints" / f"step_{step:07d}" for loss in LOSSES]
    for label, data in HELD_OUT.items():
        ev = evaluate(data=data, methods=["model", "opencv-telea"], checkpoints=snaps, protocol="center",
                      overlap=4, blends=["hard"], examples=6)
        write_report(ev, OUT / label)
        print((OUT / label / "table.md").read_text())
    curve_plot(ROOT / "curve.jsonl", OUT / "curve.png")
    print(f"step {step}; figures and tables in {OUT}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
