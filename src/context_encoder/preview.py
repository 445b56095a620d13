"""Sample grids: rows of (masked input | output | original), as the original code displays."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision.utils import make_grid, save_image

from context_encoder.data import uint8_to_float
from context_encoder.inference import inpaint_tensor
from context_encoder.masks import fill_hole


def grid_rows(columns: list[torch.Tensor]) -> torch.Tensor:
    """Interleave K columns of (N, 3, S, S) images in [-1, 1] into one (3, H, W) grid in [0, 1]."""
    stacked = torch.stack(columns, dim=1).flatten(0, 1)  # (N*K, 3, S, S)
    return make_grid(stacked.float().clamp(-1, 1).add(1).div(2), nrow=len(columns), padding=2, pad_value=1.0)


@torch.no_grad()
def preview_grid(generator: nn.Module, images_u8: torch.Tensor, masks_u8: torch.Tensor, state, path: Path) -> torch.Tensor:  # noqa: ANN001, E501
    """Inpaint a fixed preview batch, save the grid PNG at ``path`` and return it (3, H, W)."""
    was_training = generator.training
    generator.eval()
    dev = state.runtime.device
    images = uint8_to_float(images_u8.to(dev))
    mask = masks_u8.to(dev).float()
    with state.runtime.autocast():
        filled = inpaint_tensor(generator, images, mask, state.model)
    generator.train(was_training)
    grid = grid_rows([fill_hole(images, mask), filled.float(), images]).cpu()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(grid, path)
    return grid
