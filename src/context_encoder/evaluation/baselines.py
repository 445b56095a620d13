"""The baselines of the paper's Table 1 (Sec. 5.1): mean fill, classical inpainting, nearest neighbours.

- ``mean-fill``: every hidden pixel gets the per-channel mean of the visible pixels.
- ``harmonic``: the smoothest fill that meets the photo on the hole's border (the Laplace
  equation): the project's own Poisson paste with no prediction, i.e. the parameter-free part of
  what ``inpaint`` writes by default. Not in the paper; the strongest simple baseline we know.
- ``opencv-telea`` / ``opencv-ns``: ``cv2.inpaint`` (Telea 2004, Navier-Stokes), radius 5.
- ``nn-hog``: the paper's "NN-inpainting (HOG features)": the image of a bank whose HOG
  descriptor of the visible context is closest lends its hole content.
- ``nn-features``: the same retrieval with the context encoder's own features ("our features").

Arrays are NumPy: images uint8 (N, H, W, 3), masks bool (N, H, W) with True = hidden. Every
function returns uint8 (N, H, W, 3) outputs; the caller keeps the visible pixels of the input.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from skimage.feature import hog
from torch import nn

from context_encoder.config import ModelConfig
from context_encoder.data import uint8_to_float
from context_encoder.inpainting.blend import paste
from context_encoder.masks import net_input

OPENCV_METHODS = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}
HOG_CELL = 8  # px per side of a HOG cell


def mean_fill(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Hidden pixels -> the per-channel mean of the visible ones, rounded half up to uint8. (N, H, W, 3)."""
    out = images.copy()
    for img, mask, dst in zip(images, masks, out):
        mean = img[~mask].astype(np.float64).mean(axis=0)  # (3,)
        dst[mask] = np.floor(mean + 0.5).astype(np.uint8)
    return out


