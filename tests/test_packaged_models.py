"""The packaged models (issue 23): what "pretrained" fills photos with, and what it names elsewhere.

``inpaint``, ``serve``, ``evaluate`` and the Python API fill every hole, painted or rectangular,
with the harmonic-residual net; the paper's center net is packaged beside it ("pretrained-center")
and is what "pretrained" names as one net (export, ``nn-features``, ``train --init``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from context_encoder import Inpainter
from context_encoder.checkpoint import checkpoint_files, resolve_weights
from context_encoder.config import InpaintConfig

WEIGHTS = resources.files("context_encoder").joinpath("weights")
FILES = [Path(str(WEIGHTS.joinpath(name))) for name in ("center.safetensors", "residual.safetensors")]


def _photo_and_holes() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A random photo (64, 64, 3), a rectangular hole and a painted one (64, 64) bool."""
    photo = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    rect = np.zeros((64, 64), bool)
    rect[20:40, 10:30] = True
    painted = rect.copy()
    painted[40:44, 10:50] = True
    return photo, rect, painted


def test_the_packaged_models_within_budget() -> None:
    assert all(f.is_file() for f in FILES), "a packaged model is missing"
    assert sum(f.stat().st_size for f in FILES) <= 60 * 2**20
    inpainter = Inpainter.from_pretrained(device="cpu")
    assert inpainter.cfg.hole_fill == "harmonic" and inpainter.cfg.skips and not inpainter.cfg.predicts_center
    assert resolve_weights("pretrained") == FILES[0]  # as one net (export, nn-features, train --init)
    assert resolve_weights("pretrained-center") == FILES[0] and resolve_weights("pretrained-residual") == FILES[1]
    assert sorted(checkpoint_files("pretrained")) == sorted(FILES)  # no output may replace either


def test_every_hole_shape_goes_to_the_residual_net() -> None:
    photo, rect, painted = _photo_and_holes()
    default = Inpainter.from_checkpoint("pretrained", "cpu")
    residual = Inpainter.from_checkpoint("pretrained-residual", "cpu")
    center = Inpainter.from_checkpoint("pretrained-center", "cpu")
    for hole in (rect, painted, None):
        got = default.inpaint(photo, hole)
        assert np.array_equal(got, residual.inpaint(photo, hole))
        assert not np.array_equal(got, center.inpaint(photo, hole))


def test_evaluate_scores_the_default_as_inpaint_runs_it() -> None:
    from context_encoder.evaluation.methods import load_checkpoint, model_method

    photo, rect, painted = _photo_and_holes()
    config = InpaintConfig()
    for hole in (rect, painted):
        got = model_method(load_checkpoint("pretrained"), config)(photo[None], hole[None])
        assert np.array_equal(got[0], Inpainter.from_pretrained("cpu", config=config).inpaint(photo, hole))


def test_the_server_names_the_net_that_fills() -> None:
    import hashlib

    from context_encoder.server.schemas import weights_sha256

    assert weights_sha256("pretrained") == hashlib.sha256(FILES[1].read_bytes()).hexdigest()
    assert weights_sha256("pretrained-center") == hashlib.sha256(FILES[0].read_bytes()).hexdigest()
