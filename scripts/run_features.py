"""Pre-train the paper's AlexNet context encoders and measure what transfers (issue 27), resumably.

Variants, each with the same steps, batch, learning rate, seed and data, otherwise the recipe of
configs/paper_alexnet_features.yaml (AlexNet conv1–pool5 + channel-wise FC at 227 px, L2 loss only):

    random       no pre-training: the DCGAN init from --seed (the step-0 weights of every other variant)
    autoencoder  --mask none: the whole image in and out
    center       --mask center: the central square hidden
    region       --mask region: the paper's random regions

Pre-training data: ``more-photos/`` + ``imagenet-sample/`` + ``camvid/train`` only, never
``camvid/val`` or ``camvid/test``, which the segmentation probe uses (the config's own data list is
replaced).

Turns: the variant furthest behind trains up to its next multiple of ``--chunk`` steps
(``context-encoder train`` in a child process); its checkpoint is copied to
RUN/snapshots/<variant>/step_N and fine-tuned for segmentation on CamVid (the probe of
``context-encoder segment``: train on camvid/train, epoch chosen on camvid/val, mIoU over the 11
classes on camvid/test), one row {variant, step, images_seen, test_miou, val_miou, ...} appended to
RUN/curve.jsonl. ``random`` is probed once, at step 0. When every variant has reached ``--steps``:

- ``--noise-probes`` more segmentation probes of the random encoder with other probe seeds
  (RUN/noise.jsonl): the probe's own spread, against which the report judges gaps;
- the linear probe on CIFAR-10 at pool5 for every variant (benchmarks/feature_learning.py's
  alexnet path: 32 px upsampled to 127 px, pool5 not pooled) into RUN/linear.jsonl;
- the fine-tuning probe (``probe --mode finetune``'s :func:`finetune`, same images) of the best
  and the worst variant by final segmentation mIoU into RUN/finetune.jsonl.

RUN/pretrain_time.jsonl holds the wall time of every training piece (the photos' decoding at each
start included). ``scripts/feature_report.py RUN`` writes the doc from these files.

Run it again after a stop: finished pieces are skipped, training resumes from its last checkpoint
(written every 100 steps). Ctrl-C lets the training child write a checkpoint at its current step,
then stops (a second Ctrl-C stops at once). It holds the campaign lock of scripts/cpu_share.py
(niced) throughout. Run it from the repository root (the lock and the data paths are relative).

    # the campaign: ≈ 3 h on 2 free cores (a 500-step chunk ≈ 12–16 min with 1 min of photo decoding,
    # a segmentation probe ≈ 3 min, 12 of them; the CIFAR-10 probes ≈ 10 min); it waits for runs/cpu.lock
    python scripts/run_features.py --out runs/features
    python scripts/feature_report.py runs/features
    # a smoke run (≈ 15 min): every piece, tiny
    python scripts/run_features.py --out /tmp/fl_smoke --steps 20 --chunk 10 --batch-size 4 \\
        --seg-epochs 1 --seg-limit 16 --linear-per-class 5 --test-per-class 5 --finetune-epochs 1 --noise-probes 1
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from cpu_share import one_long_job

from context_encoder.checkpoint import load_generator, step_dirs, step_number
from context_encoder.config import ModelConfig, SegmentConfig
from context_encoder.representation.features import extract, random_generator
from context_encoder.representation.probe import LabelledImages, finetune, linear_probe, load_labelled
from context_encoder.representation.seg_data import load_segmentation
from context_encoder.representation.segment import segmentation_probe

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from feature_learning import alexnet_size, prepare_cifar  # noqa: E402 - the CIFAR path of that experiment

CONFIG = "configs/paper_alexnet_features.yaml"
MASKS = {"random": None, "autoencoder": "none", "center": "center", "region": "region"}
PRETRAIN_DATA = ("more-photos", "imagenet-sample", "camvid/train")  # never camvid/val or camvid/test
CAMVID_CLASSES = ("Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car", "Pedestrian",
                  "Bicyclist")
MODEL = ModelConfig(arch="alexnet", image_size=227)  # the config's model: random init = every run's step 0
SEG_LAYER, CIFAR_LAYER = "conv5", "pool5"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("runs/features"), help="the campaign folder RUN")
    p.add_argument("--data-root", type=Path, default=Path("../shared/data"), help="the shared data folder")
    p.add_argument("--variants", default=",".join(MASKS), help="comma-separated subset of " + ",".join(MASKS))
    p.add_argument("--steps", type=int, default=1500, help="pre-training steps of every variant")
    p.add_argument("--chunk", type=int, default=500, help="steps per turn; a curve point after each")
    p.add_argument("--batch-size", type=int, default=32, help="pre-training batch")
    p.add_argument("--lr", type=float, default=1e-4, help="pre-training Adam learning rate (constant)")
    p.add_argument("--load-size", type=int, default=256, help="shorter side before the random 227 px crop")
    p.add_argument("--seed", type=int, default=0, help="init, data order, masks, probe heads")
    p.add_argument("--workers", type=int, default=1, help="data-loading processes while pre-training")
    d = SegmentConfig()
    p.add_argument("--seg-epochs", type=int, default=d.epochs, help="segmentation probe: epochs")
    p.add_argument("--seg-limit", type=int, default=0, help="segmentation probe: seeded images per split (0 = all)")
    p.add_argument("--seg-height", type=int, default=d.height, help="segmentation probe: image height")
    p.add_argument("--seg-width", type=int, default=d.width, help="segmentation probe: image width")
    p.add_argument("--noise-probes", type=int, default=2,
                   help="extra segmentation probes of the random encoder with other probe seeds (head init, order, "
                   "flips): the probe's own spread, against which the report judges gaps")
    p.add_argument("--cifar-dir", type=Path, default=Path.home() / ".cache/context-encoder/feature-learning",
                   help="where cifar10.tar.gz is extracted (shared with benchmarks/feature_learning.py)")
    p.add_argument("--linear-per-class", type=int, default=200, help="CIFAR-10 labelled train images per class")
    p.add_argument("--test-per-class", type=int, default=100, help="CIFAR-10 test images per class")
    p.add_argument("--finetune-epochs", type=int, default=3, help="CIFAR-10 fine-tuning epochs")
    p.add_argument("--finetune-lr", type=float, default=1e-4, help="CIFAR-10 fine-tuning Adam learning rate")
    p.add_argument("--finetune-batch", type=int, default=64, help="CIFAR-10 fine-tuning batch")
    args = p.parse_args()
    args.variants = [v for v in args.variants.split(",") if v]
    unknown = [v for v in args.variants if v not in MASKS]
    if unknown or not args.variants:
        p.error(f"--variants: choose from {','.join(MASKS)} (got {unknown or 'none'})")
    if min(args.steps, args.chunk, args.batch_size) < 1 or args.lr <= 0:
        p.error("--steps, --chunk and --batch-size must be >= 1, --lr > 0")
    return args


# ---- bookkeeping ------------------------------------------------------------------------------
def read_rows(path: Path) -> list[dict]:
    """The rows of a .jsonl file (a torn last line, from a kill mid-write, is skipped)."""
    rows = []
    for line in path.read_text().splitlines() if path.is_file() else []:
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def append_row(path: Path, row: dict) -> None:
    with path.open("a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps({k: v for k, v in row.items() if k != "per_class_iou"}), flush=True)


def check_settings(args: argparse.Namespace) -> None:
    """Record the campaign's settings; refuse a restart that changes any but ``steps``."""
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "out"}
    path = args.out / "settings.json"
    if path.is_file():
        saved = json.loads(path.read_text())
        changed = [f"{k}: {saved.get(k)} -> {v}" for k, v in settings.items() if k != "steps" and saved.get(k) != v]
        if changed:
            raise SystemExit(f"{args.out} was started with other settings ({'; '.join(changed)}): "
                             "give the same flags (only --steps may grow) or another --out")
    args.out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=1) + "\n")


