"""The channel-wise fully-connected layer of the paper (Sec. 3.1).

Each of the C feature maps (H×W) is fully connected to an H×W output map of the same channel, with
no weights across channels: C·(HW)² weights plus a bias per output unit, instead of the (C·HW)² of
an ordinary fully-connected layer. A stride-1 convolution after it mixes the channels.
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
