"""Run the loss ablation (issue 16) resumably: L2, adversarial and joint in turns, a chunk each.

Each round takes every run CHUNK steps further with ``context-encoder train --resume`` (the
first round starts it from configs/ablation/<loss>.yaml), keeps a copy of the generator at that
step under runs/ablation/snapshots/<loss>/checkpoints/, and scores it on the held-out sets (center protocol,
inner 56×56 hole, hard paste: the net itself) into runs/ablation/curve.jsonl, the data of the
held-out PSNR against images seen. Turns keep the three runs at the same step whenever the script
stops; run it again to continue where it stopped. Stop with Ctrl-C (the current step checkpoints).

    python scripts/run_ablation.py [--until 3000] [--chunk 250]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from context_encoder.checkpoint import step_dirs, step_number
from context_encoder.evaluation.evaluate import evaluate
from context_encoder.evaluation.report import summarize

LOSSES = ("l2", "adv", "joint")
HELD_OUT = ("../shared/data/bsd100", "../shared/data/camvid/test")
ROOT = Path("runs/ablation")


def step_of(run: Path) -> int:
    """The step of the run's newest checkpoint (0 when it has none)."""
    found = step_dirs(run / "checkpoints")
    return step_number(found[-1]) if found else 0


def advance(loss: str, until: int) -> None:
    """Train ``loss``'s run to step ``until`` (starting it if needed)."""
    run = ROOT / loss
    cmd = ["context-encoder", "train", "--steps", str(until)]
    cmd += ["--resume", str(run)] if (run / "config.json").is_file() else [
        "--config", f"configs/ablation/{loss}.yaml", "--out", str(run)]
    subprocess.run(cmd, check=True)


def snapshot(loss: str) -> Path:
    """Copy the newest generator and its model.json to snapshots/<loss>/checkpoints/step_XXXXXXX."""
    src = step_dirs(ROOT / loss / "checkpoints")[-1]
    dst = ROOT / "snapshots" / loss / "checkpoints" / src.name  # evaluate names it by <loss>
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("generator.safetensors", "model.json"):
        if (src / name).is_file():
            shutil.copy2(src / name, dst / name)
    return dst


def score(loss: str, snap: Path, curve: Path, images_per_step: int) -> None:
    """Held-out PSNR / SSIM / sharpness of one snapshot, appended to ``curve``."""
    step = step_number(snap)
    for data in HELD_OUT:
        ev = evaluate(data=data, methods=["model"], checkpoints=[snap], protocol="center", overlap=4,
                      blends=["hard"], examples=0)
        row = next(iter(summarize(ev)["methods"].values()))
        line = {"loss": loss, "step": step, "images": step * images_per_step, "data": data, **row}
        with curve.open("a") as f:
            f.write(json.dumps(line) + "\n")
        print(json.dumps(line), flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--until", type=int, default=3000, help="final step of every run")
    p.add_argument("--chunk", type=int, default=250, help="steps per turn (a multiple of ckpt_every)")
    args = p.parse_args()
    ROOT.mkdir(parents=True, exist_ok=True)
    curve = ROOT / "curve.jsonl"
    scored = set()
    if curve.is_file():
        scored = {(r["loss"], r["step"]) for r in map(json.loads, curve.read_text().splitlines())}
    while True:
        behind = [(step_of(ROOT / loss), loss) for loss in LOSSES]
        step, loss = min(behind)
        if step >= args.until:
            return 0
        target = min(args.until, (step // args.chunk + 1) * args.chunk)
        advance(loss, target)
        snap = snapshot(loss)
        if (loss, step_of(ROOT / loss)) not in scored:
            score(loss, snap, curve, images_per_step=32)
            scored.add((loss, step_of(ROOT / loss)))


if __name__ == "__main__":
    sys.exit(main())
