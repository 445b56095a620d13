"""Losses: zero at equality, the overlap ring weighted 10x, adversarial targets."""

from __future__ import annotations

import torch

from context_encoder.geometry import center_mask
from context_encoder.losses import (
    LOG_EPS,
    adversarial_d_loss,
    adversarial_g_loss,
    generator_loss,
    reconstruction_loss,
    ring_weights,
)
from context_encoder.training.step import crop_center


def center_weights(size: int, overlap: int, ring_weight: float = 10.0) -> torch.Tensor:
    """By hand: L2 weights over the predicted center square, ring ``ring_weight``, inner hole 1."""
    w = torch.full((1, 1, size, size), float(ring_weight))
    w[:, :, overlap : size - overlap, overlap : size - overlap] = 1.0
    return w


def test_l2_zero_at_equality() -> None:
    x = torch.rand(2, 3, 16, 16)
    assert reconstruction_loss(x, x.clone(), center_weights(16, 2)) == 0


def test_ring_weight_is_ten_times_the_hole() -> None:
    w = center_weights(16, 2)
    target = torch.zeros(1, 3, 16, 16)
    ring, hole = torch.zeros_like(target), torch.zeros_like(target)
    ring[..., 0, 5] = 1.0  # one pixel of the ring
    hole[..., 8, 8] = 1.0  # one pixel of the inner hole
    ratio = reconstruction_loss(ring, target, w) / reconstruction_loss(hole, target, w)
    assert torch.isclose(ratio, torch.tensor(10.0))


def test_ring_weights_of_center_mask_equal_center_weights() -> None:
    w = ring_weights(center_mask(1, 32, 1), 1, 10.0)
    assert torch.equal(crop_center(w), center_weights(16, 1))
    assert w.sum() == crop_center(w).sum()  # nothing outside the predicted square


def test_adversarial_losses() -> None:
    big = torch.full((4,), 20.0)
    assert adversarial_d_loss(big, -big) < 1e-6
    assert adversarial_g_loss(big) < 1e-6
    assert adversarial_g_loss(-big) > 10
    rec, adv = torch.tensor(2.0), torch.tensor(3.0)
    assert generator_loss(rec, adv, kind="joint", w_rec=0.999, w_adv=0.001) == 0.999 * 2 + 0.001 * 3
    assert generator_loss(rec, adv, kind="l2", w_rec=0.999, w_adv=0.001) == 2
    assert generator_loss(rec, adv, kind="adv", w_rec=0.999, w_adv=0.001) == 3


def test_log_l2_is_the_mean_of_per_image_log_mse() -> None:
    target = torch.zeros(2, 3, 8, 8)
    pred = torch.zeros_like(target)
    pred[0] = 0.1  # image 0: MSE 0.01
    pred[1] = 1.0  # image 1: MSE 1
    w = torch.ones(1, 1, 8, 8)
    got = reconstruction_loss(pred, target, w, "log-l2")
    want = (torch.log(torch.tensor(0.01 + LOG_EPS)) + torch.log(torch.tensor(1.0 + LOG_EPS))) / 2
    assert torch.isclose(got, want)
    # The batch L2 is dominated by image 1; the log loss gives both images the same say.
    assert torch.isclose(reconstruction_loss(pred, target, w), torch.tensor(0.505))


def test_log_l2_minimum_at_equality_and_ring_weighted() -> None:
    x = torch.rand(2, 3, 16, 16)
    w = center_weights(16, 2)
    floor = torch.log(torch.tensor(LOG_EPS))
    assert torch.isclose(reconstruction_loss(x, x.clone(), w, "log-l2"), floor)
    ring, hole = torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 16)
    ring[..., 0, 5], hole[..., 8, 8] = 1.0, 1.0
    excess = lambda p: reconstruction_loss(p, torch.zeros_like(p), w, "log-l2").exp() - LOG_EPS  # noqa: E731
    assert torch.isclose(excess(ring) / excess(hole), torch.tensor(10.0), rtol=1e-3)
