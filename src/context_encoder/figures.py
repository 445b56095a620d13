"""Image grids: columns of (N, 3, S, S) images side by side, for training samples and reports."""

from __future__ import annotations

import torch
from torchvision.utils import make_grid


def grid_rows(columns: list[torch.Tensor]) -> torch.Tensor:
    """Interleave K columns of (N, 3, S, S) images in [-1, 1] into one (3, H, W) grid in [0, 1]."""
    stacked = torch.stack(columns, dim=1).flatten(0, 1)  # (N*K, 3, S, S)
    return make_grid(stacked.float().clamp(-1, 1).add(1).div(2), nrow=len(columns), padding=2, pad_value=1.0)
