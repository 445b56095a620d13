"""The paper's feature-learning generator (Sec. 3.1 and 5.2).

Encoder: AlexNet conv1-pool5 (LeakyReLU), 6×6×256 = 9216 features at 227 px. Bottleneck: the
channel-wise fully-connected layer plus a stride-1 convolution that mixes channels. Decoder: five
4×4 stride-2 up-convolutions (BatchNorm + ReLU, tanh last), resized to the input size, so the
output is the whole image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from context_encoder.config import ModelConfig
from context_encoder.models.layers import ChannelWiseFC


def pool5_size(image_size: int) -> int:
    """Spatial side of AlexNet pool5 for a square input (conv1 11/4 pad 2, three 3/2 pools)."""
    s = (image_size + 4 - 11) // 4 + 1  # conv1
    for _ in range(3):  # pool1, pool2, pool5 (conv2-5 keep the size)
        s = (s - 3) // 2 + 1
    return s


class AlexNetGenerator(nn.Module):
    """(N, nc, S, S) in [-1, 1] -> (N, nc, S, S) whole-image prediction."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        act = lambda: nn.LeakyReLU(0.2, inplace=True)  # noqa: E731
        self.encoder = nn.Sequential(
            nn.Conv2d(cfg.nc, 96, 11, 4, 2), act(), nn.MaxPool2d(3, 2),  # conv1, pool1
            nn.Conv2d(96, 256, 5, padding=2), act(), nn.MaxPool2d(3, 2),  # conv2, pool2
            nn.Conv2d(256, 384, 3, padding=1), act(),  # conv3
            nn.Conv2d(384, 384, 3, padding=1), act(),  # conv4
            nn.Conv2d(384, 256, 3, padding=1), act(), nn.MaxPool2d(3, 2),  # conv5, pool5
        )
        side = pool5_size(cfg.image_size)
        self.channel_fc = ChannelWiseFC(256, side, side)
        self.mix = nn.Sequential(nn.Conv2d(256, 256, 1), nn.ReLU(inplace=True))
        widths = [256, 128, 64, 64, 32]
        dec: list[nn.Module] = []
        for w_in, w_out in zip(widths, widths[1:] + [cfg.nc]):
            dec.append(nn.ConvTranspose2d(w_in, w_out, 4, 2, 1, bias=False))
            dec += [nn.BatchNorm2d(w_out), nn.ReLU(inplace=True)] if w_out != cfg.nc else []
        self.decoder = nn.Sequential(*dec)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(N, nc, S, S) -> (N, 256, P, P) pool5 features (P = 6 at 227 px)."""
        return self.encoder(x)

    def bottleneck(self, feats: torch.Tensor) -> torch.Tensor:
        """Channel-wise FC then a stride-1 conv across channels; shape kept."""
        return self.mix(self.channel_fc(feats))

    def decode(self, code: torch.Tensor, size: int) -> torch.Tensor:
        out = self.decoder(code)  # (N, nc, 32P, 32P)
        out = F.interpolate(out, size=(size, size), mode="bilinear", align_corners=False)
        return torch.tanh(out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.bottleneck(self.encode(x)), x.shape[-1])
