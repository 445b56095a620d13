"""``context-encoder segment``: semantic-segmentation transfer of an encoder (mIoU on labelled folders)."""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

from context_encoder.atomic import check_output, check_target, write_text
from context_encoder.commands.features import add_model_args, checkpoint_inputs, load_model
from context_encoder.config import SegmentConfig
from context_encoder.names import shown

D = SegmentConfig()
DESCRIPTION = f"""\
Fine-tune an encoder for semantic segmentation and report the test mean IoU (the paper's Table 2
transfer test). An FCN-style head (BatchNorm + 1x1 conv to the classes on the encoder's conv5 map,
or a center net's encoder map, upsampled bilinearly to the input) is trained with the encoder end
to end on TRAIN (Adam, random horizontal flips), the epoch with the best mIoU on VAL is kept (the
last one without --val), and TEST is scored: mIoU over the classes, per-class IoU and pixel
accuracy, counted over the whole set at --height x --width.

Labels: for every photo TRAIN/a/b.jpg a class-index map TRAIN_LABELS/a/b.png (same relative path
and stem, .png), single-channel, the photo's size; values 0..CLASSES-1 are classes, --void
(default {D.void}, CamVid's void) is ignored in the loss and the metric. CamVid layout:
  context-encoder segment --checkpoint RUN --train camvid/train --train-labels camvid-labels/train \\
      --val camvid/val --val-labels camvid-labels/val --test camvid/test --test-labels camvid-labels/test
Writes a JSON report (-o)."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("segment", help="fine-tune an encoder for semantic segmentation on labelled folders (mIoU)",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    for split, need in (("train", True), ("val", False), ("test", True)):
        p.add_argument(f"--{split}", type=Path, required=need, help=f"{split} photos, searched recursively")
        p.add_argument(f"--{split}-labels", type=Path, required=need,
                       help=f"{split} label maps: same relative path and stem as the photos, .png")
    p.add_argument("--classes", type=int, default=D.n_classes, help=f"number of classes (default: {D.n_classes})")
    p.add_argument("--class-names", default="", help="comma-separated class names for the report (default: 0..N-1)")
    p.add_argument("--void", default=str(D.void),
                   help=f"label value ignored in loss and metric, or 'any': every value >= --classes; with a "
                   f"number, other values >= --classes are an error (default: {D.void})")
    p.add_argument("--height", type=int, default=D.height, help=f"probe image height in px (default: {D.height})")
    p.add_argument("--width", type=int, default=D.width, help=f"probe image width in px (default: {D.width})")
    p.add_argument("--epochs", type=int, default=D.epochs, help=f"passes over TRAIN (default: {D.epochs})")
    p.add_argument("--lr", type=float, default=D.lr, help=f"Adam learning rate of the head (default: {D.lr:g})")
    p.add_argument("--encoder-lr", type=float, default=D.encoder_lr,
                   help=f"Adam learning rate of the encoder; 0 freezes it (default: {D.encoder_lr:g})")
    p.add_argument("--limit", type=int, default=0,
                   help="seeded subset of this many pairs per folder, for a quick look (0 = all) (default: 0)")
    p.add_argument("-o", "--output", type=Path, default=Path("segment.json"),
                   help="JSON report (default: segment.json)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    add_model_args(p, layers="alexnet: conv5 | pool5; center/autoencoder: encoder", batch_size=D.batch_size,
                   batch_help="images per training step and per forward pass",
                   seed_help="random-init seed; also seeds the head's init, the order, the flips and --limit")


def segment_config(args: argparse.Namespace) -> SegmentConfig:
    """The probe's settings from the flags (validated by SegmentConfig)."""
    void = args.void.strip().lower()
    if void != "any" and not void.isdigit():
        raise ValueError(f"--void must be a label value or 'any', got '{args.void}'")
    return SegmentConfig(height=args.height, width=args.width, n_classes=args.classes,
                         void=None if void == "any" else int(void), epochs=args.epochs, batch_size=args.batch_size,
                         lr=args.lr, encoder_lr=args.encoder_lr, seed=args.seed)


def class_names(text: str, n_classes: int) -> list[str]:
    """``--class-names`` as a list of n names (default '0'..'n-1')."""
    names = [n.strip() for n in text.split(",")] if text.strip() else [str(c) for c in range(n_classes)]
    if len(names) != n_classes or not all(names):
        raise ValueError(f"--class-names must give {n_classes} non-empty names (one per class), got {len(names)}")
    return names


def _show_epoch(epochs: int) -> Callable[[dict[str, object]], None]:
    def show(row: dict[str, object]) -> None:
        val = f", val mIoU {100 * row['val_miou']:.2f} %" if row["val_miou"] is not None else ""
        print(f"epoch {row['epoch']}/{epochs}: train loss {row['train_loss']:.4f}{val} ({row['seconds']:.0f} s)",
              flush=True)

    return show


def run(args: argparse.Namespace) -> int:
    from context_encoder.representation.seg_data import load_segmentation
    from context_encoder.representation.segment import SEG_LAYERS, segmentation_probe

    cfg = segment_config(args)
    names = class_names(args.class_names, cfg.n_classes)
    if args.limit < 0:
        raise ValueError("--limit must be >= 0")
    if (args.val is None) != (args.val_labels is None):
        raise ValueError("--val and --val-labels go together")
    folders = {f"--{s}{k}": getattr(args, f"{s}{k.replace('-', '_')}")
               for s in ("train", "val", "test") for k in ("", "-labels")}
    folders = {k: v for k, v in folders.items() if v is not None}
    check_target(args.output, overwrite=args.overwrite)
    check_output(args.output, files=checkpoint_inputs(args), folders=folders)
    sets = {s: load_segmentation(getattr(args, s), getattr(args, f"{s}_labels"), height=cfg.height, width=cfg.width,
                                 n_classes=cfg.n_classes, void=cfg.void, limit=args.limit, seed=cfg.seed)
            if getattr(args, s) is not None else None for s in ("train", "val", "test")}
    gen, model_cfg, layer, source = load_model(args, SEG_LAYERS)
    result = segmentation_probe(gen, **sets, layer=layer, cfg=cfg, class_names=names,
                                device=next(gen.parameters()).device, on_epoch=_show_epoch(cfg.epochs))
    record = {"task": "segment", "source": source, "arch": model_cfg.arch, "layer": layer,
              "settings": {**dataclasses.asdict(cfg), "limit": args.limit},
              "n": {s: len(v.files) for s, v in sets.items() if v is not None}, **result}
    write_text(args.output, json.dumps(record, indent=2) + "\n")
    test = result["test"]
    print(f"segment, {shown(source)}, {layer}: test mIoU {100 * test['miou']:.2f} % over {test['classes_scored']} "
          f"classes, pixel accuracy {100 * test['pixel_accuracy']:.2f} % on {len(sets['test'].files)} images "
          f"(epoch {result['epoch']} of {cfg.epochs}, {result['chosen_on']}); wrote {shown(args.output)}")
    return 0
