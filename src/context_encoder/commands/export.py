"""``context-encoder export``: the generator as an ONNX or TorchScript file, checked against PyTorch."""

from __future__ import annotations

import argparse
from pathlib import Path

from context_encoder.names import shown

TOLERANCE = 1e-4  # max abs difference to PyTorch accepted after export
FORMATS = ("onnx", "torchscript")
OPSET = 18  # the default ONNX opset


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="export the generator to ONNX or TorchScript",
        description="Export the generator (inputs: image (N,3,S,S) in [-1,1] and mask (N,1,S,S), 1 = hole; "
        "output: the prediction) with a dynamic batch axis, then check it against PyTorch on random inputs.")
    p.add_argument("--checkpoint", type=Path, required=True,
                   help="run directory, step directory, generator .safetensors or 'pretrained' (the packaged model)")
    p.add_argument("--format", dest="fmt", required=True, choices=FORMATS, help="file format")
    p.add_argument("-o", "--output", type=Path, required=True, help="file to write")
    p.add_argument("--arch", choices=("center", "alexnet", "autoencoder"),
                   help="fail unless the checkpoint is of this architecture")
    p.add_argument("--opset", type=int, default=None,
                   help=f"ONNX opset version; the file is checked to hold it (default: {OPSET})")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")


def run(args: argparse.Namespace) -> int:
    from context_encoder.atomic import atomic_path, check_output, check_target
    from context_encoder.checkpoint import checkpoint_files, load_generator
    from context_encoder.extras import require
    from context_encoder.inpainting.export import export_generator, parity

    if args.fmt == "onnx":
        require("export", "ONNX export")
    opset = _check_opset(args.fmt, args.opset)
    check_target(args.output, overwrite=args.overwrite)
    check_output(args.output, files={"checkpoint's file": checkpoint_files(args.checkpoint)})
    generator, cfg = load_generator(args.checkpoint, "cpu", arch=args.arch)
    # Exported and checked under a temporary name: a failed check leaves any older file as it was.
    with atomic_path(args.output) as tmp:
        export_generator(generator, cfg, tmp, fmt=args.fmt, opset=opset)
        if args.fmt == "onnx":
            _check_written_opset(tmp, opset)
        diff = parity(tmp, generator, cfg, fmt=args.fmt)
        if diff > TOLERANCE:
            raise ValueError(f"exported model differs from PyTorch by {diff:.2e} (> {TOLERANCE:g}); nothing written")
    print(f"wrote {shown(args.output)} ({args.fmt}, max abs difference to PyTorch {diff:.1e} at batch sizes 1 and 3)")
    return 0


def _check_opset(fmt: str, opset: int | None) -> int:
    """The opset to export, checked before any work: ONNX only, and one that onnx defines."""
    if opset is None:
        return OPSET
    if fmt != "onnx":
        raise ValueError("--opset is for --format onnx")
    import onnx  # run() checked the export extra

    newest = onnx.defs.onnx_opset_version()
    if not 1 <= opset <= newest:
        raise ValueError(f"--opset must be in [1, {newest}] (the opsets this onnx {onnx.__version__} knows), "
                         f"got {opset}")
    return opset


def _check_written_opset(path: Path, opset: int) -> None:
    """Refuse a file whose default-domain opset is not the one asked for (torch's exporter raises
    opsets it cannot write to its own minimum without a word)."""
    import onnx

    written = {o.domain: o.version for o in onnx.load(str(path), load_external_data=False).opset_import}
    if written.get("", opset) != opset:
        raise ValueError(f"torch's ONNX exporter wrote opset {written['']}, not --opset {opset} (it does not "
                         "support that opset): nothing written")
