"""Package a trained generator as the default model shipped inside the wheel (fp16 safetensors).

    python scripts/package_weights.py --checkpoint runs/shipped_center \
        --out src/context_encoder/weights/center.safetensors

The file is self-describing (its metadata holds the ModelConfig), so `context-encoder inpaint`
and `Inpainter.from_pretrained()` rebuild the net from it with no other file and no network.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from context_encoder.checkpoint import find_checkpoint, load_generator, save_weights

LIMIT_MB = 30.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, required=True, help="run dir, step dir or generator .safetensors")
    p.add_argument("--out", type=Path, default=Path("src/context_encoder/weights/center.safetensors"))
    p.add_argument("--fp32", action="store_true", help="keep fp32 weights (default: fp16)")
    args = p.parse_args()
    gen, cfg = load_generator(args.checkpoint)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_weights(args.out, gen, cfg, dtype=None if args.fp32 else torch.float16)
    size = args.out.stat().st_size / 2**20
    print(f"{find_checkpoint(args.checkpoint)} -> {args.out}: {size:.1f} MB")
    if size > LIMIT_MB:
        raise SystemExit(f"error: {size:.1f} MB is over the {LIMIT_MB:.0f} MB package budget")


if __name__ == "__main__":
    main()
