"""Image and mask files for inpainting: decode any photo, keep what the model must not touch.

A photo is split into the RGB the model sees and what is written back untouched: the alpha
channel, and whether it was grayscale. EXIF orientation is applied on reading, so masks are drawn
on the image as it is displayed. Outputs are written in the input's mode with 8 bits per channel
(16-bit inputs are reduced, with a warning), losslessly where the format allows (PNG, WebP, BMP,
TIFF; JPEG re-encodes every pixel), through :mod:`context_encoder.atomic` (an exclusive temporary
file renamed into place: no symlink is followed, no half file is left).

Files are checked before they are decoded: a folder, a missing file, an animated image, or one of
more than ``max_pixels`` pixels (read from the header alone) is a one-line error, never a
multi-gigabyte decode.

Masks are read as a person meant them: non-zero = hole in lossless files and arrays; in JPEG
files, whose compression spreads faint grey around every edge, a pixel is hole when its brightest
channel is over mid-grey. A hole over half the image warns (is the mask inverted?).
"""

from __future__ import annotations

import os
import struct
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, Union

import numpy as np
from PIL import Image, ImageOps

from context_encoder.atomic import atomic_open, check_target
from context_encoder.config import MAX_PIXELS
from context_encoder.data import to_rgb
from context_encoder.inpainting.conversions import (
    ACCEPTED,
    Restore,
    is_tensor,
    mode_restore,
    tensor_pixels,
    tensor_restore,
)

if TYPE_CHECKING:
    import torch

T = TypeVar("T")

# Output suffix -> Pillow format and save options (JPEG can store neither alpha nor exact pixels).
# PNG at zlib level 1 (OpenCV's default): on a 4 MP photo 0.5 s against 2.1 s at Pillow's level 6,
# for a file 19 % larger.
SAVE_FORMATS: dict[str, tuple[str, dict[str, Any]]] = {
    ".png": ("PNG", {"compress_level": 1}),
    ".jpg": ("JPEG", {"quality": 95, "subsampling": 0}),
    ".jpeg": ("JPEG", {"quality": 95, "subsampling": 0}),
    ".webp": ("WEBP", {"lossless": True, "exact": True}),
    ".bmp": ("BMP", {}),
    ".tif": ("TIFF", {"compression": "tiff_lzw"}),
    ".tiff": ("TIFF", {"compression": "tiff_lzw"}),
}
_KEPT_INFO = ("exif", "icc_profile")
_GRAY_MODES = ("1", "L", "LA", "La", "I;16", "I;16B", "I;16L", "I", "F")
_DEEP_MODES = ("I;16", "I;16B", "I;16L", "I", "F")  # more than 8 bits per channel
# Pillow raises all of these (and struct.error, an Exception) on truncated or crafted files.
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, KeyError, TypeError, ZeroDivisionError,
                  struct.error, MemoryError, Image.DecompressionBombError)
LOSSY_FORMATS = ("JPEG", "MPO")  # masks in these are thresholded at mid-grey, not read as non-zero = hole
MID_GREY = 127
INVERTED_SHARE = 0.5  # a hole over this share of the image is probably an inverted mask: warn
_PACKAGE_DIR = str(Path(__file__).resolve().parents[1]) + os.sep  # warnings skip frames under it


@dataclass
class Picture:
    """A decoded image: ``pixels`` (H, W, C) uint8 in ``mode`` (L, LA, RGB or RGBA)."""

    pixels: np.ndarray
    mode: str
    info: dict[str, Any] = field(default_factory=dict)  # EXIF / ICC written back with the output
    restore: Restore | None = None  # gives the result in the input's form (array, tensor, P...); None: PIL

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), as PIL reports sizes."""
        return self.pixels.shape[1], self.pixels.shape[0]

    @property
    def rgb(self) -> np.ndarray:
        """What the model sees: (H, W, 3) uint8 (gray replicated, alpha left out)."""
        if self.mode in ("L", "LA"):
            return np.repeat(self.pixels[..., :1], 3, axis=-1)
        return self.pixels[..., :3]

    def with_rgb(self, rgb: np.ndarray, hole: np.ndarray) -> Any:
        """This picture with its ``hole`` pixels (H, W) taken from ``rgb`` (H, W, 3); the rest,
        alpha included, byte for byte as read. Gray pictures get the luma of ``rgb``. In the form
        the picture came in: a PIL image (in its own mode), a NumPy array or a torch tensor."""
        out = self.pixels.copy()
        if self.mode in ("L", "LA"):
            luma = np.asarray(Image.fromarray(rgb, "RGB").convert("L"))
            out[..., 0][hole] = luma[hole]
        else:
            out[..., :3][hole] = rgb[hole]
        if self.restore is not None:
            return self.restore(out, hole)
        img = Image.fromarray(out if out.shape[-1] > 1 else out[..., 0], self.mode)
        img.info.update(self.info)
        return img

    def to_image(self) -> Any:
        """This picture, unchanged, in the form it came in (a PIL image when read from a file)."""
        return self.with_rgb(self.rgb, np.zeros(self.pixels.shape[:2], dtype=bool))


ImageLike = Union[Image.Image, np.ndarray, str, os.PathLike, "torch.Tensor", Picture]


def picture_from_pil(img: Image.Image, *, keep_mode: bool = False) -> Picture:
    """Split a PIL image into pixels in L, LA, RGB or RGBA, EXIF orientation applied. ``keep_mode``:
    the result comes back in the image's own mode when it is P, 1, CMYK or YCbCr (else in the
    pixels' mode, which a PNG can hold)."""
    img = ImageOps.exif_transpose(img)
    restore = mode_restore(img) if keep_mode else None
    info = {k: img.info[k] for k in _KEPT_INFO if k in img.info}
    has_alpha = img.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in img.info
    if img.mode in _GRAY_MODES:
        mode = "LA" if has_alpha else "L"
        # to_rgb scales 16-bit and float grays to 8 bits, as training does
        img = img.convert("LA") if has_alpha else img if img.mode == "L" else to_rgb(img).convert("L")
    else:
        mode = "RGBA" if has_alpha else "RGB"
        img = img.convert(mode)
    pixels = np.asarray(img, dtype=np.uint8)
    pixels = pixels[..., None] if pixels.ndim == 2 else pixels
    return Picture(np.ascontiguousarray(pixels), mode, info, restore)


