"""Generators and discriminators (nn.Modules only: no training, files or argparse here)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

from context_encoder.config import ModelConfig
from context_encoder.models.alexnet import AlexNetGenerator
from context_encoder.models.center import CenterGenerator
from context_encoder.models.discriminator import Discriminator
from context_encoder.models.layers import ChannelWiseFC, FullConv2d, FullConvTranspose2d, KnownAttention, ResBlock
from context_encoder.models.tta import FlipAverage

GENERATORS: dict[str, type[nn.Module]] = {
    "center": CenterGenerator,
    "alexnet": AlexNetGenerator,
    "autoencoder": CenterGenerator,  # same net, whole-image output, no hole
}


def init_weights(module: nn.Module) -> None:
    """DCGAN init: conv weights N(0, 0.02), BatchNorm weight N(1, 0.02) and bias 0; residual blocks
    (``ModelConfig.res_blocks``) and the attention (``ModelConfig.attention``) then start as the identity."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    for m in module.modules():  # after the init above: residual blocks and attention start as the identity
        if isinstance(m, (ResBlock, KnownAttention)):
            m.start_as_identity()


def set_dense_kernels(module: nn.Module, dense: bool) -> None:
    """Compute full-kernel (bottleneck) convs as matmuls (fast) or as plain convolutions."""
    for m in module.modules():
        if isinstance(m, (FullConv2d, FullConvTranspose2d)):
            m.dense = dense


@contextmanager
def _no_random_init() -> Iterator[None]:
    """Layers built within leave their tensors uninitialised (torch.empty's contents): for weights
    that a strict load replaces, ~0.1 s less for the 128 px center net."""
    names = ("uniform_", "normal_", "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_", "xavier_normal_",
             "zeros_", "ones_", "constant_", "trunc_normal_")
    saved = {name: getattr(nn.init, name) for name in names}
    try:
        for name in names:
            setattr(nn.init, name, lambda tensor, *args, **kwargs: tensor)
        yield
    finally:
        for name, fn in saved.items():
            setattr(nn.init, name, fn)


def build_generator(cfg: ModelConfig, *, init: bool = True) -> nn.Module:
    """The generator ``cfg`` describes; ``init=False`` skips every random init (only for weights
    loaded strictly right after: the tensors hold whatever memory they got)."""
    if not init:
        with _no_random_init():
            return GENERATORS[cfg.arch](cfg)
    gen = GENERATORS[cfg.arch](cfg)
    init_weights(gen)
    return gen


def build_discriminator(cfg: ModelConfig, input_size: int | None = None) -> nn.Module:
    """A discriminator for ``input_size`` (default: the generator's output size)."""
    disc = Discriminator(input_size or cfg.output_size, cfg.nc, cfg.ndf, cfg.disc_widths)
    init_weights(disc)
    return disc


__all__ = [
    "GENERATORS",
    "AlexNetGenerator",
    "CenterGenerator",
    "ChannelWiseFC",
    "Discriminator",
    "FlipAverage",
    "build_discriminator",
    "build_generator",
    "init_weights",
    "set_dense_kernels",
]
