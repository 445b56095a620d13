"""Masks: area bounds, determinism per seed, the center geometry and the folder reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from context_encoder.geometry import center_mask
from context_encoder.masks import (
    LuaRegionMasks,
    MaskFolder,
    block_mask,
    fill_hole,
    lua_region_pattern,
    mean_fill_value,
    region_mask,
)


def test_center_mask_geometry() -> None:
    m = center_mask(2, 128, 4)
    assert m.shape == (2, 1, 128, 128)
    assert m.sum() == 2 * 56 * 56
    assert m[0, 0, 36:92, 36:92].all() and m[0, 0, 35, 50] == 0 and m[0, 0, 92, 50] == 0
    assert center_mask(1, 32, 1).sum() == 14 * 14


@pytest.mark.parametrize("size", [32, 128])
def test_block_mask_bounds_and_seed(size: int) -> None:
    a = block_mask(16, size, torch.Generator().manual_seed(3))
    b = block_mask(16, size, torch.Generator().manual_seed(3))
    share = a.mean(dim=(1, 2, 3))
    assert torch.equal(a, b)
    assert (share > 0).all() and (share <= 0.25).all()
    assert not torch.equal(a, block_mask(16, size, torch.Generator().manual_seed(4)))


@pytest.mark.parametrize("size", [32, 128])
def test_region_mask_bounds_and_seed(size: int) -> None:
    a = region_mask(16, size, torch.Generator().manual_seed(1))
    b = region_mask(16, size, torch.Generator().manual_seed(1))
    share = a.mean(dim=(1, 2, 3))
    assert torch.equal(a, b)
    assert (share >= 0.2).all() and (share <= 0.3).all()
    assert set(a.unique().tolist()) <= {0.0, 1.0}


def test_mask_folder_reads_white_as_hole(tmp_path: Path) -> None:
    arr = np.zeros((64, 64), np.uint8)
    arr[:16, :32] = 255
    Image.fromarray(arr).save(tmp_path / "m.png")
    folder = MaskFolder(tmp_path, 32)
    assert folder.load(0).sum() == 8 * 16
    masks = folder.sample(6, torch.Generator().manual_seed(0))
    assert masks.shape == (6, 1, 32, 32)
    assert torch.all(masks.sum(dim=(1, 2, 3)) == 128)
    assert torch.equal(masks, folder.sample(6, torch.Generator().manual_seed(0)))


def test_mask_folder_empty_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no PNG masks"):
        MaskFolder(tmp_path, 32)


def test_fill_hole_uses_mean_colour_only_inside() -> None:
    x = torch.rand(2, 3, 8, 8) * 2 - 1
    m = torch.zeros(2, 1, 8, 8)
    m[:, :, 2:4, 2:5] = 1
    y = fill_hole(x, m)
    assert torch.equal(y[:, :, 0], x[:, :, 0])
    expected = torch.tensor([117, 104, 123]) / 255 * 2 - 1
    torch.testing.assert_close(y[0, :, 3, 3], expected)
    torch.testing.assert_close(mean_fill_value()[0, :, 0, 0], expected)


def test_lua_region_pattern_is_the_bicubic_upsampled_noise_thresholded() -> None:
    """The strip-wise build equals one bicubic upsampling of the seed's coarse noise, thresholded at 0.25."""
    pattern = lua_region_pattern(32, seed=3, size=300, strip=7)
    cell = (1 / 0.06) * 32 / 128
    grid = max(4, int(np.ceil(300 / cell)))
    low = torch.rand(grid, grid, generator=torch.Generator().manual_seed(3))
    whole = torch.nn.functional.interpolate(low[None, None], size=(300, 300), mode="bicubic", align_corners=False)
    assert (pattern == (whole[0, 0] < 0.25)).float().mean() > 0.9999  # float rounding at the threshold
    assert torch.equal(pattern, lua_region_pattern(32, seed=3, size=300))
    assert not torch.equal(pattern, lua_region_pattern(32, seed=4, size=300))


def test_lua_region_masks_are_crops_of_the_one_pattern_with_a_share_in_20_30() -> None:
    lua = LuaRegionMasks(32, seed=0, size=400)
    masks = lua(6, torch.Generator().manual_seed(1))
    assert masks.shape == (6, 1, 32, 32)
    shares = masks.mean(dim=(1, 2, 3))
    assert bool(((shares > 0.2) & (shares < 0.3)).all()), shares
    assert torch.equal(masks, lua(6, torch.Generator().manual_seed(1)))
    p = lua.pattern.float()[None, None]
    for m in masks:  # each mask matches the pattern at some offset, pixel for pixel
        agree = torch.nn.functional.conv2d(p, m[None]) + torch.nn.functional.conv2d(1 - p, 1 - m[None])
        assert agree.max().item() == 32 * 32


