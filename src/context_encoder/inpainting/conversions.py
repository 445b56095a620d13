"""Photos in the forms the Python API accepts, and back in the same form.

The model works on (H, W, C) uint8 pixels in L, LA, RGB or RGBA (:class:`~.imageio.Picture`).
A photo given as a torch tensor, or as a PIL image in palette (P), bilevel (1), CMYK or YCbCr
mode, comes back as what it was: each function here returns the pixels the model sees, or a
``restore(out, hole)`` that writes the filled ``hole`` pixels of ``out`` (the picture's pixels
after the fill) into a copy of the original, leaving every other pixel exactly as it was.

Tensors follow torchvision: (C, H, W) or (H, W), uint8 in [0, 255] (``torchvision.io.read_image``)
or floating point in [0, 1] (``to_tensor``); C = 1 (gray), 2 (gray + alpha), 3 (RGB), 4 (RGBA).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    import torch

Restore = Callable[[np.ndarray, np.ndarray], Any]  # (out (H, W, C) uint8, hole (H, W) bool) -> the photo's form
KEPT_MODES = ("1", "P", "CMYK", "YCbCr")  # PIL modes that come back in their own mode
ACCEPTED = ("a PIL image, a file path, a uint8 NumPy array (H, W[, C]) or a torch tensor (C, H, W) "
            "of uint8 or of floats in [0, 1]")


def is_tensor(value: object) -> bool:
    """Whether ``value`` is a torch tensor (without importing torch when no one has)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def tensor_pixels(tensor: torch.Tensor) -> np.ndarray:
    """An image tensor (C, H, W) or (H, W), uint8 or float in [0, 1], as (H, W, C) uint8 pixels."""
    import torch

    chw = tensor.detach()[None] if tensor.ndim == 2 else tensor.detach()
    if chw.ndim != 3 or chw.shape[0] not in (1, 2, 3, 4):
        raise ValueError(f"image tensor must be (C, H, W) with C = 1, 2, 3 or 4, or (H, W); got {tuple(tensor.shape)}"
                         " (one image: use inpaint_batch for several)")
    if chw.dtype.is_floating_point:
        if chw.numel() and not bool(((chw >= 0) & (chw <= 1)).all()):
            raise ValueError("float image tensors must hold values in [0, 1] (torchvision's to_tensor); "
                             "uint8 tensors hold [0, 255]")
        chw = (chw.float() * 255).round().to(torch.uint8)
    elif chw.dtype != torch.uint8:
        raise ValueError(f"image tensor must be uint8 or floating point, got {chw.dtype}; accepted: {ACCEPTED}")
    return np.ascontiguousarray(chw.permute(1, 2, 0).cpu().numpy())


def tensor_restore(tensor: torch.Tensor) -> Restore:
    """Fill ``tensor``'s hole from the picture's pixels: same shape, dtype and device; the pixels
    outside the hole, and alpha everywhere, are the tensor's own values (not rounded to 8 bits)."""
    import torch

    def restore(out: np.ndarray, hole: np.ndarray) -> torch.Tensor:
        result = tensor.detach().clone()
        chw = result[None] if result.ndim == 2 else result  # a view: writes go to result
        colour = chw.shape[0] - (chw.shape[0] in (2, 4))  # alpha is never filled
        filled = torch.from_numpy(np.ascontiguousarray(out[..., :colour])).permute(2, 0, 1).to(result.device)
        at = torch.from_numpy(hole).to(result.device)
        values = filled[:, at]  # (colour, hole pixels)
        chw[:colour, at] = values if result.dtype == torch.uint8 else values.to(result.dtype) / 255
        return result

    return restore


def mode_restore(img: Image.Image) -> Restore | None:
    """For a PIL image in one of :data:`KEPT_MODES`: write the filled hole back in that mode (a
    palette image gets the nearest colour of its own palette); None for the modes a Picture keeps."""
    if img.mode not in KEPT_MODES:
        return None
    img = img.copy()

    def restore(out: np.ndarray, hole: np.ndarray) -> Image.Image:
        if img.mode == "1":  # a gray picture
            bits = np.array(img)
            bits[hole] = out[..., 0][hole] > 127
            result = Image.fromarray(bits)
            result.info.update(img.info)
            return result
        pixels = np.array(img)
        if img.mode == "P":
            opaque = hole & (out[..., 3] == 255) if out.shape[-1] == 4 else hole  # see-through pixels keep theirs
            pixels[opaque] = nearest_palette_index(img, out[..., :3][opaque])
        else:
            rgb = Image.fromarray(np.ascontiguousarray(out[..., :3]), "RGB")
            pixels[hole] = np.asarray(rgb.convert(img.mode))[hole]
        result = img.copy()
        result.frombytes(np.ascontiguousarray(pixels).tobytes())
        return result

    return restore


def nearest_palette_index(img: Image.Image, colours: np.ndarray) -> np.ndarray:
    """For each of ``colours`` (N, 3) uint8, the index of the nearest opaque colour of ``img``'s palette."""
    palette = np.asarray(img.getpalette("RGB") or [0, 0, 0], np.float32).reshape(-1, 3)  # (P, 3)
    alpha = np.full(len(palette), 255)
    transparency = img.info.get("transparency")
    if isinstance(transparency, int) and transparency < len(alpha):
        alpha[transparency] = 0
    elif isinstance(transparency, bytes):
        alpha[: len(transparency)] = np.frombuffer(transparency, np.uint8)[: len(alpha)]
    candidates = np.flatnonzero(alpha == 255) if (alpha == 255).any() else np.arange(len(palette))
    chosen, sq = palette[candidates], (palette[candidates] ** 2).sum(-1)
    index = np.empty(len(colours), np.uint8)
    for start in range(0, len(colours), 65536):  # (65536, P) distances at a time
        part = colours[start : start + 65536].astype(np.float32)
        index[start : start + 65536] = candidates[np.argmin(sq - 2 * part @ chosen.T, axis=1)]
    return index
