"""Photos and masks as people hand them over: JPEG and inverted masks, and every form of photo the
Python API takes (arrays, PIL modes, paths, tensors) coming back in the same form."""

from __future__ import annotations

import io
import subprocess
import sys
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from test_inpaint import CENTER, CONST_U8, ConstGenerator, holes, photo

import context_encoder
from context_encoder import Inpainter
from context_encoder.cli import main
from context_encoder.inpainting.imageio import read_mask

H, W = 120, 160


@pytest.fixture
def inpainter() -> Inpainter:
    return Inpainter(ConstGenerator(CENTER), CENTER)


def disc(h: int = H, w: int = W) -> np.ndarray:
    """(H, W) bool: a disc of radius h / 5 left of the center."""
    yy, xx = np.mgrid[0:h, 0:w]
    return (xx - 0.45 * w) ** 2 + (yy - 0.45 * h) ** 2 < (h / 5) ** 2


def save_mask(path: Path, hole: np.ndarray, **options: object) -> Path:
    Image.fromarray(hole.astype(np.uint8) * 255).save(path, **options)
    return path


# ---- masks people make -------------------------------------------------------------------------
@pytest.mark.parametrize("quality", [30, 75, 95])
def test_a_jpeg_mask_gives_the_hole_of_the_png(tmp_path: Path, quality: int) -> None:
    hole = disc()
    png = read_mask(save_mask(tmp_path / "mask.png", hole))
    jpeg = read_mask(save_mask(tmp_path / "mask.jpg", hole, quality=quality))
    assert (png == hole).all()
    assert (jpeg ^ png).sum() <= 0.01 * hole.sum()  # read as non-zero = hole it grew by 8-13 %
    assert cv2.connectedComponents(jpeg.astype(np.uint8))[0] - 1 == 1  # and was 6-24 holes


def test_a_jpeg_mask_fills_as_the_png_through_the_api_and_the_cli(tiny_checkpoint: Path, tmp_path: Path,
                                                                  inpainter: Inpainter) -> None:
    image, hole = photo(H, W), disc()
    save_mask(tmp_path / "mask.png", hole)
    save_mask(tmp_path / "mask.jpg", hole, quality=75)
    with Image.open(tmp_path / "mask.jpg") as jpeg:
        from_jpeg = inpainter.inpaint(image, jpeg, blend="hard")
    assert ((from_jpeg != image).any(-1) == hole).all()
    Image.fromarray(image).save(tmp_path / "photo.png")
    for name in ("mask.png", "mask.jpg"):
        assert main(["inpaint", str(tmp_path / "photo.png"), "--mask", str(tmp_path / name), "-o",
                     str(tmp_path / f"out_{name}.png"), "--checkpoint", str(tiny_checkpoint), "--blend", "hard"]) == 0
    with Image.open(tmp_path / "out_mask.png.png") as a, Image.open(tmp_path / "out_mask.jpg.png") as b:
        assert (np.asarray(a) == np.asarray(b)).all()


