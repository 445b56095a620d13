"""Train a center net through the Poisson paste (issue 23) resumably, with a held-out curve.

Starts ``context-encoder train --config CONFIG --out RUN`` (or ``--resume RUN`` when the run
exists) in a child process and, while it trains, copies every ``--score-every``-th checkpoint to
RUN/snapshots/ and scores it on the held-out sets as ``inpaint`` runs it (Poisson paste), beside the
parameter-free harmonic fill, into RUN/curve.jsonl:

- ``center-full``: the paper's center protocol with the whole 64×64 square hidden, all photos;
- ``photos``: photos at their own size with held-out irregular masks (10–50 %), ``--photos`` each.

Run it again after a stop to continue (the child resumes from its newest checkpoint; scored steps
are not scored again). With ``optim.ema`` the curve scores the weight average (as ``inpaint`` would load
it); ``--rescore generator.safetensors --steps 1500 3000`` scores the raw weights of those snapshots
into RUN/curve_generator.jsonl instead, without training (``paste_curve_table.py --curve``).
Training holds the campaign lock of scripts/cpu_share.py, niced. Stop with Ctrl-C
(the child checkpoints its current step).

    python scripts/split_masks.py ../shared/data/irregular-masks runs/masks
    python scripts/run_paste_training.py --config configs/harmonic_paste.yaml --out runs/paste
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from cpu_share import one_long_job

from context_encoder.checkpoint import step_dirs, step_number
from context_encoder.evaluation.evaluate import evaluate
from context_encoder.evaluation.report import summarize

HELD_OUT = ("../shared/data/bsd100", "../shared/data/camvid/test")
MASKS = "runs/masks/heldout"


def _protocol(name: str, photos: int) -> dict:
    if name == "center-full":
        return {"protocol": "center", "overlap": 0}
    return {"protocol": "photos", "mask_dir": MASKS, "hole_share": (10.0, 50.0), "limit": photos}


def score(snap: str | Path | None, curve: Path, step: int, photos: int) -> None:
    """Held-out PSNR of one snapshot (or, ``snap`` None, of the harmonic fill) into ``curve``."""
    for data in HELD_OUT:
        for name in ("center-full", "photos"):
            kw = _protocol(name, photos)
            if snap is None:
                ev = evaluate(data=data, methods=["harmonic"], examples=0, **kw)
            else:
                ev = evaluate(data=data, methods=["model"], checkpoints=[snap], blends=["poisson"], examples=0, **kw)
            row = next(iter(summarize(ev)["methods"].values()))
            line = {"step": step, "method": "harmonic" if snap is None else "model +poisson", "data": data,
                    "protocol": name, "psnr": row["psnr"], "ssim": row["ssim"]}
            with curve.open("a") as f:
                f.write(json.dumps(line) + "\n")
            print(json.dumps(line), flush=True)


def snapshot(step_dir: Path, run: Path) -> Path:
    """Copy a step's generator (and its weight average, with ``--ema``, which scoring then uses, as
    ``inpaint`` does) and model.json to RUN/snapshots/paste/checkpoints/<step dir>."""
    dst = run / "snapshots" / "paste" / "checkpoints" / step_dir.name
    dst.mkdir(parents=True, exist_ok=True)
    names = ["generator.safetensors", "model.json"]
    if (step_dir / "generator_ema.safetensors").is_file():
        names.append("generator_ema.safetensors")
    for name in names:
        shutil.copy2(step_dir / name, dst / name)
    return dst


def rescore(run: Path, weights: str, steps: list[int], photos: int) -> None:
    """Score ``weights`` (a file name) of the given snapshots into RUN/curve_<stem>.jsonl, beside a
    copy of the run's harmonic rows."""
    curve = run / f"curve_{Path(weights).stem}.jsonl"
    lines = curve.read_text().splitlines() if curve.is_file() else []
    done = {(r["step"], r["method"]) for r in map(json.loads, lines)}
    if not any(method == "harmonic" for _, method in done):
        rows = [r for r in map(json.loads, (run / "curve.jsonl").read_text().splitlines()) if r["method"] == "harmonic"]
        with curve.open("a") as f:
            f.write("".join(json.dumps(r) + "\n" for r in rows))
    for step in steps:
        path = run / "snapshots" / "paste" / "checkpoints" / f"step_{step:07d}" / weights
        if (step, "model +poisson") not in done:
            score(path, curve, step, photos)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="configs/harmonic_paste.yaml")
    p.add_argument("--out", default="runs/paste", help="the run directory")
    p.add_argument("--score-every", type=int, default=500, help="steps between held-out points")
    p.add_argument("--photos", type=int, default=20, help="photos per set for the photos protocol")
    p.add_argument("--rescore", metavar="FILE", help="score this weights file of --steps snapshots, no training")
    p.add_argument("--steps", type=int, nargs="+", default=[], help="snapshot steps for --rescore")
    p.add_argument("train_args", nargs="*", help="extra flags for train (after --)")
    args = p.parse_args()
    run = Path(args.out)
    if args.rescore:
        rescore(run, args.rescore, args.steps, args.photos)
        return 0
    with one_long_job(f"paste training {run}"):
        cmd = ["context-encoder", "train", *args.train_args]
        fresh = not (run / "config.json").is_file()
        cmd += ["--config", args.config, "--out", str(run)] if fresh else ["--resume", str(run)]
        child = subprocess.Popen(cmd)
        curve = run / "curve.jsonl"
        while not run.is_dir():
            time.sleep(5)
        done = set()
        if curve.is_file():
            done = {(r["step"], r["method"]) for r in map(json.loads, curve.read_text().splitlines())}
        if (0, "harmonic") not in done:
            score(None, curve, 0, args.photos)
        if (0, "model +poisson") not in done:  # the packaged model it starts from
            score("pretrained", curve, 0, args.photos)
        while True:
            alive = child.poll() is None
            for step_dir in step_dirs(run / "checkpoints"):
                step = step_number(step_dir)
                if step % args.score_every or (step, "model +poisson") in done:
                    continue
                try:
                    snap = snapshot(step_dir, run)
                except FileNotFoundError:  # trimmed while copying: the next one will do
                    continue
                score(snap, curve, step, args.photos)
                done.add((step, "model +poisson"))
            if not alive:
                return child.returncode
            time.sleep(15)


if __name__ == "__main__":
    sys.exit(main())
