"""The packaged pair (issue 23): which net fills which hole, and what "pretrained" names where.

A hole that is one filled rectangle goes to the paper's center net, any other hole to the
harmonic-residual net; the same rule in ``inpaint``, ``serve``, ``evaluate`` and the Python API.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from context_encoder import Inpainter
from context_encoder.checkpoint import checkpoint_files, resolve_weights
from context_encoder.config import InpaintConfig, ModelConfig
from context_encoder.geometry import is_rectangle

WEIGHTS = resources.files("context_encoder").joinpath("weights")


class _Constant(nn.Module):
    """A whole-image 'net' that predicts one grey level everywhere and counts its calls."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value, self.calls = value, 0
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return torch.full_like(x, self.value)


def _pair() -> tuple[Inpainter, _Constant, _Constant]:
    cfg = ModelConfig(image_size=32, full_image=True, nef=8, ngf=8, bottleneck=16)
    painted, boxed = _Constant(-1.0), _Constant(1.0)  # black for painted holes, white for rectangles
    config = InpaintConfig(blend="hard")
    box = Inpainter(boxed, cfg, config=config)
    return Inpainter(painted, cfg, config=config, box=box), painted, boxed


def _rectangle(h: int = 40, w: int = 48) -> np.ndarray:
    mask = np.zeros((h, w), bool)
    mask[10:22, 14:30] = True
    return mask


def _painted(h: int = 40, w: int = 48) -> np.ndarray:
    mask = _rectangle(h, w)
    mask[21, 14:18] = False  # a notch: no longer one filled rectangle
    mask[30:33, 5:40] = True
    return mask


def test_is_rectangle() -> None:
    assert is_rectangle(_rectangle())
    one = np.zeros((5, 5), bool)
    one[2, 3] = True
    assert is_rectangle(one)
    assert not is_rectangle(_painted())
    assert not is_rectangle(np.zeros((5, 5), bool))
    two = np.zeros((9, 9), bool)
    two[1:3, 1:3] = two[5:8, 5:8] = True
    assert not is_rectangle(two)


def test_rectangles_go_to_the_box_net_and_other_holes_to_the_main_one() -> None:
    inpainter, painted, boxed = _pair()
    photo = np.full((40, 48, 3), 128, np.uint8)
    rect, paint = _rectangle(), _painted()
    out = inpainter.inpaint_batch([photo, photo, photo], [rect, paint, None])
    assert (out[0][rect] == 255).all()  # the box net's white
    assert (out[1][paint] == 0).all()  # the main net's black
    center = inpainter.box.cfg  # no mask: the center hole, a rectangle
    assert (out[2] == 255).any() and not (out[2] == 0).any(), center
    for filled, mask in zip(out, (rect, paint)):
        assert (filled[~mask] == 128).all()
    assert painted.calls >= 1 and boxed.calls >= 1


def test_without_a_box_every_hole_goes_to_the_one_net() -> None:
    inpainter, painted, boxed = _pair()
    inpainter.box = None
    photo = np.full((40, 48, 3), 128, np.uint8)
    out = inpainter.inpaint(photo, _rectangle())
    assert (out[_rectangle()] == 0).all() and boxed.calls == 0


def test_the_box_inpainter_must_share_the_config() -> None:
    cfg = ModelConfig(image_size=32, full_image=True, nef=8, ngf=8, bottleneck=16)
    box = Inpainter(_Constant(1.0), cfg, config=InpaintConfig(blend="hard"))
    with pytest.raises(ValueError, match="same config"):
        Inpainter(_Constant(0.0), cfg, config=InpaintConfig(blend="poisson"), box=box)


def test_the_packaged_pair_within_budget() -> None:
    files = [Path(str(WEIGHTS.joinpath(name))) for name in ("center.safetensors", "residual.safetensors")]
    assert all(f.is_file() for f in files), "a packaged model is missing"
    assert sum(f.stat().st_size for f in files) <= 60 * 2**20
    inpainter = Inpainter.from_pretrained(device="cpu")
    assert inpainter.cfg.hole_fill == "harmonic" and inpainter.cfg.skips and not inpainter.cfg.predicts_center
    assert inpainter.box is not None and inpainter.box.cfg.predicts_center and inpainter.box.cfg.hole_fill == "mean"
    assert inpainter.box.config == inpainter.config
    assert Inpainter.from_checkpoint("pretrained", "cpu").box is not None
    assert Inpainter.from_checkpoint("pretrained-residual", "cpu").box is None
    assert resolve_weights("pretrained") == files[0]  # as one net (export, nn-features, train --init)
    assert resolve_weights("pretrained-center") == files[0] and resolve_weights("pretrained-residual") == files[1]
    assert sorted(checkpoint_files("pretrained")) == sorted(files)


def test_evaluate_scores_the_pair_as_inpaint_runs_it() -> None:
    from context_encoder.evaluation.methods import load_checkpoint, model_method

    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    mask = np.zeros((1, 64, 64), bool)
    mask[0, 20:40, 10:30] = True
    mask[0, 40:44, 10:50] = True  # painted: the residual net
    config = InpaintConfig()
    got = model_method(load_checkpoint("pretrained"), config)(photo, mask)
    want = Inpainter.from_pretrained("cpu", config=config).inpaint(photo[0], mask[0])
    assert np.array_equal(got[0], want)
    alone = Inpainter.from_checkpoint("pretrained-center", "cpu", config=config).inpaint(photo[0], mask[0])
    assert not np.array_equal(got[0], alone)


def test_the_server_names_the_pair_by_both_files() -> None:
    import hashlib

    from context_encoder.server.schemas import weights_sha256

    files = checkpoint_files("pretrained")
    assert weights_sha256("pretrained") == hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()
    assert weights_sha256("pretrained-center") == hashlib.sha256(files[0].read_bytes()).hexdigest()
