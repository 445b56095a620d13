"""The adversarial discriminator (Sec. 3.2; the original netD).

4×4 stride-2 convolutions with BatchNorm + LeakyReLU(0.2) (none on the first) down to at most
4×4, then a valid convolution to one logit per image. It is given only the predicted region
(the center square) or, for arbitrary-region masks, the generator's whole output; never the
context, so it cannot tell real from fake by looking at the seam.
"""

from __future__ import annotations

import torch
from torch import nn


class Discriminator(nn.Module):
    """(N, nc, S, S) -> (N,) logits."""

    def __init__(self, input_size: int, nc: int = 3, ndf: int = 64) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        size, in_ch, width, first = input_size, nc, ndf, True
        while size > 4:
            layers.append(nn.Conv2d(in_ch, width, 4, 2, 1, bias=False))
            if not first:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            size, in_ch, first = size // 2, width, False
            width = min(width * 2, ndf * 8)
        layers.append(nn.Conv2d(in_ch, 1, size, bias=False))  # (N, 1, 1, 1)
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()
