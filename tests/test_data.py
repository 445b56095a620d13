"""Data: recursive search, conversions, corrupt files skipped, seeded crops and split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from context_encoder.data import (
    ImageFolderDataset,
    StepBatchSampler,
    find_images,
    load_resized,
    split_files,
)


def test_modes_are_converted_to_rgb(tmp_path: Path) -> None:
    Image.fromarray(np.full((20, 30), 40000, np.uint16)).save(tmp_path / "a16.png")
    Image.fromarray(np.full((20, 30), 200, np.uint8), "L").save(tmp_path / "gray.png")
    Image.new("RGBA", (30, 20), (10, 20, 30, 128)).save(tmp_path / "rgba.png")
    Image.new("P", (30, 20), 3).save(tmp_path / "pal.bmp")
    (tmp_path / "sub").mkdir()
    Image.new("RGB", (30, 20), (1, 2, 3)).save(tmp_path / "sub" / "x.webp")
    files = find_images([tmp_path])
    assert len(files) == 5
    for f in files:
        img = load_resized(f, 16)
        assert img.dtype == torch.uint8 and img.shape[0] == 3 and min(img.shape[1:]) == 16
    assert 150 < load_resized(tmp_path / "a16.png", 16).float().mean() < 160  # 40000/65535*255


def test_corrupt_file_is_skipped_with_a_warning(tmp_path: Path, image_dir: Path) -> None:
    (image_dir / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    with pytest.warns(UserWarning, match="broken.jpg"):
        ds = ImageFolderDataset(find_images([image_dir]), image_size=32, load_size=40)
    assert len(ds) == 8


def test_no_usable_image_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "bad.png").write_bytes(b"nope")
    with pytest.raises(ValueError, match="no usable image"), pytest.warns(UserWarning):
        ImageFolderDataset(find_images([tmp_path]), image_size=32, load_size=40)


def test_seeded_crops_and_flip(image_dir: Path) -> None:
    ds = ImageFolderDataset(find_images([image_dir]), image_size=32, load_size=40)
    assert torch.equal(ds[(0, 5)], ds[(0, 5)])
    assert ds[(0, 5)].shape == (3, 32, 32)
    crops = {ds[(0, s)].float().sum().item() for s in range(20)}
    assert len(crops) > 1


def test_split_is_fixed_and_disjoint(image_dir: Path) -> None:
    files = find_images([image_dir])
    train, val = split_files(files, 0.25, seed=0)
    assert (train, val) == split_files(files, 0.25, seed=0)
    assert len(val) == 2 and not set(train) & set(val) and len(train) + len(val) == len(files)


def test_step_sampler_resumes_and_shards() -> None:
    full = StepBatchSampler(10, batch_size=2, seed=1)
    it = iter(full)
    first = [next(it) for _ in range(7)]
    resumed = iter(StepBatchSampler(10, batch_size=2, seed=1, start_step=4))
    assert [next(resumed) for _ in range(3)] == first[4:]
    r0 = next(iter(StepBatchSampler(10, batch_size=2, seed=1, rank=0, world_size=2)))
    r1 = next(iter(StepBatchSampler(10, batch_size=2, seed=1, rank=1, world_size=2)))
    assert not {i for i, *_ in r0} & {i for i, *_ in r1}
    tiny = next(iter(StepBatchSampler(3, batch_size=8, seed=0)))
    assert len(tiny) == 8  # a folder smaller than a batch still fills it


def _ramp(tmp_path: Path, width: int = 300, height: int = 200) -> Path:
    """A photo whose red channel rises 0..255 left to right (a crop's range shows its scale)."""
    ramp = np.linspace(0, 255, width)[None, :].repeat(height, 0)
    img = np.stack([ramp, np.full_like(ramp, 80), np.full_like(ramp, 160)], -1).astype(np.uint8)
    path = tmp_path / "ramp.png"
    Image.fromarray(img).save(path)
    return path


def test_scale_jitter_crops_cover_more_of_the_photo(tmp_path: Path) -> None:
    path = _ramp(tmp_path)
    fixed = ImageFolderDataset([path], image_size=32, load_size=64)
    jitter = ImageFolderDataset([path], image_size=32, load_size=64, min_load_size=32)
    span = lambda crop: int(crop[0].max()) - int(crop[0].min())  # noqa: E731
    fixed_spans = [span(fixed[(0, seed)]) for seed in range(40)]
    jitter_spans = [span(jitter[(0, seed)]) for seed in range(40)]
    for seed in range(40):
        crop = jitter[(0, seed)]
        assert crop.shape == (3, 32, 32) and crop.dtype == torch.uint8
        assert torch.equal(crop, jitter[(0, seed)])  # same seed, same crop
    # A 32 px crop sees a third of the photo's width at a 64 px shorter side, two thirds at 32 px.
    assert max(fixed_spans) <= 100
    assert max(jitter_spans) >= 140
    assert np.mean(jitter_spans) > 1.3 * np.mean(fixed_spans)


def test_scale_jitter_off_when_range_is_empty(tmp_path: Path) -> None:
    path = _ramp(tmp_path)
    same = ImageFolderDataset([path], image_size=32, load_size=64, min_load_size=64)
    spans = {int(same[(0, s)][0].max()) - int(same[(0, s)][0].min()) for s in range(20)}
    assert max(spans) <= 100  # every crop at the 64 px scale


def test_window_views_show_the_whole_photo_mirrored_past_its_shorter_sides(tmp_path: Path) -> None:
    """``window_views`` 1: every sample is the whole photo (the red ramp spans 0..255) in a square
    window of its longer side, rows mirrored past the top and bottom as inpaint's windows are."""
    width, height = 300, 200
    ramp = np.linspace(0, 255, width)[None, :].repeat(height, 0)
    rows = np.linspace(0, 255, height)[:, None].repeat(width, 1)  # green rises top to bottom
    img = np.stack([ramp, rows, np.full_like(ramp, 160)], -1).round().astype(np.uint8)
    path = tmp_path / "ramp.png"
    Image.fromarray(img).save(path)
    views = ImageFolderDataset([path], image_size=30, load_size=200, window_views=1.0)
    crops = ImageFolderDataset([path], image_size=30, load_size=200)
    for seed in range(6):
        view = views[(0, seed)]
        assert view.shape == (3, 30, 30) and torch.equal(view, views[(0, seed)])
        red, green = view[0].float(), view[1].float()
        assert red.max() - red.min() > 230  # the photo's whole width
        # 50 mirrored rows of 300 above and below: 5 of 30; green falls towards both edges from
        # its maximum at the photo's last row and minimum at its first
        col = green[:, 15]
        assert col[:5].flip(0).sub(col[5:10]).abs().max() < 30  # top band mirrors the first rows
        assert col[25:].flip(0).sub(col[20:25]).abs().max() < 30
        assert col[10] < col[20]
    assert max(int(c[0].max()) - int(c[0].min()) for c in (crops[(0, s)] for s in range(6))) < 100


def test_bilinear_resampling_as_the_originals_image_scale(image_dir: Path) -> None:
    """``resample: bilinear`` (Lua's ``image.scale`` default) is what PIL's bilinear filter gives;
    the default stays bicubic."""
    path = find_images([image_dir])[0]
    with Image.open(path) as raw:
        w, h = raw.size
        scale = 24 / min(w, h)
        size = (max(24, round(w * scale)), max(24, round(h * scale)))
        want = torch.from_numpy(np.array(raw.convert("RGB").resize(size, Image.BILINEAR))).permute(2, 0, 1)
    assert torch.equal(load_resized(path, 24, "bilinear"), want)
    assert not torch.equal(load_resized(path, 24), want)
    ds = ImageFolderDataset([path], image_size=24, load_size=24, resample="bilinear")
    assert torch.equal(ds._image(0), want)
