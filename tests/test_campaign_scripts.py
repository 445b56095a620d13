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


def test_rescore_scores_the_named_weights_of_each_step_once(runner, tmp_path: Path, monkeypatch) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "curve.jsonl").write_text(
        '{"step": 0, "method": "harmonic", "data": "d", "protocol": "photos", "psnr": 18.9}\n'
        '{"step": 500, "method": "model +poisson", "data": "d", "protocol": "photos", "psnr": 19.1}\n')
    scored = []

    def fake_score(snap, curve, step, photos):
        scored.append((Path(snap), step))
        with curve.open("a") as f:
            f.write(f'{{"step": {step}, "method": "model +poisson", "data": "d", "protocol": "photos", "psnr": 19}}\n')

    monkeypatch.setattr(runner, "score", fake_score)
    runner.rescore(run, "generator.safetensors", [500, 1500], 20)
    runner.rescore(run, "generator.safetensors", [500, 1500], 20)  # a second call scores nothing again
    snaps = run / "snapshots" / "paste" / "checkpoints"
    assert scored == [(snaps / "step_0000500" / "generator.safetensors", 500),
                      (snaps / "step_0001500" / "generator.safetensors", 1500)]
    lines = (run / "curve_generator.jsonl").read_text().splitlines()
    assert [('"harmonic"' in line) for line in lines] == [True, False, False]  # the harmonic rows, copied once
