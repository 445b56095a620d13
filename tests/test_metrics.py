"""Metrics of Table 1 on hand-made arrays with known values."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from context_encoder.evaluation.metrics import MSE_FLOOR, hole_errors, mean_rows, psnr, sharpness, ssim, ssim_over


def _pair(diff_rgb: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 4×4 target of 100s, an output off by ``diff_rgb`` on the 2 hidden pixels, garbage elsewhere."""
    target = np.full((4, 4, 3), 100, np.uint8)
    mask = np.zeros((4, 4), bool)
    mask[1, 1] = mask[2, 3] = True
    output = np.zeros_like(target)  # visible pixels are wrong on purpose: they must not count
    output[mask] = 100 + np.array(diff_rgb)
    return output, target, mask


def test_hole_errors_known_values() -> None:
    out, target, mask = _pair((51, 51, 51))  # 0.2 on the [0, 1] scale
    m = hole_errors(out, target, mask)
    assert m["l1"] == pytest.approx(20.0)
    assert m["l2"] == pytest.approx(4.0)
    assert m["psnr"] == pytest.approx(10 * math.log10(1 / 0.04))  # 13.979 dB


def test_hole_errors_average_over_all_three_channels() -> None:
    out, target, mask = _pair((51, 102, 0))  # 0.2, 0.4, 0.0
    m = hole_errors(out, target, mask)
    assert m["l1"] == pytest.approx(20.0)
    assert m["l2"] == pytest.approx(100 * (0.04 + 0.16) / 3)
    assert m["psnr"] == pytest.approx(10 * math.log10(3 / 0.2))


def test_hole_errors_sign_and_perfect_fill() -> None:
    out, target, mask = _pair((-51, -51, -51))
    assert hole_errors(out, target, mask)["l1"] == pytest.approx(20.0)
    exact, target, mask = _pair((0, 0, 0))
    m = hole_errors(exact, target, mask)
    assert m["l1"] == 0.0 and m["l2"] == 0.0
    assert m["psnr"] == pytest.approx(10 * math.log10(1 / MSE_FLOOR)) == psnr(0.0)


def test_hole_errors_rejects_bad_input() -> None:
    out, target, mask = _pair((1, 1, 1))
    with pytest.raises(ValueError, match="hides no pixel"):
        hole_errors(out, target, np.zeros_like(mask))
    with pytest.raises(ValueError, match="shapes differ"):
        hole_errors(out[:3], target, mask)


def test_psnr_is_averaged_per_image_not_from_the_mean_mse() -> None:
    rows = [{"l1": 1.0, "l2": 1.0, "psnr": psnr(0.01), "ssim": 0.5, "sharpness": 0.5},
            {"l1": 3.0, "l2": 0.01, "psnr": psnr(0.0001), "ssim": 1.0, "sharpness": 1.5}]
    mean = mean_rows(rows)
    assert rows[0]["psnr"] == pytest.approx(20.0) and rows[1]["psnr"] == pytest.approx(40.0)
    assert mean == pytest.approx({"l1": 2.0, "l2": 0.505, "psnr": 30.0, "ssim": 0.75, "sharpness": 1.0})
    with pytest.raises(ValueError):
        mean_rows([])


def test_ssim_known_values() -> None:
    a = np.full((16, 16, 3), 100, np.uint8)
    b = np.full((16, 16, 3), 50, np.uint8)
    assert ssim(a, a) == pytest.approx(1.0)
    # flat patches: only the luminance term is left, (2ab + C1) / (a² + b² + C1), C1 = (0.01·255)²
    c1 = (0.01 * 255) ** 2
    assert ssim(a, b) == pytest.approx((2 * 100 * 50 + c1) / (100**2 + 50**2 + c1), rel=1e-6)


def test_ssim_over_the_hole_only() -> None:
    rng = np.random.default_rng(0)
    target = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    out = target.copy()
    out[:, 16:] = 255 - out[:, 16:]  # the right half is wrong
    left = np.zeros((32, 32), bool)
    left[:, :8] = True  # far (> 3 px window radius) from the wrong half
    assert ssim_over(out, target, left) == pytest.approx(1.0)
    right = np.zeros((32, 32), bool)
    right[:, 24:] = True
    assert ssim_over(out, target, right) < 0.5


def test_sharpness_is_one_for_the_photo_below_for_a_blur_and_ignores_the_hole_border() -> None:
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    mask = np.zeros((64, 64), bool)
    mask[16:48, 16:48] = True
    assert sharpness(photo, photo, mask) == pytest.approx(1.0)
    blurred = cv2.GaussianBlur(photo, (0, 0), 2.0)
    assert sharpness(np.where(mask[..., None], blurred, photo), photo, mask) < 0.3
    # A flat fill in a flat hole: the step to the context lies on the hole's border, not counted.
    flat = np.full_like(photo, 100)
    filled = np.where(mask[..., None], np.uint8(200), flat)
    assert sharpness(filled, flat, mask) == 1.0
    # Texture where the photo has none counts as sharper.
    assert sharpness(np.where(mask[..., None], photo, flat), flat, mask) > 1e6