def step_of(run: Path) -> int:
    """The step of the run's newest checkpoint (0 when it has none)."""
    found = step_dirs(run / "checkpoints")
    return step_number(found[-1]) if found else 0


# ---- pre-training -----------------------------------------------------------------------------
def train_command(args: argparse.Namespace, variant: str, target: int) -> list[str]:
    run = args.out / "pretrain" / variant
    cmd = [sys.executable, "-m", "context_encoder.cli", "train", "--steps", str(target)]
    if (run / "config.json").is_file():
        return [*cmd, "--resume", str(run)]
    data = [a for d in PRETRAIN_DATA for a in ("--data", str(args.data_root / d))]
    return [*cmd, "--config", str(REPO / CONFIG), "--out", str(run), *data, "--mask", MASKS[variant],
            "--load-size", str(args.load_size), "--batch-size", str(args.batch_size), "--lr-g", str(args.lr),
            "--lr-schedule", "constant", "--seed", str(args.seed), "--workers", str(args.workers),
            "--log-every", "10", "--sample-every", str(args.chunk), "--ckpt-every", str(min(100, args.chunk))]


class Stop:
    """How the runner was asked to stop. Ctrl-C reaches the training child too (one process group);
    SIGTERM (``kill PID``) reaches this process alone, so it is passed on to the child."""

    forward = False

    @classmethod
    def install(cls) -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started in the background
        signal.signal(signal.SIGTERM, cls._term)

    @classmethod
    def _term(cls, _signum: int, _frame: object) -> None:
        cls.forward = True
        raise KeyboardInterrupt


