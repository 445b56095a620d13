"""The evaluate command: protocols, baselines, scored pixels, determinism, errors, reference figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_images
from PIL import Image

from context_encoder import Inpainter
from context_encoder.checkpoint import save_checkpoint
from context_encoder.cli import main
from context_encoder.config import InpaintConfig, ModelConfig
from context_encoder.evaluation import baselines
from context_encoder.evaluation.evaluate import evaluate, run_method
from context_encoder.evaluation.protocol import EvalSet, center_hidden, paired_masks, prepare_image
from context_encoder.evaluation.report import LABEL_HEIGHT, REPORT_FILES, hole_bucket
from context_encoder.masks import region_mask
from context_encoder.models import build_generator


def _tiny_run(root: Path, image_size: int = 128, **model: object) -> Path:
    """A narrow generator with untrained weights saved as a run directory."""
    cfg = ModelConfig(image_size=image_size, nef=8, ngf=8, ndf=8, bottleneck=16, **model)
    save_checkpoint(root, step=3, generator=build_generator(cfg).eval(), discriminator=None, cfg=cfg,
                    training_state={})
    return root


@pytest.fixture(scope="module")
def center_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny_run(tmp_path_factory.mktemp("ckpt") / "center128", overlap=4)


@pytest.fixture(scope="module")
def bank_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bank") / "bank"
    write_images(folder, 6, seed=1)
    return folder


def _cli(*args: object) -> int:
    return main(["evaluate", *(str(a) for a in args)])


def test_prepare_image_crops_the_centered_square(tmp_path: Path) -> None:
    img = np.zeros((40, 80, 3), np.uint8)
    img[:, 20:60] = 200  # exactly the centered 40×40 square
    Image.fromarray(img).save(tmp_path / "wide.png")
    out = prepare_image(tmp_path / "wide.png")
    assert out.shape == (128, 128, 3) and out.dtype == np.uint8
    assert (out == 200).all()


def test_center_hidden_region() -> None:
    full, inner = center_hidden(128, 0), center_hidden(128, 4)
    rows, cols = np.nonzero(full)
    assert (rows.min(), rows.max(), cols.min(), cols.max(), full.sum()) == (32, 95, 32, 95, 64 * 64)
    rows, cols = np.nonzero(inner)
    assert (rows.min(), rows.max(), cols.min(), cols.max(), inner.sum()) == (36, 91, 36, 91, 56 * 56)


def test_exactly_the_hidden_pixels_are_scored() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 128, 128, 3), dtype=np.uint8)
    hidden = center_hidden(128, 4)
    masks = np.broadcast_to(hidden, (3, 128, 128)).copy()
    eval_set = EvalSet("center", ["a", "b", "c"], images, masks, "inner")
    seen = []

    def black(x: np.ndarray, m: np.ndarray) -> np.ndarray:
        seen.append(x.copy())
        return np.zeros_like(x)  # wrong everywhere: only the hidden pixels may count

    rows, _ = run_method("black", black, eval_set, [])
    assert (seen[0][masks] == 0).all() and (seen[0][~masks] == images[~masks]).all()  # the hole is hidden
    for x, r in zip(images, rows):
        assert r["l1"] == pytest.approx(100 * x[hidden].mean() / 255)

    def one_pixel_off(x: np.ndarray, m: np.ndarray) -> np.ndarray:
        out = images.copy()  # the truth, cheating, except:
        out[:, 36, 36] = 255 - out[:, 36, 36]  # the first hidden pixel, all channels
        out[:, 35, 35] = 255 - out[:, 35, 35]  # a ring pixel: context, not scored
        return out

    rows, _ = run_method("one", one_pixel_off, eval_set, [])
    for x, r in zip(images, rows):
        err = np.abs(255 - 2 * x[36, 36].astype(float)).sum() / 255
        assert r["l1"] == pytest.approx(100 * err / (56 * 56 * 3))


def test_mean_fill_and_opencv_keep_the_visible_pixels() -> None:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    masks = np.zeros((2, 32, 32), bool)
    masks[:, 8:20, 10:24] = True
    filled = baselines.mean_fill(images, masks)
    for x, m, f in zip(images, masks, filled):
        assert (f[~m] == x[~m]).all()
        assert (f[m] == np.floor(x[~m].astype(float).mean(0) + 0.5)).all()
    for method in ("telea", "ns"):
        out = baselines.opencv_inpaint(images, masks, method=method)
        assert out.shape == images.shape and (out[~masks] == images[~masks]).all()


def test_harmonic_is_the_poisson_paste_of_a_constant_prediction() -> None:
    """The harmonic row is the default paste with nothing to guide it: any flat prediction pasted
    by Poisson gives it, and it is the smooth interpolant of the border (not a copy of it)."""
    from context_encoder.inpainting.blend import paste

    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (3, 40, 48, 3), dtype=np.uint8)
    masks = np.zeros((3, 40, 48), bool)
    masks[0, 10:30, 12:40] = True
    masks[1, 0:12, 0:20] = True  # touching the photo's edge
    masks[2] = region_mask(1, 48, torch.Generator().manual_seed(0))[0, 0, 4:44].numpy() > 0
    harmonic = baselines.harmonic_inpaint(images, masks)
    for x, m, h in zip(images, masks, harmonic):
        assert (h[~m] == x[~m]).all()
        for value in (0, 117, 255):
            flat = np.full_like(x, value)
            pasted = paste(x, flat, m, mode="poisson", border=flat)
            assert np.abs(pasted.astype(int) - h.astype(int)).max() <= 1  # rounding of value + correction
    # a hole in a linear ramp is filled by the ramp itself (harmonic functions reproduce it)
    ramp = np.broadcast_to(np.linspace(20, 220, 48)[None, :, None], (40, 48, 3)).round().astype(np.uint8)
    filled = baselines.harmonic_inpaint(ramp[None], masks[:1])[0]
    assert np.abs(filled.astype(int) - ramp.astype(int)).max() <= 1


def test_nn_hog_ignores_the_hole_and_finds_the_same_context() -> None:
    rng = np.random.default_rng(2)
    bank = rng.integers(0, 256, (5, 128, 128, 3), dtype=np.uint8)
    hidden = center_hidden(128, 0)
    query = bank[3].copy()
    query[hidden] = 0  # different hole content, same context
    keep = baselines.context_cells(hidden)
    assert keep.sum() == 16 * 16 - 10 * 10  # cells clear of the hole and its 1-px gradient border
    idx = baselines.nearest_hog(baselines.hog_cells(query[None]), hidden[None], baselines.hog_cells(bank))
    assert idx.tolist() == [3]


def test_report_and_determinism(image_dir: Path, bank_dir: Path, center_run: Path, tmp_path: Path) -> None:
    args = ["--data", image_dir, "--methods", "model,mean-fill,opencv-telea,opencv-ns,nn-hog,nn-features",
            "--checkpoint", center_run, "--nn-bank", bank_dir, "--examples", "3"]
    assert _cli(*args, "--report", tmp_path / "a") == 0
    assert _cli(*args, "--report", tmp_path / "b") == 0
    untimed = {}
    for run in ("a", "b"):  # every figure but the seconds each method took
        summary = json.loads((tmp_path / run / "summary.json").read_text())
        assert all(m["seconds"] > 0 for m in summary["methods"].values())
        untimed[run] = {k: v for k, v in summary.items() if k != "methods"} | {
            "methods": {name: {k: v for k, v in m.items() if k != "seconds"} for name, m in summary["methods"].items()}}
    assert untimed["a"] == untimed["b"]
    for name in ("per_image.csv", "examples.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert set(REPORT_FILES) == {"summary.json", "per_image.csv", "table.md", "examples.png"}
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["protocol"] == "center" and summary["n_images"] == 8
    assert "inner 56x56" in summary["hidden_region"]  # the checkpoint's 4-px ring
    assert list(summary["methods"]) == ["center128 +poisson", "mean-fill", "opencv-telea", "opencv-ns", "nn-hog",
                                        "nn-features (center128)"]  # the model row as `inpaint` pastes
    assert set(summary["methods"]["mean-fill"]) == {"l1", "l2", "psnr", "ssim", "sharpness", "seconds"}
    assert summary["checkpoints"]["center128"]["step"] == 3
    assert len((tmp_path / "a" / "per_image.csv").read_text().splitlines()) == 1 + 8 * 6
    assert "| method | mean L1 (%) | mean L2 (%) | PSNR (dB) | SSIM |" in (tmp_path / "a" / "table.md").read_text()
    assert "s / photo" in (tmp_path / "a" / "table.md").read_text()  # every protocol is timed
    with Image.open(tmp_path / "a" / "examples.png") as grid:  # labels, 3 rows, 8 columns of 128 px + 2 px padding
        assert grid.size == (8 * 130 + 2, LABEL_HEIGHT + 3 * 130 + 2)


def test_full_hole_option(image_dir: Path, center_run: Path) -> None:
    ev = evaluate(data=image_dir, methods=["model", "mean-fill"], checkpoints=[center_run], overlap=0, examples=0)
    assert ev.eval_set.hidden_region.startswith("center 64x64")
    assert ev.eval_set.masks.sum(axis=(1, 2)).tolist() == [64 * 64] * 8


def _write_masks(folder: Path) -> None:
    folder.mkdir()
    for i, share in enumerate((0.05, 0.15, 0.35)):
        mask = np.zeros((256, 256), np.uint8)
        mask[: int(round(256 * share)), :] = 255
        Image.fromarray(mask).save(folder / f"{i:05d}.png")


def test_masks_protocol(image_dir: Path, bank_dir: Path, center_run: Path, tmp_path: Path,
                        capsys: pytest.CaptureFixture) -> None:
    _write_masks(tmp_path / "masks")
    names, masks = paired_masks(8, tmp_path / "masks", seed=0)
    assert names == paired_masks(8, tmp_path / "masks", seed=0)[0] and len(set(names)) == 3
    assert names != paired_masks(8, tmp_path / "masks", seed=1)[0]
    assert _cli("--data", image_dir, "--protocol", "masks", "--mask-dir", tmp_path / "masks", "--methods",
                "nn-features", "--checkpoint", center_run, "--nn-bank", bank_dir, "--report", tmp_path / "r") == 2
    assert "use the center protocol" in capsys.readouterr().err
    assert _cli("--data", image_dir, "--protocol", "masks", "--mask-dir", tmp_path / "masks",
                "--methods", "mean-fill,opencv-telea", "--report", tmp_path / "r") == 0
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert set(summary["buckets"]) <= {"0-10%", "10-20%", "30-40%"}
    assert sum(b["n_images"] for b in summary["buckets"].values()) == 8
    assert "Hole share" in (tmp_path / "r" / "table.md").read_text()
    assert [hole_bucket(v) for v in (0.0, 9.99, 10.0, 59.9, 75.0)] == ["0-10%", "0-10%", "10-20%", "50-60%",
                                                                        "60-100%"]


@pytest.mark.parametrize(("extra", "message"), [
    (["--methods", "nn-hog"], "--nn-bank"),
    (["--methods", "model"], "--checkpoint"),
    (["--methods", "mean-fill", "--seed", "1"], "masks protocol only"),
    (["--methods", "mean-fill", "--protocol", "masks"], "--mask-dir"),
    (["--methods", "mean-fill", "--data", "/nonexistent/folder"], "not found"),
    (["--methods", "mean-fill", "--overlap", "32"], "overlap must be in [0, 32)"),
])
def test_bad_input_is_one_line_and_writes_nothing(image_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                                                   extra: list[str], message: str) -> None:
    assert _cli("--data", image_dir, "--report", tmp_path / "r", *extra) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_models_a_method_cannot_use_are_rejected(image_dir: Path, bank_dir: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    small = _tiny_run(tmp_path / "small", image_size=32)
    assert _cli("--data", image_dir, "--methods", "nn-features", "--checkpoint", small, "--nn-bank", bank_dir,
                "--report", tmp_path / "r") == 2
    assert "32-px model" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_center_model_on_masks_fills_through_windows(image_dir: Path, center_run: Path, tmp_path: Path) -> None:
    _write_masks(tmp_path / "masks")
    assert _cli("--data", image_dir, "--methods", "model", "--checkpoint", center_run, "--protocol", "masks",
                "--mask-dir", tmp_path / "masks", "--report", tmp_path / "r", "--blend", "hard,poisson") == 0
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert set(summary["methods"]) == {"center128", "center128 +poisson"}


def test_whole_image_model_on_masks(image_dir: Path, tmp_path: Path) -> None:
    run = _tiny_run(tmp_path / "whole", full_image=True)
    _write_masks(tmp_path / "masks")
    ev = evaluate(data=image_dir, methods=["model"], checkpoints=[run], protocol="masks",
                  mask_dir=tmp_path / "masks", examples=0)
    assert list(ev.per_image) == ["whole +poisson"] and len(ev.per_image["whole +poisson"]) == 8


# Reference figures of the issue (computed independently), PSNR in dB: (set, overlap) -> method -> dB
REFERENCE = {
    ("bsd100", 0): {"mean-fill": 13.67, "opencv-telea": 15.52},
    ("camvid/test", 0): {"mean-fill": 12.17, "opencv-telea": 15.36},
    ("bsd100", 4): {"mean-fill": 13.67, "opencv-telea": 15.84},
    ("camvid/test", 4): {"mean-fill": 12.33, "opencv-telea": 15.20},
}


@pytest.mark.realdata
@pytest.mark.parametrize(("subset", "overlap"), list(REFERENCE))
def test_reference_figures(real_data_dir: Path, subset: str, overlap: int) -> None:
    ev = evaluate(data=real_data_dir / subset, methods=["mean-fill", "opencv-telea"], overlap=overlap, examples=0)
    for method, expected in REFERENCE[(subset, overlap)].items():
        measured = float(np.mean([r["psnr"] for r in ev.per_image[method]]))
        assert measured == pytest.approx(expected, abs=0.05), (subset, overlap, method)


@pytest.mark.realdata
@pytest.mark.parametrize("subset", ["bsd100", "camvid/test"])
def test_packaged_model_beats_telea_on_photos_at_their_own_size(real_data_dir: Path, subset: str) -> None:
    """Issue 13: photos at their own size with irregular masks (10-50 % of the photo), the model
    exactly as ``inpaint`` runs it: ahead of OpenCV Telea (+0.72 / +0.63 dB on 40 photos each)."""
    ev = evaluate(data=real_data_dir / subset, methods=["model", "opencv-telea"], checkpoints=["pretrained"],
                  protocol="photos", mask_dir=real_data_dir / "irregular-masks", limit=10, examples=0)
    psnr = {row: np.array([r["psnr"] for r in rows]) for row, rows in ev.per_image.items()}
    gain = psnr["pretrained +poisson"] - psnr["opencv-telea"]
    assert gain.mean() >= 0.4 and (gain > 0).mean() >= 0.7, gain


def test_flip_tta_row_is_named_and_scores_the_averaged_model(image_dir: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    cfg = ModelConfig(image_size=128, nef=8, ngf=8, ndf=8, bottleneck=16, overlap=4)
    gen = build_generator(cfg).eval()
    with torch.no_grad():  # weights large enough that the output depends on the input's layout
        for p in gen.parameters():
            p.normal_(0.0, 0.3)
    run = tmp_path / "big"
    save_checkpoint(run, step=1, generator=gen, discriminator=None, cfg=cfg, training_state={})
    plain = evaluate(data=image_dir, methods=["model"], checkpoints=[run], examples=0, blends=["hard"])
    flip = evaluate(data=image_dir, methods=["model"], checkpoints=[run], examples=0, flip_tta=True,
                    blends=["hard"])
    assert list(flip.per_image) == ["big +flip"]
    a = [r["psnr"] for r in plain.per_image["big"]]
    b = [r["psnr"] for r in flip.per_image["big +flip"]]
    assert len(a) == len(b) == 8 and a != b
    onion = evaluate(data=image_dir, methods=["model"], checkpoints=[run], examples=0, onion=4)
    assert list(onion.per_image) == ["big +poisson +onion4"]
    with pytest.raises(ValueError, match="onion must be"):
        evaluate(data=image_dir, methods=["model"], checkpoints=[run], examples=0, onion=-2)


def test_poisson_row_corrects_the_model_by_its_ring(image_dir: Path, center_run: Path) -> None:
    hard = evaluate(data=image_dir, methods=["model"], checkpoints=[center_run], examples=0, blends=["hard"])
    pois = evaluate(data=image_dir, methods=["model"], checkpoints=[center_run], examples=0,
                    blends=["hard", "poisson"])
    assert list(pois.per_image) == ["center128", "center128 +poisson"]
    mean = lambda ev, row: float(np.mean([r["psnr"] for r in ev.per_image[row]]))  # noqa: E731
    # An untrained net's fill is off in colour; on smooth photos the ring tells by how much.
    assert mean(pois, "center128") == mean(hard, "center128")
    assert mean(pois, "center128 +poisson") > mean(hard, "center128") + 1.0
    with pytest.raises(ValueError, match="blend must be"):
        evaluate(data=image_dir, methods=["model"], checkpoints=[center_run], blends=["soft"])


def _write_irregular_masks(folder: Path, n: int = 3) -> None:
    folder.mkdir()
    masks = region_mask(n, 256, torch.Generator().manual_seed(0))  # (n, 1, 256, 256) smooth blobs
    for i, m in enumerate(masks):
        Image.fromarray((m[0].numpy() * 255).astype(np.uint8)).save(folder / f"{i:05d}.png")


@pytest.mark.parametrize("blend", ["hard", "poisson"])
@pytest.mark.parametrize("protocol", ["center", "masks"])
def test_model_row_is_what_inpaint_returns(image_dir: Path, center_run: Path, tmp_path: Path, blend: str,
                                           protocol: str) -> None:
    """The evaluator's composited output is exactly what the Inpainter (and so `inpaint`) returns."""
    options = {"overlap": 0} if protocol == "center" else {"mask_dir": tmp_path / "masks"}
    if protocol == "masks":
        _write_irregular_masks(tmp_path / "masks")
    ev = evaluate(data=image_dir, methods=["model"], checkpoints=[center_run], protocol=protocol, examples=8,
                  blends=[blend], **options)
    (row,) = ev.per_image
    inpainter = Inpainter.from_checkpoint(center_run, device="cpu", config=InpaintConfig(blend=blend))
    assert ev.example_index == list(range(8))
    for shown, image, hole in zip(ev.examples[row], ev.eval_set.images, ev.eval_set.masks):
        assert np.array_equal(shown, np.asarray(inpainter.inpaint(image, hole)))
    # and what the command writes for that photo and mask
    Image.fromarray(ev.eval_set.images[0]).save(tmp_path / "photo.png")
    Image.fromarray(ev.eval_set.masks[0].astype(np.uint8) * 255).save(tmp_path / "hole.png")
    assert main(["inpaint", str(tmp_path / "photo.png"), "--mask", str(tmp_path / "hole.png"), "-o",
                 str(tmp_path / "out.png"), "--checkpoint", str(center_run), "--blend", blend,
                 "--device", "cpu"]) == 0
    with Image.open(tmp_path / "out.png") as written:
        assert np.array_equal(ev.examples[row][0], np.asarray(written))


