"""The README's Python blocks and its headline commands run as written (on generated files)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from context_encoder.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), re.S)


@pytest.fixture
def photo_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with the README's photo.jpg and mask.png."""
    yy, xx = np.mgrid[0:240, 0:320]
    photo = np.stack([100 + 80 * np.sin(xx / 30), 120 + 60 * np.cos(yy / 25), 90 + 0 * xx], -1)
    Image.fromarray(photo.astype(np.uint8)).save(tmp_path / "photo.jpg")
    mask = np.zeros((240, 320), np.uint8)
    mask[100:140, 60:200] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_python_blocks_run_as_written(photo_dir: Path) -> None:
    code = blocks("python")
    assert code, "the README has no Python block"
    for block in code:
        exec(compile(block, str(README), "exec"), {})  # noqa: S102 - our own README
    with Image.open(photo_dir / "filled.png") as filled:
        assert filled.size == (320, 240)


def test_headline_commands_run_as_written(photo_dir: Path) -> None:
    commands = [line.split("#")[0].split() for line in blocks("bash")[0].splitlines()
                if line.startswith("context-encoder inpaint")]
    assert len(commands) == 2
    for argv in commands:
        assert main(argv[1:]) == 0
    assert (photo_dir / "filled.jpg").is_file() and (photo_dir / "filled.png").is_file()