def picture_from_array(array: np.ndarray) -> Picture:
    """A uint8 array (H, W), (H, W, 1), (H, W, 2), (H, W, 3) or (H, W, 4) as a picture; the result
    is an array of the same shape."""
    if not isinstance(array, np.ndarray):
        raise ValueError(f"cannot inpaint a {type(array).__name__}: give {ACCEPTED}")
    if array.dtype != np.uint8:
        raise ValueError(f"image arrays must be uint8 NumPy arrays (H, W[, C]) in [0, 255], got {array.dtype}; "
                         f"accepted: {ACCEPTED}")
    pixels = array[..., None] if array.ndim == 2 else array
    modes = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}
    if pixels.ndim != 3 or pixels.shape[-1] not in modes:
        raise ValueError(f"image array must be (H, W) or (H, W, 1|2|3|4), got {array.shape}")
    if pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise ValueError(f"image array is empty: {array.shape}")
    shape = array.shape
    return Picture(np.ascontiguousarray(pixels), modes[pixels.shape[-1]],
                   restore=lambda out, _hole: out.reshape(shape))


def to_picture(image: ImageLike) -> Picture:
    """A photo as a :class:`Picture` whose result comes back in the photo's form: a PIL image in
    its own mode, a file path (read; the result is a PIL image), a uint8 NumPy array (H, W[, C]),
    or a torch tensor (C, H, W) or (H, W) of uint8 or of floats in [0, 1]."""
    if isinstance(image, Picture):
        return image
    if isinstance(image, Image.Image):
        return picture_from_pil(image, keep_mode=True)
    if isinstance(image, (str, os.PathLike)):
        return _decode(image, "image", lambda img: picture_from_pil(img, keep_mode=True), MAX_PIXELS)
    if is_tensor(image):
        picture = picture_from_array(tensor_pixels(image))
        picture.restore = tensor_restore(image)
        return picture
    return picture_from_array(image)


def check_pixels(size: tuple[int, int], max_pixels: int, what: str = "image") -> None:
    """Raise ValueError if an image of ``size`` (width, height) is over the ``--max-pixels`` budget."""
    w, h = size
    if w * h > max_pixels:
        raise ValueError(f"{what} is {w}x{h} px ({w * h:,} pixels), over the limit of {max_pixels:,} "
                         "(raise it with --max-pixels)")
    if w * h == 0:
        raise ValueError(f"{what} is empty ({w}x{h} px)")


def _deep(img: Image.Image) -> bool:
    """Whether the file holds more than 8 bits per channel (ask before ``load``: the tile says so)."""
    return img.mode in _DEEP_MODES or any(";16" in str(tile[-1]) for tile in getattr(img, "tile", None) or [])


def _unreadable(what: str, path: Path, err: BaseException) -> ValueError:
    reason = " ".join(str(err).split()) or type(err).__name__
    return ValueError(f"cannot read {what} {path}: {reason[:300]}")


