"""Training input pipeline throughput: decoded + cropped + masked images/s, 0 / 1 / 2 workers.

The pipeline decodes each photo once into a uint8 cache (timed separately as "decode"), then
serves random crops + flips + masks. In the same run it times the training step (center net,
bottleneck 4000, 128 px, batch 64, our fast path) so the ratio pipeline / step is measured, not
assumed. Without --data it writes 200 synthetic JPEG photos of 500×375 to a temp folder.

    python benchmarks/data_throughput.py [--data DIR] [--mask center|block|region]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from machine import describe
from PIL import Image
from torch.utils.data import DataLoader

from context_encoder.config import DataConfig, train_config_from_dict
from context_encoder.data import ImageFolderDataset, StepBatchSampler, find_images
from context_encoder.device import setup_runtime
from context_encoder.masks import MaskSampler
from context_encoder.training.loop import MaskedImages, build_gan
from context_encoder.training.step import train_step


def synthetic_photos(folder: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    for i in range(n):
        small = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((500, 375), Image.BICUBIC)
        img.save(folder / f"photo_{i:04d}.jpg", quality=90)


def loader_rate(dataset: MaskedImages, workers: int, batch: int, batches: int) -> float:
    sampler = StepBatchSampler(len(dataset), batch_size=batch, seed=0)
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=workers, persistent_workers=workers > 0)
    it = iter(loader)
    next(it)  # worker start-up is not steady state
    t0 = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batch * batches / (time.perf_counter() - t0)


def train_rate(batch: int, steps: int = 3) -> float:
    cfg = train_config_from_dict({"data": {"data": ["unused"]}, "batch_size": batch, "steps": 1})
    state = build_gan(cfg, setup_runtime("cpu", "auto"))
    images = torch.randint(0, 256, (batch, 3, 128, 128), dtype=torch.uint8)
    masks = MaskSampler("center", 128, 4)(batch, torch.Generator()).to(torch.uint8)
    train_step(images, masks, state)
    t0 = time.perf_counter()
    for _ in range(steps):
        train_step(images, masks, state)["loss_g"].item()
    return batch * steps / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, help="folder of photos (default: 200 synthetic 500×375 JPEGs)")
    p.add_argument("--mask", default="center", choices=("center", "block", "region"))
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--batches", type=int, default=30)
    args = p.parse_args()
    print(describe())
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.data
        if folder is None:
            folder = Path(tmp)
            synthetic_photos(folder, 200)
        files = find_images([folder])
        t0 = time.perf_counter()
        images = ImageFolderDataset(files, image_size=128, load_size=350, cache=True)
        decode = len(images) / (time.perf_counter() - t0)
        dataset = MaskedImages(images, MaskSampler(args.mask, 128, 4))
        print(f"decode once: {decode:.0f} img/s ({len(images)} photos, shorter side -> 350 px)")
        rates = {w: loader_rate(dataset, w, args.batch_size, args.batches) for w in (0, 1, 2)}
        for w, r in rates.items():
            print(f"pipeline ({args.mask} masks), {w} workers: {r:.0f} img/s")
    step = train_rate(args.batch_size)
    default = DataConfig().workers
    print(f"training step (center, 4000, 128 px, batch {args.batch_size}): {step:.1f} img/s")
    print(f"ratio pipeline / step with the default {default} worker(s): {rates[default] / step:.1f}x")


if __name__ == "__main__":
    main()
