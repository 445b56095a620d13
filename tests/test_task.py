"""One task per run (center | whole-image | autoencoder), decided by config.task_of alone, and the
flag combinations it would leave unread refused with one line (docs/fidelity.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from context_encoder.cli import main
from context_encoder.config import TASKS, merge, read_config_file, task_of, train_config_from_dict

CONFIGS = sorted((Path(__file__).parents[1] / "configs").rglob("*.yaml"))


def _cfg(arch: str, mask: str, **model):
    return train_config_from_dict({"data": {"data": ["d"]}, "model": {"arch": arch, **model},
                                   "mask": {"kind": mask, "folder": "m" if mask == "folder" else ""}})


# (arch, mask) -> (task, discriminator on the center square, the resolved full_image), as the
# scattered conditions of config.py, loop.build_gan and TrainState.no_hole decided them before.
TABLE = {
    ("center", "center"): ("center", True, False),
    ("center", "block"): ("whole-image", False, True),
    ("center", "region"): ("whole-image", False, True),
    ("center", "folder"): ("whole-image", False, True),
    ("center", "none"): ("autoencoder", False, True),
    ("alexnet", "center"): ("whole-image", True, False),
    ("alexnet", "region"): ("whole-image", False, False),
    ("alexnet", "none"): ("autoencoder", False, False),
    ("autoencoder", "center"): ("autoencoder", False, True),
    ("autoencoder", "none"): ("autoencoder", False, True),
}


@pytest.mark.parametrize(("arch", "mask"), list(TABLE))
def test_task_of_every_arch_and_mask(arch: str, mask: str) -> None:
    cfg = _cfg(arch, mask, image_size=128)
    task, disc_center, full_image = TABLE[arch, mask]
    assert task in TASKS
    assert (task_of(cfg).name, task_of(cfg).disc_on_center, cfg.model.full_image) == (task, disc_center, full_image)
    assert task_of(cfg).predicts_center == cfg.model.predicts_center == (task == "center")


def test_a_whole_image_center_net_on_the_center_hole_stays_valid() -> None:
    """model.full_image: true with the center mask (train_random.lua's netG on the center hole)."""
    task = task_of(_cfg("center", "center", full_image=True))
    assert (task.name, task.disc_on_center) == ("whole-image", True)


@pytest.mark.parametrize(("flags", "words"), [
    (["--arch", "autoencoder", "--mask", "region"], "--mask region would be ignored"),
    (["--arch", "autoencoder", "--mask", "block"], "--mask block would be ignored"),
    (["--arch", "autoencoder", "--mask", "folder", "--mask-dir", "m"], "--mask folder would be ignored"),
    (["--mask-dir", "m"], "--mask-dir is read only with --mask folder"),
    (["--mask", "region", "--mask-dir", "m"], "--mask-dir is read only with --mask folder"),
    (["--arch", "autoencoder", "--paste", "poisson"], "hides nothing"),
    (["--mask", "none", "--paste", "poisson"], "hides nothing"),
    (["--arch", "autoencoder", "--ring-weight", "5"], "--ring-weight would be ignored"),
    (["--arch", "alexnet", "--mask", "none", "--l2-weighting", "lua-uniform"], "whole-image net with a hole"),
])
def test_settings_the_task_would_ignore_are_refused(image_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                                                     flags: list[str], words: str) -> None:
    out = tmp_path / "run"
    assert main(["train", "--data", str(image_dir), "--out", str(out), "--dry-run", *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and words in err, err
    assert not out.exists()


def test_full_image_is_refused_for_the_alexnet_net() -> None:
    with pytest.raises(ValueError, match="AlexNet net always outputs the whole image"):
        _cfg("alexnet", "region", image_size=128, full_image=True)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_every_shipped_config_loads(path: Path, image_dir: Path, tmp_path: Path, capsys) -> None:
    values = read_config_file(path)
    cfg = train_config_from_dict(merge(values, {"data": {"data": [str(image_dir)]}}))
    assert task_of(cfg).name in TASKS
    flags = ["train", "--config", str(path), "--data", str(image_dir), "--out", str(tmp_path / "x"), "--dry-run"]
    if str(values.get("init", "")).startswith("runs/"):  # an earlier campaign's run (named in the header),
        flags += ["--init", "pretrained-residual"]  # absent from a clean checkout: the packaged net stands in
    assert main(flags) == 0, capsys.readouterr().err


def test_region_masks_lua_is_read_only_with_region_masks(image_dir: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    base = ["train", "--data", str(image_dir), "--out", str(tmp_path / "x"), "--dry-run", "--region-masks", "lua"]
    assert main([*base, "--mask", "block"]) == 2
    assert "--region-masks is read only with --mask region" in capsys.readouterr().err
    assert main([*base, "--mask", "region"]) == 0
    assert "region_masks: lua" in capsys.readouterr().out


def test_a_run_trains_on_lua_region_masks(image_dir: Path, tmp_path: Path) -> None:
    """--region-masks lua through the loop: the pattern is drawn once, the run's config records it."""
    import json

    run = tmp_path / "run"
    assert main(["train", "--data", str(image_dir), "--mask", "region", "--region-masks", "lua", "--steps", "1",
                 "--out", str(run), "--image-size", "32", "--bottleneck", "16", "--nef", "8", "--ngf", "8",
                 "--ndf", "8", "--batch-size", "2", "--workers", "0", "--precision", "fp32"]) == 0
    assert json.loads((run / "config.json").read_text())["mask"]["region_masks"] == "lua"
