"""Region masks of the paper (Sec. 4, Fig. 3): center, random blocks, random regions, folders.

Convention: masks are float tensors (N, 1, H, W) with 1 = missing. Every random mask takes a
``torch.Generator``; nothing here touches a global RNG, so the same seed gives the same masks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from context_encoder.config import MEAN_RGB, ModelConfig
from context_encoder.geometry import center_mask

IMAGE_MASK_SUFFIXES = (".png",)
MaskFn = Callable[[int, torch.Generator], torch.Tensor]  # (n, generator) -> (n, 1, S, S), 1 = hidden


def block_mask(
    n: int, image_size: int, generator: torch.Generator, max_share: float = 0.25
) -> torch.Tensor:
    """Several random, possibly overlapping squares covering at most ``max_share`` of the image.

    Each image draws a target share in [max_share / 2, max_share] and adds squares with sides in
    [S/8, S/4] until it reaches the target; a square that would exceed ``max_share`` is skipped.
    """
    s = image_size
    mask = torch.zeros(n, 1, s, s)
    lo_side, hi_side = max(1, s // 8), max(2, s // 4)
    for i in range(n):
        target = max_share * (0.5 + 0.5 * torch.rand((), generator=generator).item())
        for _ in range(64):
            side = int(torch.randint(lo_side, hi_side + 1, (), generator=generator))
            y, x = (int(v) for v in torch.randint(0, s - side + 1, (2,), generator=generator))
            trial = mask[i].clone()
            trial[:, y : y + side, x : x + side] = 1.0
            if trial.mean() <= max_share:
                mask[i] = trial
            if mask[i].mean() >= target:
                break
    return mask


def region_mask(
    n: int,
    image_size: int,
    generator: torch.Generator,
    share: tuple[float, float] = (0.2, 0.3),
    density: float = 0.25,
) -> torch.Tensor:
    """Arbitrary shapes from smooth noise of the statistics of ``train_random.lua``'s pattern.

    Uniform noise on a coarse grid (one cell per ~16.7 px at 128 px, i.e. res = 0.06) is upsampled
    bicubically and thresholded at ``density``; a crop is kept when its hole share lies in
    ``share``, else redrawn (after 20 tries the threshold is set by quantile to hit the middle).
    Unlike the original, which draws one 10000² pattern once and gives a whole batch one crop of
    it, every image here draws its own noise and crop (docs/fidelity.md).
    """
    s = image_size
    cell = (1 / 0.06) * s / 128
    grid = math.ceil(s / cell) + 3
    out = torch.zeros(n, 1, s, s)
    for i in range(n):
        for attempt in range(21):
            noise = torch.rand(1, 1, grid, grid, generator=generator)
            big = F.interpolate(noise, scale_factor=cell, mode="bicubic", align_corners=False)
            y, x = (int(v) for v in torch.randint(0, big.shape[-1] - s + 1, (2,), generator=generator))
            patch = big[0, :, y : y + s, x : x + s]
            if attempt == 20:
                threshold = torch.quantile(patch.flatten(), sum(share) / 2)
                out[i] = (patch < threshold).float()
                break
            candidate = (patch < density).float()
            if share[0] <= candidate.mean() <= share[1]:
                out[i] = candidate
                break
    return out


LUA_PATTERN_SIZE = 10000  # train_random.lua's MAX_SIZE: the side of its one pattern
LUA_CROP_TRIES = 10_000


def _bicubic_rows(n_in: int, n_out: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(indices, weights), each (n_out, 4): output row y of a bicubic upsampling from n_in rows is
    sum_k weights[y, k] * row[indices[y, k]] (torch's bicubic, read off the identity)."""
    eye = torch.eye(n_in).view(1, n_in, 1, n_in)
    dense = F.interpolate(eye, size=(1, n_out), mode="bicubic", align_corners=False)[0, :, 0].T  # (n_out, n_in)
    idx = dense.abs().topk(4, dim=1).indices
    return idx, dense.gather(1, idx)


