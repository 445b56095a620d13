"""What a run logs besides checkpoints: ``metrics.jsonl`` rows, and TensorBoard with the viz extra.

Every logged row goes to RUN_DIR/metrics.jsonl (one JSON object a line, flushed); the same scalars
and the sample grids also go to TensorBoard (RUN_DIR/tb) when tensorboard is installed (the
``viz`` extra). Without it a run trains all the same, after one warning.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from context_encoder.extras import install_hint, missing

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter


def open_tensorboard(run_dir: Path, start: int) -> SummaryWriter | None:
    """A TensorBoard writer on RUN_DIR/tb that drops the events logged after step ``start`` (a
    resumed run's), or None, with one warning, when tensorboard is not installed."""
    gone = missing("viz", ("tensorboard",))
    if gone:
        warnings.warn(f"no TensorBoard logs (metrics.jsonl has every row): {install_hint('viz', gone)}",
                      stacklevel=2)
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(run_dir / "tb"), purge_step=start + 1 if start else None)


def log_row(metrics: BinaryIO, writer: SummaryWriter | None, row: dict[str, float]) -> None:
    """One metrics.jsonl line (flushed: a crash loses no logged row) and its TensorBoard scalars."""
    metrics.write((json.dumps(row) + "\n").encode())
    metrics.flush()
    for k, v in row.items():
        if k != "step" and writer is not None:
            writer.add_scalar(k, v, row["step"])


class Throughput:
    """Images per second since the last call of :meth:`rate` (add each step's images to ``seen``)."""

    def __init__(self) -> None:
        self.t0, self.seen = time.perf_counter(), 0

    def rate(self) -> float:
        out = round(self.seen / (time.perf_counter() - self.t0), 2)
        self.t0, self.seen = time.perf_counter(), 0
        return out
