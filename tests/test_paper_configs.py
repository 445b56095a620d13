"""Every configs/paper_*.yaml loads, validates and trains one step (docs/fidelity.md).

Each config is run as written except for the data (generated photos), the run folder, and a
smaller crop and bottleneck for the center nets so the step takes a second on a CPU.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from context_encoder.config import merge, read_config_file, train_config_from_dict
from context_encoder.training.loop import train

CONFIGS = sorted((Path(__file__).parents[1] / "configs").glob("paper_*.yaml"))
SMALL = {"center": {"image_size": 64, "bottleneck": 64, "nef": 8, "ngf": 8, "ndf": 8},
         "alexnet": {"image_size": 99}}


def test_every_experiment_of_the_paper_has_a_config() -> None:
    assert {p.stem for p in CONFIGS} >= {"paper_center_full", "paper_center_text", "paper_random_region",
                                         "paper_alexnet_features"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_paper_config_loads_and_runs_one_step(path: Path, image_dir: Path, tmp_path: Path) -> None:
    values = read_config_file(path)
    full = train_config_from_dict(values)  # as written: valid
    assert full.data.data and full.steps > 0
    small = merge(values, {"model": SMALL[full.model.arch], "out": str(tmp_path / "run"), "steps": 1,
                           "batch_size": 2, "precision": "fp32",
                           "data": {"data": [str(image_dir)], "load_size": 0, "workers": 0}})
    cfg = train_config_from_dict(small)
    for name in ("mask", "loss"):  # what makes the experiment is kept
        assert getattr(cfg, name) == getattr(full, name)
    assert (cfg.model.arch, cfg.model.overlap, cfg.model.disc_widths) == (
        full.model.arch, full.model.overlap, full.model.disc_widths)
    result = train(cfg)
    assert result.step == 1 and result.stopped_by is None
