"""Joint loss of the paper (Sec. 3.2): masked L2 reconstruction + adversarial.

Pure functions returning tensors; the training loop calls ``backward``. The generator predicts a
region slightly larger than the hole, overlapping the context; that overlap ring gets
``ring_weight`` (10x) the L2 weight of the hole, as in the original ``train.lua``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def ring_weights(mask: torch.Tensor, overlap: int, ring_weight: float = 10.0) -> torch.Tensor:
    """Weights for an arbitrary hole: 1 inside, ``ring_weight`` on the context within
    ``overlap`` px of it, 0 elsewhere. mask (N, 1, H, W) -> (N, 1, H, W)."""
    if overlap <= 0:
        return mask.clone()
    grown = F.max_pool2d(mask, 2 * overlap + 1, stride=1, padding=overlap)
    return mask + ring_weight * (grown - mask)


LOG_EPS = 1e-4  # on the [-1, 1] scale: caps an image's PSNR term near 46 dB


def reconstruction_loss(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor,
                        kind: str = "l2") -> torch.Tensor:
    """Weighted mean squared error over the pixels with non-zero weight.

    ``l2`` (the paper): over the whole batch. ``log-l2``: the mean over images of the log of each
    image's weighted MSE, i.e. minus the mean per-image PSNR (up to scale), the figure that
    ``evaluate`` averages; it weights each image's error by its inverse, so smooth images count.
    pred, target (N, C, H, W); weights broadcastable to (N, 1, H, W). Zero (``l2``) or its minimum
    ``log(LOG_EPS)`` (``log-l2``) when pred == target.
    """
    w = weights.expand(pred.shape[0], 1, *pred.shape[-2:]).to(pred.dtype)
    err = (pred.float() - target.float()).pow(2) * w.float()
    if kind == "log-l2":
        count = (w > 0).float().sum(dim=(1, 2, 3)).clamp_min(1.0) * pred.shape[1]  # (N,)
        return torch.log(err.sum(dim=(1, 2, 3)) / count + LOG_EPS).mean()
    count = (w > 0).float().sum().clamp_min(1.0) * pred.shape[1]
    return err.sum() / count


def adversarial_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator BCE: real -> 1, fake -> 0."""
    real = F.binary_cross_entropy_with_logits(real_logits.float(), torch.ones_like(real_logits, dtype=torch.float32))
    fake = F.binary_cross_entropy_with_logits(fake_logits.float(), torch.zeros_like(fake_logits, dtype=torch.float32))
    return real + fake


def adversarial_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator BCE (non-saturating): fake -> 1."""
    return F.binary_cross_entropy_with_logits(fake_logits.float(), torch.ones_like(fake_logits, dtype=torch.float32))


def generator_loss(
    rec: torch.Tensor, adv: torch.Tensor | None, *, kind: str, w_rec: float, w_adv: float
) -> torch.Tensor:
    """``l2``: rec; ``adv``: adv; ``joint``: w_rec * rec + w_adv * adv (0.999 / 0.001)."""
    if kind == "l2" or adv is None:
        return rec
    if kind == "adv":
        return adv
    return w_rec * rec + w_adv * adv