def _decode(path: str | Path, what: str, convert: Callable[[Image.Image], T], max_pixels: int) -> T:
    """Open ``path``, check its header, decode and ``convert`` it; one-line errors for bad files."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{what} {path} is a folder, not a file")
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        img = Image.open(path)  # reads the header only
    except _DECODE_ERRORS as err:
        raise _unreadable(what, path, err) from err
    with img:
        check_pixels(img.size, max_pixels, f"{what} {path}")
        try:
            if getattr(img, "is_animated", False):
                raise ValueError("it is animated (several frames): inpaint a single-frame image")
            deep = _deep(img)
            img.load()
            out = convert(img)
        except _DECODE_ERRORS as err:
            raise _unreadable(what, path, err) from err
    if deep and what == "image":
        warnings.warn(f"{path} has more than 8 bits per channel: the output is written with 8", stacklevel=3)
    return out


def read_image(path: str | Path, *, max_pixels: int = MAX_PIXELS) -> Picture:
    """Decode an image file (JPEG, PNG, WebP, ...). Raises ValueError / OSError with a one-line reason."""
    return _decode(path, "image", picture_from_pil, max_pixels)


def hole_from_mask(mask: ImageLike) -> np.ndarray:
    """:func:`mask_hole` of a mask (or of the mask file at a path), with a warning when the hole
    covers over half of the image (an inverted mask, black = hole, looks like that)."""
    hole = read_mask(mask) if isinstance(mask, (str, os.PathLike)) else mask_hole(mask)
    warn_if_inverted(hole)
    return hole


def warn_if_inverted(hole: np.ndarray) -> None:
    """Warn (pointing at the caller's code) when ``hole`` covers over half, but not all, of the image."""
    share = float(hole.mean()) if hole.size else 0.0
    if INVERTED_SHARE < share < 1:
        warnings.warn(f"the mask hides {share:.0%} of the image: is it inverted? (white / non-zero = hole)",
                      UserWarning, stacklevel=_user_stacklevel())


def _user_stacklevel() -> int:
    """The ``stacklevel``, for a warning issued by the caller, of the first frame outside context_encoder."""
    level, frame = 1, sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        level, frame = level + 1, frame.f_back
    return level


def mask_hole(mask: ImageLike) -> np.ndarray:
    """Hole pixels of a mask (H, W) bool: non-zero = hole, transparent pixels never; a mask read
    from a JPEG file: brightest channel over mid-grey (127) = hole, so that compression noise is not."""
    if is_tensor(mask):
        mask = (mask.detach() != 0).cpu().numpy()
        mask = mask.any(axis=0) if mask.ndim == 3 else mask  # (C, H, W) as torchvision
    if isinstance(mask, Image.Image):
        lossy = mask.format in LOSSY_FORMATS
        mask = ImageOps.exif_transpose(mask)
        if lossy:
            return np.asarray(mask.convert("RGB")).max(axis=-1) > MID_GREY
        if mask.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in mask.info:
            rgba = np.asarray(mask.convert("RGBA"))
            return rgba[..., :3].any(axis=-1) & (rgba[..., 3] > 0)
        mask = mask if mask.mode in ("1", "L", "I", "I;16", "F", "RGB") else mask.convert("RGB")
    array = np.asarray(mask)
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise ValueError(f"mask array must be numeric or bool, got dtype {array.dtype}")
    if array.ndim == 3:
        array = array.any(axis=-1)
    if array.ndim != 2:
        raise ValueError(f"mask array must be (H, W) or (H, W, C), got {np.shape(mask)}")
    return array != 0


def read_mask(path: str | Path, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """A mask file as (H, W) bool (:func:`mask_hole`: white or non-zero = hole; JPEG: over mid-grey)."""
    return _decode(path, "mask", mask_hole, max_pixels)


def check_mask_size(hole: np.ndarray, size: tuple[int, int], name: str = "mask") -> None:
    """Raise ValueError unless the mask (H, W) matches the image ``size`` (width, height)."""
    h, w = hole.shape
    if (w, h) != tuple(size):
        raise ValueError(f"{name} is {w}x{h} px but the image is {size[0]}x{size[1]} px")


def resize_mask(hole: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a mask (H, W) bool to ``size`` (width, height)."""
    if hole.shape[::-1] == tuple(size):
        return hole
    img = Image.fromarray(hole.astype(np.uint8) * 255).resize(size, Image.NEAREST)
    return np.asarray(img) > 0


def output_format(path: str | Path) -> str:
    """The Pillow format written for ``path``'s suffix. Raises ValueError for others."""
    suffix = Path(path).suffix.lower()
    if suffix not in SAVE_FORMATS:
        raise ValueError(f"cannot write '{suffix or path}': use one of {', '.join(SAVE_FORMATS)}")
    return SAVE_FORMATS[suffix][0]


def check_writable(path: str | Path, mode: str, *, overwrite: bool) -> None:
    """Raise before any work if ``path`` cannot hold ``mode``, exists (without ``overwrite``), is a
    folder, or lies in a folder that cannot be written."""
    path = Path(path)
    fmt = output_format(path)
    if fmt == "JPEG" and mode in ("LA", "RGBA"):
        raise ValueError(f"{path}: JPEG cannot store the image's transparency; write .png or .webp")
    check_target(path, overwrite=overwrite)


def save_image(img: Image.Image, path: str | Path) -> None:
    """Write ``img`` in the format of ``path``'s suffix, atomically, with its EXIF / ICC profile."""
    path = Path(path)
    fmt = output_format(path)
    options = dict(SAVE_FORMATS[path.suffix.lower()][1])
    options.update({k: img.info[k] for k in _KEPT_INFO if k in img.info})
    with atomic_open(path) as f:
        img.save(f, format=fmt, **options)