def advance(args: argparse.Namespace, variant: str, target: int) -> None:
    """Train ``variant`` to step ``target``; its wall time goes to pretrain_time.jsonl, even when stopped."""
    run = args.out / "pretrain" / variant
    start, t0 = step_of(run), time.perf_counter()
    print(f"\n== {variant}: steps {start} -> {target}", flush=True)
    child = subprocess.Popen(train_command(args, variant, target))
    try:
        code = child.wait()
    except KeyboardInterrupt:
        print(f"stopping: {variant}'s training writes a checkpoint at its current step", file=sys.stderr, flush=True)
        if Stop.forward:
            child.send_signal(signal.SIGTERM)
        child.wait()  # a second Ctrl-C stops waiting (and aborts the child)
        raise
    finally:
        append_row(args.out / "pretrain_time.jsonl", {"variant": variant, "from_step": start,
                                                       "to_step": step_of(run),
                                                       "seconds": round(time.perf_counter() - t0, 1)})
    if code != 0:
        raise SystemExit(f"training {variant} failed (exit {code}); fix it and run this script again")
    if step_of(run) < target:  # the child alone was stopped (a signal to it): stop here too
        raise SystemExit(f"training {variant} stopped at step {step_of(run)} before {target}; run this script "
                         "again to continue")


def snapshot(args: argparse.Namespace, variant: str) -> Path:
    """Copy the newest generator and its model.json to RUN/snapshots/<variant>/step_N."""
    src = step_dirs(args.out / "pretrain" / variant / "checkpoints")[-1]
    dst = args.out / "snapshots" / variant / src.name
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("generator.safetensors", "model.json"):
        shutil.copy2(src / name, dst / name)
    return dst


def encoder(args: argparse.Namespace, variant: str, step: int) -> torch.nn.Module:
    """The variant's generator at ``step`` (random init for ``random`` and step 0)."""
    if variant == "random" or step == 0:
        return random_generator(MODEL, args.seed)
    return load_generator(args.out / "snapshots" / variant / f"step_{step:07d}" / "generator.safetensors")[0]


# ---- transfer ---------------------------------------------------------------------------------
def seg_config(args: argparse.Namespace) -> SegmentConfig:
    return dataclasses.replace(SegmentConfig(), height=args.seg_height, width=args.seg_width, epochs=args.seg_epochs,
                               seed=args.seed)


@functools.cache
def camvid(root: Path, limit: int, height: int, width: int) -> dict:
    cfg = SegmentConfig()
    return {s: load_segmentation(root / "camvid" / s, root / "camvid-labels" / s, height=height, width=width,
                                 n_classes=cfg.n_classes, void=cfg.void, limit=limit, seed=0)
            for s in ("train", "val", "test")}


def pretrain_seconds(args: argparse.Namespace, variant: str, step: int) -> float:
    return sum(r["seconds"] for r in read_rows(args.out / "pretrain_time.jsonl")
               if r["variant"] == variant and r["to_step"] <= step)


def seg_point(args: argparse.Namespace, variant: str, step: int, probe_seed: int | None = None) -> None:
    """Fine-tune the variant at ``step`` for segmentation; one row of curve.jsonl (of noise.jsonl
    with another ``probe_seed``)."""
    sets = camvid(args.data_root, args.seg_limit, args.seg_height, args.seg_width)
    cfg = seg_config(args) if probe_seed is None else dataclasses.replace(seg_config(args), seed=probe_seed)
    r = segmentation_probe(encoder(args, variant, step), **sets, layer=SEG_LAYER, cfg=cfg, class_names=CAMVID_CLASSES)
    append_row(args.out / ("curve.jsonl" if probe_seed is None else "noise.jsonl"), {"probe_seed": cfg.seed,
        "variant": variant, "step": step, "images_seen": step * args.batch_size, "test_miou": r["test"]["miou"],
        "val_miou": r["val"]["miou"], "pixel_accuracy": r["test"]["pixel_accuracy"], "epoch": r["epoch"],
        "per_class_iou": r["test"]["per_class_iou"], "probe_seconds": round(r["seconds"], 1),
        "pretrain_seconds": round(pretrain_seconds(args, variant, step), 1)})


