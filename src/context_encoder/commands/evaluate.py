"""``context-encoder evaluate``: score a model and the paper's baselines under a fixed protocol (Table 1)."""

from __future__ import annotations

import argparse
from pathlib import Path

from context_encoder.config import BLENDS, DEVICES, EVAL_METHODS, EVAL_PROTOCOLS, InpaintConfig
from context_encoder.names import shown


def _methods(value: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in EVAL_METHODS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"unknown method(s) {unknown or value!r}; "
                                         f"choose from {', '.join(EVAL_METHODS)}")
    return names


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Show defaults, except the unset (None) and off (False) ones."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False):
            return action.help
        return super()._get_help_string(action)


def _blends(value: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in BLENDS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"unknown blend(s) {unknown or value!r}; choose from {', '.join(BLENDS)}")
    return names


def _band(value: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value.split("-"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a band of percentages like 10-50, got {value!r}") from None
    return lo, hi


def _overlap(value: str) -> int | None:
    if value == "model":
        return None
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'model' or a number of px, got {value!r}") from None


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="score inpainting methods like the paper's Table 1",
                       description="Score methods on the hidden pixels of every image below --data under a "
                       "fixed protocol; write summary.json, per_image.csv, table.md and examples.png.",
                       formatter_class=_Help)
    p.add_argument("--data", type=Path, required=True, help="folder of evaluation images (searched recursively)")
    p.add_argument("--methods", type=_methods, default="mean-fill,opencv-telea,opencv-ns",
                   help=f"comma-separated, from: {', '.join(EVAL_METHODS)}")
    p.add_argument("--checkpoint", type=Path, action="append", default=[],
                   help="run dir, generator .safetensors, 'pretrained' (the packaged default, as inpaint "
                   "runs it), 'pretrained-center' or 'pretrained-residual' for "
                   "'model' / 'nn-features' (repeatable, one row each)")
    p.add_argument("--protocol", default="center", choices=EVAL_PROTOCOLS,
                   help="center: the 64x64 center hole at 128 px; masks: fixed hole masks from --mask-dir at 128 px; "
                   "photos: photos at their own size with masks from --mask-dir, each method timed")
    p.add_argument("--overlap", type=_overlap, default="model",
                   help="center protocol: px of the 64x64 hole's ring shown as context; 'model' = the "
                   "checkpoints' overlap (0 without a checkpoint)")
    p.add_argument("--mask-dir", type=Path, default=None,
                   help="masks / photos protocols: folder of PNG masks (white = hole)")
    p.add_argument("--seed", type=int, default=None,
                   help="masks / photos protocols: seed of the mask-image pairing (unset: 0)")
    p.add_argument("--max-side", type=int, default=0,
                   help="photos protocol: bring photos whose longer side exceeds this down to it (0 = own size)")
    p.add_argument("--limit", type=int, default=0,
                   help="photos protocol: score this many photos, evenly spaced in sorted order (0 = all)")
    p.add_argument("--hole-share", type=_band, default="10-50",
                   help="photos protocol: the band of hole shares (%%) masks are drawn from")
    p.add_argument("--nn-bank", type=Path, default=None,
                   help="training images that nn-hog / nn-features retrieve from (prepared as the protocol)")
    p.add_argument("--examples", type=int, default=6, help="images shown in examples.png (0 = no grid)")
    p.add_argument("--device", default="auto", choices=DEVICES, help="where models run")
    p.add_argument("--blend", type=_blends, default=InpaintConfig.blend,
                   help=f"model rows: how the prediction is pasted, as `inpaint --blend` does; comma-separated "
                   f"for one row each, from: {', '.join(BLENDS)}")
    p.add_argument("--flip-tta", action="store_true",
                   help="model rows: average each prediction with that of the mirrored image")
    p.add_argument("--onion", type=int, default=InpaintConfig.onion, metavar="PX",
                   help="model rows: a second pass over the hole deeper than PX px, as `inpaint --onion` "
                   "(default: %(default)s, one pass)")
    p.add_argument("--report", type=Path, required=True, help="output folder of the report")


def _check_report(args: argparse.Namespace) -> None:
    """The report folder, checked before the run: a writable folder outside every data folder (its
    examples.png would be scored next time), whose files replace no checkpoint's file."""
    from context_encoder.atomic import check_folder, check_output
    from context_encoder.checkpoint import checkpoint_files
    from context_encoder.evaluation.report import REPORT_FILES

    if args.report.exists() and not args.report.is_dir():
        raise ValueError(f"--report {args.report} exists and is not a folder")
    check_output(args.report, folders={"--data": args.data, "--mask-dir": args.mask_dir, "--nn-bank": args.nn_bank})
    saved = [f for c in args.checkpoint for f in checkpoint_files(c)]
    for name in REPORT_FILES:
        check_output(args.report / name, files={"checkpoint's file": saved})
    check_folder(args.report, f"cannot write the report in {args.report}")


def run(args: argparse.Namespace) -> int:
    from context_encoder.extras import require

    require("eval", "evaluation (SSIM, the baselines)")
    from context_encoder.device import resolve_device
    from context_encoder.evaluation.evaluate import evaluate
    from context_encoder.evaluation.report import format_table, write_report

    if args.examples < 0:
        raise ValueError("--examples must be >= 0")
    _check_report(args)
    result = evaluate(data=args.data, methods=args.methods, checkpoints=args.checkpoint, protocol=args.protocol,
                      overlap=args.overlap, mask_dir=args.mask_dir, nn_bank=args.nn_bank, seed=args.seed,
                      examples=args.examples, device=resolve_device(args.device), flip_tta=args.flip_tta,
                      blends=args.blend, max_side=args.max_side, hole_share=args.hole_share,
                      limit=args.limit, onion=args.onion)
    summary = write_report(result, args.report)
    print(format_table(summary), end="")
    print(f"wrote {shown(args.report)}")
    return 0
