"""``context-encoder probe``: classification accuracy of an encoder's features on a labelled folder."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from context_encoder.atomic import check_output, check_target, write_text
from context_encoder.commands.features import add_model_args, checkpoint_inputs, load_model
from context_encoder.names import shown

MODES = ("linear", "finetune")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("probe", help="linear-probe or fine-tune an encoder on a labelled image folder",
                       description="Classify TRAIN/<class>/* and TEST/<class>/* (class = sub-folder) from the "
                       "encoder's features: 'linear' fits a logistic regression on frozen features, 'finetune' "
                       "trains encoder + linear head. Prints top-1 accuracy and writes a JSON result. (Semantic "
                       "segmentation transfer: context-encoder segment.)")
    p.add_argument("--train", type=Path, required=True, help="labelled training folder (class = sub-folder)")
    p.add_argument("--test", type=Path, required=True, help="labelled test folder with the same classes")
    p.add_argument("--mode", choices=MODES, default="linear",
                   help="frozen linear probe or fine-tuning (default: linear)")
    p.add_argument("--pool", type=int, default=2,
                   help="average the spatial map to k×k before flattening (0 = keep it) (default: 2)")
    p.add_argument("--per-class", type=int, default=0,
                   help="seeded subset of training images per class (0 = all) (default: 0)")
    p.add_argument("--test-per-class", type=int, default=0,
                   help="seeded subset of test images per class (0 = all) (default: 0)")
    p.add_argument("--epochs", type=int, default=3, help="finetune: passes over the training set (default: 3)")
    p.add_argument("--lr", type=float, default=1e-3, help="finetune: Adam learning rate (default: 0.001)")
    p.add_argument("-o", "--output", type=Path, default=Path("probe.json"),
                   help="JSON result file (default: probe.json)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    add_model_args(p)


def _validate(args: argparse.Namespace) -> None:
    checks = [(args.pool >= 0, "--pool must be >= 0"),
              (args.per_class >= 0 and args.test_per_class >= 0, "--per-class values must be >= 0"),
              (args.epochs >= 1, "--epochs must be >= 1"),
              (args.lr > 0, "--lr must be > 0")]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)


def run(args: argparse.Namespace) -> int:
    from context_encoder.representation.features import extract
    from context_encoder.representation.probe import finetune, linear_probe, load_labelled

    _validate(args)
    check_target(args.output, overwrite=args.overwrite)
    check_output(args.output, files=checkpoint_inputs(args), folders={"--train": args.train, "--test": args.test})
    gen, cfg, layer, source = load_model(args)
    device = next(gen.parameters()).device
    train = load_labelled(args.train, image_size=cfg.image_size, per_class=args.per_class, seed=args.seed)
    test = load_labelled(args.test, image_size=cfg.image_size, per_class=args.test_per_class, seed=args.seed,
                         classes=train.classes)
    if args.mode == "linear":
        kw = {"layer": layer, "pool": args.pool, "batch_size": args.batch_size, "device": device}
        result = linear_probe(extract(gen, train.images, **kw), train.labels, extract(gen, test.images, **kw),
                              test.labels, seed=args.seed)
    else:
        result = finetune(gen, train, test, layer=layer, pool=args.pool, epochs=args.epochs, lr=args.lr,
                          batch_size=args.batch_size, seed=args.seed, device=device)
    record = {"mode": args.mode, "source": source, "arch": cfg.arch, "layer": layer, "pool": args.pool,
              "n_train": len(train.files), "n_test": len(test.files), "classes": list(train.classes),
              "chance": 1 / len(train.classes), **result}
    write_text(args.output, json.dumps(record, indent=2) + "\n")
    print(f"{args.mode} probe, {shown(source)}, {layer}: top-1 {100 * result['top1']:.2f} % on {len(test.files)} test "
          f"images ({len(train.classes)} classes, chance {100 / len(train.classes):.1f} %); wrote {shown(args.output)}")
    return 0
