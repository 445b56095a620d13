"""Feature extraction: shapes per layer, file naming, saved formats, the autoencoder mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import write_images

from context_encoder.cli import main
from context_encoder.config import ModelConfig
from context_encoder.representation.features import (
    extract,
    load_features,
    nearest_neighbours,
    random_generator,
    save_features,
)

TINY = {"image_size": 32, "nef": 8, "ngf": 8, "bottleneck": 16}


@pytest.mark.parametrize(("layer", "pool", "dim"), [("encoder", 0, 64 * 16), ("encoder", 2, 64 * 4),
                                                    ("bottleneck", 0, 16), ("bottleneck", 2, 16)])
def test_center_feature_shapes(layer: str, pool: int, dim: int) -> None:
    gen = random_generator(ModelConfig(**TINY), seed=0)
    images = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    feats = extract(gen, images, layer=layer, pool=pool, batch_size=2)
    assert feats.shape == (5, dim) and feats.dtype == torch.float32 and torch.isfinite(feats).all()


@pytest.mark.parametrize(("layer", "shape"), [("pool5", (256, 2, 2)), ("conv5", (256, 5, 5))])
def test_alexnet_feature_shapes(layer: str, shape: tuple[int, int, int]) -> None:
    gen = random_generator(ModelConfig(arch="alexnet", image_size=96, bottleneck=16), seed=0)
    feats = extract(gen, torch.zeros(2, 3, 96, 96, dtype=torch.uint8), layer=layer)
    assert feats.shape == (2, shape[0] * shape[1] * shape[2])


def test_random_init_is_seeded_and_leaves_global_rng_alone() -> None:
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a, b = random_generator(ModelConfig(**TINY), 7), random_generator(ModelConfig(**TINY), 7)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    c = random_generator(ModelConfig(**TINY), 8)
    assert not torch.equal(next(a.parameters()), next(c.parameters()))


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_save_load_roundtrip(tmp_path: Path, suffix: str) -> None:
    feats, names = torch.randn(3, 4), ["a/x.jpg", "b/y.png", "z.jpg"]
    save_features(tmp_path / f"f{suffix}", feats, names, {"layer": "encoder"})
    back, back_names, meta = load_features(tmp_path / f"f{suffix}")
    assert torch.equal(back, feats) and back_names == names and meta == {"layer": "encoder"}


def test_nearest_neighbours_finds_itself() -> None:
    bank = torch.randn(20, 8, generator=torch.Generator().manual_seed(0))
    idx = nearest_neighbours(bank[[3, 11]], bank, k=5, chunk=1)
    assert idx.shape == (2, 5) and idx[:, 0].tolist() == [3, 11]


def test_features_cli_checkpoint(tmp_path: Path, tiny_checkpoint: Path) -> None:
    data = tmp_path / "imgs"
    write_images(data / "sub", 3)
    write_images(data, 2, seed=1)
    out = tmp_path / "feats.safetensors"
    assert main(["features", "--checkpoint", str(tiny_checkpoint), "--data", str(data), "--layer", "bottleneck",
                 "-o", str(out), "--device", "cpu"]) == 0
    feats, names, meta = load_features(out)
    assert feats.shape == (5, 32)  # the fixture's bottleneck is 32
    assert names == ["img_000.jpg", "img_001.png", "sub/img_000.jpg", "sub/img_001.png", "sub/img_002.jpg"]
    assert meta["layer"] == "bottleneck" and meta["source"] == str(tiny_checkpoint)


def test_features_cli_random_init_npz(tmp_path: Path, image_dir: Path) -> None:
    out = tmp_path / "feats.npz"
    assert main(["features", "--random-init", "--nef", "8", "--bottleneck", "16", "--data", str(image_dir),
                 "--pool", "1", "-o", str(out), "--device", "cpu"]) == 0
    feats, names, _ = load_features(out)
    assert feats.shape == (8, 64) and len(names) == 8


def test_features_cli_errors(tmp_path: Path, image_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["features", "--random-init", "--nef", "8", "--bottleneck", "16", "--data", str(image_dir)]
    assert main([*base, "--layer", "pool5", "-o", str(tmp_path / "f.npz")]) == 2
    assert "layer 'pool5'" in capsys.readouterr().err
    assert main([*base, "-o", str(tmp_path / "f.txt")]) == 2
    assert main([*base, "--image-size", "48", "-o", str(tmp_path / "f.npz")]) == 2


def test_autoencoder_mode_trains(tmp_path: Path, image_dir: Path) -> None:
    """--arch autoencoder: same center net, whole-image output, no hole; it trains and extracts."""
    run = tmp_path / "ae"
    assert main(["train", "--data", str(image_dir), "--arch", "autoencoder", "--image-size", "32",
                 "--bottleneck", "16", "--nef", "8", "--ngf", "8", "--loss", "l2", "--batch-size", "4",
                 "--steps", "3", "--lr-g", "1e-2", "--log-every", "1", "--workers", "0", "--out", str(run),
                 "--precision", "fp32"]) == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model"]["arch"] == "autoencoder" and cfg["model"]["full_image"]
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and all(torch.isfinite(torch.tensor(r["loss_rec"])) for r in rows)
    assert rows[-1]["loss_rec"] < rows[0]["loss_rec"]
    out = tmp_path / "ae.npz"
    assert main(["features", "--checkpoint", str(run), "--data", str(image_dir), "-o", str(out)]) == 0
    assert load_features(out)[0].shape == (8, 64 * 16)


def test_mask_none_makes_any_arch_an_autoencoder(tmp_path: Path, image_dir: Path) -> None:
    """--mask none (here with the AlexNet net): nothing hidden, every pixel in the loss, so it trains."""
    from context_encoder.config import train_config_from_dict
    from context_encoder.device import setup_runtime
    from context_encoder.training.loop import build_gan, mask_sampler_for
    from context_encoder.training.step import prepare_batch

    cfg = train_config_from_dict({"data": {"data": [str(image_dir)]}, "model": {"arch": "alexnet", "image_size": 127},
                                  "mask": {"kind": "none"}, "loss": {"kind": "l2"}, "steps": 1, "precision": "fp32"})
    state = build_gan(cfg, setup_runtime("cpu", "fp32"))
    masks = mask_sampler_for(cfg)(2, torch.Generator().manual_seed(0))
    images = torch.randint(0, 256, (2, 3, 127, 127), dtype=torch.uint8)
    real, inp, target, weights = prepare_batch(images, masks, state)
    assert state.task.hides_nothing and not masks.any() and torch.equal(inp, real) and bool((weights == 1).all())