def test_lua_batch_masks_give_one_crop_per_global_batch_on_every_rank(image_dir: Path) -> None:
    """--region-masks lua-batch (train_random.lua): all images of a step share one crop of the
    pattern, on every rank of a distributed run, and the next step takes another; --region-masks lua
    crops per sample."""
    from context_encoder.data import ImageFolderDataset, StepBatchSampler, find_images
    from context_encoder.training.loop import MaskedImages

    images = ImageFolderDataset(find_images([image_dir]), image_size=32, load_size=36)
    lua = LuaRegionMasks(32, seed=0, size=400)

    def step_masks(per_batch: bool, batch: int, world: int) -> list[torch.Tensor]:
        """The masks of steps 0 and 1 of every rank, each (world * batch, 1, 32, 32)."""
        data = MaskedImages(images, lua, per_batch=per_batch)
        ranks = [iter(StepBatchSampler(len(images), batch_size=batch, seed=5, rank=r, world_size=world))
                 for r in range(world)]
        return [torch.stack([data[item][1] for it in ranks for item in next(it)]) for _ in range(2)]

    first, second = step_masks(True, 4, 1)
    assert all(torch.equal(m, first[0]) for m in first) and all(torch.equal(m, second[0]) for m in second)
    assert not torch.equal(first[0], second[0])
    assert 0.2 < first[0].float().mean() < 0.3
    assert all(torch.equal(a, b) for a, b in zip(step_masks(True, 2, 2), (first, second)))  # 2 ranks of 2
    per_sample = step_masks(False, 4, 1)[0]
    assert len({m.numpy().tobytes() for m in per_sample}) == 4


def test_mask_folder_keeps_the_share_asked_and_boxes_replace_some_masks(tmp_path: Path) -> None:
    from context_encoder.masks import MaskSampler, box_mask

    for i, rows in enumerate((2, 16, 40, 60)):  # 3 %, 25 %, 62 %, 94 % of a 64x64 image
        arr = np.zeros((64, 64), np.uint8)
        arr[:rows] = 255
        Image.fromarray(arr).save(tmp_path / f"m{i}.png")
    kept = MaskFolder(tmp_path, 32, share=(0.1, 0.5))
    assert [p.name for p in kept.paths] == ["m1.png"]
    with pytest.raises(ValueError, match="no mask in"):
        MaskFolder(tmp_path, 32, share=(0.96, 1.0))
    boxes = box_mask(400, 32, torch.Generator().manual_seed(0))
    shares = boxes.mean(dim=(1, 2, 3))
    center = torch.all(boxes == center_mask(1, 32, 0), dim=(1, 2, 3))
    assert 0.4 < center.float().mean() < 0.6  # half are the center square
    assert torch.all((shares[~center] >= 0.08) & (shares[~center] <= 0.52))
    for b in boxes[~center][:20, 0]:  # one filled rectangle each
        rows, cols = b.any(1).nonzero(), b.any(0).nonzero()
        assert b.sum() == len(rows) * len(cols) == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
    sampler = MaskSampler("folder", 32, 0, str(tmp_path), share=(0.9, 1.0), box_share=0.5)  # m3 or a box
    drawn = sampler(200, torch.Generator().manual_seed(1))
    from_folder = drawn.mean(dim=(1, 2, 3)) > 0.9
    assert 0.35 < 1 - from_folder.float().mean() < 0.65  # about half are boxes
    assert torch.equal(drawn, sampler(200, torch.Generator().manual_seed(1)))


def test_mask_share_and_box_share_are_validated() -> None:
    from context_encoder.config import TrainConfig, to_dict, train_config_from_dict

    base = to_dict(TrainConfig()) | {"data": {"data": ["x"]}}
    folder = {"kind": "folder", "folder": "m"}
    cfg = train_config_from_dict(base | {"mask": folder | {"share_min": 0.1, "share_max": 0.5, "box_share": 0.2}})
    assert (cfg.mask.share_min, cfg.mask.share_max, cfg.mask.box_share) == (0.1, 0.5, 0.2)
    with pytest.raises(ValueError, match="share-min < share-max"):
        train_config_from_dict(base | {"mask": folder | {"share_min": 0.5, "share_max": 0.1}})
    with pytest.raises(ValueError, match="read only with --mask folder"):
        train_config_from_dict(base | {"mask": {"kind": "center", "box_share": 0.2}})
