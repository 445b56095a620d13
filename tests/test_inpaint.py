"""Inpainting photos of any size: window planning, the Inpainter API, the CLI (single and batch)."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from context_encoder import Inpainter
from context_encoder import laplace as poisson
from context_encoder.checkpoint import CheckpointError, find_checkpoint
from context_encoder.cli import main
from context_encoder.config import InpaintConfig, ModelConfig
from context_encoder.geometry import center_hole, center_mask, hole_box
from context_encoder.inpainting.blend import paste
from context_encoder.inpainting.windows import Window, fill_box, plan_windows, read_box, schedule
from context_encoder.masks import mean_fill_value
from context_encoder.models import build_generator

CENTER = ModelConfig(image_size=32, bottleneck=32, nef=16, ngf=16, ndf=16, overlap=1)
WHOLE = ModelConfig(image_size=32, bottleneck=32, nef=16, ngf=16, ndf=16, full_image=True)
CONST = 0.2  # the constant generator's output; as uint8: round(1.2 * 127.5) = 153
CONST_U8 = 153


class ConstGenerator(nn.Module):
    """Predicts CONST everywhere and records its inputs: a probe of the window geometry."""

    def __init__(self, cfg: ModelConfig, value: float = CONST) -> None:
        super().__init__()
        self.size, self.value, self.inputs = cfg.output_size, value, []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.inputs.append(x.clone())
        return torch.full((x.shape[0], 3, self.size, self.size), self.value)


def photo(h: int, w: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """A smooth random photo (H, W, C) uint8."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    planes = [128 + 100 * np.sin(rng.uniform(2, 8) * xx + rng.uniform(2, 8) * yy + c) for c in range(channels)]
    return np.clip(np.stack(planes, -1), 0, 255).astype(np.uint8)


