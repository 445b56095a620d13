"""Held-out figures during training: the reconstruction loss and the PSNR of the hole on the
``--val-fraction`` photos, logged every ``val_every`` steps (metrics.jsonl and TensorBoard).

The photos are center-cropped and their masks drawn from a fixed seed, so every point of the
curve scores the same pixels. PSNR is taken over the hidden pixels of each image on the [0, 1]
scale (every pixel for an autoencoder), averaged over images, as ``evaluate`` reports it; the
generator runs in eval mode (BatchNorm running statistics), in fp32.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from context_encoder.data import ImageFolderDataset
from context_encoder.losses import reconstruction_loss
from context_encoder.masks import MaskFn
from context_encoder.training.step import TrainState, crop_center, prepare_batch

MAX_VAL_IMAGES = 64  # enough for a curve, cheap at every val_every steps
MSE_FLOOR = 1e-10


def validation_batch(dataset: ImageFolderDataset, masks: MaskFn, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(uint8 images (N, 3, S, S), uint8 masks (N, 1, S, S)) of up to 64 held-out photos."""
    n = min(MAX_VAL_IMAGES, len(dataset))
    images = torch.stack([dataset[i] for i in range(n)])
    return images, masks(n, torch.Generator().manual_seed(seed + 54321)).to(torch.uint8)


@torch.no_grad()
def held_out(generator: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], state: TrainState,
             chunk: int = 16) -> dict[str, float]:
    """{"val_loss_rec", "val_psnr"} of ``generator`` on ``batch``."""
    was_training = generator.training
    generator.eval()
    images, masks = batch
    loss_sum, psnrs = 0.0, []
    try:
        for lo in range(0, images.shape[0], chunk):
            _, inp, target, weights = prepare_batch(images[lo:lo + chunk], masks[lo:lo + chunk], state)
            pred = generator(inp).float()
            loss_sum += reconstruction_loss(pred, target, weights, state.loss.rec).item() * inp.shape[0]
            hole = masks[lo:lo + chunk].to(pred.device).float()
            if state.task.predicts_center:
                hole = crop_center(hole)
            if state.task.hides_nothing or not bool(hole.any()):
                hole = torch.ones_like(hole)
            err = ((pred - target.float()) / 2).pow(2) * hole  # [0, 1] scale
            mse = err.sum(dim=(1, 2, 3)) / (hole.sum(dim=(1, 2, 3)).clamp_min(1) * pred.shape[1])  # (N,)
            psnrs += [10 * math.log10(1 / max(v, MSE_FLOOR)) for v in mse.tolist()]
    finally:
        generator.train(was_training)
    return {"val_loss_rec": round(loss_sum / images.shape[0], 6), "val_psnr": round(sum(psnrs) / len(psnrs), 4)}
