"""The adversarial discriminator (Sec. 3.2; the original netD).

4×4 stride-2 convolutions with BatchNorm + LeakyReLU(0.2) (none on the first) down to at most
4×4, then a valid convolution to one logit per image. It is given only the predicted region
(the center square) or, for arbitrary-region masks, the generator's whole output; never the
context, so it cannot tell real from fake by looking at the seam.
"""

from __future__ import annotations

import torch
from torch import nn


def disc_widths(input_size: int, ndf: int, kind: str = "doubling") -> list[int]:
    """Widths of the stride-2 convolutions down to 4×4. ``doubling``: ndf, 2ndf, … capped at 8ndf
    (64, 128, 256, 512, 512 at 128 px). ``lua``: train_random.lua's netD, which repeats ndf where
    the input is larger (64, 64, 128, 256, 512 at 128 px). The two agree on the 64-px center."""
    n, size = 0, input_size
    while size > 4:  # halve down to at most 4×4 (any size: 227 -> 113 -> … -> 3)
        n, size = n + 1, size // 2
    if kind == "lua":
        return [ndf * min(8, 2 ** max(0, i - (n - 4))) for i in range(n)]
    return [min(ndf * 2**i, ndf * 8) for i in range(n)]


class Discriminator(nn.Module):
    """(N, nc, S, S) -> (N,) logits."""

    def __init__(self, input_size: int, nc: int = 3, ndf: int = 64, widths: str = "doubling") -> None:
        super().__init__()
        layers: list[nn.Module] = []
        size, in_ch = input_size, nc
        for i, width in enumerate(disc_widths(input_size, ndf, widths)):
            layers.append(nn.Conv2d(in_ch, width, 4, 2, 1, bias=False))
            if i > 0:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            size, in_ch = size // 2, width
        layers.append(nn.Conv2d(in_ch, 1, size, bias=False))  # (N, 1, 1, 1)
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()
