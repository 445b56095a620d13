"""Sample grids: rows of (masked input | output | original), as the original code displays."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision.utils import save_image

from context_encoder.data import uint8_to_float
from context_encoder.figures import grid_rows
from context_encoder.inference import predict
from context_encoder.masks import fill_hole
from context_encoder.training.step import TrainState


@torch.no_grad()
def preview_grid(generator: nn.Module, images_u8: torch.Tensor, masks_u8: torch.Tensor, state: TrainState,
                 path: Path) -> torch.Tensor:
    """Inpaint a fixed preview batch (N, 3, S, S) uint8 with masks (N, 1, S, S), save the grid PNG
    at ``path`` and return it (3, H, W)."""
    was_training = generator.training
    generator.eval()
    dev = state.runtime.device
    images = uint8_to_float(images_u8.to(dev))
    mask = masks_u8.to(dev).float()
    with state.runtime.autocast():
        prediction = predict(generator, images, mask, state.model)
    generator.train(was_training)
    filled = torch.where(mask > 0.5, prediction, images)
    grid = grid_rows([fill_hole(images, mask, state.model.hole_fill), filled.float(), images]).cpu()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(grid, path)
    return grid
