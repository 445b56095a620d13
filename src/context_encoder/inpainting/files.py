"""Inpainting image files: one file, or a folder in batch mode with masks matched by name.

Every check (readable image and mask, matching sizes, some context left, writable output that is
neither an input nor a mask) runs before anything is written, so bad input writes nothing. In
batch mode one bad file is skipped with its reason and never stops the others, whatever the error.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from context_encoder.atomic import copy_file, same_file
from context_encoder.config import MAX_PIXELS
from context_encoder.data import IMAGE_SUFFIXES
from context_encoder.inpainting.imageio import (
    SAVE_FORMATS,
    check_mask_size,
    check_writable,
    output_format,
    read_image,
    read_mask,
    resize_mask,
    save_image,
)
from context_encoder.inpainting.inpainter import Inpainter
from context_encoder.names import one_line, shown

MASK_SUFFIX = "_mask"  # NAME_mask.png beside NAME.jpg is NAME.jpg's mask
INPUT_SUFFIXES = (*IMAGE_SUFFIXES, ".gif")  # batch inputs; a GIF is read but cannot be written back as one


def check_not_an_input(output: Path, **inputs: Path | None) -> None:
    """Raise ValueError if ``output`` would replace one of ``inputs`` (name -> path)."""
    for name, path in inputs.items():
        if path is not None and same_file(output, path):
            raise ValueError(f"output {output} would replace the {name} {path}")


def inpaint_file(inpainter: Inpainter, image: Path, output: Path, *, mask: Path | np.ndarray | None = None,
                 overwrite: bool = False, fit_mask: bool = False, max_pixels: int = MAX_PIXELS) -> None:
    """Fill ``image``'s hole into ``output`` (format from its suffix).

    ``mask``: a mask file, an (H, W) bool array (resized to the image when ``fit_mask``), or None
    for the model's center hole. An empty mask copies the image unchanged, with a warning.
    Raises ValueError / OSError with a one-line reason, before writing anything.
    """
    image, output = Path(image), Path(output)
    check_not_an_input(output, input=image, mask=mask if isinstance(mask, Path) else None)
    picture = read_image(image, max_pixels=max_pixels)
    check_writable(output, picture.mode, overwrite=overwrite)
    hole = read_mask(mask, max_pixels=max_pixels) if isinstance(mask, Path) else mask
    if hole is not None and fit_mask:
        (mh, mw), (w, h) = hole.shape, picture.size
        if abs(mw / mh - w / h) > 0.01 * w / h:
            warnings.warn(f"the shared mask ({mw}x{mh}) is stretched to {image.name} ({w}x{h}): "
                          "its aspect ratio differs", stacklevel=2)
        hole = resize_mask(hole, picture.size)
    if hole is not None:
        check_mask_size(hole, picture.size)
        if not hole.any():
            warnings.warn(f"the mask of {image} is empty: image written unchanged", stacklevel=2)
            if image.suffix.lower() in SAVE_FORMATS and output_format(image) == output_format(output):
                copy_file(image, output)  # byte for byte, no re-encoding
            else:
                save_image(picture.to_image(), output)
            return
    result = inpainter.inpaint(picture, hole)  # a PIL image; checks the hole (and warns) before anything is written
    save_image(result, output)


@dataclass
class BatchSummary:
    """What a batch run did: files written, and files skipped with their reason."""

    done: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    failed: int = 0  # skipped because of an error (not an existing output)

    def line(self) -> str:
        """One line, e.g. ``done 7, skipped 2: a.jpg (output exists, pass --overwrite); ...``."""
        text = f"done {len(self.done)}, skipped {len(self.skipped)}"
        if self.skipped:
            text += ": " + "; ".join(f"{shown(p.name)} ({one_line(why)})" for p, why in self.skipped)
        return text


def list_inputs(input_dir: Path) -> list[Path]:
    """The images directly inside ``input_dir`` (not its sub-folders), masks left out, sorted."""
    if not input_dir.is_dir():
        raise FileNotFoundError(f"input folder not found: {input_dir}")
    return sorted(p for p in input_dir.iterdir() if p.is_file() and p.suffix.lower() in INPUT_SUFFIXES
                  and not p.stem.endswith(MASK_SUFFIX))


def find_mask(image: Path, *, mask_dir: Path | None) -> Path | None:
    """``mask_dir/NAME.png``, else ``NAME_mask.png`` beside the image, else None."""
    candidates = [mask_dir / f"{image.stem}.png"] if mask_dir is not None else []
    candidates.append(image.with_name(f"{image.stem}{MASK_SUFFIX}.png"))
    return next((p for p in candidates if p.is_file()), None)


def check_folders(*, input_dir: Path, output_dir: Path, mask_dir: Path | None = None) -> None:
    """Raise before any work if the batch folders would make outputs replace inputs or masks."""
    if not input_dir.is_dir():
        raise FileNotFoundError(f"input folder not found: {input_dir}")
    if mask_dir is not None and not mask_dir.is_dir():
        raise FileNotFoundError(f"mask folder not found: {mask_dir}")
    if output_dir.exists() and not output_dir.is_dir():
        raise NotADirectoryError(f"--output-dir {output_dir} is not a folder")
    if same_file(output_dir, input_dir):
        raise ValueError("--output-dir must differ from --input-dir (outputs keep the input file names)")
    if mask_dir is not None and same_file(output_dir, mask_dir):
        raise ValueError("--output-dir must differ from --mask-dir (outputs would replace the masks)")
    if mask_dir is not None and same_file(mask_dir, input_dir):
        raise ValueError("--mask-dir must differ from --input-dir (its masks would be inpainted as photos); "
                         f"name masks NAME{MASK_SUFFIX}.png beside the images instead")


def inpaint_folder(inpainter: Inpainter, *, input_dir: Path, output_dir: Path, mask_dir: Path | None = None,
                   mask: Path | None = None, overwrite: bool = False, progress: bool = True,
                   max_pixels: int = MAX_PIXELS) -> BatchSummary:
    """Inpaint every image of ``input_dir`` into ``output_dir`` under the same file name.

    Masks: ``mask_dir/NAME.png``, else ``NAME_mask.png`` beside the image, else ``mask`` (one
    for all, resized to each image), else the center hole (only when ``mask_dir`` is None).
    """
    check_folders(input_dir=input_dir, output_dir=output_dir, mask_dir=mask_dir)
    shared = read_mask(mask, max_pixels=max_pixels) if mask is not None else None
    files = [p for p in list_inputs(input_dir) if mask is None or not same_file(p, mask)]
    summary = BatchSummary()
    for path in tqdm(files, desc="inpainting", unit="img", disable=not progress):
        out = output_dir / path.name
        if os.path.lexists(out) and not overwrite:
            summary.skipped.append((path, "output exists, pass --overwrite"))
            continue
        try:
            own = find_mask(path, mask_dir=mask_dir)
            if own is None and shared is None and mask_dir is not None:
                raise FileNotFoundError(f"no mask {path.stem}.png in {mask_dir}")
            check_not_an_input(out, mask=mask)
            inpaint_file(inpainter, path, out, mask=own if own is not None else shared,
                         overwrite=overwrite, fit_mask=own is None, max_pixels=max_pixels)
        except Exception as err:  # noqa: BLE001 - one bad file never stops the batch; its reason is reported
            summary.skipped.append((path, _reason(err)))
            summary.failed += 1
            continue
        summary.done.append(out)
    return summary


def _reason(err: Exception) -> str:
    """A one-line reason for a skipped file; unexpected errors are named by their type."""
    text = " ".join(str(err).split())
    return text if isinstance(err, (ValueError, OSError)) and text else f"{type(err).__name__}: {text}"[:300]
