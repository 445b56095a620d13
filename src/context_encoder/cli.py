"""Command line: ``context-encoder <command>``. Thin: parse, then hand over to a command module."""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

# sub-command -> module in context_encoder.commands (add_parser(sub), run(args) -> exit code)
COMMANDS = ("train", "inpaint", "evaluate", "export", "features", "probe", "plot", "serve")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="context-encoder", description="Context Encoders: "
                                     "feature learning by inpainting (Pathak et al., CVPR 2016).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"context_encoder.commands.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.simplefilter("default")
    warnings.formatwarning = lambda message, *_args, **_kw: f"warning: {message}\n"
    command = importlib.import_module(f"context_encoder.commands.{args.command}")
    try:
        return command.run(args)
    except (ValueError, FileNotFoundError, OSError) as err:
        print(f"context-encoder {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
