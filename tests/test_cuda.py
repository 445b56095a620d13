"""What only a GPU can show: the fast step on CUDA (bf16 autocast, channels_last, fused Adam)
computes what the fp32 reference computes on the CPU, and the generator and ``Inpainter`` give
the CPU's results. Skipped without CUDA; ``benchmarks/gpu_check.py`` runs them on a GPU machine."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

from context_encoder.config import ModelConfig, train_config_from_dict
from context_encoder.device import setup_runtime
from context_encoder.inpainting.inpainter import Inpainter
from context_encoder.models import build_generator
from context_encoder.training.loop import build_gan, mask_sampler_for
from context_encoder.training.step import reference_step, train_step

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@contextlib.contextmanager
def no_tf32():
    """Plain fp32 matmuls and convolutions on CUDA, so fp32 results compare to the CPU's closely."""
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


@pytest.mark.parametrize("precision", ["fp32", "auto"])
def test_cuda_fast_step_matches_cpu_reference_for_20_steps(precision: str) -> None:
    """The stated tolerance of tests/test_steps.py: rec and G losses within 1 %, D loss within 5 %."""
    cfg = train_config_from_dict({
        "data": {"data": ["unused"]}, "batch_size": 8, "steps": 20, "precision": precision,
        "model": {"image_size": 32, "bottleneck": 64, "nef": 16, "ngf": 16, "ndf": 16},
    })
    g = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8, generator=g) for _ in range(20)]
    masks = mask_sampler_for(cfg)(8, g).to(torch.uint8)
    with no_tf32() if precision == "fp32" else contextlib.nullcontext():
        fast = build_gan(cfg, setup_runtime("cuda", precision), fast=True)
        ref = build_gan(cfg, setup_runtime("cpu", "fp32"), fast=False)
        assert fast.channels_last
        for i, images in enumerate(batches):
            a, b = train_step(images, masks, fast), reference_step(images, masks, ref)
            for key, tol in (("loss_rec", 0.01), ("loss_g", 0.01), ("loss_d", 0.05)):
                assert a[key].item() == pytest.approx(b[key].item(), rel=tol), (i, key)


def test_cuda_generator_matches_cpu() -> None:
    torch.manual_seed(0)
    gen = build_generator(ModelConfig(image_size=128, bottleneck=512)).eval()
    x = torch.rand(4, 3, 128, 128) * 2 - 1
    with torch.no_grad(), no_tf32():
        cpu = gen(x)
        cuda = gen.cuda()(x.cuda()).cpu()
    torch.testing.assert_close(cuda, cpu, atol=1e-4, rtol=1e-3)


def test_cuda_inpainter_matches_cpu() -> None:
    torch.manual_seed(0)
    cfg = ModelConfig(image_size=128, bottleneck=512)
    gen = build_generator(cfg).eval()
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    mask = np.zeros((300, 400), np.uint8)
    mask[100:180, 150:260] = 255
    with no_tf32():
        on_cpu = np.asarray(Inpainter(gen, cfg, device="cpu").inpaint(photo, mask), dtype=np.int16)
        on_gpu = np.asarray(Inpainter(gen, cfg, device="cuda").inpaint(photo, mask), dtype=np.int16)
    assert np.array_equal(on_gpu[mask == 0], photo[mask == 0])
    assert np.abs(on_gpu - on_cpu).max() <= 2  # rounding of a few values near .5