@functools.cache
def cifar(archive: Path, work_dir: Path, per_class: int, test_per_class: int) -> tuple[LabelledImages, LabelledImages]:
    """Seeded CIFAR-10 subsets at 127 px (the 32 px images upsampled), decoded once per process."""
    root = prepare_cifar(archive, work_dir)
    train = load_labelled(root / "train", image_size=alexnet_size(), per_class=per_class, seed=0)
    return train, load_labelled(root / "test", image_size=alexnet_size(), per_class=test_per_class, seed=0,
                                classes=train.classes)


def cifar_sets(args: argparse.Namespace) -> tuple[LabelledImages, LabelledImages]:
    return cifar(args.data_root / "cifar10.tar.gz", args.cifar_dir, args.linear_per_class, args.test_per_class)


def linear_point(args: argparse.Namespace, variant: str) -> None:
    train, test = cifar_sets(args)
    gen, t0 = encoder(args, variant, args.steps), time.perf_counter()
    kw = {"layer": CIFAR_LAYER, "pool": 0, "batch_size": 250}
    r = linear_probe(extract(gen, train.images, **kw), train.labels, extract(gen, test.images, **kw), test.labels,
                     seed=args.seed)
    append_row(args.out / "linear.jsonl", {"variant": variant, "step": final_step(args, variant), **r,
                                           "n_train": len(train.files), "n_test": len(test.files),
                                           "seconds": round(time.perf_counter() - t0, 1)})


def finetune_point(args: argparse.Namespace, variant: str, why: str) -> None:
    train, test = cifar_sets(args)
    gen, t0 = encoder(args, variant, args.steps), time.perf_counter()
    r = finetune(gen, train, test, layer=CIFAR_LAYER, pool=0, epochs=args.finetune_epochs, lr=args.finetune_lr,
                 batch_size=args.finetune_batch, seed=args.seed)
    append_row(args.out / "finetune.jsonl", {"variant": variant, "step": final_step(args, variant), "why": why,
                                             **r, "n_train": len(train.files), "n_test": len(test.files),
                                             "seconds": round(time.perf_counter() - t0, 1)})


# ---- the campaign -----------------------------------------------------------------------------
def pretraining(args: argparse.Namespace, pretrained: list[str]) -> None:
    """Turns of --chunk steps, the variant furthest behind first, a curve point after each."""
    scored = {(r["variant"], r["step"]) for r in read_rows(args.out / "curve.jsonl")}
    if "random" in args.variants and ("random", 0) not in scored:
        seg_point(args, "random", 0)
    while True:
        for v in pretrained:  # a finished chunk whose probe was cut short
            step = step_of(args.out / "pretrain" / v)
            if step and (step % args.chunk == 0 or step == args.steps) and (v, step) not in scored:
                snapshot(args, v)
                seg_point(args, v, step)
                scored.add((v, step))
        behind = [(step_of(args.out / "pretrain" / v), v) for v in pretrained]
        behind = [(s, v) for s, v in behind if s < args.steps]
        if not behind:
            return
        step, variant = min(behind)
        advance(args, variant, min(args.steps, (step // args.chunk + 1) * args.chunk))


def final_step(args: argparse.Namespace, variant: str) -> int:
    return 0 if variant == "random" else args.steps


def final_seg(args: argparse.Namespace) -> dict[str, float]:
    rows = read_rows(args.out / "curve.jsonl")
    last = {(r["variant"], r["step"]): r["test_miou"] for r in rows}
    return {v: last[v, final_step(args, v)] for v in args.variants}


def main() -> int:
    args = parse_args()
    Stop.install()
    check_settings(args)
    pretrained = [v for v in args.variants if MASKS[v] is not None]
    with one_long_job(f"feature campaign {args.out}"):
        pretraining(args, pretrained)
        done = {r["probe_seed"] for r in read_rows(args.out / "noise.jsonl")}
        for seed in range(args.seed + 1, args.seed + 1 + args.noise_probes):
            if seed not in done:
                seg_point(args, "random", 0, probe_seed=seed)
        done = {(r["variant"], r["step"]) for r in read_rows(args.out / "linear.jsonl")}
        for v in args.variants:
            if (v, final_step(args, v)) not in done:
                linear_point(args, v)
        seg = final_seg(args)
        picks = {max(seg, key=seg.get): "best seg mIoU", min(seg, key=seg.get): "worst seg mIoU"}
        done = {(r["variant"], r["step"]) for r in read_rows(args.out / "finetune.jsonl")}
        for v, why in picks.items():
            if (v, final_step(args, v)) not in done:
                finetune_point(args, v, why)
    print(f"\ncampaign complete: python scripts/feature_report.py {args.out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("stopped: run the same command again to continue", file=sys.stderr)
        sys.exit(130)
