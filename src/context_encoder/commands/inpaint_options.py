"""The inpainting flags that ``inpaint`` and ``serve`` share, read into one ``InpaintConfig``."""

from __future__ import annotations

import argparse

from context_encoder.config import BLENDS, INPAINT_PRECISIONS, InpaintConfig

DEFAULTS = InpaintConfig()


def add_inpaint_options(p: argparse.ArgumentParser, *, blend_help: str) -> None:
    """--blend, --feather, --finest-scale, --finest-side, --no-smooth, --batch-size, --flip-tta, --onion and
    --precision, defaults from InpaintConfig."""
    p.add_argument("--blend", default=DEFAULTS.blend, choices=BLENDS, help=f"{blend_help} (default: %(default)s)")
    p.add_argument("--feather", type=int, default=DEFAULTS.feather_px,
                   help="px of the feathered edge, --blend feather (default: %(default)s)")
    p.add_argument("--finest-scale", type=float, default=DEFAULTS.finest_scale,
                   help="refine each hole down to this downscale (1 = the photo's own pixels; larger is faster, "
                   "blurrier at the border; a hole is never tiled, so no seams) (default: %(default)s)")
    p.add_argument("--finest-side", type=int, default=DEFAULTS.finest_side,
                   help="on large photos, refine no finer than the downscale that brings the photo's longer side "
                   "to this many px: a 4 MP photo is refined as a 1.3 MP one, 1.5-1.7x faster at 4-12 MP, same PSNR "
                   "(0 = no bound; default: %(default)s)")
    p.add_argument("--no-smooth", dest="smooth", action="store_false",
                   help="keep a whole-image net's raw prediction (by default a 3x3 binomial filter removes the "
                   "2-px stripes of its up-convolutions, which show as streaks on large photos)")
    p.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size,
                   help="windows per generator call (default: %(default)s)")
    p.add_argument("--flip-tta", action="store_true",
                   help="average each prediction with that of the mirrored image (2x compute)")
    p.add_argument("--onion", type=int, default=DEFAULTS.onion, metavar="PX",
                   help="a second pass over the hole deeper than PX px, with the first fill around it as context: "
                   "+0.05-0.1 dB on large holes, about 2x the time; 4 is a good value (0 = one pass; "
                   "default: %(default)s)")
    p.add_argument("--precision", default=DEFAULTS.precision, choices=INPAINT_PRECISIONS,
                   help="the generator's arithmetic: auto = bf16 on CPUs with native bf16 (AMX, AVX512-BF16), "
                   "3x faster there, else fp32 (default: %(default)s)")


def inpaint_config(args: argparse.Namespace) -> InpaintConfig:
    """The flags as a validated InpaintConfig (ValueError with one line for a bad value)."""
    return InpaintConfig(blend=args.blend, feather_px=args.feather, finest_scale=args.finest_scale,
                         finest_side=args.finest_side, smooth=args.smooth,
                         batch_size=args.batch_size, flip_tta=args.flip_tta, precision=args.precision,
                         onion=args.onion)