def harmonic_inpaint(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """The harmonic fill of each hole from its border pixels: the Poisson paste
    (:func:`context_encoder.inpainting.blend.paste`) of an all-zero prediction, whose gradients
    guide nothing. (N, H, W, 3) uint8."""
    out = []
    for img, mask in zip(images, masks):
        flat = np.zeros_like(img)
        out.append(paste(np.ascontiguousarray(img), flat, mask, mode="poisson", border=flat))
    return np.stack(out)


def opencv_inpaint(images: np.ndarray, masks: np.ndarray, *, method: str, radius: int = 5) -> np.ndarray:
    """``cv2.inpaint`` of each uint8 RGB image with its hole as a 255 mask. (N, H, W, 3)."""
    if method not in OPENCV_METHODS:
        raise ValueError(f"OpenCV method must be one of {tuple(OPENCV_METHODS)}, got '{method}'")
    flag = OPENCV_METHODS[method]
    return np.stack([
        cv2.inpaint(np.ascontiguousarray(img), mask.astype(np.uint8) * 255, radius, flag)
        for img, mask in zip(images, masks)
    ])


def hog_cells(images: np.ndarray) -> np.ndarray:
    """HOG of each image, one normalised 9-bin histogram per 8×8 cell: (N, R, C, 9) float32 with
    R = C = 16 at 128 px (gradient = the strongest channel, L2-Hys per cell)."""
    feats = [
        hog(img, orientations=9, pixels_per_cell=(HOG_CELL, HOG_CELL), cells_per_block=(1, 1),
            block_norm="L2-Hys", feature_vector=False, channel_axis=-1)  # (R, C, 1, 1, 9)
        for img in images
    ]
    stacked = np.stack(feats).astype(np.float32)
    return stacked.reshape(*stacked.shape[:3], -1)


def context_cells(mask: np.ndarray) -> np.ndarray:
    """HOG cells of the visible context: (R, C) bool, True where a cell's pixels and the one-pixel
    border its gradients read are all visible, so no hidden pixel leaks into the descriptor.

    Cells rather than 2×2 blocks: irregular holes leave no clean 16×16 block in some images, while
    every mask of ``irregular-masks/`` leaves at least 41 clean cells at 128 px.
    """
    touched = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0  # (H, W)
    h, w = mask.shape
    c = HOG_CELL
    return ~touched[: h // c * c, : w // c * c].reshape(h // c, c, w // c, c).any(axis=(1, 3))


def nearest_hog(query_cells: np.ndarray, masks: np.ndarray, bank_cells: np.ndarray) -> np.ndarray:
    """Index of the bank image closest in L2 over each query's context cells: (N,) int.

    query_cells (N, R, C, 9), masks (N, H, W) bool, bank_cells (B, R, C, 9).
    """
    picks = []
    for q, mask in zip(query_cells, masks):
        keep = context_cells(mask)  # (R, C)
        if not keep.any():
            raise ValueError("the hole leaves no HOG cell of context: nn-hog cannot retrieve")
        dist = ((bank_cells[:, keep] - q[keep]) ** 2).sum(axis=(1, 2), dtype=np.float64)  # (B,)
        picks.append(int(np.argmin(dist)))
    return np.array(picks, dtype=np.int64)


@torch.no_grad()
def encoder_features(generator: nn.Module, images: np.ndarray, masks: np.ndarray, cfg: ModelConfig,
                     *, batch_size: int = 32) -> np.ndarray:
    """The context encoder's description of the visible context, L2-normalised: (N, D) float32.

    The hole is hidden as the model was trained (:func:`masks.net_input`) and the image encoded; a
    center net's bottleneck code (N, bottleneck) is the feature, other nets use
    the flattened encoder output.
    """
    device = next(generator.parameters()).device
    out = []
    for lo in range(0, len(images), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(images[lo : lo + batch_size]))
        x = uint8_to_float(x.permute(0, 3, 1, 2)).to(device)  # (n, 3, H, W)
        m = torch.from_numpy(np.ascontiguousarray(masks[lo : lo + batch_size]))[:, None].float().to(device)
        feats = generator.encode(net_input(x, m, cfg))
        if cfg.arch == "center":
            feats = generator.bottleneck(feats)
        out.append(torch.nn.functional.normalize(feats.flatten(1).float(), dim=1).cpu())
    return torch.cat(out).numpy()


def nearest_features(query: np.ndarray, bank: np.ndarray) -> np.ndarray:
    """Index of the bank feature with the highest cosine similarity to each query: (N,) int.

    query (N, D) and bank (B, D), both L2-normalised.
    """
    return np.argmax(query.astype(np.float64) @ bank.astype(np.float64).T, axis=1).astype(np.int64)


def fsr_inpaint(images: np.ndarray, masks: np.ndarray, *, best: bool = False) -> np.ndarray:
    """OpenCV xphoto's frequency-selective reconstruction (Genser et al. 2018), fast or best quality,
    of each uint8 image. (N, H, W, 3). Needs the ``opencv-contrib`` build of cv2."""
    if not hasattr(cv2, "xphoto"):
        raise ValueError("FSR needs cv2.xphoto: install opencv-contrib-python-headless (not opencv-python-headless)")
    flag = cv2.xphoto.INPAINT_FSR_BEST if best else cv2.xphoto.INPAINT_FSR_FAST
    out = np.empty_like(images)
    for img, mask, dst in zip(images, masks, out):
        known = np.where(mask, 0, 255).astype(np.uint8)  # xphoto's mask marks the *known* pixels
        cv2.xphoto.inpaint(np.ascontiguousarray(img), known, dst, flag)
    return out


def biharmonic_inpaint(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """scikit-image's biharmonic inpainting of each uint8 image, rounded back to uint8. (N, H, W, 3)."""
    from skimage.restoration import inpaint_biharmonic  # slow to import; only this baseline needs it

    return np.stack([np.clip(inpaint_biharmonic(img, mask, channel_axis=-1) * 255 + 0.5, 0, 255).astype(np.uint8)
                     for img, mask in zip(images, masks)])
