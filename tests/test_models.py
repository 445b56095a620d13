"""Generators and discriminators: shapes, gradients, ChannelWiseFC structure, kernels."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from context_encoder.config import ModelConfig
from context_encoder.models import (
    ChannelWiseFC,
    FlipAverage,
    build_discriminator,
    build_generator,
    set_dense_kernels,
)
from context_encoder.models.alexnet import pool5_size

CASES = [
    ("center", 128, False, 64),
    ("center", 64, False, 32),
    ("center", 32, False, 16),
    ("center", 64, True, 64),
    ("autoencoder", 32, True, 32),
    ("alexnet", 128, True, 128),
    ("alexnet", 227, True, 227),
]


@pytest.mark.parametrize(("arch", "size", "full", "out"), CASES)
def test_generator_shape_gradients_no_nan(arch: str, size: int, full: bool, out: int) -> None:
    torch.manual_seed(0)
    cfg = ModelConfig(arch=arch, image_size=size, full_image=full, bottleneck=64, nef=16, ngf=16, ndf=16)
    gen, disc = build_generator(cfg), build_discriminator(cfg)
    x = torch.rand(2, 3, size, size) * 2 - 1
    y = gen(x)
    assert y.shape == (2, 3, out, out)
    assert torch.isfinite(y).all() and y.abs().max() <= 1
    logits = disc(y)
    assert logits.shape == (2,)
    (y.square().mean() + logits.sum()).backward()
    for name, p in list(gen.named_parameters()) + list(disc.named_parameters()):
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_center_net_matches_paper_at_128() -> None:
    cfg = ModelConfig(arch="center", image_size=128, bottleneck=4000)
    gen = build_generator(cfg)
    assert gen.encode(torch.zeros(1, 3, 128, 128)).shape == (1, 512, 4, 4)
    assert gen.bottleneck(torch.zeros(2, 512, 4, 4)).shape == (2, 4000, 1, 1)
    first = gen.encoder[0]
    assert isinstance(first, torch.nn.Conv2d) and first.kernel_size == (4, 4) and first.stride == (2, 2)
    assert not isinstance(gen.encoder[1], torch.nn.BatchNorm2d)  # no BatchNorm on the first conv


def test_alexnet_pool5_is_9216_at_227() -> None:
    assert pool5_size(227) == 6
    gen = build_generator(ModelConfig(arch="alexnet", image_size=227, full_image=True))
    assert gen.encode(torch.zeros(1, 3, 227, 227)).flatten(1).shape[1] == 9216


def test_channelwise_fc_weight_count_and_no_cross_channel() -> None:
    c, h, w = 5, 3, 4
    layer = ChannelWiseFC(c, h, w)
    assert sum(p.numel() for p in layer.parameters()) == c * (h * w) ** 2 + c * h * w
    x = torch.randn(2, c, h, w)
    base = layer(x)
    for k in range(c):
        x2 = x.clone()
        x2[:, k] += torch.randn(2, h, w)
        changed = (layer(x2) - base).abs().amax(dim=(0, 2, 3)) > 1e-6
        assert changed.tolist() == [i == k for i in range(c)]


def test_dense_kernels_equal_convolutions() -> None:
    torch.manual_seed(0)
    gen = build_generator(ModelConfig(arch="center", image_size=32, bottleneck=40, nef=8, ngf=8)).eval()
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    fast = gen(x)
    set_dense_kernels(gen, False)
    torch.testing.assert_close(fast, gen(x), atol=1e-5, rtol=1e-4)


def test_flip_average_is_mirror_equivariant_and_exact_for_symmetric_nets() -> None:
    torch.manual_seed(0)
    net = build_generator(ModelConfig(image_size=32, bottleneck=16, nef=8, ngf=8, ndf=8)).eval()
    tta = FlipAverage(net).eval()
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        out, out_mirror = tta(x), tta(x.flip(-1))
        plain = net(x)
        both = (plain + net(x.flip(-1)).flip(-1)) / 2
    assert out.shape == plain.shape == (3, 3, 16, 16)
    torch.testing.assert_close(out, both)
    torch.testing.assert_close(out_mirror, out.flip(-1))
    assert not torch.allclose(out, plain)  # a random net is not mirror-symmetric
    symmetric = FlipAverage(nn.AvgPool2d(2)).eval()  # a mirror-symmetric "net": averaging is a no-op
    torch.testing.assert_close(symmetric(x), nn.AvgPool2d(2)(x))


def test_generator_built_without_init_loads_the_same_net(tmp_path) -> None:
    from context_encoder.checkpoint import load_generator, save_weights

    cfg = ModelConfig(image_size=32)
    torch.manual_seed(0)
    net = build_generator(cfg).eval()
    save_weights(tmp_path / "g.safetensors", net, cfg)
    loaded, _ = load_generator(tmp_path / "g.safetensors")  # built with init=False
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(loaded(x), net(x))
    assert nn.init.normal_(torch.zeros(3), 5.0, 1.0).abs().sum() > 0  # the init functions are restored


def test_finite_check_survives_a_sum_that_overflows() -> None:
    from context_encoder.checkpoint import _finite

    assert _finite(torch.full((100,), 60000.0, dtype=torch.float16))  # sum overflows fp16: checked element-wise
    assert not _finite(torch.tensor([1.0, float("nan")]))
    assert not _finite(torch.tensor([float("inf"), 0.0], dtype=torch.float16))
