"""Training images: any folder(s) of photos, the original preprocessing, decoded once.

Preprocessing of the original ``train.lua``: shorter side resized to ``load_size``, a random
``image_size`` crop, a random horizontal flip, values mapped to [-1, 1]. Optional scale jitter
(``min_load_size``) draws each crop's shorter side from [min_load_size, load_size] instead, so
one photo yields crops at many scales. Images are decoded and
resized once into a uint8 cache (``cache=True``) so JPEG decoding never limits a training step.
Randomness is derived from (seed, epoch, position), so a resumed run sees the same crops and the
same order as an uninterrupted one, and every rank of a distributed run sees its own share.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from torch.utils.data import Dataset, Sampler
from tqdm import tqdm

from context_encoder.geometry import reflect_index

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


def find_images(folders: Sequence[str | Path]) -> list[Path]:
    """All image files below the folders, searched recursively, in a stable order."""
    files: list[Path] = []
    for folder in folders:
        root = Path(folder)
        if not root.is_dir():
            raise FileNotFoundError(f"data folder not found: {root}")
        files += sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    return files


def to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL image (grayscale, palette, RGBA, 16-bit) as 8-bit RGB, EXIF rotation applied."""
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        scale = 65535.0 if arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr / scale * 255 + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode == "RGBA" or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
    return img.convert("RGB")


RESAMPLERS = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR}  # bilinear: Lua's image.scale


def load_resized(path: Path, load_size: int, resample: str = "bicubic") -> torch.Tensor:
    """Decode, convert to RGB and resize the shorter side to ``load_size`` with ``resample``
    (bicubic, or bilinear as the original's ``image.scale``): (3, H, W) uint8."""
    with Image.open(path) as raw:
        img = to_rgb(raw)
        w, h = img.size
        scale = load_size / min(w, h)
        size = (max(load_size, round(w * scale)), max(load_size, round(h * scale)))
        img = img.resize(size, RESAMPLERS[resample])
        return torch.from_numpy(np.array(img)).permute(2, 0, 1).contiguous()


def uint8_to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 (…, 3, H, W) in [0, 255] -> float in [-1, 1]."""
    return images.float().div(127.5).sub(1.0)


def float_to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float in [-1, 1] -> uint8 in [0, 255], rounded."""
    return images.detach().float().clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)


