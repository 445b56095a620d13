"""Shared fixtures: tiny generated image folders and a tiny trained checkpoint (CPU, seconds)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SIZES = ((48, 40), (40, 56))


def write_images(folder: Path, n: int, *, seed: int = 0, sizes: tuple[tuple[int, int], ...] = SIZES) -> list[Path]:
    """n smooth random RGB images (gradients + blobs) of mixed sizes, as PNG and JPEG."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        w, h = sizes[i % len(sizes)]
        yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
        base = rng.uniform(0, 1, 3)
        img = np.stack([base[c] + 0.5 * np.sin((c + 1) * 3 * xx + rng.uniform(0, 6) * yy) for c in range(3)], -1)
        img = (np.clip(img, 0, 1) * 255).astype(np.uint8)
        path = folder / f"img_{i:03d}.{'png' if i % 2 else 'jpg'}"
        Image.fromarray(img).save(path)
        paths.append(path)
    return paths


@pytest.fixture
def image_dir(tmp_path: Path) -> Path:
    """A folder of 8 small generated photos."""
    write_images(tmp_path / "images", 8)
    return tmp_path / "images"


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory of a center-net model (32 px, bottleneck 32) trained for 2 steps."""
    from context_encoder.cli import main

    root = tmp_path_factory.mktemp("tiny_ckpt")
    write_images(root / "images", 6)
    run = root / "run"
    code = main(["train", "--data", str(root / "images"), "--image-size", "32", "--bottleneck", "32",
                 "--nef", "16", "--ngf", "16", "--ndf", "16", "--batch-size", "4", "--steps", "2",
                 "--workers", "0", "--out", str(run), "--precision", "fp32"])
    assert code == 0
    return run


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The shared real data (../shared/data). Skips when CE_DATA_DIR is unset; when it is set, a
    missing folder is a failure, not a skip (so CI cannot silently lose the real-image checks)."""
    value = os.environ.get("CE_DATA_DIR")
    if not value:
        pytest.skip("CE_DATA_DIR not set: real-data checks not requested")
    path = Path(value)
    if not (path / "bsd100").is_dir():
        pytest.fail(f"CE_DATA_DIR={value} is set but does not hold the shared data (no bsd100/)")
    return path


def one_line_error(capsys: pytest.CaptureFixture, *needles: str) -> str:
    """The one non-warning, non-progress line on stderr, holding every needle."""
    err = capsys.readouterr().err.strip()
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("warning:")
             and not re.match(r"^\s*train:.*\|", line)]  # the progress bar
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]
