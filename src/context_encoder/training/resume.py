"""What ``--resume`` may change, and the learning-rate schedule a resumed run follows.

A plain resume continues the run as it was planned: the settings that make its data stream (data,
batch size, seed, crop, resampling, masks), its model, its loss and its learning rates are refused
if they differ from the run's ``config.json``, with one line naming them. ``new_phase`` accepts
them: the weights and optimizer state go on under the new settings (the shipped model's phases
switch loss and learning rate this way, docs/training.md). The step count may always change; a
cosine schedule keeps the total it was planned for, so a plain resume may stop it early but not
extend it (its learning rate has reached 0 there): a new phase plans it over the new total.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from context_encoder.config import TrainConfig, merge, read_config_file, to_dict

# Dotted config paths a plain resume keeps (a section name covers all of its keys).
KEPT_ON_RESUME = (
    "batch_size", "seed", "data.data", "data.val_fraction", "data.load_size", "data.min_load_size",
    "data.window_views", "data.resample", "mask", "model", "loss", "optim.lr_g", "optim.lr_d", "optim.beta1",
    "optim.beta2",
    "optim.lr_schedule",
)
KEPT_HELP = ("data, batch size, seed, crop, masks, model, loss and learning rates (give --new-phase to "
             "change them); --steps may change, but a cosine schedule keeps the total it was planned for")


def _lookup(tree: dict[str, Any], path: str) -> Any:
    for key in path.split("."):
        tree = tree.get(key, {}) if isinstance(tree, dict) else {}
    return tree


def changed_settings(saved: dict[str, Any], cfg: TrainConfig) -> list[tuple[str, Any, Any]]:
    """(path, run's value, new value) for each kept setting that ``cfg`` changes. A key the run's
    config lacks (written before the key existed) had its default."""
    before, now = merge(to_dict(TrainConfig()), saved), to_dict(cfg)
    out = []
    for path in KEPT_ON_RESUME:
        a, b = _lookup(before, path), _lookup(now, path)
        if isinstance(b, dict):
            out += [(f"{path}.{k}", a.get(k), v) for k, v in b.items() if a.get(k) != v]
        elif a != b:
            out.append((path, a, b))
    return out


def check_resume(run_dir: Path, cfg: TrainConfig, *, new_phase: bool) -> dict[str, Any]:
    """Raise ValueError (one line) if ``cfg`` changes what a plain resume keeps; returns the run's
    saved config."""
    saved = read_config_file(run_dir / "config.json", "the run's config")
    changed = changed_settings(saved, cfg)
    if changed and not new_phase:
        detail = ", ".join(f"{p} {a!r} -> {b!r}" for p, a, b in changed[:4])
        more = f" and {len(changed) - 4} more" if len(changed) > 4 else ""
        raise ValueError(f"--resume {run_dir} would change {detail}{more}: a resumed run keeps its data stream, "
                         "model, loss and learning rates; give --new-phase to continue its weights under the new "
                         "settings, or train into another --out")
    return saved


def planned_total(cfg: TrainConfig, total: int, stored: int | None, *, new_phase: bool) -> int:
    """The step count the learning-rate schedule runs over. A fresh run or a new phase plans over
    ``total``; a plain resume keeps the run's plan (``stored``), and may not extend a cosine one."""
    if stored is None or new_phase or cfg.optim.lr_schedule != "cosine":
        return total
    if total > stored:
        raise ValueError(f"this run's cosine schedule was planned for {stored} steps (its learning rate reaches 0 "
                         f"there), so it cannot run to step {total}: give --new-phase to plan a new cosine "
                         f"schedule over {total} steps")
    return stored