def holes(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Several holes (H, W) bool: blobs, a 1x1 hole, a thin line and one touching the border."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((h, w), np.uint8)
    for _ in range(4):
        center = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        axes = (int(rng.integers(2, w // 6)), int(rng.integers(2, h // 6)))
        cv2.ellipse(mask, center, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    mask[h // 2, w // 3] = 1  # 1x1 hole
    mask[h - 4 :, w // 2 : w // 2 + 9] = 1  # touching the bottom border
    cv2.line(mask, (0, h // 5), (w - 1, h // 4), 1, 2)  # thin, wider than any window: tiled
    return mask.astype(bool)


HOLES = {
    "blobs": lambda: holes(333, 517),
    "one_px": lambda: np.pad(np.ones((1, 1), bool), ((40, 292), (7, 509))),
    "corner": lambda: np.pad(np.ones((30, 30), bool), ((0, 303), (487, 0))),
    "huge": lambda: np.pad(np.ones((300, 480), bool), ((20, 13), (20, 17))),
    "tiny_image": lambda: np.pad(np.ones((3, 5), bool), ((4, 6), (9, 6))),
}


def _inside_box(window, hole: np.ndarray, cfg: ModelConfig) -> bool:
    """Whether the window's pixels, area-resized to the model's size, lie inside its hole box."""
    target = np.zeros_like(hole, dtype=np.float32)
    target[window.rows, window.cols] = 1
    pad, side = window.side, window.side
    padded = np.pad(target, pad)  # the window may reach past the border (no targets there)
    top, left = window.top + pad, window.left + pad
    crop = padded[top : top + side, left : left + side]
    small = cv2.resize(crop, (cfg.image_size,) * 2, interpolation=cv2.INTER_AREA) > 0
    lo, hi = fill_box(cfg)
    inside = np.zeros_like(small)
    inside[lo:hi, lo:hi] = True
    return not (small & ~inside).any()


@pytest.mark.parametrize("cfg", [CENTER, WHOLE], ids=["center", "whole"])
@pytest.mark.parametrize("name", list(HOLES))
def test_windows_fill_each_hole_pixel_once_inside_the_model_hole(cfg: ModelConfig, name: str) -> None:
    hole = HOLES[name]()
    windows = plan_windows(hole, cfg)
    count = np.zeros(hole.shape, int)
    for w in windows:
        np.add.at(count, (w.rows, w.cols), 1)
        assert w.side >= cfg.image_size
        assert _inside_box(w, hole, cfg)
    assert (count == hole).all()


def test_whole_image_windows_take_context_up_to_the_photo() -> None:
    """A whole-image net's window gives a hole half its extent of context on each side (the hole in
    the central S/2 square), but a hole spanning the photo gets a window about the photo's size
    (the hole in the window but a thin frame), not twice it with mirrored context. Center nets keep
    their hole box."""
    s = WHOLE.image_size
    assert fill_box(CENTER) == hole_box(CENTER) and fill_box(WHOLE) == (s // 16, s - s // 16)
    small = np.zeros((400, 600), bool)
    small[180:230, 280:330] = True  # 50 px across
    [window] = plan_windows(small, WHOLE)
    assert window.side == math.ceil(51 * s / (s // 2))  # 2x the extent: as much context as before
    [window] = plan_windows(HOLES["huge"](), WHOLE)  # 300 x 480 in a 333 x 517 photo
    assert window.side == math.ceil(481 * s / (s - 2 * (s // 16))) < 517 * 1.1
    assert _inside_box(window, HOLES["huge"](), WHOLE)


def test_schedule_orders_windows_that_read_each_other() -> None:
    hole = holes(333, 517)
    windows = plan_windows(hole, CENTER)
    waves = schedule(windows, hole.shape)
    for i, window in enumerate(windows):
        r0, r1, c0, c1 = read_box(window, hole.shape)
        for j in range(i):
            t0, t1, u0, u1 = windows[j].target_box()
            if t0 < r1 and r0 < t1 and u0 < c1 and c0 < u1:
                assert waves[i] > waves[j]


def test_center_hole_is_the_training_mask_at_model_size() -> None:
    expected = center_mask(1, 32, 1)[0, 0].numpy().astype(bool)
    assert (center_hole(32, 32, CENTER) == expected).all()
    hole = center_hole(321, 481, CENTER)  # the largest centered square, scaled
    rows, cols = np.nonzero(hole)
    assert rows.min() + rows.max() in (320, 319) and cols.min() + cols.max() in (480, 479)
    assert rows.max() - rows.min() + 1 == round(321 * 14 / 32)


@pytest.mark.filterwarnings("ignore:the mask hides")  # "huge" is meant to cover most of the photo
@pytest.mark.parametrize("cfg", [CENTER, WHOLE], ids=["center", "whole"])
@pytest.mark.parametrize("name", list(HOLES))
def test_every_hole_pixel_gets_the_prediction_and_nothing_else_changes(cfg: ModelConfig, name: str) -> None:
    hole = HOLES[name]()
    image = photo(*hole.shape)
    out = np.asarray(Inpainter(ConstGenerator(cfg), cfg).inpaint(image, hole, blend="hard"))
    assert out.shape == image.shape and out.dtype == np.uint8
    assert (out[hole] == CONST_U8).all()
    assert (out[~hole] == image[~hole]).all()


def test_the_model_never_sees_a_hidden_pixel() -> None:
    hole = holes(333, 517)
    image = np.where(hole[..., None], 255, 0).astype(np.uint8)  # known black, hidden white
    gen = ConstGenerator(CENTER, value=-1.0)  # fills black too: filled pixels look known
    Inpainter(gen, CENTER).inpaint(image, hole)
    seen = torch.cat(gen.inputs)  # (N, 3, S, S)
    fill = mean_fill_value().expand_as(seen)
    assert torch.all((seen == -1) | torch.isclose(seen, fill)), "a hidden pixel leaked into the input"


def test_trained_model_keeps_pixels_outside_the_hole(tiny_checkpoint: Path) -> None:
    hole, image = holes(333, 517), photo(333, 517)
    inpainter = Inpainter.from_checkpoint(tiny_checkpoint, device="cpu")
    out = np.asarray(inpainter.inpaint(Image.fromarray(image), Image.fromarray(hole.astype(np.uint8) * 255)))
    assert (out[~hole] == image[~hole]).all()
    assert (out[hole] != image[hole]).any()


def test_batched_waves_equal_one_window_at_a_time(tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hole, image = holes(333, 517), photo(333, 517)
    inpainter = Inpainter.from_checkpoint(tiny_checkpoint, device="cpu")
    batched = np.asarray(inpainter.inpaint(image, hole)).astype(int)
    monkeypatch.setattr("context_encoder.inpainting.inpainter.schedule",
                        lambda windows, shape: list(range(len(windows))))
    one_by_one = InpaintConfig(batch_size=1)
    sequential = np.asarray(Inpainter.from_checkpoint(tiny_checkpoint, device="cpu", config=one_by_one)
                            .inpaint(image, hole)).astype(int)
    assert np.abs(batched - sequential).max() <= 1


def test_inpaint_batch_equals_single_calls(tiny_checkpoint: Path) -> None:
    inpainter = Inpainter.from_checkpoint(tiny_checkpoint, device="cpu")
    images = [photo(333, 517), photo(40, 61, seed=1), photo(90, 70, seed=2)]
    masks = [holes(333, 517), None, holes(90, 70, seed=3)]
    batch = inpainter.inpaint_batch(images, masks)
    for image, mask, got in zip(images, masks, batch):
        single = np.asarray(inpainter.inpaint(image, mask)).astype(int)
        assert np.abs(np.asarray(got).astype(int) - single).max() <= 1
    with pytest.raises(ValueError, match="2 images but 1 masks"):
        inpainter.inpaint_batch(images[:2], masks[:1])


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA"])
def test_gray_stays_gray_and_alpha_is_kept(mode: str) -> None:
    hole = holes(101, 77)
    channels = {"L": 1, "LA": 2, "RGBA": 4}[mode]
    pixels = photo(101, 77, channels)
    if mode != "L":
        pixels[..., -1] = np.random.default_rng(0).integers(0, 256, (101, 77))  # a ragged alpha
    image = Image.fromarray(pixels[..., 0] if mode == "L" else pixels, mode)
    out = Inpainter(ConstGenerator(CENTER), CENTER).inpaint(image, hole, blend="hard")
    assert out.mode == mode and out.size == image.size
    got = np.asarray(out).reshape(pixels.shape)
    assert (got[~hole] == pixels[~hole]).all()
    if mode != "L":
        assert (got[..., -1] == pixels[..., -1]).all()
    assert (got[hole, 0] == CONST_U8).all()  # gray of a gray prediction is that gray


def test_numpy_inputs_and_bad_inputs() -> None:
    inpainter = Inpainter(ConstGenerator(CENTER), CENTER)
    gray = inpainter.inpaint(photo(50, 60, 1)[..., 0], np.ones((50, 60)) * holes(50, 60), blend="hard")
    assert isinstance(gray, np.ndarray) and gray.shape == (50, 60)  # an array in, an array out
    with pytest.raises(ValueError, match="uint8"):
        inpainter.inpaint(photo(50, 60).astype(np.float32))
    with pytest.raises(ValueError, match="mask is 61x50 px but the image is 60x50 px"):
        inpainter.inpaint(photo(50, 60), np.ones((50, 61), bool))
    with pytest.raises(ValueError, match="no context"):
        inpainter.inpaint(photo(50, 60), np.ones((50, 60), bool))
    with pytest.raises(ValueError, match="blend must be one of"):
        inpainter.inpaint(photo(50, 60), blend="soft")


def test_empty_mask_returns_the_image_with_a_warning() -> None:
    image = photo(50, 60)
    with pytest.warns(UserWarning, match="mask is empty"):
        out = Inpainter(ConstGenerator(CENTER), CENTER).inpaint(image, np.zeros((50, 60), bool))
    assert (np.asarray(out) == image).all()


def test_default_mask_is_the_center_square() -> None:
    image = photo(64, 96)
    out = np.asarray(Inpainter(ConstGenerator(CENTER), CENTER).inpaint(image, blend="hard"))
    assert ((out == CONST_U8).all(-1) == center_hole(64, 96, CENTER)).all()


def test_blends_change_only_hole_pixels() -> None:
    hole, image = holes(333, 517), photo(333, 517)
    filled = np.where(hole[..., None], photo(333, 517, seed=5), image).astype(np.uint8)
    for mode in ("hard", "feather", "poisson"):
        out = paste(image, filled, hole, mode=mode, feather_px=6)
        assert (out[~hole] == image[~hole]).all(), mode
    # Poisson keeps the photo when the prediction is the photo
    same = paste(image, image.copy(), hole, mode="poisson", border=image)
    assert np.abs(same.astype(int) - image).max() <= 1
    # Feathering leaves the prediction as is deep inside a big hole
    deep = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 3) > 10
    feathered = paste(image, filled, hole, mode="feather", feather_px=6)
    assert (feathered[deep] == filled[deep]).all()
    with pytest.raises(ValueError, match="blend must be"):
        paste(image, filled, hole, mode="soft")


@pytest.fixture(scope="module")
def region_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A whole-image model (center arch trained on region masks: full_image) after 1 step."""
    from conftest import write_images

    root = tmp_path_factory.mktemp("region_ckpt")
    write_images(root / "images", 4)
    run = root / "run"
    assert main(["train", "--data", str(root / "images"), "--arch", "center", "--mask", "region",
                 "--image-size", "32", "--bottleneck", "32", "--nef", "16", "--ngf", "16", "--ndf", "16",
                 "--batch-size", "4", "--steps", "1", "--workers", "0", "--out", str(run),
                 "--precision", "fp32"]) == 0
    return run


def test_whole_image_model_inpaints_any_photo(region_checkpoint: Path) -> None:
    inpainter = Inpainter.from_checkpoint(region_checkpoint, device="cpu")
    assert inpainter.cfg.full_image and not inpainter.cfg.predicts_center
    hole, image = holes(333, 517), photo(333, 517)
    out = np.asarray(inpainter.inpaint(image, hole))
    assert (out[~hole] == image[~hole]).all()
    with pytest.raises(CheckpointError, match="expected 'alexnet'"):
        Inpainter.from_checkpoint(region_checkpoint, device="cpu", arch="alexnet")


def test_from_pretrained_without_packaged_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("context_encoder.inpainting.inpainter.PACKAGED_DEFAULT", "weights/absent.safetensors")
    with pytest.raises(CheckpointError, match="no default model is packaged.*--checkpoint"):
        Inpainter.from_pretrained()


# ---- command line ------------------------------------------------------------------------------


def _save_mask(path: Path, hole: np.ndarray) -> Path:
    Image.fromarray(hole.astype(np.uint8) * 255).save(path)
    return path


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img)


def test_cli_inpaints_an_odd_sized_photo(tiny_checkpoint: Path, tmp_path: Path, capsys) -> None:
    image, hole = photo(333, 517), holes(333, 517)
    Image.fromarray(image).save(tmp_path / "in.png")
    _save_mask(tmp_path / "mask.png", hole)
    out = tmp_path / "out" / "filled.png"
    for blend_mode, onion in (("hard", "0"), ("feather", "0"), ("poisson", "0"), ("poisson", "4")):
        assert main(["inpaint", str(tmp_path / "in.png"), "--mask", str(tmp_path / "mask.png"), "-o", str(out),
                     "--checkpoint", str(tiny_checkpoint), "--blend", blend_mode, "--overwrite",
                     "--onion", onion]) == 0
        got = _pixels(out)
        assert got.shape == image.shape
        assert (got[~hole] == image[~hole]).all(), blend_mode
    assert "wrote" in capsys.readouterr().out


def test_cli_default_center_hole_keeps_jpeg_and_size(tiny_checkpoint: Path, tmp_path: Path) -> None:
    Image.fromarray(photo(45, 71)).save(tmp_path / "in.jpg", quality=95)
    assert main(["inpaint", str(tmp_path / "in.jpg"), "-o", str(tmp_path / "out.jpg"),
                 "--checkpoint", str(tiny_checkpoint), "--arch", "center"]) == 0
    with Image.open(tmp_path / "out.jpg") as img:
        assert img.format == "JPEG" and img.size == (71, 45)


def test_cli_honours_exif_orientation(tiny_checkpoint: Path, tmp_path: Path) -> None:
    stored = photo(40, 70)  # stored 70 wide, 40 high; orientation 6 displays it 40 wide, 70 high
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "in.png", exif=exif.tobytes())
    shown = np.rot90(stored, -1)
    hole = holes(70, 40)
    _save_mask(tmp_path / "mask.png", hole)
    assert main(["inpaint", str(tmp_path / "in.png"), "--mask", str(tmp_path / "mask.png"),
                 "-o", str(tmp_path / "out.png"), "--checkpoint", str(tiny_checkpoint)]) == 0
    got = _pixels(tmp_path / "out.png")
    assert got.shape == shown.shape and (got[~hole] == shown[~hole]).all()
    with Image.open(tmp_path / "out.png") as img:  # pixels are upright now: no rotation left to apply
        assert img.getexif().get(0x0112, 1) == 1


def test_cli_webp_and_grayscale(tiny_checkpoint: Path, tmp_path: Path) -> None:
    image, hole = photo(64, 48, 1)[..., 0], holes(64, 48)
    Image.fromarray(image).save(tmp_path / "in.webp", lossless=True)
    _save_mask(tmp_path / "mask.png", hole)
    assert main(["inpaint", str(tmp_path / "in.webp"), "--mask", str(tmp_path / "mask.png"),
                 "-o", str(tmp_path / "out.webp"), "--checkpoint", str(tiny_checkpoint)]) == 0
    with Image.open(tmp_path / "out.webp") as img:
        assert img.format == "WEBP"
        got = np.asarray(img.convert("L"))
    assert (got[~hole] == image[~hole]).all()


def test_cli_empty_mask_copies_the_image(tiny_checkpoint: Path, tmp_path: Path) -> None:
    Image.fromarray(photo(45, 71)).save(tmp_path / "in.jpg")
    _save_mask(tmp_path / "mask.png", np.zeros((45, 71), bool))
    with pytest.warns(UserWarning, match="mask of .* is empty: image written unchanged"):
        assert main(["inpaint", str(tmp_path / "in.jpg"), "--mask", str(tmp_path / "mask.png"),
                     "-o", str(tmp_path / "out.jpg"), "--checkpoint", str(tiny_checkpoint)]) == 0
    assert (tmp_path / "out.jpg").read_bytes() == (tmp_path / "in.jpg").read_bytes()


def _truncated_checkpoint(run: Path, folder: Path) -> Path:
    data = find_checkpoint(run).read_bytes()
    bad = folder / "truncated.safetensors"
    bad.write_bytes(data[: len(data) // 2])
    return bad


BAD_INPUTS = {
    "missing image": (lambda d, c: ["missing.png", "--checkpoint", c], "image not found"),
    "unreadable image": (lambda d, c: ["garbage.png", "--checkpoint", c], "cannot read image"),
    "missing mask": (lambda d, c: ["in.png", "--mask", "nope.png", "--checkpoint", c], "mask not found"),
    "mask size": (lambda d, c: ["in.png", "--mask", "small.png", "--checkpoint", c], "mask is 20x10 px"),
    "mask hides all": (lambda d, c: ["in.png", "--mask", "full.png", "--checkpoint", c], "no context"),
    "other arch": (lambda d, c: ["in.png", "--checkpoint", c, "--arch", "alexnet"], "expected 'alexnet'"),
    "corrupt checkpoint": (lambda d, c: ["in.png", "--checkpoint", str(d / "truncated.safetensors")],
                           "truncated.safetensors"),
    "missing checkpoint": (lambda d, c: ["in.png", "--checkpoint", str(d / "none")], "no checkpoint found"),
    "rgba to jpeg": (lambda d, c: ["rgba.png", "--checkpoint", c, "-o", "x.jpg"], "JPEG cannot store"),
    "output exists": (lambda d, c: ["in.png", "--checkpoint", c, "-o", "exists.png"], "--overwrite"),
    "negative onion": (lambda d, c: ["in.png", "--checkpoint", c, "--onion", "-1"], "onion must be"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_cli_bad_input_is_one_line_and_writes_nothing(case: str, tiny_checkpoint: Path, tmp_path: Path,
                                                      capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Image.fromarray(photo(30, 40)).save("in.png")
    Image.fromarray(photo(30, 40, 4)).save("rgba.png")
    Path("garbage.png").write_bytes(b"not an image at all")
    _save_mask(Path("small.png"), np.ones((10, 20), bool))
    _save_mask(Path("full.png"), np.ones((30, 40), bool))
    Path("exists.png").write_bytes(b"keep me")
    _truncated_checkpoint(tiny_checkpoint, tmp_path)
    args, message = BAD_INPUTS[case]
    argv = args(tmp_path, str(tiny_checkpoint))
    argv += [] if "-o" in argv else ["-o", "out.png"]
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["inpaint", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("context-encoder inpaint: error:") and "\n" not in err and message in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert Path("exists.png").read_bytes() == b"keep me"


def test_cli_without_packaged_weights_asks_for_a_checkpoint(tmp_path: Path, capsys,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("context_encoder.inpainting.inpainter.PACKAGED_DEFAULT", "weights/absent.safetensors")
    Image.fromarray(photo(30, 40)).save(tmp_path / "in.png")
    assert main(["inpaint", str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png")]) == 2
    assert "no default model is packaged" in capsys.readouterr().err
    assert not (tmp_path / "out.png").exists()


def test_cli_batch_mode(tiny_checkpoint: Path, tmp_path: Path, capsys) -> None:
    src, masks, dst = tmp_path / "in", tmp_path / "masks", tmp_path / "out"
    src.mkdir(), masks.mkdir(), dst.mkdir()
    shapes = {"a.png": (333, 517), "b.jpg": (60, 80), "c.webp": (50, 40), "d.png": (40, 30)}
    for name, (h, w) in shapes.items():
        Image.fromarray(photo(h, w, seed=len(name))).save(src / name, **({"lossless": True} if "webp" in name else {}))
    _save_mask(masks / "a.png", holes(333, 517))  # matched in --mask-dir
    _save_mask(src / "b_mask.png", holes(60, 80))  # matched beside the image
    _save_mask(tmp_path / "all.png", holes(100, 100))  # one for all: c.webp, resized
    (src / "bad.png").write_bytes(b"\x89PNG truncated")
    (dst / "d.png").write_bytes(b"old")  # exists: skipped without --overwrite
    argv = ["inpaint", "--input-dir", str(src), "--output-dir", str(dst), "--mask-dir", str(masks),
            "--mask", str(tmp_path / "all.png"), "--checkpoint", str(tiny_checkpoint)]
    assert main(argv) == 1  # bad.png failed, the rest went on
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("done 3, skipped 2") and "bad.png (cannot read image" in line
    assert "d.png (output exists, pass --overwrite)" in line
    assert sorted(p.name for p in dst.iterdir()) == ["a.png", "b.jpg", "c.webp", "d.png"]
    for name, fmt in (("a.png", "PNG"), ("b.jpg", "JPEG"), ("c.webp", "WEBP")):
        with Image.open(dst / name) as img:
            assert img.format == fmt and img.size == shapes[name][::-1]
    got, image, hole = _pixels(dst / "a.png"), _pixels(src / "a.png"), holes(333, 517)
    assert (got[~hole] == image[~hole]).all() and (got[hole] != image[hole]).any()
    (src / "bad.png").unlink()
    assert main([*argv, "--overwrite"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "done 4, skipped 0"
    assert (dst / "d.png").read_bytes() != b"old"


def test_cli_batch_mode_mask_dir_without_a_match_skips(tiny_checkpoint: Path, tmp_path: Path, capsys) -> None:
    src, masks = tmp_path / "in", tmp_path / "masks"
    src.mkdir(), masks.mkdir()
    Image.fromarray(photo(30, 40)).save(src / "x.png")
    assert main(["inpaint", "--input-dir", str(src), "--output-dir", str(tmp_path / "out"), "--mask-dir", str(masks),
                 "--checkpoint", str(tiny_checkpoint)]) == 1
    assert "x.png (no mask x.png in" in capsys.readouterr().out
    assert not (tmp_path / "out" / "x.png").exists()


@pytest.mark.parametrize("argv,message", [
    (["in.png"], "give IMAGE and -o OUT"),
    (["--input-dir", "d"], "needs both --input-dir and --output-dir"),
    (["in.png", "-o", "o.png", "--input-dir", "d", "--output-dir", "e"], "not both"),
    (["in.png", "-o", "o.gif"], "cannot write '.gif'"),
])
def test_cli_flag_errors(argv: list[str], message: str, tiny_checkpoint: Path, tmp_path: Path, capsys,
                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Image.fromarray(photo(30, 40)).save("in.png")
    assert main(["inpaint", *argv, "--checkpoint", str(tiny_checkpoint)]) == 2
    assert message in capsys.readouterr().err


def test_flip_tta_inpainter_fills_only_the_hole_with_the_averaged_prediction() -> None:
    torch.manual_seed(0)
    gen = build_generator(CENTER).eval()
    image = np.random.default_rng(3).integers(0, 256, (CENTER.image_size, CENTER.image_size, 3), np.uint8)
    plain = np.asarray(Inpainter(gen, CENTER).inpaint(image, blend="hard"))
    flip = InpaintConfig(flip_tta=True)
    flipped = np.asarray(Inpainter(gen, CENTER, config=flip).inpaint(image, blend="hard"))
    mirror = np.asarray(Inpainter(gen, CENTER).inpaint(np.ascontiguousarray(image[:, ::-1]), blend="hard"))[:, ::-1]
    hole = center_hole(*image.shape[:2], CENTER)
    assert np.array_equal(flipped[~hole], image[~hole])
    expected = (plain[hole].astype(np.float64) + mirror[hole]) / 2  # average of the two fills
    assert np.abs(flipped[hole] - expected).max() <= 1.0  # up to uint8 rounding
    assert not np.array_equal(flipped[hole], plain[hole])


def test_poisson_never_reads_the_hidden_pixels() -> None:
    hole, image = holes(120, 160), photo(120, 160)
    prediction = photo(120, 160, seed=7)
    covered = image.copy()
    covered[hole] = 255 - covered[hole]  # different content under the hole
    for mode in ("hard", "feather", "poisson"):
        a = paste(image, prediction, hole, mode=mode, border=prediction)
        b = paste(covered, prediction, hole, mode=mode, border=prediction)
        assert np.array_equal(a[hole], b[hole]), mode


def test_poisson_removes_a_smooth_mismatch_measured_on_the_border() -> None:
    hole, image = holes(120, 160), photo(120, 160)
    yy, xx = np.mgrid[0:120, 0:160]
    drift = (20 + 0.2 * xx - 0.1 * yy)[..., None]  # a harmonic (linear) colour drift
    prediction = np.clip(image + drift, 0, 255).astype(np.uint8)
    hard = paste(image, prediction, hole, mode="hard")
    out = paste(image, prediction, hole, mode="poisson", border=prediction)
    err = lambda x: np.abs(x[hole].astype(int) - image[hole]).mean()  # noqa: E731
    assert err(hard) > 15 and err(out) < 1.0
    assert np.array_equal(paste(image, prediction, hole, mode="poisson"), hard)  # no border: hard


def test_inpainter_poisson_interpolates_the_border_through_a_flat_prediction() -> None:
    yy, xx = np.mgrid[0:96, 0:128]
    ramp = np.stack([40 + xx, 60 + yy, 200 - xx // 2], -1).astype(np.uint8)  # harmonic per channel
    hole = np.zeros((96, 128), bool)
    hole[30:60, 40:90] = True
    inpainter = Inpainter(ConstGenerator(CENTER), CENTER)
    hard = np.asarray(inpainter.inpaint(ramp, hole, blend="hard"))
    smooth = np.asarray(inpainter.inpaint(ramp, hole, blend="poisson"))
    assert (hard[hole] == CONST_U8).all()
    assert np.abs(smooth[hole].astype(int) - ramp[hole]).max() <= 1
    assert np.array_equal(smooth[~hole], ramp[~hole])


def test_poisson_multigrid_solve_matches_the_direct_one(monkeypatch: pytest.MonkeyPatch) -> None:
    hole, image = holes(120, 160), photo(120, 160)
    prediction = photo(120, 160, seed=7)
    direct = paste(image, prediction, hole, mode="poisson", border=prediction)
    assert hole.sum() <= poisson.DIRECT_MAX
    monkeypatch.setattr(poisson, "DIRECT_MAX", int(hole.sum()) // 3)  # algebraic multigrid
    iterative = paste(image, prediction, hole, mode="poisson", border=prediction)
    assert np.abs(direct.astype(int) - iterative).max() <= 1
    assert not np.array_equal(direct[hole], prediction[hole])  # the correction did something


def test_crop_mirrors_past_the_border_like_reflect_index() -> None:
    from context_encoder.inpainting.crops import crop as _crop
    from context_encoder.inpainting.windows import reflect_index

    rng = np.random.default_rng(1)
    for _ in range(2000):  # windows inside, partly outside, larger than the image, fully outside
        h, w = (int(v) for v in rng.integers(1, 40, 2))
        arr = rng.integers(0, 256, (h, w, 3)).astype(np.uint8) if rng.random() < 0.5 else rng.random((h, w)) < 0.5
        side = int(rng.integers(1, 100))
        top, left = int(rng.integers(-side - 3, h + 5)), int(rng.integers(-side - 3, w + 5))
        want = np.take(np.take(arr, reflect_index(top, side, h), 0), reflect_index(left, side, w), 1)
        got = _crop(arr, top, left, side)
        assert got.dtype == want.dtype and np.array_equal(got, want), (h, w, top, left, side)


def test_downscaled_windows_match_a_mirrored_crop_resized_by_area() -> None:
    """The separable path (windows larger than the photo) gives cv2.INTER_AREA's result on the
    mirrored crop: pixels within 1 (rounding), and exactly the same model pixels touching a hole."""
    from context_encoder.inpainting.crops import crop, downscaled

    rng = np.random.default_rng(3)
    for _ in range(150):
        h, w = (int(v) for v in rng.integers(10, 120, 2))
        size = int(rng.choice([8, 16, 32]))
        side = int(rng.integers(size, 900))
        top, left = int(rng.integers(-side, h)), int(rng.integers(-side, w))
        image = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
        hole = rng.random((h, w)) < 0.02
        want = cv2.resize(np.ascontiguousarray(crop(image, top, left, side)), (size, size),
                          interpolation=cv2.INTER_AREA)
        want_hole = cv2.resize(crop(hole, top, left, side).astype(np.float32), (size, size),
                               interpolation=cv2.INTER_AREA) > 0
        got = downscaled(image, top, left, side, size)
        assert got.dtype == np.uint8 and np.abs(got.astype(int) - want).max() <= 1, (h, w, top, left, side)
        assert np.array_equal(downscaled(hole, top, left, side, size) > 0, want_hole), (h, w, top, left, side)


def test_precision_is_validated_and_bf16_stays_within_a_few_grey_levels() -> None:
    from context_encoder.device import inpaint_dtype

    with pytest.raises(ValueError, match="precision must be one of"):
        InpaintConfig(precision="fp64")
    assert inpaint_dtype(torch.device("cpu"), "fp32") is None
    assert inpaint_dtype(torch.device("cpu"), "bf16") == torch.bfloat16
    torch.manual_seed(0)
    net = build_generator(CENTER).eval()
    image, hole = photo(70, 90), holes(70, 90)
    fp32, bf16 = (np.asarray(Inpainter(net, CENTER, config=InpaintConfig(precision=p)).inpaint(image, hole))
                  for p in ("fp32", "bf16"))
    assert np.array_equal(fp32[~hole], image[~hole]) and np.array_equal(bf16[~hole], image[~hole])
    assert np.abs(fp32.astype(int) - bf16).max() <= 6


def test_inpaint_annotations_say_the_output_takes_the_input_form() -> None:
    """typing.overload: array in, array out; tensor in, tensor out; PIL image or path in, PIL out."""
    import typing

    def returns(method: object) -> dict[str, str]:
        overloads = typing.get_overloads(method)
        return {f.__annotations__[next(iter(f.__annotations__))]: f.__annotations__["return"] for f in overloads}

    assert returns(Inpainter.inpaint) == {
        "np.ndarray": "np.ndarray", "torch.Tensor": "torch.Tensor",
        "Image.Image | str | os.PathLike[str]": "Image.Image", "ImageLike": "Filled"}
    assert returns(Inpainter.inpaint_batch) == {
        "Sequence[np.ndarray]": "list[np.ndarray]", "Sequence[torch.Tensor]": "list[torch.Tensor]",
        "Sequence[Image.Image | str | os.PathLike[str]]": "list[Image.Image]",
        "Sequence[ImageLike]": "list[Filled]"}


def test_large_photos_are_refined_no_finer_than_finest_side() -> None:
    """The finest refinement scale is finest_scale, or the scale that brings the photo's longer side
    to finest_side px when that is coarser; 0 turns the bound off; bad values are refused."""
    config = InpaintConfig(finest_scale=2.0, finest_side=640)
    assert config.finest((320, 480)) == 2.0 and config.finest((1000, 1280)) == 2.0
    assert config.finest((1633, 2449)) == pytest.approx(2449 / 640)
    assert InpaintConfig(finest_side=0).finest((1633, 2449)) == 2.0
    for bad in (-1, 64, 1.5):
        with pytest.raises(ValueError, match="finest-side"):
            InpaintConfig(finest_side=bad)
    # a 4 MP photo's large hole: the bound drops the finest level (the ~2x one), a small photo's keeps it
    net = build_generator(CENTER).eval()
    window = Window(0, 0, round(35 * CENTER.image_size), np.zeros(0, int), np.zeros(0, int))
    bounded, unbounded = (Inpainter(net, CENTER, config=InpaintConfig(finest_side=s))._scales(window, (1633, 2449))
                          for s in (640, 0))
    assert min(unbounded) < 2449 / 640 <= min(bounded) and bounded == unbounded[:len(bounded)]
    small = Inpainter(net, CENTER)._scales(window, (320, 480))
    assert small == unbounded


class StripeGenerator(nn.Module):
    """A whole-image net whose output is grey with 2-px vertical stripes (±0.5)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.size = cfg.output_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stripes = 0.5 * (-1.0) ** torch.arange(self.size)
        return stripes.expand(x.shape[0], 3, self.size, self.size).clone()


def test_whole_image_predictions_lose_their_two_pixel_stripes() -> None:
    """smooth() zeroes a 2-px stripe pattern and keeps a constant; the Inpainter applies it to a
    whole-image net's predictions unless told not to (--no-smooth)."""
    from context_encoder.inference import smooth

    stripes = 0.2 + 0.5 * (-1.0) ** torch.arange(16.0)
    out = smooth(stripes.expand(1, 3, 16, 16).clone())
    assert out.shape == (1, 3, 16, 16) and torch.allclose(out[..., 1:-1], torch.full_like(out[..., 1:-1], 0.2))
    image, hole = photo(96, 96), np.zeros((96, 96), bool)
    hole[20:70, 30:60] = True
    fills = {}
    for on in (True, False):
        config = InpaintConfig(blend="hard", smooth=on)
        filled = np.asarray(Inpainter(StripeGenerator(WHOLE).eval(), WHOLE, config=config).inpaint(image, hole))
        fills[on] = filled[25:65, 35:55].astype(int)  # inside the hole, away from its edge
    column_steps = {on: np.abs(np.diff(f, axis=1)).mean() for on, f in fills.items()}
    assert column_steps[False] > 20 and column_steps[True] < 2, column_steps


def test_onion_pass_refills_the_deep_hole_from_the_first_fill(region_checkpoint: Path) -> None:
    """InpaintConfig.onion: the first fill, then the hole deeper than r px filled again with that
    fill around it as context; pixels within r px of the photo keep the first fill."""
    one = Inpainter.from_checkpoint(region_checkpoint, device="cpu", config=InpaintConfig(precision="fp32"))
    two = Inpainter(one.generator, one.cfg, config=InpaintConfig(precision="fp32", onion=4))
    hole, image = holes(120, 160), photo(120, 160)
    first = np.asarray(one.inpaint(image, hole))
    deep = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 3) > 4
    expected = np.where(deep[..., None], np.asarray(one.inpaint(np.where(deep[..., None], 0, first), deep)), first)
    out = np.asarray(two.inpaint(image, hole))
    assert deep.any() and (hole & ~deep).any()
    assert (out == expected).all()
    assert (out[~hole] == image[~hole]).all()
    with pytest.raises(ValueError, match="onion must be"):
        InpaintConfig(onion=-1)
