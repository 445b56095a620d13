"""Layers the generators share: the paper's channel-wise fully-connected layer (Sec. 3.1), the
matmul forms of the center net's full-kernel convolutions, a residual block, and attention from the
hole to the known context.

In the channel-wise fully-connected layer, each of the C feature maps (H×W) is fully connected to
an H×W output map of the same channel, with no weights across channels: C·(HW)² weights plus a
bias per output unit, instead of the (C·HW)² of an ordinary fully-connected layer. A stride-1
convolution after it mixes the channels.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class ChannelWiseFC(nn.Module):
    """(N, C, H, W) -> (N, C, H, W), each channel's map mixed only within itself."""

    def __init__(self, channels: int, height: int, width: int) -> None:
        super().__init__()
        self.channels, self.height, self.width = channels, height, width
        hw = height * width
        self.weight = nn.Parameter(torch.empty(channels, hw, hw))  # (C, HW_in, HW_out)
        self.bias = nn.Parameter(torch.zeros(channels, hw))  # (C, HW_out)
        nn.init.uniform_(self.weight, -1 / math.sqrt(hw), 1 / math.sqrt(hw))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        flat = x.reshape(n, c, h * w).transpose(0, 1)  # (C, N, HW)
        out = torch.baddbmm(self.bias.unsqueeze(1).to(flat.dtype), flat, self.weight.to(flat.dtype))
        return out.transpose(0, 1).reshape(n, c, h, w)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, size=({self.height}, {self.width})"


def _channels_last(t: torch.Tensor) -> bool:
    """True when ``t`` (4-D) is stored channels-last and not also plainly contiguous."""
    return not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last)


class FullConv2d(nn.Conv2d):
    """A valid conv whose kernel covers the whole input (4×4 -> 1×1), computed as one matmul.

    Same weights and result as ``nn.Conv2d``; the matmul is several times faster on CPU than the
    convolution kernels for this shape. ``dense = False`` falls back to the convolution. The
    weight and input are flattened in the order they are stored (C, H, W or H, W, C for
    channels_last), so neither is copied: the same dot products, summed in another order.
    """

    dense = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.dense or x.shape[-2:] != self.weight.shape[-2:]:
            return super().forward(x)
        if _channels_last(self.weight):  # (out, H, W, C) in memory
            w, x = self.weight.permute(0, 2, 3, 1).flatten(1), x.permute(0, 2, 3, 1).flatten(1)
        else:
            w, x = self.weight.flatten(1), x.flatten(1)
        out = torch.nn.functional.linear(x, w, self.bias)
        return out[:, :, None, None]  # (N, out, 1, 1)


class FullConvTranspose2d(nn.ConvTranspose2d):
    """An up-conv from a 1×1 input to the kernel size (1×1 -> 4×4), computed as one matmul.

    A channels_last weight gives a channels_last output without a copy of the weight.
    """

    dense = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        if not self.dense or x.shape[-2:] != (1, 1) or self.bias is not None:
            return super().forward(x)
        n, (c_in, c_out, kh, kw) = x.shape[0], self.weight.shape
        if _channels_last(self.weight):  # (in, kh, kw, out) in memory
            out = x.flatten(1) @ self.weight.permute(0, 2, 3, 1).reshape(c_in, kh * kw * c_out)
            return out.view(n, kh, kw, c_out).permute(0, 3, 1, 2)  # (N, out, kh, kw) channels_last
        out = x.flatten(1) @ self.weight.reshape(c_in, c_out * kh * kw)  # (N, out*kh*kw)
        return out.view(n, c_out, kh, kw)


class ResBlock(nn.Module):
    """(N, C, H, W) -> (N, C, H, W): ``x + BN(conv3x3(ReLU(BN(conv3x3(x)))))``, then ReLU.

    :meth:`start_as_identity` zeroes the last BatchNorm's scale, so a net grown by such blocks
    computes what it did without them until training moves that scale (the "zero-γ" init).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False), nn.BatchNorm2d(channels),
        )

    def start_as_identity(self) -> None:
        nn.init.zeros_(self.body[-1].weight)
        nn.init.zeros_(self.body[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))


class KnownAttention(nn.Module):
    """Hidden cells attend to known ones (a deviation, issue 23: ``ModelConfig.attention``).

    At one decoder resolution R, each cell holding a hidden pixel attends over the cells with none
    (queries from the decoder's features, keys and values from the encoder's features at R, i.e.
    what the context shows there) and adds the attended values, through a 1×1 convolution, to its
    decoder features; cells with no hidden pixel are left as they were. So the decoder can copy what
    a distant part of the context looks like, which its convolutions reach only through the 1×1
    bottleneck. The weights are a softmax of the cosine similarity of query and key times a learned
    scale that starts at 10, as in contextual attention (Yu et al. 2018): with a scaled dot product
    of the small initial projections the softmax stayed uniform (a mean of the context) through
    1,500 steps. :meth:`start_as_identity` zeroes the last convolution, so a net grown by this
    layer computes what it did without it until training moves it.

    forward: y (N, C, R, R) decoder features, enc (N, E, R, R) encoder features, hidden (N, 1, R, R)
    1 where a cell holds a hidden pixel, else 0 -> (N, C, R, R).
    """

    def __init__(self, channels: int, enc_channels: int, dim: int = 32) -> None:
        super().__init__()
        self.query = nn.Conv2d(channels, dim, 1)
        self.key = nn.Conv2d(enc_channels, dim, 1)
        self.value = nn.Conv2d(enc_channels, dim, 1)
        self.out = nn.Conv2d(dim, channels, 1)
        self.log_scale = nn.Parameter(torch.tensor(math.log(10.0)))

    def start_as_identity(self) -> None:
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, y: torch.Tensor, enc: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        n, _, h, w = y.shape
        q = nn.functional.normalize(self.query(y).flatten(2), dim=1) * self.log_scale.exp()
        q = q.transpose(1, 2)[:, None]  # (N, 1, RR, dim): one head (4-D for ONNX)
        k = nn.functional.normalize(self.key(enc).flatten(2), dim=1).transpose(1, 2)[:, None]  # (N, 1, RR, dim)
        v = self.value(enc).flatten(2).transpose(1, 2)[:, None]  # (N, 1, RR, dim)
        known = hidden.flatten(1) < 0.5  # (N, RR)
        known = known | ~known.any(1, keepdim=True)  # no known cell at all: attend to every cell
        a = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=known[:, None, None, :], scale=1.0)
        a = a[:, 0].transpose(1, 2).reshape(n, -1, h, w)  # (N, dim, R, R)
        return y + self.out(a) * hidden.to(a.dtype)
