"""``context-encoder features``: encoder features of every image in a folder, saved with names."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from context_encoder.config import ARCHS, DEVICES, ModelConfig
from context_encoder.names import shown

if TYPE_CHECKING:
    from torch import nn

RANDOM_DEFAULTS = ModelConfig(image_size=32)  # the random-init baseline's model, unless flags say otherwise


def add_model_args(p: argparse.ArgumentParser, *, layers: str = "center/autoencoder: encoder | bottleneck; alexnet: "
                   "pool5 | conv5", batch_size: int = 256, batch_help: str = "images per forward pass",
                   seed_help: str = "random-init seed; also seeds subsets") -> None:
    """--checkpoint or --random-init (with the flags that shape the random model), layer, device."""
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", type=Path,
                     help="run directory, step directory, generator .safetensors or 'pretrained' (the packaged model)")
    src.add_argument("--random-init", action="store_true",
                     help="an untrained generator (DCGAN init from --seed) built from the flags below")
    d = RANDOM_DEFAULTS
    p.add_argument("--arch", choices=ARCHS, default=d.arch, help=f"--random-init architecture (default: {d.arch})")
    p.add_argument("--image-size", type=int, default=d.image_size,
                   help=f"--random-init input side in px (default: {d.image_size})")
    for name, text in (("nef", "encoder width"), ("ngf", "decoder width"), ("bottleneck", "bottleneck channels")):
        p.add_argument(f"--{name}", type=int, default=getattr(d, name),
                       help=f"--random-init {text} (default: {getattr(d, name)})")
    p.add_argument("--seed", type=int, default=0, help=f"{seed_help} (default: 0)")
    p.add_argument("--layer", default=None, help=f"{layers} (default: the first)")
    p.add_argument("--device", default="auto", choices=DEVICES, help="where to run (default: auto)")
    p.add_argument("--batch-size", type=int, default=batch_size, help=f"{batch_help} (default: {batch_size})")


def checkpoint_inputs(args: argparse.Namespace) -> dict[str, list[Path]]:
    """The files of ``--checkpoint`` (weights, model.json, its run's config and checkpoints), which
    no output may replace."""
    from context_encoder.checkpoint import checkpoint_files

    return {"checkpoint's file": checkpoint_files(args.checkpoint) if args.checkpoint is not None else []}


def load_model(args: argparse.Namespace, layers: Mapping[str, tuple[str, ...]] | None = None,
               ) -> tuple[nn.Module, ModelConfig, str, str]:
    """(generator in eval mode, its config, resolved layer, a description of the source).

    ``layers``: the layers allowed per arch, the first the default (the feature layers unless given).
    """
    from context_encoder.checkpoint import load_generator
    from context_encoder.config import model_config_from_dict
    from context_encoder.device import resolve_device
    from context_encoder.representation.features import LAYERS, random_generator

    device = resolve_device(args.device)
    if args.checkpoint is not None:
        gen, cfg = load_generator(args.checkpoint, device)
        source = str(args.checkpoint)
    else:
        values = {"arch": args.arch, "image_size": args.image_size, "nef": args.nef, "ngf": args.ngf,
                  "bottleneck": args.bottleneck, "full_image": args.arch == "autoencoder"}
        cfg = model_config_from_dict(dataclasses.asdict(dataclasses.replace(RANDOM_DEFAULTS, **values)))
        _check_random_model(cfg)
        gen = random_generator(cfg, args.seed).to(device)
        source = f"random-init seed {args.seed}"
    allowed = (layers or LAYERS)[cfg.arch]
    layer = args.layer or allowed[0]
    if layer not in allowed:
        raise ValueError(f"layer '{layer}' is not one of {allowed} for arch '{cfg.arch}'")
    if args.batch_size < 1:
        raise ValueError("--batch-size must be >= 1")
    return gen, cfg, layer, source


def _check_random_model(cfg: ModelConfig) -> None:
    size = cfg.image_size
    if cfg.arch == "alexnet" and size < 96:
        raise ValueError(f"alexnet arch needs --image-size >= 96, got {size}")
    if cfg.arch != "alexnet" and (size < 32 or size & (size - 1)):
        raise ValueError(f"{cfg.arch} arch needs a power-of-two --image-size >= 32, got {size}")
    if min(cfg.nef, cfg.ngf, cfg.bottleneck) < 1:
        raise ValueError("--nef, --ngf and --bottleneck must be >= 1")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("features", help="save encoder features of every image in a folder",
                       description="Resize and center-crop every image below DIR to the model's size, run the "
                       "encoder and save the (N, D) features with the file names (.safetensors or .npz).")
    p.add_argument("--data", type=Path, required=True, help="image folder, searched recursively")
    p.add_argument("-o", "--output", type=Path, required=True, help="output .safetensors or .npz file")
    p.add_argument("--pool", type=int, default=0,
                   help="average the spatial map to k×k before flattening (0 = keep it) (default: 0)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    add_model_args(p)


def run(args: argparse.Namespace) -> int:
    from context_encoder.atomic import check_output, check_target
    from context_encoder.data import find_images
    from context_encoder.representation.features import (
        FEATURE_SUFFIXES,
        extract,
        load_images,
        relative_names,
        save_features,
    )

    if args.output.suffix not in FEATURE_SUFFIXES:
        raise ValueError(f"--output must end in one of {FEATURE_SUFFIXES}, got '{args.output.name}'")
    if args.pool < 0:
        raise ValueError("--pool must be >= 0")
    check_target(args.output, overwrite=args.overwrite)
    check_output(args.output, files=checkpoint_inputs(args), folders={"--data": args.data})
    gen, cfg, layer, source = load_model(args)
    files = find_images([args.data])
    if not files:
        raise ValueError(f"no image files found in {args.data}")
    images, kept = load_images(files, cfg.image_size)
    device = next(gen.parameters()).device
    feats = extract(gen, images, layer=layer, pool=args.pool, batch_size=args.batch_size, device=device)
    meta = {"source": source, "layer": layer, "pool": args.pool, "arch": cfg.arch, "image_size": cfg.image_size}
    save_features(args.output, feats, relative_names(kept, args.data), meta)
    print(f"wrote {shown(args.output)}: {feats.shape[0]} images × {feats.shape[1]} features ({layer})")
    return 0
