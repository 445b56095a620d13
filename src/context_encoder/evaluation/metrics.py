"""Inpainting quality over the hidden pixels, as the paper's Table 1 (Sec. 5.1): mean L1, mean L2, PSNR, SSIM,
and a sharpness ratio (Sec. 3.2's blurry L2 fills against sharp adversarial ones).

Arrays here are NumPy, as OpenCV and scikit-image take them: images uint8 (H, W, 3) in [0, 255],
masks bool (H, W) with True = hidden. Errors are measured on the [0, 1] scale over all three
channels of every hidden pixel; L1 and L2 are reported in percent (L2 is the mean squared error),
PSNR per image in dB (the caller averages it over images, as the paper does).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import cv2
import numpy as np
from skimage.metrics import structural_similarity

METRICS = ("l1", "l2", "psnr", "ssim", "sharpness")

# An exact reconstruction has MSE 0 and infinite PSNR; the floor caps it at 100 dB so means stay finite.
MSE_FLOOR = 1e-10


def psnr(mse: float) -> float:
    """Peak signal-to-noise ratio of one image on the [0, 1] scale: 10·log10(1 / MSE), in dB."""
    return 10.0 * math.log10(1.0 / max(mse, MSE_FLOOR))


def hole_errors(output: np.ndarray, target: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """Mean L1 (%), mean L2 (%) and PSNR (dB) over the hidden pixels of one image.

    output, target: (H, W, 3) uint8; mask: (H, W) bool, True = hidden (at least one pixel).
    """
    if output.shape != target.shape or output.shape[:2] != mask.shape:
        raise ValueError(f"shapes differ: output {output.shape}, target {target.shape}, mask {mask.shape}")
    if not mask.any():
        raise ValueError("the mask hides no pixel: nothing to score")
    diff = (output[mask].astype(np.float64) - target[mask].astype(np.float64)) / 255.0  # (n_hidden, 3)
    mse = float(np.mean(diff**2))
    return {"l1": 100.0 * float(np.mean(np.abs(diff))), "l2": 100.0 * mse, "psnr": psnr(mse)}


def ssim(output: np.ndarray, target: np.ndarray) -> float:
    """Mean SSIM of two uint8 (H, W, 3) patches (7×7 window, data range 255, channels averaged)."""
    return float(structural_similarity(output, target, channel_axis=-1, data_range=255))


def ssim_over(output: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """The SSIM map of two uint8 (H, W, 3) images averaged over the hidden pixels of ``mask`` (H, W).

    Used for holes of any shape, where no single square patch covers exactly the hole.
    """
    _, full = structural_similarity(output, target, channel_axis=-1, data_range=255, full=True)
    return float(full.mean(axis=-1)[mask].mean())  # (H, W, 3) -> (H, W) -> hidden pixels


def _gradient_magnitude(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (H, W) float64: |∇| of the grey image by central differences, on [0, 255]."""
    grey = image.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    gy, gx = np.gradient(grey)
    return np.hypot(gx, gy)


def sharpness(output: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """Mean gradient magnitude of ``output`` over that of ``target`` inside the hole: 1.0 = as sharp
    as the photo, below 1 = blurrier (an L2 fill), above = more texture or noise than the photo.

    output, target: (H, W, 3) uint8; mask: (H, W) bool. The hole is eroded by one pixel first, so
    the step at its border (a seam, not texture) does not count; a hole too thin for that is used
    as it is. A flat original (mean gradient under 1e-6) gives 1.0 for a flat fill.
    """
    inner = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE) > 0
    region = inner if inner.any() else mask
    out = float(_gradient_magnitude(output)[region].mean())
    ref = float(_gradient_magnitude(target)[region].mean())
    if ref < 1e-6:
        return 1.0 if out < 1e-6 else out / 1e-6
    return out / ref


def mean_rows(rows: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """The mean of every metric over per-image rows (PSNR averaged per image, never from the mean MSE)."""
    rows = list(rows)
    if not rows:
        raise ValueError("no image to average")
    return {key: float(np.mean([r[key] for r in rows])) for key in METRICS}
