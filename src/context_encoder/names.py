r"""File names (and other user text) as one printable line: what a message may show of them.

A file may be named ``a\nb.png`` or hold an escape code (``\x1b[2J`` clears the screen): printed
raw, such a name splits a one-line message or reaches the terminal. :func:`shown` renders every
non-printable character as its Python escape (``\n``, ``\t``, ``\x1b``, ``\u2028``), and a byte
that is not valid in the file system's encoding (kept by Python as a lone surrogate) as ``\xNN``;
printable text, non-ASCII letters included, is left as it is. Every command that prints a path
in a one-line message passes it through :func:`shown`; :func:`one_line` is the safety net for
whole messages (error and warning lines).
"""

from __future__ import annotations

import os

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    if char.isprintable():
        return char
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte of a file name (os.fsdecode's surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def shown(name: str | os.PathLike[str] | None) -> str:
    """``name`` (a path or any text) with every non-printable character escaped: one printable line."""
    text = os.fspath(name) if isinstance(name, os.PathLike) else str(name)
    return text if text.isprintable() else "".join(_escape(c) for c in text)


def one_line(text: str) -> str:
    """A message as one printable line: runs of whitespace (a multi-line reason) become one space,
    any other non-printable character (an escape code in a name) is escaped."""
    return shown(" ".join(str(text).split()))
