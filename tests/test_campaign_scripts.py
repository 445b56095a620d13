"""The campaign runners under scripts/ (issue 23's resumable training with a held-out curve)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


@pytest.fixture(scope="module")
def runner():
    sys.path.insert(0, str(SCRIPTS))  # the runners import their neighbour cpu_share as scripts do
    try:
        spec = importlib.util.spec_from_file_location("run_paste_training", SCRIPTS / "run_paste_training.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(SCRIPTS))


@pytest.mark.parametrize("ema", [False, True])
def test_a_snapshot_keeps_the_weight_average_that_scoring_uses(runner, tmp_path: Path, ema: bool) -> None:
    step = tmp_path / "run" / "checkpoints" / "step_0000500"
    step.mkdir(parents=True)
    names = {"generator.safetensors", "model.json"} | ({"generator_ema.safetensors"} if ema else set())
    for name in names | {"optimizer.pt"}:
        (step / name).write_bytes(name.encode())
    dst = runner.snapshot(step, tmp_path / "run")
    assert dst == tmp_path / "run" / "snapshots" / "paste" / "checkpoints" / "step_0000500"
    assert {p.name for p in dst.iterdir()} == names  # weights only, never the optimizer state
    assert all((dst / n).read_bytes() == n.encode() for n in names)
