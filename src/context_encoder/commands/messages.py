"""How the CLI prints an error or warning: one line, file names escaped (``context_encoder.names``)."""

from __future__ import annotations

from context_encoder.names import one_line


def error_line(err: BaseException) -> str:
    """``err`` as one printable line (its type's name when it has no message)."""
    return one_line(str(err)) or type(err).__name__