class ImageFolderDataset(Dataset):
    """Random crops of the images below one or more folders (with ``window_views``, that share of
    the samples is instead the whole image in a mirrored square window: :meth:`_window_view`).

    Items are uint8 tensors (3, image_size, image_size); the training loop moves them to the
    device and maps them to [-1, 1] there. Index with ``(position, sample_seed)`` pairs (from
    :class:`StepBatchSampler`) for reproducible crops, or with a plain int for a center crop.
    """

    def __init__(
        self, files: Sequence[Path], *, image_size: int, load_size: int, min_load_size: int = 0,
        cache: bool = True, resample: str = "bicubic", window_views: float = 0.0,
    ) -> None:
        self.resample = resample
        self.window_views = window_views
        self.image_size, self.load_size = image_size, max(load_size, image_size)
        self.min_load_size = min(max(min_load_size, image_size), self.load_size) if min_load_size else 0
        self.files = list(files)
        self.cache: list[torch.Tensor] | None = None
        if cache:
            self.files, self.cache = self._decode_all(self.files)
        if not self.files:
            raise ValueError("no usable image in the data folder(s)")

    def _decode_all(self, files: list[Path]) -> tuple[list[Path], list[torch.Tensor]]:
        good, images, bad = [], [], []
        for path in tqdm(files, desc="decoding images", unit="img", leave=False, disable=len(files) < 200):
            try:
                images.append(load_resized(path, self.load_size, self.resample))
                good.append(path)
            except Exception as err:  # noqa: BLE001 - any undecodable file is skipped, by name
                bad.append(f"{path} ({type(err).__name__})")
        if bad:
            warnings.warn(f"skipped {len(bad)} unreadable image(s): {', '.join(bad)}", stacklevel=3)
        return good, images

    def __len__(self) -> int:
        return len(self.files)

    def _image(self, index: int) -> torch.Tensor:
        if self.cache is not None:
            return self.cache[index]
        try:
            return load_resized(self.files[index], self.load_size, self.resample)
        except Exception as err:  # noqa: BLE001 - never crash mid-epoch on one bad file
            warnings.warn(f"skipped unreadable image {self.files[index]} ({type(err).__name__})", stacklevel=2)
            return self._image((index + 1) % len(self.files))

    def __getitem__(self, item: int | tuple[int, int]) -> torch.Tensor:
        index, seed = item if isinstance(item, tuple) else (item, None)
        img = self._image(index)  # (3, H, W) uint8
        s = self.image_size
        h, w = img.shape[-2:]
        if seed is None:  # deterministic center crop (validation, previews)
            y, x, flip = (h - s) // 2, (w - s) // 2, False
        else:
            g = torch.Generator().manual_seed(seed)
            if self.window_views and float(torch.rand((), generator=g)) < self.window_views:
                return self._window_view(img, g)
            if self.min_load_size:
                return self._scaled_crop(img, g)
            y = int(torch.randint(0, h - s + 1, (), generator=g))
            x = int(torch.randint(0, w - s + 1, (), generator=g))
            flip = bool(torch.rand((), generator=g) < 0.5)
        crop = img[:, y : y + s, x : x + s]
        return crop.flip(-1) if flip else crop

    def _scaled_crop(self, img: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """A random crop of the image rescaled to a random shorter side: (3, S, S) uint8."""
        s, (h, w) = self.image_size, img.shape[-2:]
        lo, hi = self.min_load_size, self.load_size
        shorter = lo + (hi - lo) * float(torch.rand((), generator=g))
        side = min(h, w, round(s * min(h, w) / shorter))  # the square that becomes S x S
        y = int(torch.randint(0, h - side + 1, (), generator=g))
        x = int(torch.randint(0, w - side + 1, (), generator=g))
        crop = img[:, y : y + side, x : x + side]
        if side != s:
            crop = F.interpolate(crop[None].float(), size=(s, s), mode=self.resample, antialias=True)[0]
            crop = crop.round().clamp(0, 255).to(torch.uint8)
        return crop.flip(-1) if bool(torch.rand((), generator=g) < 0.5) else crop

    def _window_view(self, img: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """The whole image as ``inpaint`` shows a whole-image net a hole that spans a photo: a square
        window of the image's longer side, the image centred in it and mirrored past its shorter
        sides (edge pixel repeated, as inpaint's windows: :func:`geometry.reflect_index`), resized
        to S x S and flipped at random: (3, S, S) uint8."""
        s, (h, w) = self.image_size, img.shape[-2:]
        side = max(h, w)
        rows = torch.from_numpy(reflect_index((h - side) // 2, side, h))
        cols = torch.from_numpy(reflect_index((w - side) // 2, side, w))
        view = img[:, rows][:, :, cols]
        view = F.interpolate(view[None].float(), size=(s, s), mode=self.resample, antialias=True)[0]
        view = view.round().clamp(0, 255).to(torch.uint8)
        return view.flip(-1) if bool(torch.rand((), generator=g) < 0.5) else view


def split_files(files: Sequence[Path], val_fraction: float, seed: int = 0) -> tuple[list[Path], list[Path]]:
    """A fixed, seeded (train, val) split of a file list."""
    files = list(files)
    n_val = int(round(len(files) * val_fraction))
    if n_val == 0:
        return files, []
    order = torch.randperm(len(files), generator=torch.Generator().manual_seed(seed)).tolist()
    val = sorted(files[i] for i in order[:n_val])
    train = [files[i] for i in sorted(order[n_val:])]
    return train, val


class StepBatchSampler(Sampler[list[tuple[int, int, int]]]):
    """Yields, for steps ``start_step, start_step + 1, …``, this rank's batch of (index, sample
    seed, batch seed); the batch seed is one per step, the same for every sample of the global
    batch on every rank (for what a whole batch shares, e.g. ``--region-masks lua-batch``).

    Each epoch is a permutation drawn from (seed, epoch); a global batch is split across ranks
    (what DistributedSampler does). Because batch k depends only on (seed, k), resuming at step k
    continues exactly where the uninterrupted run would be.
    """

    def __init__(
        self, n: int, *, batch_size: int, seed: int, start_step: int = 0, rank: int = 0, world_size: int = 1
    ) -> None:
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.start_step, self.rank, self.world_size = start_step, rank, world_size
        self.global_batch = batch_size * world_size
        self.steps_per_epoch = max(1, n // self.global_batch)

    def _epoch_order(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        need = self.steps_per_epoch * self.global_batch
        reps = -(-need // self.n)  # tiny datasets: repeat the permutation to fill a batch
        return torch.cat([torch.randperm(self.n, generator=g) for _ in range(reps)])[:need]

    def __iter__(self) -> Iterator[list[tuple[int, int, int]]]:
        step, epoch, order = self.start_step, -1, torch.empty(0, dtype=torch.long)
        while True:
            e, b = divmod(step, self.steps_per_epoch)
            if e != epoch:
                epoch, order = e, self._epoch_order(e)
            lo = b * self.global_batch + self.rank * self.batch_size
            idx = order[lo : lo + self.batch_size].tolist()
            batch_seed = self.seed * 1_000_003 + step
            base = batch_seed * self.global_batch + self.rank * self.batch_size
            yield [(i, base + j, batch_seed) for j, i in enumerate(idx)]
            step += 1
