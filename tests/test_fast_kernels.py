"""The matmul bottleneck kernels equal the convolutions in either memory format, values and gradients,
and the fast step's choice of memory format follows the CPU."""

from __future__ import annotations

import pytest
import torch

from context_encoder.device import cpu_supports_bf16, use_channels_last
from context_encoder.models.layers import FullConv2d, FullConvTranspose2d

FORMATS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}


def _grads(layer: torch.nn.Module, x: torch.Tensor, dense: bool) -> tuple[torch.Tensor, ...]:
    layer.dense = dense
    x = x.detach().requires_grad_()
    out = layer(x)
    weight_grad, input_grad = torch.autograd.grad(out, (layer.weight, x), torch.ones_like(out) + out.detach())
    return out, weight_grad, input_grad


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("kind", ["conv", "up-conv"])
def test_dense_kernel_equals_convolution(kind: str, fmt: str) -> None:
    torch.manual_seed(0)
    if kind == "conv":  # (N, 16, 4, 4) -> (N, 24, 1, 1)
        layer, x = FullConv2d(16, 24, 4, bias=False), torch.randn(5, 16, 4, 4)
    else:  # (N, 24, 1, 1) -> (N, 16, 4, 4)
        layer, x = FullConvTranspose2d(24, 16, 4, bias=False), torch.randn(5, 24, 1, 1)
    layer, x = layer.to(memory_format=FORMATS[fmt]), x.contiguous(memory_format=FORMATS[fmt])
    dense, conv = _grads(layer, x, True), _grads(layer, x, False)
    for a, b in zip(dense, conv):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    assert dense[1].stride() == layer.weight.stride()  # the weight's gradient needs no copy


def test_dense_conv_with_bias_in_channels_last() -> None:
    layer = FullConv2d(8, 6, 4).to(memory_format=torch.channels_last)
    x = torch.randn(3, 8, 4, 4).contiguous(memory_format=torch.channels_last)
    layer.dense = True
    fast = layer(x)
    layer.dense = False
    torch.testing.assert_close(fast, layer(x), atol=1e-5, rtol=1e-4)


def test_channels_last_follows_the_cpu() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert use_channels_last("auto", cuda)
    assert use_channels_last("auto", cpu) == (not cpu_supports_bf16())
    assert use_channels_last("on", cpu) and not use_channels_last("off", cuda)
