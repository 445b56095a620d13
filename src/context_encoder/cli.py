"""Command line: ``context-encoder <command>``. Thin: parse, then hand over to a command module.

Every failure ends in one line on stderr: bad input (ValueError, OSError) exits 2, anything
unexpected exits 1, an interrupt 130. ``--debug`` (or ``CE_DEBUG=1``) shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings

# sub-command -> module in context_encoder.commands (add_parser(sub), run(args) -> exit code)
COMMANDS = ("train", "inpaint", "evaluate", "export", "features", "probe", "segment", "plot", "serve")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="context-encoder", description="Context Encoders: "
                                     "feature learning by inpainting (Pathak et al., CVPR 2016).")
    debug_help = "show the traceback of an error instead of one line (also: CE_DEBUG=1)"
    parser.add_argument("--debug", action="store_true", help=debug_help)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"context_encoder.commands.{name}").add_parser(sub)
    for command in sub.choices.values():  # also after the command; SUPPRESS keeps the top-level value
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=debug_help)
    return parser


def _one_line(err: BaseException) -> str:
    from context_encoder.commands.messages import error_line  # no escape code in a file name reaches the terminal

    return error_line(err)


def main(argv: list[str] | None = None) -> int:
    # Torch's OpenMP threads spin while they wait for each other (GNU OpenMP's default): on a CPU
    # shared with other work that made the generator 3-5x slower on 2 threads. Read when torch loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = build_parser().parse_args(argv)
    debug = args.debug or os.environ.get("CE_DEBUG", "") not in ("", "0")
    warnings.simplefilter("default")
    warnings.formatwarning = lambda message, *_args, **_kw: f"warning: {_one_line(message)}\n"
    prefix = f"context-encoder {args.command}: error:"
    try:
        command = importlib.import_module(f"context_encoder.commands.{args.command}")
        return command.run(args)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"context-encoder {args.command}: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError) as err:
        if debug:
            raise
        print(f"{prefix} {_one_line(err)}", file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 - the last resort: one line, not a traceback
        if debug:
            raise
        print(f"{prefix} unexpected {type(err).__name__}: {_one_line(err)[:500]} (run with --debug for the "
              "traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
