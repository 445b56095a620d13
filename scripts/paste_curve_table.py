"""Print the held-out curve of scripts/run_paste_training.py runs as a markdown table.

One row per scored step: PSNR (dB) of the model as ``inpaint`` runs it on each held-out set and
protocol, and its gain over the harmonic fill of the same photos (the run's step-0 harmonic row).

    python scripts/paste_curve_table.py runs/paste runs/paste_whole
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

COLUMNS = (("bsd100", "center-full"), ("bsd100", "photos"), ("camvid/test", "center-full"), ("camvid/test", "photos"))


def table(run: Path, curve: str = "curve.jsonl") -> list[str]:
    """The markdown lines of one run's curve (``curve``: a file in the run)."""
    rows = [json.loads(line) for line in (run / curve).read_text().splitlines()]
    key = lambda r: (r["data"].split("data/")[-1], r["protocol"])  # noqa: E731
    harmonic = {key(r): r["psnr"] for r in rows if r["method"] == "harmonic"}
    steps = sorted({r["step"] for r in rows if r["method"] != "harmonic"})
    head = "| step | " + " | ".join(f"`{d}` {p}" for d, p in COLUMNS) + " |"
    lines = [head, "| ---: |" + " ---: |" * len(COLUMNS),
             "| harmonic | " + " | ".join(f"{harmonic[c]:.2f}" for c in COLUMNS) + " |"]
    for step in steps:
        got = {key(r): r["psnr"] for r in rows if r["step"] == step and r["method"] != "harmonic"}
        cells = [f"{got[c]:.2f} ({got[c] - harmonic[c]:+.2f})" if c in got else "–" for c in COLUMNS]
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    return lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--curve", default="curve.jsonl", help="the curve file in each run (curve_generator.jsonl: "
                   "run_paste_training.py --rescore generator.safetensors)")
    args = p.parse_args()
    for run in args.runs:
        print(f"\n{run} ({args.curve}):\n")
        print("\n".join(table(run, args.curve)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
