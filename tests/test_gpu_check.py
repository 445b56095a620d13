"""benchmarks/gpu_check.py runs end to end on the CPU (--smoke, tiny sizes), so it is ready for the
day a GPU machine is lent: every part runs and reports, and the two DDP ranks agree."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


def test_gpu_check_smoke_runs_every_part(tmp_path: Path) -> None:
    out = tmp_path / "gpu_check.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["smoke"] and "CPU" in report["machine"]
    assert report["cuda_tests"]["returncode"] == 0 and "skipped" in report["cuda_tests"]["summary"]
    steps = report["train_throughput"]
    assert steps["center"]["ours"]["img_per_s"] > 0 and steps["center"]["plain"]["img_per_s"] > 0
    assert steps["center compiled"]["ours"]["info"]["amp"] in ("fp32", "bfloat16")  # auto: bf16 only where native
    assert set(report["inference_latency"]) == {"batch 1", "batch 4"}
    assert report["ddp"]["returncode"] == 0 and "max |rank - rank 0| = 0.0e+00" in report["ddp"]["result"]
