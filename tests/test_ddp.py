"""Distributed training: torchrun with 2 CPU processes (gloo) stays in sync; rank 0 alone writes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import torch


def test_torchrun_two_ranks_identical_weights(image_dir: Path, tmp_path: Path) -> None:
    run, dump = tmp_path / "run", tmp_path / "dump"
    dump.mkdir()
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).with_name("torchrun"))
    worker = Path(__file__).with_name("ddp_worker.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node=2", str(worker), str(image_dir), str(run), str(dump)],
        capture_output=True, text=True, timeout=240, env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    a, b = torch.load(dump / "rank0.pt"), torch.load(dump / "rank1.pt")
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=0, rtol=0, msg=name)
    assert sorted(p.name for p in run.iterdir()) == ["checkpoints", "config.json", "metrics.jsonl", "samples", "tb"]
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]  # one writer: each step logged once
    assert len(list((run / "tb").iterdir())) == 1
