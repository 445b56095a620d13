"""The evaluation protocols (Sec. 5.1, Table 1): which images, which hidden pixels, which scores.

Both protocols are fully deterministic:

- ``center``: each image opened as RGB, its largest centered square resized to 128×128 with
  Pillow bicubic (uint8); the hole is the center 64×64 square, or its inner (64 − 2o)² when an
  o-px overlap ring is shown as context. SSIM is taken on the composited center 64×64 patch.
- ``masks``: the same images, each paired with a fixed hole mask from a folder by a seeded
  permutation; SSIM is the SSIM map averaged over the hole. Results are also split by hole share.
- ``photos``: what users do: each photo at its own size (or its longer side brought down to
  ``max_side``), paired with a mask drawn by a seeded permutation from the folder's masks whose
  hole share lies in a band (10–50 % by default), resized to the photo with nearest neighbour.
  Scored like ``masks``, with each method's seconds per photo measured in the same run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from context_encoder.config import EVAL_PROTOCOLS
from context_encoder.data import find_images, to_rgb
from context_encoder.evaluation.metrics import hole_errors, sharpness, ssim, ssim_over
from context_encoder.geometry import center_box, center_mask, center_square
from context_encoder.masks import MaskFolder

IMAGE_SIZE = 128  # the paper's Table 1 setting: 128 px images, 64 px center hole
PROTOCOLS = EVAL_PROTOCOLS


def prepare_image(path: Path, size: int = IMAGE_SIZE) -> np.ndarray:
    """Open as RGB, crop the largest centered square, resize bicubically: (size, size, 3) uint8."""
    with Image.open(path) as raw:
        return np.asarray(center_square(to_rgb(raw), size), dtype=np.uint8)


def load_images(folder: str | Path, size: int = IMAGE_SIZE, desc: str = "loading") -> tuple[list[str], np.ndarray]:
    """Every image below ``folder`` prepared by :func:`prepare_image`: (names, (N, S, S, 3) uint8)."""
    paths = find_images([folder])
    if not paths:
        raise ValueError(f"no images found in {folder}")
    images = []
    for path in tqdm(paths, desc=desc, unit="img"):
        try:
            images.append(prepare_image(path, size))
        except OSError as err:
            raise ValueError(f"cannot read image {path}: {err}") from err
    return [p.relative_to(folder).as_posix() for p in paths], np.stack(images)


def center_hidden(size: int, overlap: int) -> np.ndarray:
    """The hidden pixels of the center protocol: (S, S) bool, the center square minus the ring."""
    return center_mask(1, size, overlap)[0, 0].numpy() > 0.5


def describe_center(size: int, overlap: int) -> str:
    lo, hi = center_box(size)
    side, first, last = hi - lo - 2 * overlap, lo + overlap, hi - overlap - 1
    if overlap == 0:
        return f"center {side}x{side} square, rows/cols {first}-{last} (full hole)"
    return (f"inner {side}x{side} of the center {hi - lo}x{hi - lo} square, rows/cols {first}-{last} "
            f"({overlap}-px ring shown as context)")


def paired_masks(n: int, mask_dir: str | Path, *, size: int = IMAGE_SIZE,
                 seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Masks for n images: image i gets mask ``perm[i % M]`` of a seeded permutation of the M sorted
    masks (no flips or rotations): (names, (n, S, S) bool)."""
    folder = MaskFolder(mask_dir, size)
    order = torch.randperm(len(folder), generator=torch.Generator().manual_seed(seed)).tolist()
    picks = [order[i % len(folder)] for i in range(n)]
    masks = np.stack([folder.load(k)[0].numpy() > 0.5 for k in picks])
    flat = masks.reshape(n, -1)
    if not flat.any(axis=1).all() or flat.all(axis=1).any():
        raise ValueError(f"a mask in {mask_dir} hides no pixel or every pixel")
    return [folder.paths[k].name for k in picks], masks


HOLE_SHARE = (10.0, 50.0)  # default band of the photos protocol, % of the mask's pixels


def load_photos(folder: str | Path, max_side: int = 0, desc: str = "loading",
                limit: int = 0) -> tuple[list[str], list[np.ndarray]]:
    """Every image below ``folder`` (or ``limit`` of them, evenly spaced in sorted order) as RGB at
    its own size, or with its longer side resized to ``max_side`` (Pillow bicubic) when larger and
    ``max_side`` > 0: (names, [(H, W, 3) uint8])."""
    paths = find_images([folder])
    if not paths:
        raise ValueError(f"no images found in {folder}")
    if 0 < limit < len(paths):
        paths = [paths[int(i)] for i in np.linspace(0, len(paths) - 1, limit).round()]
    photos = []
    for path in tqdm(paths, desc=desc, unit="img"):
        try:
            with Image.open(path) as raw:
                img = to_rgb(raw)
        except OSError as err:
            raise ValueError(f"cannot read image {path}: {err}") from err
        if max_side and max(img.size) > max_side:
            scale = max_side / max(img.size)
            img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.BICUBIC)
        photos.append(np.asarray(img, dtype=np.uint8))
    return [p.relative_to(folder).as_posix() for p in paths], photos


def photo_masks(shapes: list[tuple[int, int]], mask_dir: str | Path, *, band: tuple[float, float] = HOLE_SHARE,
                seed: int = 0) -> tuple[list[str], list[np.ndarray]]:
    """A mask for each photo of shape (H, W): photo i gets mask ``perm[i % M]`` of a seeded
    permutation of the M sorted masks whose hole share (%) lies in ``band``, resized with nearest
    neighbour: (names, [(H, W) bool])."""
    paths = sorted(p for p in Path(mask_dir).rglob("*.png"))
    shares = []
    for path in paths:
        with Image.open(path) as m:
            shares.append(float((np.asarray(m.convert("L")) > 127).mean() * 100))
    pool = [p for p, share in zip(paths, shares) if band[0] <= share <= band[1]]
    if not pool:
        raise ValueError(f"no mask in {mask_dir} has a hole share in [{band[0]:g}, {band[1]:g}] %")
    order = torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed)).tolist()
    names, masks = [], []
    for i, (h, w) in enumerate(shapes):
        path = pool[order[i % len(pool)]]
        with Image.open(path) as m:
            masks.append(np.asarray(m.convert("L").resize((w, h), Image.NEAREST)) > 127)
        names.append(path.name)
    return names, masks


@dataclass(frozen=True)
class EvalSet:
    """Prepared images and the pixels hidden from every method."""

    protocol: str
    names: list[str]
    images: np.ndarray | list[np.ndarray]  # (N, S, S, 3) uint8; photos: N arrays (H, W, 3) of their own size
    masks: np.ndarray | list[np.ndarray]  # (N, S, S) bool, True = hidden; photos: N arrays (H, W)
    hidden_region: str
    mask_names: list[str] = field(default_factory=list)


def score(output: np.ndarray, image: np.ndarray, mask: np.ndarray, protocol: str) -> dict[str, float]:
    """Metrics of one composited output (H, W, 3) against its original over the hidden pixels (H, W)."""
    row = hole_errors(output, image, mask)
    if protocol == "center":
        lo, hi = center_box(image.shape[0])
        row["ssim"] = ssim(output[lo:hi, lo:hi], image[lo:hi, lo:hi])
    else:
        row["ssim"] = ssim_over(output, image, mask)
    row["sharpness"] = sharpness(output, image, mask)
    return row
