"""The packaged default model: present, within budget, loads offline, used by `inpaint` by default."""

from __future__ import annotations

import socket
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from context_encoder import Inpainter
from context_encoder.cli import main

WEIGHTS = resources.files("context_encoder").joinpath("weights/center.safetensors")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise OSError("network access attempted")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_packaged_weights_exist_within_budget() -> None:
    assert WEIGHTS.is_file(), "the default model is not packaged"
    assert Path(str(WEIGHTS)).stat().st_size <= 30 * 2**20


def test_from_pretrained_loads_offline(no_network: None) -> None:
    inpainter = Inpainter.from_pretrained(device="cpu")
    assert inpainter.cfg.arch == "center" and inpainter.cfg.image_size == 128
    image = np.random.default_rng(0).integers(0, 256, (150, 210, 3), dtype=np.uint8)
    mask = np.zeros((150, 210), np.uint8)
    mask[60:90, 80:130] = 255
    out = np.asarray(inpainter.inpaint(image, mask))
    assert out.shape == image.shape
    assert np.array_equal(out[mask == 0], image[mask == 0])
    assert not np.array_equal(out[mask > 0], image[mask > 0])


def test_cli_inpaint_without_checkpoint(tmp_path: Path, no_network: None) -> None:
    rng = np.random.default_rng(1)
    image = (rng.random((97, 133, 3)) * 255).astype(np.uint8)
    Image.fromarray(image).save(tmp_path / "photo.png")
    assert main(["inpaint", str(tmp_path / "photo.png"), "-o", str(tmp_path / "out.png")]) == 0
    with Image.open(tmp_path / "out.png") as out:
        assert out.size == (133, 97)
        filled = np.asarray(out)
    assert not np.array_equal(filled, image)  # the center hole was filled


def test_pretrained_names_the_packaged_model_for_train_and_evaluate(
        tmp_path: Path, capsys: pytest.CaptureFixture, no_network: None) -> None:
    from context_encoder.evaluation.methods import load_checkpoint

    ckpt = load_checkpoint("pretrained")
    assert ckpt.name == "pretrained" and ckpt.cfg.arch == "center"
    (tmp_path / "images").mkdir()
    assert main(["train", "--init", "pretrained", "--data", str(tmp_path / "images"), "--steps", "5",
                 "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"bottleneck: {ckpt.cfg.bottleneck}" in out and "init: pretrained" in out


@pytest.mark.realdata
@pytest.mark.parametrize("subset", ["bsd100", "camvid/test"])
def test_packaged_model_beats_telea_by_0_8_db(real_data_dir: Path, subset: str) -> None:
    """Issue 7: under the center protocol (the model's inner hole for every method), the packaged
    model as `inpaint` runs it beats OpenCV Telea by >= 0.8 dB and mean fill by >= 2.5 dB."""
    from context_encoder.evaluation.evaluate import evaluate

    ev = evaluate(data=real_data_dir / subset, methods=["model", "opencv-telea", "mean-fill"],
                  checkpoints=["pretrained"], examples=0)
    psnr = {row: float(np.mean([r["psnr"] for r in rows])) for row, rows in ev.per_image.items()}
    model = psnr["pretrained +poisson"]
    assert model - psnr["opencv-telea"] >= 0.8, psnr
    assert model - psnr["mean-fill"] >= 2.5, psnr
