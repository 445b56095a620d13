"""Probes: the linear classifier, labelled-folder loading, and both CLI modes well above chance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from context_encoder.cli import main
from context_encoder.representation.probe import accuracy, fit_linear, linear_probe, load_labelled

CLASSES = ("red", "green", "blue")


def write_labelled(root: Path, per_class: int, seed: int) -> None:
    """Class k: colour channel k dominant, under random stripes, brightness and noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:36, 0:36]
    for label, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            period, phase, axis = rng.integers(4, 9), rng.integers(0, 8), rng.integers(0, 2)
            stripes = (((yy, xx)[axis] + phase) // (period / 2)) % 2  # (36, 36) in {0, 1}
            colour = rng.uniform(20, 90, 3)
            colour[label] = rng.uniform(160, 250)
            img = colour * (0.7 + 0.3 * stripes[..., None]) + rng.normal(0, 10, (36, 36, 3))
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(root / name / f"{i:03d}.png")


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("labelled")
    write_labelled(root / "train", 24, seed=0)
    write_labelled(root / "test", 10, seed=1)
    return root


def test_fit_linear_separates_blobs() -> None:
    g = torch.Generator().manual_seed(0)
    centers = torch.randn(4, 16, generator=g) * 3
    y = torch.arange(200) % 4
    x = centers[y] + torch.randn(200, 16, generator=g)
    head = fit_linear(x, y, 4, weight_decay=1e-3)
    assert accuracy(head(x), y) > 0.95
    assert torch.equal(fit_linear(x, y, 4, weight_decay=1e-3).weight, head.weight)  # deterministic


def test_linear_probe_reports_and_picks_penalty() -> None:
    g = torch.Generator().manual_seed(1)
    y, yt = torch.arange(300) % 3, torch.arange(90) % 3
    shift = torch.eye(3, 10) * 4
    result = linear_probe(shift[y] + torch.randn(300, 10, generator=g), y,
                          shift[yt] + torch.randn(90, 10, generator=g), yt, weight_decays=(1e-3, 1.0))
    assert result["top1"] > 0.9 and result["weight_decay"] in (1e-3, 1.0)
    assert set(result) == {"top1", "train_top1", "val_top1", "weight_decay"}


def test_load_labelled_subsets_and_class_order(labelled: Path) -> None:
    data = load_labelled(labelled / "train", image_size=32, per_class=5, seed=3)
    assert data.images.shape == (15, 3, 32, 32) and data.images.dtype == torch.uint8
    assert data.classes == tuple(sorted(CLASSES)) and data.labels.bincount().tolist() == [5, 5, 5]
    again = load_labelled(labelled / "train", image_size=32, per_class=5, seed=3)
    assert again.files == data.files
    test = load_labelled(labelled / "test", image_size=32, classes=CLASSES)
    assert test.classes == CLASSES and test.labels[0] == 0 and "red" in str(test.files[0])


def test_load_labelled_needs_classes(tmp_path: Path) -> None:
    (tmp_path / "only").mkdir()
    with pytest.raises(ValueError, match="two class"):
        load_labelled(tmp_path, image_size=32)


TINY = ["--random-init", "--nef", "8", "--ngf", "8", "--bottleneck", "16", "--device", "cpu"]


@pytest.mark.parametrize("mode", ["linear", "finetune"])
def test_probe_cli_well_above_chance(labelled: Path, tmp_path: Path, mode: str) -> None:
    out = tmp_path / "probe.json"
    extra = ["--epochs", "4", "--lr", "3e-3", "--batch-size", "16"] if mode == "finetune" else []
    assert main(["probe", *TINY, "--train", str(labelled / "train"), "--test", str(labelled / "test"),
                 "--mode", mode, "-o", str(out), *extra]) == 0
    result = json.loads(out.read_text())
    assert result["n_train"] == 72 and result["n_test"] == 30 and result["mode"] == mode
    assert result["top1"] >= 0.8 > 2 * result["chance"]  # chance is 1/3


def test_finetune_is_reproducible_from_its_seed(labelled: Path) -> None:
    """The head's init comes from ``seed`` too, whatever the global RNG holds."""
    from context_encoder.config import ModelConfig
    from context_encoder.representation.features import random_generator
    from context_encoder.representation.probe import finetune

    cfg = ModelConfig(image_size=32, nef=8, ngf=8, bottleneck=16)
    train = load_labelled(labelled / "train", image_size=32, per_class=6)
    test = load_labelled(labelled / "test", image_size=32, per_class=4, classes=train.classes)
    results, weights = [], []
    for noise in (1, 2):
        torch.manual_seed(noise)
        gen = random_generator(cfg, 0)
        results.append(finetune(gen, train, test, layer="encoder", epochs=1, batch_size=8, seed=3))
        weights.append(torch.cat([p.flatten() for p in gen.encoder.parameters()]))  # fine-tuned in place
    assert results[0] == results[1] and torch.equal(weights[0], weights[1])


def test_probe_cli_checkpoint_bottleneck(labelled: Path, tmp_path: Path, tiny_checkpoint: Path) -> None:
    out = tmp_path / "probe.json"
    assert main(["probe", "--checkpoint", str(tiny_checkpoint), "--layer", "bottleneck", "--train",
                 str(labelled / "train"), "--test", str(labelled / "test"), "--per-class", "8", "-o", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["n_train"] == 24 and result["layer"] == "bottleneck" and 0 <= result["top1"] <= 1


def test_probe_cli_rejects_bad_flags(labelled: Path, tmp_path: Path) -> None:
    base = ["probe", *TINY, "--train", str(labelled / "train"), "--test", str(labelled / "test")]
    assert main([*base, "--epochs", "0", "-o", str(tmp_path / "p.json")]) == 2
    assert main([*base, "--layer", "conv5", "-o", str(tmp_path / "p.json")]) == 2
    assert not (tmp_path / "p.json").exists()
