"""Labelled segmentation folders for the transfer probe (Table 2's segmentation column).

A set is two folders: photos below ``images/`` and, for each, a class-index map with the same
relative path and stem and a ``.png`` suffix below ``labels/`` (CamVid's layout:
``camvid/train/0001TP_006690.jpg`` and ``camvid-labels/train/0001TP_006690.png``). A label map is
one channel (8- or 16-bit, or a palette PNG whose indices are the classes), the size of its photo;
its values ``0 .. n_classes - 1`` are classes and the void value (or, with ``void=None``, every
value >= ``n_classes``) marks pixels that count nowhere.

Both are resized to the probe's ``height`` × ``width`` (photos bicubic, labels nearest), whatever
their aspect ratio. In memory: images (N, 3, H, W) uint8, labels (N, H, W) uint8 with void = 255.
Every bad input is a one-line ValueError naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from context_encoder.data import find_images, to_rgb

IGNORE = 255  # the in-memory value of void pixels (cross_entropy's ignore_index, skipped by the metric)
SINGLE_CHANNEL = ("L", "P", "I", "I;16", "I;16L", "I;16B", "1")


@dataclass(frozen=True)
class SegmentationSet:
    """Images (N, 3, H, W) uint8, labels (N, H, W) uint8 (IGNORE = void) and the N photo files."""

    images: torch.Tensor
    labels: torch.Tensor
    files: tuple[Path, ...]


def label_path(image: Path, images_root: Path, labels_root: Path) -> Path:
    """The label map of ``image``: same relative folder and stem below ``labels_root``, ``.png``."""
    return (labels_root / image.relative_to(images_root)).with_suffix(".png")


def read_label(path: Path, *, size: tuple[int, int], n_classes: int, void: int | None) -> np.ndarray:
    """A label map as (H, W) uint8 class indices, void = IGNORE; ``size`` = the photo's (W, H).

    Raises ValueError for a colour image, a size that differs from the photo's, or (``void`` set)
    a value that is neither a class nor the void value.
    """
    with Image.open(path) as img:
        if img.mode not in SINGLE_CHANNEL:
            raise ValueError(f"label {path} is a {img.mode} image: labels must be single-channel class-index PNGs "
                             f"(0..{n_classes - 1}, void {'>= ' + str(n_classes) if void is None else void})")
        if img.size != size:
            raise ValueError(f"label {path} is {img.size[0]}×{img.size[1]} but its photo is {size[0]}×{size[1]}")
        values = np.asarray(img, dtype=np.int64)
    classes = (values >= 0) & (values < n_classes)
    if void is not None:
        stray = ~classes & (values != void)
        if stray.any():
            found = np.unique(values[stray])[:5].tolist()
            raise ValueError(f"label {path} holds value(s) {found} outside the classes 0..{n_classes - 1} and not "
                             f"the void value {void} (set --classes, or --void any to ignore every value >= "
                             f"{n_classes})")
    return np.where(classes, values, IGNORE).astype(np.uint8)


def _pairs(images_root: Path, labels_root: Path) -> list[tuple[Path, Path]]:
    if not labels_root.is_dir():
        raise FileNotFoundError(f"label folder not found: {labels_root}")
    files = find_images([images_root])
    files = [f for f in files if not (f.suffix.lower() == ".png" and f.is_relative_to(labels_root))]
    if not files:
        raise ValueError(f"no images found in {images_root}")
    pairs = [(f, label_path(f, images_root, labels_root)) for f in files]
    missing = [img for img, lab in pairs if not lab.is_file()]
    if missing:
        raise ValueError(f"{len(missing)} of {len(files)} images in {images_root} have no label in {labels_root} "
                         f"(looked for {label_path(missing[0], images_root, labels_root)}, same stem, .png)")
    return pairs


def load_segmentation(images: Path, labels: Path, *, height: int, width: int, n_classes: int,
                      void: int | None, limit: int = 0, seed: int = 0) -> SegmentationSet:
    """Every photo below ``images`` with its label map below ``labels``, resized to height × width.

    ``limit > 0`` keeps a seeded random subset of that many pairs (in file order).
    """
    images, labels = Path(images), Path(labels)
    pairs = _pairs(images, labels)
    if 0 < limit < len(pairs):
        keep = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(seed))[:limit].sort().values
        pairs = [pairs[i] for i in keep.tolist()]
    xs, ys = [], []
    for image_file, label_file in pairs:
        try:
            with Image.open(image_file) as raw:
                photo = to_rgb(raw)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
            raise ValueError(f"cannot read image {image_file} ({type(err).__name__})") from err
        label = read_label(label_file, size=photo.size, n_classes=n_classes, void=void)
        photo = photo.resize((width, height), Image.BICUBIC)
        label = Image.fromarray(label).resize((width, height), Image.NEAREST)
        xs.append(torch.from_numpy(np.array(photo)).permute(2, 0, 1))  # (3, H, W)
        ys.append(torch.from_numpy(np.array(label)))  # (H, W)
    return SegmentationSet(torch.stack(xs).contiguous(), torch.stack(ys), tuple(f for f, _ in pairs))