def test_an_inverted_mask_warns_from_the_api_at_the_callers_line(inpainter: Inpainter) -> None:
    image, hole = photo(H, W), disc()
    with pytest.warns(UserWarning, match=r"the mask hides \d+% of the image: is it inverted\? \(white") as record:
        inpainter.inpaint(image, Image.fromarray((~hole).astype(np.uint8) * 255))
    assert len(record) == 1 and record[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        inpainter.inpaint(image, hole)  # a mask as meant: no warning


def test_an_inverted_mask_warns_on_one_line_of_stderr(tiny_checkpoint: Path, tmp_path: Path) -> None:
    Image.fromarray(photo(H, W)).save(tmp_path / "photo.png")
    save_mask(tmp_path / "mask.png", ~disc())
    result = subprocess.run([sys.executable, "-m", "context_encoder.cli", "inpaint", str(tmp_path / "photo.png"),
                             "--mask", str(tmp_path / "mask.png"), "-o", str(tmp_path / "out.png"),
                             "--checkpoint", str(tiny_checkpoint)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    warned = [line for line in result.stderr.splitlines() if "inverted" in line]
    assert warned == ["warning: the mask hides 91% of the image: is it inverted? (white / non-zero = hole)"], \
        result.stderr


# ---- the photo comes back in the form it was given -----------------------------------------------
@pytest.mark.parametrize("shape", [(H, W), (H, W, 1), (H, W, 2), (H, W, 3), (H, W, 4)])
def test_an_array_comes_back_an_array(inpainter: Inpainter, shape: tuple[int, ...]) -> None:
    image, hole = photo(H, W, 4)[..., : shape[-1] if len(shape) == 3 else 1].reshape(shape), holes(H, W)
    out = inpainter.inpaint(image, hole, blend="hard")
    assert isinstance(out, np.ndarray) and out.shape == image.shape and out.dtype == np.uint8
    assert (out[~hole] == image[~hole]).all()


def _palette(image: np.ndarray, transparent: bool = False) -> Image.Image:
    img = Image.fromarray(image).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    if transparent:
        img.info["transparency"] = 0
    return img


MODES = {
    "RGB": lambda a: Image.fromarray(a),
    "RGBA": lambda a: Image.fromarray(np.dstack([a, np.arange(W, dtype=np.uint8)[None].repeat(H, 0)])),
    "L": lambda a: Image.fromarray(a).convert("L"),
    "LA": lambda a: Image.fromarray(a).convert("LA"),
    "P": _palette,
    "P-transparent": lambda a: _palette(a, transparent=True),
    "CMYK": lambda a: Image.fromarray(a).convert("CMYK"),
    "1": lambda a: Image.fromarray(a).convert("1"),
    "YCbCr": lambda a: Image.fromarray(a).convert("YCbCr"),
}


@pytest.mark.parametrize("name", MODES)
def test_a_pil_image_comes_back_in_its_mode(inpainter: Inpainter, name: str) -> None:
    image, hole = MODES[name](photo(H, W)), holes(H, W)
    out = inpainter.inpaint(image, hole, blend="hard")
    assert isinstance(out, Image.Image) and out.mode == image.mode and out.size == image.size
    before, after = np.asarray(image), np.asarray(out)
    changed = (before != after).reshape(H, W, -1).any(-1)
    assert not changed[~hole].any() and changed[hole].any()
    if image.mode == "P":
        assert out.getpalette() == image.getpalette() and out.info.get("transparency") == image.info.get("transparency")
        see_through = before == 0 if name == "P-transparent" else np.zeros_like(hole)  # they keep their index
        assert (after[hole & see_through] == 0).all()
        filled = np.asarray(out.convert("RGB"))[hole & ~see_through].astype(int)  # the nearest opaque colour
        palette = np.asarray(image.getpalette(), int).reshape(-1, 3)[1 if name == "P-transparent" else 0 :]
        assert ((filled - CONST_U8) ** 2).sum(-1).max() == ((palette - CONST_U8) ** 2).sum(-1).min()


def test_a_path_comes_back_a_pil_image(inpainter: Inpainter, tmp_path: Path) -> None:
    image, hole = photo(H, W), holes(H, W)
    _palette(image).save(tmp_path / "photo.png")
    save_mask(tmp_path / "mask.png", hole)
    with Image.open(tmp_path / "photo.png") as opened:
        expected = np.asarray(inpainter.inpaint(opened, hole, blend="hard"))
    for given, mask in ((str(tmp_path / "photo.png"), str(tmp_path / "mask.png")), (tmp_path / "photo.png", hole)):
        out = inpainter.inpaint(given, mask, blend="hard")
        assert isinstance(out, Image.Image) and out.mode == "P" and (np.asarray(out) == expected).all()
    with pytest.raises(FileNotFoundError, match="image not found"):
        inpainter.inpaint(tmp_path / "missing.png")


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float16])
@pytest.mark.parametrize("channels", [1, 3, 4, None])
def test_a_tensor_comes_back_a_tensor(inpainter: Inpainter, dtype: torch.dtype, channels: int | None) -> None:
    pixels = torch.from_numpy(photo(H, W, channels or 1)).permute(2, 0, 1)  # (C, H, W) uint8
    pixels = pixels[0] if channels is None else pixels
    image = pixels if dtype == torch.uint8 else (pixels.to(dtype) / 255).to(dtype)
    hole = torch.from_numpy(holes(H, W))
    out = inpainter.inpaint(image, hole[None], blend="hard")  # a (1, H, W) mask tensor
    assert isinstance(out, torch.Tensor) and out.shape == image.shape and out.dtype == dtype
    chw, given = (out[None], image[None]) if channels is None else (out, image)
    assert torch.equal(chw[:, ~hole], given[:, ~hole])  # the known pixels exactly, not rounded to 8 bits
    colour = chw[:1, hole] if channels in (None, 1) else chw[:3, hole]
    assert torch.allclose(colour.float() * (255 if dtype != torch.uint8 else 1), torch.tensor(float(CONST_U8)),
                          atol=1.0)
    if channels == 4:
        assert torch.equal(chw[3], given[3])  # alpha everywhere


@pytest.mark.parametrize(("image", "message"), [
    (np.zeros((H, W, 3), np.float32), r"uint8 NumPy arrays .* got float32; accepted: a PIL image, a file path"),
    ([[0, 1], [2, 3]], r"cannot inpaint a list: give a PIL image, a file path, a uint8 NumPy array"),
    (torch.full((3, H, W), 2.0), r"float image tensors must hold values in \[0, 1\]"),
    (torch.zeros((2, 3, H, W)), r"\(C, H, W\) with C = 1, 2, 3 or 4"),
    (torch.zeros((3, H, W), dtype=torch.int32), r"uint8 or floating point, got torch.int32"),
])
def test_other_inputs_are_refused_saying_what_is_accepted(inpainter: Inpainter, image: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        inpainter.inpaint(image)


def test_inpainter_is_listed_by_dir() -> None:
    assert "Inpainter" in dir(context_encoder) and "Inpainter" in context_encoder.__all__


def test_a_jpeg_file_opened_by_pil_is_a_jpeg_mask(inpainter: Inpainter) -> None:
    buf = io.BytesIO()
    Image.fromarray(disc().astype(np.uint8) * 255).save(buf, format="JPEG", quality=50)
    with Image.open(buf) as jpeg:
        assert jpeg.format == "JPEG"
        out = inpainter.inpaint(photo(H, W), jpeg, blend="hard")
    assert ((out != photo(H, W)).any(-1) == disc()).all()