def test_photos_protocol_scores_photos_at_their_own_size(tmp_path: Path, center_run: Path) -> None:
    write_images(tmp_path / "photos", 4, sizes=((200, 150), (150, 260)))
    _write_irregular_masks(tmp_path / "masks", n=6)
    methods = ["model", "harmonic", "mean-fill", "opencv-telea", "opencv-fsr", "biharmonic"]
    ev = evaluate(data=tmp_path / "photos", methods=methods, checkpoints=[center_run], protocol="photos",
                  mask_dir=tmp_path / "masks", hole_share=(5.0, 60.0), examples=4)
    shapes = [image.shape[:2] for image in ev.eval_set.images]
    assert sorted(set(shapes)) == [(150, 200), (260, 150)]
    assert [m.shape for m in ev.eval_set.masks] == shapes
    inpainter = Inpainter.from_checkpoint(center_run, device="cpu")
    (row,) = (name for name in ev.per_image if name.startswith("center128"))
    for shown, image, hole in zip(ev.examples[row], ev.eval_set.images, ev.eval_set.masks):
        assert np.array_equal(shown, np.asarray(inpainter.inpaint(image, hole)))  # the model row is `inpaint`
    for name in ev.per_image:  # baselines keep the known pixels, and every row is timed
        for shown, image, hole in zip(ev.examples[name], ev.eval_set.images, ev.eval_set.masks):
            assert np.array_equal(shown[~hole], image[~hole])
        assert all(r["seconds"] > 0 for r in ev.per_image[name])
    assert _cli("--data", tmp_path / "photos", "--protocol", "photos", "--mask-dir", tmp_path / "masks",
                "--hole-share", "5-60", "--methods", "mean-fill,opencv-ns", "--report", tmp_path / "r") == 0
    table = (tmp_path / "r" / "table.md").read_text()
    assert "s / photo" in table and "own size" in table and "Hole share" in table
    assert _cli("--data", tmp_path / "photos", "--protocol", "photos", "--mask-dir", tmp_path / "masks",
                "--hole-share", "90-95", "--methods", "mean-fill", "--report", tmp_path / "r2") == 2
