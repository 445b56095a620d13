"""Inpainting image files: one file, or a folder in batch mode with masks matched by name.

Every check (readable image and mask, matching sizes, some context left, writable output) runs
before anything is written, so bad input writes nothing. In batch mode one bad file is skipped
with its reason and never stops the others.
"""

from __future__ import annotations

import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from context_encoder.data import IMAGE_SUFFIXES
from context_encoder.inpainting.imageio import (
    SAVE_FORMATS,
    check_writable,
    output_format,
    read_image,
    read_mask,
    resize_mask,
    save_image,
)
from context_encoder.inpainting.inpainter import Inpainter, prepare_hole

MASK_SUFFIX = "_mask"  # NAME_mask.png beside NAME.jpg is NAME.jpg's mask


def inpaint_file(inpainter: Inpainter, image: Path, output: Path, *, mask: Path | np.ndarray | None = None,
                 overwrite: bool = False, fit_mask: bool = False) -> None:
    """Fill ``image``'s hole into ``output`` (format from its suffix).

    ``mask``: a mask file, an (H, W) bool array (resized to the image when ``fit_mask``), or None
    for the model's center hole. An empty mask copies the image unchanged, with a warning.
    Raises ValueError / OSError with a one-line reason, before writing anything.
    """
    if Path(output).resolve() == Path(image).resolve():
        raise ValueError(f"output {output} would replace its input")
    picture = read_image(image)
    check_writable(output, picture.mode, overwrite=overwrite)
    hole = read_mask(mask) if isinstance(mask, Path) else mask
    if hole is not None and fit_mask:
        hole = resize_mask(hole, picture.size)
    hole = prepare_hole(picture, hole, inpainter.cfg)
    if not hole.any():
        warnings.warn(f"the mask of {image} is empty: image written unchanged", stacklevel=2)
        if image.suffix.lower() in SAVE_FORMATS and output_format(image) == output_format(output):
            output.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(image, output)  # byte for byte, no re-encoding
        else:
            save_image(picture.to_image(), output)
        return
    result = inpainter.inpaint(picture.to_image(), hole)
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
            text += ": " + "; ".join(f"{p.name} ({why})" for p, why in self.skipped)
        return text


def list_inputs(input_dir: Path) -> list[Path]:
    """The images directly inside ``input_dir`` (not its sub-folders), masks left out, sorted."""
    if not input_dir.is_dir():
        raise FileNotFoundError(f"input folder not found: {input_dir}")
    return sorted(p for p in input_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not p.stem.endswith(MASK_SUFFIX))


def find_mask(image: Path, *, mask_dir: Path | None) -> Path | None:
    """``mask_dir/NAME.png``, else ``NAME_mask.png`` beside the image, else None."""
    candidates = [mask_dir / f"{image.stem}.png"] if mask_dir is not None else []
    candidates.append(image.with_name(f"{image.stem}{MASK_SUFFIX}.png"))
    return next((p for p in candidates if p.is_file()), None)


def inpaint_folder(inpainter: Inpainter, *, input_dir: Path, output_dir: Path, mask_dir: Path | None = None,
                   mask: Path | None = None, overwrite: bool = False,
                   progress: bool = True) -> BatchSummary:
    """Inpaint every image of ``input_dir`` into ``output_dir`` under the same file name.

    Masks: ``mask_dir/NAME.png``, else ``NAME_mask.png`` beside the image, else ``mask`` (one
    for all, resized to each image), else the center hole (only when ``mask_dir`` is None).
    """
    if mask_dir is not None and not mask_dir.is_dir():
        raise FileNotFoundError(f"mask folder not found: {mask_dir}")
    if output_dir.resolve() == input_dir.resolve():
        raise ValueError("--output-dir must differ from --input-dir (outputs keep the input file names)")
    shared = read_mask(mask) if mask is not None else None
    files = list_inputs(input_dir)
    summary = BatchSummary()
    for path in tqdm(files, desc="inpainting", unit="img", disable=not progress):
        out = output_dir / path.name
        if out.exists() and not overwrite:
            summary.skipped.append((path, "output exists, pass --overwrite"))
            continue
        try:
            own = find_mask(path, mask_dir=mask_dir)
            if own is None and shared is None and mask_dir is not None:
                raise FileNotFoundError(f"no mask {path.stem}.png in {mask_dir}")
            inpaint_file(inpainter, path, out, mask=own if own is not None else shared,
                         overwrite=overwrite, fit_mask=own is None)
        except (ValueError, OSError) as err:  # one bad file never stops the batch
            summary.skipped.append((path, str(err)))
            summary.failed += 1
            continue
        summary.done.append(out)
    return summary
