"""Uploaded images and masks: sized from their header before decoding, then decoded with Pillow.

A decompression bomb (a small file that declares a huge image) is refused by :func:`probe` from
its header alone, before a pixel is decoded. Sizes are as displayed, EXIF orientation applied, as
the Inpainter and the browser both see them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from context_encoder.inpainting.imageio import Picture, mask_hole, picture_from_pil
from context_encoder.server.errors import BadInput, TooLarge

FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF")  # what a browser or camera writes (JPEG: MPO too)
_ROTATED = (5, 6, 7, 8)  # EXIF orientations that swap width and height
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)


@dataclass(frozen=True)
class Upload:
    """An uploaded file whose header was read: its bytes and displayed (width, height)."""

    what: str  # "image" or "mask", for messages
    data: bytes
    size: tuple[int, int]


def _open(data: bytes, what: str) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError as err:
        raise TooLarge(f"{what} too large: {err}") from err
    except _DECODE_ERRORS as err:
        raise BadInput(f"cannot read the {what}: not a {', '.join(FORMATS)} file") from err


def probe(data: bytes, what: str, *, max_pixels: int) -> Upload:
    """Read the header of an uploaded file; BadInput unless it is an image, TooLarge over ``max_pixels``."""
    if not data:
        raise BadInput(f"the {what} is empty (0 bytes)")
    with _open(data, what) as img:
        try:
            animated = getattr(img, "is_animated", False)  # GIF, APNG, WebP: which frame would be meant?
        except _DECODE_ERRORS as err:
            raise BadInput(f"cannot read the {what}: {err}") from err
        if animated:
            raise BadInput(f"the {what} is animated (several frames): upload a single-frame image")
        w, h = img.size
        try:
            orientation = img.getexif().get(0x0112, 1)
        except _DECODE_ERRORS:
            orientation = 1  # unreadable EXIF: Pillow decodes the pixels without it too
    if w * h > max_pixels:
        raise TooLarge(f"{what} too large: {w}x{h} = {w * h / 1e6:.1f} megapixels, "
                       f"the limit is {max_pixels / 1e6:g} megapixels")
    return Upload(what, data, (h, w) if orientation in _ROTATED else (w, h))


def check_same_size(image: Upload, mask: Upload) -> None:
    """BadInput unless the mask is the image's size (as displayed)."""
    if image.size != mask.size:
        raise BadInput(f"the mask is {mask.size[0]}x{mask.size[1]} px but the image is "
                       f"{image.size[0]}x{image.size[1]} px: draw the mask at the image's full size")


def decode_image(upload: Upload) -> Image.Image:
    """The uploaded image, decoded (first frame); BadInput if its pixels are truncated or corrupt."""
    img = _open(upload.data, upload.what)
    try:
        img.load()
    except _DECODE_ERRORS as err:
        raise BadInput(f"cannot decode the {upload.what}: {err}") from err
    return img


def decode_picture(upload: Upload) -> Picture:
    """The uploaded image as a Picture in L, LA, RGB or RGBA (what a PNG answer can hold)."""
    with decode_image(upload) as img:
        return picture_from_pil(img)


def decode_hole(upload: Upload) -> np.ndarray:
    """The uploaded mask as hole pixels (H, W) bool (non-zero = hole, transparent = never; a JPEG
    mask: over mid-grey); BadInput when it marks no pixel."""
    with decode_image(upload) as img:
        hole = mask_hole(img)
    if not hole.any():
        raise BadInput("the mask is empty: paint the hole (non-zero, opaque pixels) before inpainting")
    return hole


def encode_png(img: Image.Image) -> bytes:
    """``img`` as PNG bytes, its ICC profile kept."""
    buf = io.BytesIO()
    icc = img.info.get("icc_profile")
    img.save(buf, format="PNG", **({"icc_profile": icc} if icc else {}))
    return buf.getvalue()
