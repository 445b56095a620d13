"""The generator on model-size windows: the one step from (window, hidden pixels) to a prediction.

Images are (N, 3, S, S) float in [-1, 1], masks (N, 1, S, S) with 1 = hidden, S = the model's
``image_size``. The input is built by :func:`context_encoder.masks.net_input`, the same
function training uses. The training sample grids and the exported graph run the generator through
:func:`generate`; ``Inpainter`` (photos) runs the same two steps, filling the next batch's holes
while the generator runs the current one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from context_encoder.config import ModelConfig
from context_encoder.geometry import center_box
from context_encoder.masks import net_input


def generate(generator: nn.Module, images: torch.Tensor, mask: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    """The generator's own output for masked images: (N, 3, O, O), O = ``cfg.output_size``; its
    input as the model was trained (:func:`context_encoder.masks.net_input`)."""
    return generator(net_input(images, mask, cfg))


@torch.no_grad()
def predict(generator: nn.Module, images: torch.Tensor, mask: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    """The prediction laid out over the whole window: (N, 3, S, S) float32 (:func:`lay_out`)."""
    return lay_out(generate(generator, images, mask, cfg), cfg)


def lay_out(out: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    """The generator's output (N, 3, O, O) over the whole window: (N, 3, S, S) float32.

    A center net's square is extended by edge replication, so that resizing the window never mixes
    context colours into the predicted pixels; only the pixels it predicts are meant to be used.
    """
    out = out.float()
    if cfg.predicts_center:
        lo, hi = center_box(cfg.image_size)
        out = F.pad(out, (lo, cfg.image_size - hi) * 2, mode="replicate")
    return out


def smooth(pred: torch.Tensor) -> torch.Tensor:
    """A binomial [1, 2, 1]² filter over each channel of ``pred`` (N, C, H, W), edges replicated:
    the same shape. It has no response at the Nyquist frequency, so it removes the 2-pixel stripes
    that strided up-convolutions leave in a whole-image net's output (8-16 px streaks once a coarse
    window is upscaled on a large photo) and barely touches anything coarser."""
    k = torch.tensor([1.0, 2.0, 1.0], dtype=pred.dtype, device=pred.device)
    kernel = (k[:, None] * k[None, :] / 16).expand(pred.shape[1], 1, 3, 3)
    return F.conv2d(F.pad(pred, (1, 1, 1, 1), mode="replicate"), kernel, groups=pred.shape[1])
