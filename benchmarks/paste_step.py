"""A residual net's training step through the Poisson paste: where its time goes, same run.

A harmonic-fill net (``hole_fill: harmonic``) trained through the paste (``loss.paste: poisson``)
factors one sparse LU of the Laplacian per sample: for the input's harmonic fill, reused by the
loss (laplace.factorized). This times, on one batch of fresh training masks each round (so no LU
comes from the cache), in turns so a change in the machine's load hits every row alike:

- factoring the batch's holes as the code did before (SuperLU's general mode) and in its symmetric
  mode (laplace.factorized now), one at a time: on two threads it would be 1.3x faster again,
  but SciPy's SuperLU leaks every LU freed on another thread than the one that made it (scipy
  issue 15921), 130 MB a step here;
- the whole step (harmonic fill, net forward and backward, paste, Adam) on fresh masks.

    python benchmarks/paste_step.py --masks runs/masks/train      # scripts/split_masks.py's output
    python benchmarks/paste_step.py --masks ../shared/data/irregular-masks --rounds 8
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from machine import describe

from context_encoder.config import read_config_file, train_config_from_dict
from context_encoder.device import setup_runtime
from context_encoder.laplace import _factors, laplace_system
from context_encoder.masks import MaskSampler
from context_encoder.training.loop import build_gan
from context_encoder.training.step import train_step

ROOT = Path(__file__).resolve().parents[1]


def _factor_serial(holes: list[np.ndarray], symmetric: bool) -> None:
    from scipy.sparse.linalg import splu

    extra = {"diag_pivot_thresh": 0.0, "options": {"SymmetricMode": True}} if symmetric else {}
    for hole in holes:
        matrix, _ = laplace_system(hole, np.zeros(hole.shape + (1,)))
        splu(matrix.tocsc(), permc_spec="MMD_AT_PLUS_A", **extra)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(ROOT / "configs" / "harmonic_residual_mask_windows.yaml"),
                   help="a harmonic-fill, paste-loss training config (its model, loss and batch size)")
    p.add_argument("--masks", required=True, help="folder of training masks (white = hole)")
    p.add_argument("--rounds", type=int, default=5, help="timed rounds (each: every row once)")
    args = p.parse_args()

    cfg = train_config_from_dict(read_config_file(args.config))
    runtime = setup_runtime("cpu", cfg.precision)
    state = build_gan(cfg, runtime)
    s, n = cfg.model.image_size, cfg.batch_size
    sampler = MaskSampler("folder", s, cfg.model.overlap_px, args.masks, seed=0)
    gen = torch.Generator().manual_seed(0)
    noise = torch.rand(n, 3, s, s, generator=gen) * 255
    images = torch.nn.functional.avg_pool2d(noise, 9, 1, 4).to(torch.uint8)  # smooth, photo-like range

    def fresh() -> torch.Tensor:
        _factors.clear()
        return sampler(n, gen)

    def holes(masks: torch.Tensor) -> list[np.ndarray]:
        return list(masks[:, 0].numpy() > 0.5)

    rows = {
        "factor, general mode, 1 at a time (before)": lambda m: _factor_serial(holes(m), False),
        "factor, symmetric mode, 1 at a time (now)": lambda m: _factor_serial(holes(m), True),
        "whole training step (now)": lambda m: train_step(images, m, state),
    }
    times: dict[str, list[float]] = {name: [] for name in rows}
    train_step(images, fresh(), state)  # warm-up
    for _ in range(args.rounds):
        for name, fn in rows.items():
            masks = fresh()
            t = time.perf_counter()
            fn(masks)
            times[name].append(time.perf_counter() - t)
    print(describe())
    print(f"config {Path(args.config).name}, batch {n} x {s} px, {args.rounds} rounds, median seconds")
    med = {name: statistics.median(ts) for name, ts in times.items()}
    names = list(rows)
    for name in names[:2]:
        print(f"  {name:<48} {med[name]:6.3f} s   {med[names[0]] / med[name]:4.2f}x the first row's speed")
    step, now, before = med[names[2]], med[names[1]], med[names[0]]
    print(f"  {names[2]:<48} {step:6.3f} s   factoring {now / step:.0%} of it; with the first"
          f" row's factoring {step - now + before:.3f} s")


if __name__ == "__main__":
    main()