def lua_region_pattern(image_size: int, seed: int, size: int = LUA_PATTERN_SIZE, density: float = 0.25,
                       strip: int = 256) -> torch.Tensor:
    """``train_random.lua``'s one pattern, drawn once from ``seed``: uniform noise on a coarse grid
    (res 0.06: one cell per 1/0.06 px at 128 px, scaled with the crop), bicubically upsampled to
    size² and thresholded at ``density``. (size, size) bool, True = hole. Built in row strips, so
    the float pattern (400 MB at 10000²) is never held whole."""
    cell = (1 / 0.06) * image_size / 128
    grid = max(4, math.ceil(size / cell))
    low = torch.rand(grid, grid, generator=torch.Generator().manual_seed(seed))
    idx, w = _bicubic_rows(grid, size)
    out = torch.empty(size, size, dtype=torch.bool)
    for r0 in range(0, size, strip):
        r1 = min(size, r0 + strip)
        rows = (low[idx[r0:r1]] * w[r0:r1, :, None]).sum(1)  # (strip, grid): upsampled along y
        out[r0:r1] = (rows[:, idx] * w).sum(-1) < density  # (strip, size): and along x
    return out


class LuaRegionMasks:
    """Random-region masks as ``train_random.lua`` makes them: one pattern drawn once per run from
    ``seed`` (:func:`lua_region_pattern`); each mask is a random crop of it whose hole share lies
    strictly in (20 %, 30 %), redrawn until it does. Each call draws its crops from the generator
    it is given: a sample's (``--region-masks lua``) or one generator per step shared by the whole
    batch (``lua-batch``: one crop per batch, as Lua; training/loop.py's ``MaskedImages``)."""

    def __init__(self, image_size: int, seed: int, size: int = LUA_PATTERN_SIZE,
                 share: tuple[float, float] = (0.2, 0.3)) -> None:
        if size <= image_size:
            raise ValueError(f"the Lua pattern ({size} px) must be larger than the crop ({image_size} px)")
        self.image_size, self.share = image_size, share
        self.pattern = lua_region_pattern(image_size, seed, size)

    def __call__(self, n: int, generator: torch.Generator) -> torch.Tensor:
        s, top = self.image_size, self.pattern.shape[0] - self.image_size
        out = torch.zeros(n, 1, s, s)
        for i in range(n):
            for _ in range(LUA_CROP_TRIES):
                y, x = (int(v) for v in torch.randint(0, top + 1, (2,), generator=generator))
                crop = self.pattern[y : y + s, x : x + s]
                if self.share[0] < crop.float().mean().item() < self.share[1]:
                    out[i, 0] = crop.float()
                    break
            else:
                raise RuntimeError(f"no crop of the Lua region pattern in {LUA_CROP_TRIES} tries has a hole share "
                                   f"in {self.share}")
        return out


class MaskFolder:
    """Masks read from a folder of PNG files (white / non-zero = hole).

    Resized with nearest neighbour to the image size, then randomly flipped and rotated by
    multiples of 90°. Works with ``irregular-masks/`` of the shared data. ``share`` (lo, hi): only
    the masks hiding that share of the image at that size.
    """

    def __init__(self, folder: str | Path, image_size: int, share: tuple[float, float] = (0.0, 1.0)) -> None:
        self.paths = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_MASK_SUFFIXES)
        if not self.paths:
            raise ValueError(f"no PNG masks found in {folder}")
        self.image_size = image_size
        self._cache: dict[int, torch.Tensor] = {}
        if share != (0.0, 1.0):
            kept = [i for i in range(len(self.paths)) if share[0] <= self.load(i).mean().item() <= share[1]]
            if not kept:
                raise ValueError(f"no mask in {folder} hides {share[0]:g}-{share[1]:g} of the image")
            self.paths = [self.paths[i] for i in kept]
            self._cache = {new: self._cache[old] for new, old in enumerate(kept)}  # read once, kept

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, index: int) -> torch.Tensor:
        """The mask at ``index`` resized to the image size: (1, S, S) float, 1 = hole."""
        if index not in self._cache:
            img = Image.open(self.paths[index]).convert("L")
            img = img.resize((self.image_size, self.image_size), Image.NEAREST)
            self._cache[index] = torch.from_numpy(np.asarray(img) > 127).float()[None]
        return self._cache[index]

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """n random masks with random flips / 90° rotations: (n, 1, S, S)."""
        picks = torch.randint(0, len(self), (n,), generator=generator)
        ops = torch.randint(0, 8, (n,), generator=generator)
        out = []
        for idx, op in zip(picks.tolist(), ops.tolist()):
            m = torch.rot90(self.load(idx), op % 4, dims=(1, 2))
            out.append(m.flip(-1) if op >= 4 else m)
        return torch.stack(out)


