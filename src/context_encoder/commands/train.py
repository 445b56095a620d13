"""``context-encoder train``: flags and YAML over the config defaults, then the training loop."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from context_encoder.config import (
    ARCHS,
    DEVICES,
    DISC_WIDTHS,
    HOLE_FILLS,
    LOSSES,
    MASKS,
    PRECISIONS,
    REC_LOSSES,
    REGION_MASKS,
    RESAMPLES,
    TRAIN_PASTES,
    WEIGHTINGS,
    TrainConfig,
    merge,
    read_config_file,
    to_dict,
    train_config_from_dict,
)
from context_encoder.names import shown
from context_encoder.training.resume import KEPT_HELP

DEFAULTS = to_dict(TrainConfig())

# flag -> (config path, type, choices, help)
TRAIN_FLAGS: dict[str, tuple[str, Any, tuple | None, str]] = {
    "--data": ("data.data", str, None, "image folder(s), searched recursively (repeatable)"),
    "--arch": ("model.arch", str, ARCHS, "generator: center (paper inpainting), alexnet (features), autoencoder"),
    "--mask": ("mask.kind", str, MASKS, "hole shape seen in training"),
    "--mask-dir": ("mask.folder", str, None, "folder of PNG masks (white = hole) for --mask folder"),
    "--mask-share-min": ("mask.share_min", float, None, "with --mask folder: only masks hiding at least this share "
                         "of the image (0.1 with --mask-share-max 0.5: the photos protocol's 10-50 %%)"),
    "--mask-share-max": ("mask.share_max", float, None, "with --mask folder: only masks hiding at most this share"),
    "--box-share": ("mask.box_share", float, None, "with --mask folder: this share of the masks replaced by boxes "
                    "(half the center square, half a random 10-50 %% rectangle)"),
    "--region-masks": ("mask.region_masks", str, REGION_MASKS, "with --mask region: per-image (fresh noise per "
                       "image), lua (train_random.lua's one 10000² pattern drawn once from --seed, a random crop "
                       "per sample) or lua-batch (that pattern, one crop per step for the whole batch, as "
                       "train_random.lua)"),
    "--loss": ("loss.kind", str, LOSSES, "l2, adversarial only, or joint (0.999 L2 + 0.001 adv)"),
    "--rec-loss": ("loss.rec", str, REC_LOSSES, "reconstruction term: l2 (paper) or log-l2 (per-image "
                   "log MSE: maximises the mean PSNR that evaluate reports)"),
    "--ring-weight": ("loss.ring_weight", float, None, "L2 weight of the overlap ring relative to the hole"),
    "--l2-weighting": ("loss.weighting", str, WEIGHTINGS, "L2 weights of a whole-image net: ring (1 in the hole, "
                       "--ring-weight within --overlap px, 0 elsewhere), lua-uniform (train_random.lua: 1 "
                       "everywhere) or lua-context (1 in the hole, --ring-weight on all the context)"),
    "--paste": ("loss.paste", str, TRAIN_PASTES, "what the L2 loss sees: hard = the raw prediction (paper), "
                "poisson = the prediction Poisson-pasted over the hole, as inpaint writes it"),
    "--raw-weight": ("loss.raw_weight", float, None, "with --paste poisson: weight of the paper's L2 on the "
                     "raw prediction beside the pasted loss"),
    "--onion": ("loss.onion", int, None, "with --paste poisson: add a second pass per step over the hole deeper "
                "than this many px, its context ring the first pass's pasted fill (0 = off)"),
    "--paste-mask-dir": ("mask.paste_folder", str, None, "with --paste poisson: PNG masks (white = hole) "
                         "whose crops are the photo's hole inside the hidden square (default: the whole square)"),
    "--image-size": ("model.image_size", int, None, "training crop side in px"),
    "--load-size": ("data.load_size", int, None, "shorter side before cropping (0 = size*350/128)"),
    "--min-load-size": ("data.min_load_size", int, None,
                        "scale jitter: draw each crop's shorter side from [this, --load-size] (0 = off)"),
    "--window-views": ("data.window_views", float, None, "share of samples showing the whole image in a "
                       "square window mirrored past its shorter sides, as inpaint feeds a whole-image net "
                       "a hole spanning the photo (0 = only crops)"),
    "--resample": ("data.resample", str, RESAMPLES, "how photos are resized to --load-size: bicubic, or "
                   "bilinear as the original's image.scale"),
    "--bottleneck": ("model.bottleneck", int, None, "center net bottleneck channels"),
    "--nef": ("model.nef", int, None, "encoder width"),
    "--ngf": ("model.ngf", int, None, "decoder width"),
    "--ndf": ("model.ndf", int, None, "discriminator width"),
    "--overlap": ("model.overlap", int, None, "context ring px inside the predicted square (-1 = size/32: "
                  "4 px at 128, as train.lua; the paper's text says 7)"),
    "--disc-widths": ("model.disc_widths", str, DISC_WIDTHS, "discriminator widths on a whole image: doubling "
                      "(64,128,256,512,512 at 128 px) or lua (train_random.lua: 64,64,128,256,512)"),
    "--hole-fill": ("model.hole_fill", str, HOLE_FILLS, "what hidden pixels hold in the net's input: mean (the "
                    "paper's mean colour) or harmonic (the harmonic fill of the known pixels around the hole)"),
    "--batch-size": ("batch_size", int, None, "images per step (per process)"),
    "--steps": ("steps", int, None, "stop after this many steps (0 = use --epochs)"),
    "--epochs": ("epochs", int, None, "stop after this many epochs when --steps is 0"),
    "--lr-g": ("optim.lr_g", float, None, "generator learning rate"),
    "--lr-d": ("optim.lr_d", float, None, "discriminator learning rate"),
    "--lr-schedule": ("optim.lr_schedule", str, ("constant", "cosine"), "learning-rate schedule"),
    "--ema": ("optim.ema", float, None, "decay of a moving average of the generator weights, e.g. "
              "0.999; checkpoints then hold it and evaluate/inpaint use it (0 = off)"),
    "--init": ("init", str, None, "start the generator from these weights: a run dir, checkpoint or "
               "'pretrained' (the packaged model); its model settings become the defaults"),
    "--val-fraction": ("data.val_fraction", float, None, "seeded share of images held out: never trained on; "
                       "the sample grids and the held-out loss and PSNR (--val-every) come from them"),
    "--val-every": ("val_every", int, None, "steps between held-out val_loss_rec / val_psnr rows in metrics.jsonl "
                    "and TensorBoard (with --val-fraction > 0)"),
    "--workers": ("data.workers", int, None, "data-loading processes"),
    "--out": ("out", str, None, "run directory"),
    "--seed": ("seed", int, None, "random seed (data order, crops, masks, init)"),
    "--device": ("device", str, DEVICES, "where to train"),
    "--precision": ("precision", str, PRECISIONS, "auto = bf16 where supported, fp32 = off"),
    "--log-every": ("log_every", int, None, "steps between metric lines"),
    "--sample-every": ("sample_every", int, None, "steps between sample grids"),
    "--ckpt-every": ("ckpt_every", int, None, "steps between checkpoints"),
}


def _lookup(tree: dict[str, Any], path: str) -> Any:
    for key in path.split("."):
        tree = tree[key]
    return tree


def _nest(path: str, value: Any) -> dict[str, Any]:
    out: dict[str, Any] = value
    for key in reversed(path.split(".")):
        out = {key: out}
    return out


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a context encoder on a folder of images",
                       description="Train a context encoder (generator + discriminator). Defaults are "
                       "the original train.lua recipe at 128 px (the project's fidelity table lists every difference "
                       "from the paper and the Lua code); --config YAML and flags override them.")
    for flag, (path, typ, choices, text) in TRAIN_FLAGS.items():
        default = _lookup(DEFAULTS, path)
        kw: dict[str, Any] = {"action": "append"} if flag == "--data" else {}
        shown = f" (default: {default})" if default not in ("", [], (), None) else ""
        p.add_argument(flag, type=typ, choices=choices, default=None, help=text + shown, **kw)
    p.add_argument("--config", type=Path, help="YAML file with config overrides")
    p.add_argument("--resume", type=Path, help="continue the run in this directory from its last checkpoint; "
                   f"it keeps its {KEPT_HELP}")
    p.add_argument("--new-phase", action="store_true",
                   help="with --resume: continue the run's weights and optimizer state under changed data, mask, "
                   "model, loss or learning-rate settings (a cosine schedule is planned anew over --steps)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run already in --out (its checkpoints, logs and samples are deleted); "
                   "without it (or --resume) a folder holding a run is refused")
    p.add_argument("--compile", action="store_true", default=None, help="torch.compile the nets")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")


def resolve_train_config(args: argparse.Namespace) -> TrainConfig:
    values = _layered(args, DEFAULTS)
    if values["init"] and args.resume is None:  # the weights' architecture, unless overridden
        from context_encoder.checkpoint import read_model_config, resolve_weights  # imports torch

        saved = read_model_config(resolve_weights(values["init"]))
        values = _layered(args, merge(DEFAULTS, {"model": to_dict(saved)}))
    return train_config_from_dict(values)


def _layered(args: argparse.Namespace, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` under the resumed run's config, the --config YAML and the flags, in that order."""
    if args.resume is not None:
        saved = args.resume / "config.json"
        if not saved.is_file():
            raise ValueError(f"--resume: no config.json in {args.resume}")
        values = merge(values, read_config_file(saved, "the run's config"))
    if args.config is not None:
        values = merge(values, read_config_file(args.config, "--config"))
    for flag, (path, _, _, _) in TRAIN_FLAGS.items():
        value = getattr(args, flag.lstrip("-").replace("-", "_"))
        if value is not None:
            values = merge(values, _nest(path, value))
    if args.compile:
        values = merge(values, {"compile": True})
    if args.resume is not None:
        values = merge(values, {"out": str(args.resume)})
    return values


def run(args: argparse.Namespace) -> int:
    cfg = resolve_train_config(args)
    if args.dry_run:
        import yaml

        print(yaml.safe_dump(to_dict(cfg), sort_keys=False))
        return 0
    from context_encoder.training.loop import train

    result = train(cfg, resume=args.resume is not None, overwrite=args.overwrite,
                   config_files=[args.config] if args.config is not None else [], new_phase=args.new_phase)
    if result.stopped_by is not None:
        print(f"stopped by {result.stopped_by} at step {result.step}: checkpoint saved; continue with "
              f"context-encoder train --resume {shown(result.run_dir)}")
    else:
        print(f"done: {shown(result.run_dir)}")
    return 0
