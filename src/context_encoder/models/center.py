"""The paper's inpainting generator (Sec. 3.1, Fig. 9a; the original ``train.lua`` netG).

Encoder: 4×4 stride-2 convolutions down to 4×4 (BatchNorm + LeakyReLU(0.2), none on the first),
a 4×4 valid convolution to a 1×1 bottleneck (default 4000 channels). Decoder: 4×4 up-convolutions
(BatchNorm + ReLU) back up to the center square (half the input side), or to the whole image when
``full_image`` is set (arbitrary-region masks, the autoencoder), and a final tanh.

``skips`` (a deviation for whole-image nets, issue 23): U-Net skip connections, each up-convolution
also reading the encoder's features at its input resolution (concatenated), so the decoder sees
the context at every scale and not only through the bottleneck.

``res_blocks`` (a deviation, issue 23): that many residual 3×3 blocks after each 2× up-convolution
but the last (8 px to S/4 for a whole-image net; not at 4 px, whose 8·ngf channels would hold half
the parameters for 16 pixels), in ``blocks`` (one ``nn.Sequential`` per resolution, 8 px first),
so the decoder's own layers keep their names and a net grown by blocks loads the weights of the net
it grew from.

``attention`` (a deviation, issue 23): at that decoder resolution (px), the cells holding a hidden
pixel attend to the known ones (:class:`~context_encoder.models.layers.KnownAttention`, read from
the mask channel), starting as the identity, so a net grown by it also starts as the net it was.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from context_encoder.config import ModelConfig
from context_encoder.models.layers import FullConv2d, FullConvTranspose2d, KnownAttention, ResBlock


def _widths(n_layers: int, base: int) -> list[int]:
    """Channel widths of n down-sampling layers ending at 8*base: e.g. 5 -> [1,1,2,4,8]*base."""
    return [base * min(8, 2 ** max(0, i - (n_layers - 4))) for i in range(n_layers)]


class CenterGenerator(nn.Module):
    """(N, in_channels, S, S) in [-1, 1] (RGB, then the mask with ``mask_channel``) -> (N, nc, S/2, S/2)
    center prediction (or (N, nc, S, S))."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        n_down = int(math.log2(cfg.image_size // 4))  # 128 -> 5 convs down to 4×4
        enc_w = _widths(n_down, cfg.nef)
        layers: list[nn.Module] = []
        in_ch = cfg.in_channels
        for i, width in enumerate(enc_w):
            layers.append(nn.Conv2d(in_ch, width, 4, 2, 1, bias=False))
            if i > 0:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            in_ch = width
        self.encoder = nn.Sequential(*layers)
        self.to_bottleneck = nn.Sequential(
            FullConv2d(in_ch, cfg.bottleneck, 4, bias=False),  # (N, bottleneck, 1, 1)
            nn.BatchNorm2d(cfg.bottleneck),
            nn.LeakyReLU(0.2, inplace=True),
        )
        n_up = int(math.log2(cfg.output_size // 4))  # 64 -> 4 up-convs after the 1->4 one
        dec_w = list(reversed(_widths(n_up, cfg.ngf)))
        dec: list[nn.Module] = [
            FullConvTranspose2d(cfg.bottleneck, dec_w[0], 4, bias=False),  # (N, 8ngf, 4, 4)
            nn.BatchNorm2d(dec_w[0]),
            nn.ReLU(inplace=True),
        ]
        # with skips, the up-conv at resolution r also reads the encoder's output at r
        extra = list(reversed(enc_w)) if cfg.skips else [0] * len(dec_w)
        for w_in, w_out, e in zip(dec_w[:-1], dec_w[1:], extra):
            dec += [nn.ConvTranspose2d(w_in + e, w_out, 4, 2, 1, bias=False), nn.BatchNorm2d(w_out),
                    nn.ReLU(inplace=True)]
        dec += [nn.ConvTranspose2d(dec_w[-1] + extra[len(dec_w) - 1], cfg.nc, 4, 2, 1, bias=False), nn.Tanh()]
        self.decoder = nn.Sequential(*dec)
        self.blocks = nn.ModuleList(nn.Sequential(*(ResBlock(w) for _ in range(cfg.res_blocks)))
                                    for w in dec_w[1:]) if cfg.res_blocks else None
        # the decoder's width at the attention's resolution (its up-conv outputs 8, 16, ... px: dec_w[1:])
        # and the encoder's there (enc_w[i] is at S / 2^(i+1))
        at = int(math.log2(cfg.image_size // cfg.attention)) if cfg.attention else 0
        self.attention = KnownAttention(dec_w[n_up - at], enc_w[at - 1]) if cfg.attention else None

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(N, nc, S, S) -> (N, 8nef, 4, 4) encoder features."""
        return self.encoder(x)

    def _encode_all(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The encoder's output at each resolution, S/2 first: [(N, enc_w[i], S/2^(i+1), ...)]."""
        feats = []
        for layer in self.encoder:
            x = layer(x)
            if isinstance(layer, nn.LeakyReLU):
                feats.append(x)
        return feats

    def bottleneck(self, feats: torch.Tensor) -> torch.Tensor:
        """(N, 8nef, 4, 4) -> (N, bottleneck, 1, 1)."""
        return self.to_bottleneck(feats)

    def decode(self, code: torch.Tensor, feats: list[torch.Tensor] | None = None,
               hidden: torch.Tensor | None = None) -> torch.Tensor:
        """(N, bottleneck, 1, 1) -> the prediction; ``feats`` (with ``skips``): :meth:`_encode_all`'s
        list, consumed from its end (each up-convolution reads the encoder at its input's resolution);
        ``hidden`` (N, 1, S, S), 1 = hidden: the mask the attention reads (with ``attention``)."""
        if feats is None and self.blocks is None and self.attention is None:
            return self.decoder(code)
        y, level = code, -1  # the first ReLU (after the 1 -> 4 px up-conv) has no blocks
        for layer in self.decoder:
            up = isinstance(layer, nn.ConvTranspose2d) and not isinstance(layer, FullConvTranspose2d)
            if feats is not None and up:
                y = torch.cat([y, feats.pop()], dim=1)  # the encoder's features at y's resolution
            y = layer(y)
            if self.blocks is not None and isinstance(layer, nn.ReLU):  # after each up-conv's BN + ReLU
                if level >= 0:
                    y = self.blocks[level](y)
                level += 1
            if self.attention is not None and isinstance(layer, nn.ReLU) and y.shape[-1] == self.cfg.attention:
                assert feats is not None and hidden is not None
                cells = nn.functional.max_pool2d(hidden, self.cfg.image_size // self.cfg.attention)
                y = self.attention(y, feats[-1], cells)  # feats[-1]: the encoder at y's resolution
        return y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.cfg.skips:
            return self.decode(self.bottleneck(self.encode(x)))
        feats = self._encode_all(x)
        hidden = x[:, self.cfg.nc :] if self.attention is not None else None  # the mask channel
        return self.decode(self.bottleneck(feats[-1]), feats, hidden)