def mean_fill_value(device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The mean colour (117, 104, 123)/255 mapped to [-1, 1]: (1, 3, 1, 1)."""
    rgb = torch.tensor(MEAN_RGB, dtype=dtype, device=device) / 255 * 2 - 1
    return rgb.view(1, 3, 1, 1)


def fill_hole(images: torch.Tensor, mask: torch.Tensor, how: str = "mean") -> torch.Tensor:
    """Hide the masked pixels before encoding: the one place this is done.

    images (N, 3, H, W) in [-1, 1]; mask (N, 1, H, W), 1 = missing. Returns (N, 3, H, W).
    ``how`` (``ModelConfig.hole_fill``): mean (the paper: the mean colour (117, 104, 123)) or
    harmonic (a deviation, issue 23: the smoothest fill that meets the known pixels around each
    hole, so the net starts from the parameter-free harmonic fill and adds what it lacks).
    """
    hidden = mask.to(images.dtype) > 0.5
    if how == "harmonic":
        return _harmonic_fill(images, hidden)
    return torch.where(hidden, mean_fill_value(images.device, images.dtype), images)


def net_input(images: torch.Tensor, mask: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    """The generator's input: the images with their hole filled as ``cfg.hole_fill`` says
    (:func:`fill_hole`), then the mask (1 = hidden) as a fourth channel with ``cfg.mask_channel``.

    images (N, 3, H, W) in [-1, 1]; mask (N, 1, H, W). Returns (N, cfg.in_channels, H, W).
    """
    x = fill_hole(images, mask, cfg.hole_fill)
    if not cfg.mask_channel:
        return x
    return torch.cat([x, (mask > 0.5).to(x.dtype)], dim=1)


def deeper_than(hole: torch.Tensor, depth: int) -> torch.Tensor:
    """The pixels of ``hole`` farther than ``depth`` px (Euclidean) from every known pixel.

    hole (N, 1, H, W) bool -> (N, 1, H, W) bool. Pixels outside the image count as hole.
    """
    yy, xx = torch.meshgrid(torch.arange(-depth, depth + 1), torch.arange(-depth, depth + 1), indexing="ij")
    disk = ((yy**2 + xx**2) <= depth**2).float().to(hole.device)[None, None]  # (1, 1, 2d+1, 2d+1)
    known_near = F.conv2d((~hole).float(), disk, padding=depth)
    return hole & (known_near < 0.5)


def _harmonic_fill(images: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """images (N, 3, H, W) with the pixels of ``hidden`` (N, 1, H, W) bool replaced by the harmonic
    fill of each image's known pixels (the mean colour where no known pixel borders a hole)."""
    from context_encoder.laplace import harmonic_fill_small, hole_border

    x = images.detach().float().permute(0, 2, 3, 1).cpu().numpy()  # (N, H, W, 3)
    holes = hidden[:, 0].cpu().numpy()
    out = x.copy()
    mean = mean_fill_value().view(3).numpy()
    for i, hole in enumerate(holes):
        if not hole.any():
            continue
        if not hole_border(hole).any():  # nothing known to interpolate from
            out[i][hole] = mean
            continue
        out[i][hole] = harmonic_fill_small(hole, x[i])
    filled = torch.from_numpy(out).permute(0, 3, 1, 2).to(images.device, images.dtype)
    return torch.where(hidden, filled, images)


class MaskSampler:
    """Draws training masks of one kind: ``sampler(n, generator) -> (n, 1, S, S)``."""

    def __init__(self, kind: str, image_size: int, overlap: int, folder: str = "", *,
                 region_masks: str = "per-image", seed: int = 0, share: tuple[float, float] = (0.0, 1.0),
                 box_share: float = 0.0) -> None:
        self.kind, self.image_size, self.overlap, self.box_share = kind, image_size, overlap, box_share
        self.folder = MaskFolder(folder, image_size, share) if kind == "folder" else None
        # --region-masks lua / lua-batch: train_random.lua's one pattern, drawn here (before any
        # DataLoader worker forks, so they share it)
        lua = kind == "region" and region_masks in ("lua", "lua-batch")
        self.lua = LuaRegionMasks(image_size, seed) if lua else None

    def __call__(self, n: int, generator: torch.Generator) -> torch.Tensor:
        s = self.image_size
        if self.kind == "center":
            return center_mask(n, s, self.overlap)
        if self.kind == "block":
            return block_mask(n, s, generator)
        if self.kind == "region":
            return self.lua(n, generator) if self.lua is not None else region_mask(n, s, generator)
        assert self.folder is not None
        masks = self.folder.sample(n, generator)
        if self.box_share:
            boxes = torch.rand(n, generator=generator) < self.box_share
            masks[boxes] = box_mask(int(boxes.sum()), s, generator)
        return masks


BOX_SHARE = (0.1, 0.5)  # the area share of box_mask's random rectangles


def box_mask(n: int, image_size: int, generator: torch.Generator) -> torch.Tensor:
    """Boxes: each the center S/2 square (the center protocols' hole) or, half the time, a random
    rectangle hiding 10-50 % of the image, aspect ratio 1:2 to 2:1, anywhere. (n, 1, S, S), 1 = hidden."""
    s = image_size
    out = center_mask(n, s, 0)
    for i in range(n):
        if torch.rand((), generator=generator).item() < 0.5:
            continue
        u = torch.rand(2, generator=generator).tolist()
        area = (BOX_SHARE[0] + (BOX_SHARE[1] - BOX_SHARE[0]) * u[0]) * s * s
        aspect = 2.0 ** (2 * u[1] - 1)
        h = min(s, max(1, round(math.sqrt(area * aspect))))
        w = min(s, max(1, round(area / h)))
        y = int(torch.randint(0, s - h + 1, (), generator=generator))
        x = int(torch.randint(0, s - w + 1, (), generator=generator))
        out[i] = 0
        out[i, :, y : y + h, x : x + w] = 1
    return out


PASTE_WHOLE_SHARE = 0.25  # samples whose photo hole is the whole hidden square
MIN_PASTE_SHARE = 0.02  # a cropped mask hiding less of the square than this gives the whole square


class PasteHoles:
    """The photo's hole inside a center net's hidden square, for the loss through the Poisson paste.

    ``inpaint`` always hides a center net's whole hole box, but the photo's hole is any part of it
    (a stroke, the edge of a large hole); the paste keeps the photo's pixels elsewhere. Each call
    keeps the whole square (a quarter of the time) or a random mask of ``folder`` (flipped and
    rotated, resized to the square) restricted to it. ``box``: the square's (lo, hi) rows/columns.
    """

    def __init__(self, folder: str | Path, box: tuple[int, int]) -> None:
        self.lo, self.hi = box
        self.masks = MaskFolder(folder, self.hi - self.lo)

    def __call__(self, hidden: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """hidden (1, S, S), 1 = hidden -> the photo's hole (1, S, S), a subset of it."""
        if torch.rand((), generator=generator).item() < PASTE_WHOLE_SHARE:
            return hidden
        sub = self.masks.sample(1, generator)[0]  # (1, b, b)
        if sub.mean().item() < MIN_PASTE_SHARE:
            return hidden
        out = torch.zeros_like(hidden)
        out[:, self.lo : self.hi, self.lo : self.hi] = sub
        return out * hidden
