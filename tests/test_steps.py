"""Numerics guard: the fast training step computes what the plain reference step computes.

20 steps from the same seed on the same batches and masks. The fast path differs only by
autocast (bf16 where the CPU supports it), matmul kernels for the bottleneck convs and reusing
the discriminator's logits on the fake batch for the generator loss (as the original Lua code
does). Stated tolerance: reconstruction and generator losses within 1 % of the reference at every
step, the discriminator loss within 5 %.
"""

from __future__ import annotations

import pytest
import torch

from context_encoder.config import train_config_from_dict
from context_encoder.device import setup_runtime
from context_encoder.training.loop import build_gan, mask_sampler_for
from context_encoder.training.step import reference_step, train_step


@pytest.mark.parametrize("precision", ["fp32", "auto"])
def test_fast_step_matches_reference_for_20_steps(precision: str) -> None:
    cfg = train_config_from_dict({
        "data": {"data": ["unused"]}, "batch_size": 8, "steps": 20,
        "model": {"image_size": 32, "bottleneck": 64, "nef": 16, "ngf": 16, "ndf": 16},
    })
    g = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8, generator=g) for _ in range(20)]
    masks = mask_sampler_for(cfg)(8, g).to(torch.uint8)
    fast = build_gan(cfg, setup_runtime("cpu", precision), fast=True)
    ref = build_gan(cfg, setup_runtime("cpu", "fp32"), fast=False)
    for i, images in enumerate(batches):
        a, b = train_step(images, masks, fast), reference_step(images, masks, ref)
        for key, tol in (("loss_rec", 0.01), ("loss_g", 0.01), ("loss_d", 0.05)):
            assert a[key].item() == pytest.approx(b[key].item(), rel=tol), (i, key)
