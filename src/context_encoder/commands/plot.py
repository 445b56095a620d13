"""``context-encoder plot``: loss curves of a training run as a PNG."""

from __future__ import annotations

import argparse
from pathlib import Path

from context_encoder.names import shown


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plot", help="plot the loss curves of a run directory",
                       description="Plot metrics.jsonl of RUN_DIR (losses, images/s) against the step.")
    p.add_argument("run_dir", type=Path, help="run directory written by `context-encoder train`")
    p.add_argument("-o", "--output", type=Path, help="PNG path (default: RUN_DIR/loss_curves.png)")
    p.add_argument("--window", type=int, default=10, help="moving-average window in log lines (default: 10)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")


def run(args: argparse.Namespace) -> int:
    from context_encoder.atomic import check_output, check_target
    from context_encoder.checkpoint import run_files
    from context_encoder.extras import require

    require("viz", "plotting", modules=("matplotlib",))
    from context_encoder.training.plots import plot_metrics

    if args.window < 1:
        raise ValueError(f"--window must be >= 1 log line, got {args.window}")
    output = args.output or args.run_dir / "loss_curves.png"
    check_target(output, overwrite=args.overwrite)
    check_output(output, files={"run's file": run_files(args.run_dir)})
    out = plot_metrics(args.run_dir, output, window=args.window)
    print(f"wrote {shown(out)}")
    return 0
