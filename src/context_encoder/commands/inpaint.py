"""``context-encoder inpaint``: fill holes in one image or a folder of images with a trained model."""

from __future__ import annotations

import argparse
import ctypes
import sys
from pathlib import Path

from context_encoder.commands.inpaint_options import add_inpaint_options, inpaint_config
from context_encoder.config import DEVICES, MAX_PIXELS, validate_max_pixels
from context_encoder.names import shown

ARCHS = ("center", "alexnet")  # the inpainting generators (the autoencoder has no hole)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "inpaint", help="fill holes in images of any size with a trained model",
        description="Fill the hole (white / non-zero pixels of MASK, any shape, any number; default: the "
        "center square the model was trained on) of IMAGE and write OUT. A JPEG mask is read as brighter than "
        "mid-grey = hole, so that its compression noise is not; a hole over half of IMAGE prints a warning (is "
        "the mask inverted? white = hole). Pixels outside the hole keep their "
        "8-bit values exactly in PNG, WebP, BMP and TIFF outputs (16-bit inputs are reduced to 8 bits, with a "
        "warning); JPEG output re-encodes every pixel (quality 95). Batch mode: --input-dir DIR --output-dir "
        "DIR, masks matched by file name (--mask-dir DIR/NAME.png, else NAME_mask.png beside the image, else "
        "--mask for all).")
    p.add_argument("image", type=Path, nargs="?", help="input image (JPEG, PNG, WebP, ...)")
    p.add_argument("-o", "--output", type=Path, help="output image; its suffix sets the format")
    p.add_argument("--mask", type=Path, help="mask the size of IMAGE: PNG (or another lossless format), "
                   "non-zero = hole; JPEG, brighter than mid-grey (127) = hole "
                   "(batch mode: one mask for all, stretched with nearest neighbour to each image's size, "
                   "aspect ratio included)")
    p.add_argument("--input-dir", type=Path, help="batch mode: inpaint every image in this folder")
    p.add_argument("--output-dir", type=Path, help="batch mode: write outputs here, same names and formats")
    p.add_argument("--mask-dir", type=Path, help="batch mode: masks named NAME.png for image NAME.*; "
                   "a photo with no mask there (nor NAME_mask.png, nor --mask) is skipped and listed")
    p.add_argument("--checkpoint", type=Path, help="run directory, step directory, generator .safetensors or "
                   "'pretrained' (default: the packaged harmonic-residual net, for holes of every shape; "
                   "'pretrained-center' for the paper's center net, packaged beside it)")
    p.add_argument("--arch", choices=ARCHS, help="fail unless the checkpoint is of this architecture")
    add_inpaint_options(p, blend_help="poisson: the prediction's gradients with the photo's values on the hole's "
                        "border, i.e. corrected by its own mismatch on the known pixels it also predicts; hard: the "
                        "original's paste; feather: a blurred edge")
    p.add_argument("--max-pixels", type=float, default=MAX_PIXELS,
                   help="refuse images (and masks) larger than this many pixels, checked before decoding "
                   "(default: %(default)g)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--device", default="auto", choices=DEVICES, help="where to run (default: auto)")


def _check(args: argparse.Namespace) -> bool:
    """Validate the flag combination up front; True for batch mode."""
    batch = args.input_dir is not None or args.output_dir is not None
    if batch:
        if args.image is not None or args.output is not None:
            raise ValueError("give either IMAGE -o OUT or --input-dir DIR --output-dir DIR, not both")
        if args.input_dir is None or args.output_dir is None:
            raise ValueError("batch mode needs both --input-dir and --output-dir")
    else:
        if args.image is None or args.output is None:
            raise ValueError("give IMAGE and -o OUT (or --input-dir DIR --output-dir DIR)")
        if args.mask_dir is not None:
            raise ValueError("--mask-dir is for batch mode (--input-dir)")
    return batch


def _check_paths(args: argparse.Namespace, batch: bool) -> None:
    """Inputs readable, outputs writable and distinct from them: checked before the model loads."""
    from context_encoder.atomic import check_folder, check_output, check_target
    from context_encoder.inpainting.files import check_folders
    from context_encoder.inpainting.imageio import output_format

    for what, path in (("image", args.image), ("mask", args.mask)):
        if path is not None and path.is_dir():
            raise IsADirectoryError(f"{what} {path} is a folder, not a file")
        if path is not None and not path.is_file():
            raise FileNotFoundError(f"{what} not found: {path}")
    if batch:
        check_folders(input_dir=args.input_dir, output_dir=args.output_dir, mask_dir=args.mask_dir)
        check_folder(args.output_dir)
        return
    output_format(args.output)
    check_output(args.output, files={"input": args.image, "mask": args.mask})
    check_target(args.output, overwrite=args.overwrite)
    if args.checkpoint is not None:  # last: a missing checkpoint is reported after the output's own faults
        from context_encoder.checkpoint import checkpoint_files

        check_output(args.output, files={"checkpoint's file": checkpoint_files(args.checkpoint)})


def _reuse_freed_memory() -> None:
    """Keep freed memory in this short-lived process (glibc): a photo's working arrays are then
    reused, not mapped and faulted in afresh each time (0.2-0.4 s of a 4 MP photo's 5.9 s CLI run,
    docs/benchmarks.md). Elsewhere, or if glibc refuses, nothing changes."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD: return freed memory to the system only past 1 GiB
        libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD: arrays up to 1 GiB come from the reusable heap
    except (OSError, AttributeError):  # not glibc
        pass


def run(args: argparse.Namespace) -> int:
    _reuse_freed_memory()
    batch = _check(args)
    config = inpaint_config(args)  # validates the values
    max_pixels = validate_max_pixels(args.max_pixels)
    _check_paths(args, batch)
    from context_encoder.checkpoint import PRETRAINED
    from context_encoder.inpainting.files import inpaint_file, inpaint_folder
    from context_encoder.inpainting.inpainter import Inpainter

    checkpoint = args.checkpoint if args.checkpoint is not None else PRETRAINED  # the packaged default
    inpainter = Inpainter.from_checkpoint(checkpoint, args.device, arch=args.arch, config=config)
    if not batch:
        inpaint_file(inpainter, args.image, args.output, mask=args.mask, overwrite=args.overwrite,
                     max_pixels=max_pixels)
        print(f"wrote {shown(args.output)}")
        return 0
    summary = inpaint_folder(inpainter, input_dir=args.input_dir, output_dir=args.output_dir,
                             mask_dir=args.mask_dir, mask=args.mask, overwrite=args.overwrite,
                             progress=True, max_pixels=max_pixels)
    print(summary.line())
    return 1 if summary.failed else 0
