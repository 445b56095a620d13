"""Start-up cost: commands load only the heavy packages they use (issue 17)."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
from context_encoder.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
print("loaded:" + ",".join(sorted(m for m in {watched!r} if m in sys.modules)))
"""


def _loaded(argv: list[str], watched: tuple[str, ...]) -> set[str]:
    code = PROBE.format(argv=argv, watched=watched)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(filter(None, out.rsplit("loaded:", 1)[1].strip().split(",")))


@pytest.mark.parametrize("command", ["train", "inpaint", "evaluate", "features", "probe", "export", "serve"])
def test_help_does_not_import_torch(command: str) -> None:
    assert _loaded([command, "--help"], ("torch", "cv2", "scipy")) == set()


def test_top_level_help_imports_nothing_heavy() -> None:
    assert _loaded(["--help"], ("torch", "cv2", "scipy", "yaml")) == set()
