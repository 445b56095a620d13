"""Segmentation transfer: mIoU by hand (void ignored), label checks, and `segment` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import one_line_error
from PIL import Image

from context_encoder.cli import main
from context_encoder.representation.seg_data import IGNORE, load_segmentation, read_label
from context_encoder.representation.seg_metrics import confusion_matrix, segmentation_scores

W, H = 80, 64
VOID = 11


def write_split(root: Path, split: str, n: int, seed: int) -> None:
    """n photos (W × H) with label maps: class 0 (reddish) left of a random edge, class 1 (bluish)
    right of it, a bottom band of class 2 (green), and a top band of void of a random colour."""
    rng = np.random.default_rng(seed)
    (root / split).mkdir(parents=True, exist_ok=True)
    (root / f"{split}-labels").mkdir(parents=True, exist_ok=True)
    colours = np.array([[200, 40, 40], [40, 40, 200], [40, 180, 40]], float)
    for i in range(n):
        label = np.zeros((H, W), np.uint8)
        label[:, rng.integers(20, 60):] = 1
        label[rng.integers(44, 56):] = 2
        label[: rng.integers(4, 12)] = VOID
        img = np.where((label == VOID)[..., None], rng.uniform(0, 255, 3), colours[np.minimum(label, 2)])
        img = np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(root / split / f"f{i:03d}.jpg")
        Image.fromarray(label).save(root / f"{split}-labels" / f"f{i:03d}.png")


@pytest.fixture(scope="module")
def seg_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("seg")
    for split, n, seed in (("train", 12, 0), ("val", 4, 1), ("test", 4, 2)):
        write_split(root, split, n, seed)
    return root


def split_args(root: Path, *splits: str) -> list[str]:
    return [a for s in splits for a in (f"--{s}", str(root / s), f"--{s}-labels", str(root / f"{s}-labels"))]


# ---- the metric -------------------------------------------------------------------------------
def test_miou_by_hand_with_void_ignored() -> None:
    # labels: 0 0 1 void; prediction: 0 1 1 0. Class 0: TP 1, FN 1 -> 1/2; class 1: TP 1, FP 1 -> 1/2.
    # Counting the void pixel as a class-0 prediction would give class 0 1/3 and a mIoU of 0.4167.
    target, pred = torch.tensor([[0, 0, 1, IGNORE]]), torch.tensor([[0, 1, 1, 0]])
    conf = confusion_matrix(pred, target, 2)
    assert conf.tolist() == [[1, 1], [0, 1]]
    scores = segmentation_scores(conf, ["a", "b"])
    assert scores["miou"] == pytest.approx(0.5)
    assert scores["pixel_accuracy"] == pytest.approx(2 / 3)
    assert scores["per_class_iou"] == {"a": pytest.approx(0.5), "b": pytest.approx(0.5)}
    assert scores["pixels"] == 3


def test_miou_leaves_out_only_classes_never_labelled_nor_predicted() -> None:
    target, pred = torch.tensor([0, 0, 1, 1]), torch.tensor([0, 2, 1, 1])
    scores = segmentation_scores(confusion_matrix(pred, target, 4))
    # class 0: 1 / 2; class 1: 2 / 2; class 2: predicted, never labelled: 0 / 1; class 3: 0 / 0, left out
    assert scores["per_class_iou"] == {"0": 0.5, "1": 1.0, "2": 0.0, "3": None}
    assert scores["miou"] == pytest.approx(0.5) and scores["classes_scored"] == 3


# ---- reading labels ---------------------------------------------------------------------------
def test_read_label_maps_void_and_refuses_strays(tmp_path: Path) -> None:
    path = tmp_path / "l.png"
    Image.fromarray(np.array([[0, 10, 11, 37]], np.uint8)).save(path)
    with pytest.raises(ValueError, match=r"value\(s\) \[37\] outside the classes 0..10"):
        read_label(path, size=(4, 1), n_classes=11, void=11)
    assert read_label(path, size=(4, 1), n_classes=11, void=None).tolist() == [[0, 10, IGNORE, IGNORE]]
    with pytest.raises(ValueError, match="is 4×1 but its photo is 5×1"):
        read_label(path, size=(5, 1), n_classes=11, void=None)
    Image.new("RGB", (4, 1)).save(path)
    with pytest.raises(ValueError, match="is a RGB image: labels must be single-channel"):
        read_label(path, size=(4, 1), n_classes=11, void=11)


def test_load_segmentation_resizes_and_subsets(seg_root: Path) -> None:
    data = load_segmentation(seg_root / "train", seg_root / "train-labels", height=32, width=40, n_classes=3,
                             void=VOID, limit=5)
    assert data.images.shape == (5, 3, 32, 40) and data.images.dtype == torch.uint8
    assert data.labels.shape == (5, 32, 40)
    assert set(data.labels.unique().tolist()) == {0, 1, 2, IGNORE}
    assert [f.name for f in data.files] == sorted(f.name for f in data.files)


# ---- the command ------------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["alexnet", "checkpoint"])
def test_segment_cli_end_to_end(seg_root: Path, tmp_path: Path, tiny_checkpoint: Path, model: str) -> None:
    source = (["--random-init", "--arch", "alexnet", "--image-size", "99"] if model == "alexnet"
              else ["--checkpoint", str(tiny_checkpoint)])
    out = tmp_path / "seg.json"
    argv = ["segment", *source, *split_args(seg_root, "train", "val", "test"), "--classes", "3",
            "--class-names", "red,blue,green", "--height", str(H), "--width", str(W), "--epochs", "3",
            "--batch-size", "4", "--lr", "1e-2", "--device", "cpu", "-o", str(out)]
    assert main(argv) == 0
    report = json.loads(out.read_text())
    assert report["layer"] == ("conv5" if model == "alexnet" else "encoder")
    assert report["n"] == {"train": 12, "val": 4, "test": 4}
    assert set(report["test"]["per_class_iou"]) == {"red", "blue", "green"}
    assert len(report["history"]) == 3 and 1 <= report["epoch"] <= 3 and report["chosen_on"] == "val mIoU"
    assert 0.0 <= report["test"]["miou"] <= 1.0
    if model == "alexnet":  # colour decides the class: well above the ~1/3 of a constant answer
        assert report["test"]["pixel_accuracy"] > 0.6
    assert main(argv) == 2  # the report exists: refused without --overwrite


def test_segment_missing_label_is_one_line(seg_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    train = tmp_path / "train"
    train.mkdir()
    for f in sorted((seg_root / "train").iterdir())[:3]:
        (train / f.name).write_bytes(f.read_bytes())
    Image.new("RGB", (W, H)).save(train / "extra.jpg")
    argv = ["segment", "--random-init", "--arch", "alexnet", "--image-size", "99", "--train", str(train),
            "--train-labels", str(seg_root / "train-labels"), *split_args(seg_root, "test"), "--classes", "3",
            "-o", str(tmp_path / "seg.json")]
    assert main(argv) == 2
    one_line_error(capsys, "1 of 4 images", "have no label", "extra.png")


def test_segment_label_out_of_range_is_one_line(seg_root: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    argv = ["segment", "--random-init", "--arch", "alexnet", "--image-size", "99",
            *split_args(seg_root, "train", "test"), "--classes", "2", "-o", str(tmp_path / "seg.json")]
    assert main(argv) == 2  # class 2 (green) is no class of 2, and not the void value 11
    one_line_error(capsys, "outside the classes 0..1", "--void any")
    assert main([*argv, "--void", "1"]) == 2  # a class, not a void value
    one_line_error(capsys, "--void must be 'any' or a label value in [--classes, 255]")
