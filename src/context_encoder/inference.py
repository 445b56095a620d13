"""Running a trained generator on masked images: the shared core of inpaint, evaluate, previews.

Images are (N, 3, S, S) float in [-1, 1], masks (N, 1, S, S) with 1 = missing, S = the model's
``image_size``. Hidden pixels are filled by :func:`context_encoder.masks.fill_hole`, the same
function training uses.
"""

from __future__ import annotations

import torch
from torch import nn

from context_encoder.config import ModelConfig
from context_encoder.masks import center_box, fill_hole


@torch.no_grad()
def predict(generator: nn.Module, images: torch.Tensor, mask: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    """The generator's prediction laid out at full size: (N, 3, S, S).

    A center-output model's square is pasted into the center; outside it the input is kept.
    """
    inp = fill_hole(images, mask)
    out = generator(inp).float()
    if not cfg.predicts_center:
        return out
    lo, hi = center_box(cfg.image_size)
    full = images.clone()
    full[..., lo:hi, lo:hi] = out
    return full


def composite(images: torch.Tensor, prediction: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Known pixels from ``images``, hidden ones (mask = 1) from ``prediction``. (N, 3, S, S)."""
    return torch.where(mask > 0.5, prediction, images)


@torch.no_grad()
def inpaint_tensor(generator: nn.Module, images: torch.Tensor, mask: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    """Fill the hidden pixels of ``images``: (N, 3, S, S) in [-1, 1]."""
    return composite(images, predict(generator, images, mask, cfg), mask)
