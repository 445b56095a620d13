"""``context-encoder inpaint``: fill holes in images with a trained model."""

from __future__ import annotations

import argparse
from pathlib import Path

from context_encoder.config import DEVICES


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inpaint", help="fill the center hole of an image with a trained model",
                       description="Resize IMAGE to the model's size, fill its center hole and write OUT.")
    p.add_argument("image", type=Path, help="input image")
    p.add_argument("-o", "--output", type=Path, required=True, help="output image path")
    p.add_argument("--checkpoint", type=Path, required=True, help="run directory or generator .safetensors")
    p.add_argument("--device", default="auto", choices=DEVICES, help="where to run (default: auto)")


def run(args: argparse.Namespace) -> int:
    from context_encoder.inpaint import inpaint_center_file

    inpaint_center_file(args.image, args.output, checkpoint=args.checkpoint, device=args.device)
    print(f"wrote {args.output}")
    return 0
