"""The run directory's lifecycle: claimed before training, cleaned of interrupted writes, its log
kept in step with the checkpoint a run resumes from.

A directory that already holds a run is never trained into by accident: only ``resume`` continues
it and only ``overwrite`` replaces it (the run's own files alone are deleted). Temporary files and
step directories that a killed process left are removed on the next start, and the metric rows
logged after the resumed checkpoint are dropped, so no step appears twice in ``metrics.jsonl``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from context_encoder.atomic import Inputs, check_output, input_paths, inside, remove_stale, write_text
from context_encoder.checkpoint import complete_step_dirs, remove_partial_checkpoints

RUN_FILES = ("config.json", "metrics.jsonl", "checkpoints", "tb", "samples", "loss_curves.png")
MARKERS = ("config.json", "metrics.jsonl", "checkpoints")  # any of them: the folder holds a run


def holds_run(run_dir: Path) -> bool:
    """Whether ``run_dir`` already holds (part of) a training run."""
    return any((run_dir / name).exists() or (run_dir / name).is_symlink() for name in MARKERS)


def check_run_dir(run_dir: Path, *, resume: bool, overwrite: bool) -> None:
    """Raise ValueError, before anything is written, unless ``run_dir`` may be trained into."""
    if resume and overwrite:
        raise ValueError("give --resume (continue the run) or --overwrite (replace it), not both")
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"run directory {run_dir} is a file")
    if overwrite or not holds_run(run_dir):
        return
    if not complete_step_dirs(run_dir / "checkpoints", resume=True):  # e.g. killed in its first checkpoint
        raise ValueError(f"{run_dir} holds a run with no complete checkpoint yet: nothing to resume; start it "
                         "again with --overwrite, or pick another --out")
    if not resume:
        raise ValueError(f"{run_dir} holds a run: continue it with --resume {run_dir}, replace it with "
                         "--overwrite, or pick another --out")


def check_run_inputs(run_dir: Path, *, folders: Inputs, files: Inputs) -> None:
    """Raise ValueError unless a run in ``run_dir`` leaves its inputs alone: the run folder is not
    inside a data or mask folder (its sample grids would be trained on as photos), and no input lies
    among the run's own files (which ``--overwrite`` deletes and training rewrites)."""
    check_output(run_dir, folders=folders)
    own = [run_dir / name for name in RUN_FILES]
    for name, path in [*input_paths(folders), *input_paths(files)]:
        if any(inside(path, p) for p in own):
            raise ValueError(f"the {name} {path} is among the files of the run {run_dir}, which training "
                             "rewrites and --overwrite deletes: pick another --out")


def prepare_run_dir(run_dir: Path, *, overwrite: bool) -> None:
    """Delete the run's own files when overwriting, then what interrupted writes left behind."""
    if overwrite:
        _delete_run_files(run_dir)
    remove_partial_checkpoints(run_dir)
    for folder in (run_dir, run_dir / "checkpoints", run_dir / "samples"):
        remove_stale(folder)


def discard_unstarted_run(run_dir: Path) -> bool:
    """Delete the run's own files if it has no checkpoint (a start that failed before its first
    one: nothing to resume, and left in place its ``config.json`` would make the next start need
    ``--overwrite``). Returns whether they were deleted; a folder with any checkpoint is kept."""
    root = run_dir / "checkpoints"
    if root.is_symlink() or (root.is_dir() and any(root.iterdir())) or (root.exists() and not root.is_dir()):
        return False
    _delete_run_files(run_dir)
    return True


def _delete_run_files(run_dir: Path) -> None:
    for name in RUN_FILES:
        path = run_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def trim_metrics(run_dir: Path, step: int) -> int:
    """Drop the ``metrics.jsonl`` rows after ``step`` (and torn lines); returns how many went."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return 0
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    kept = [line for line in lines if _row_step(line) is not None and _row_step(line) <= step]
    if len(kept) != len(lines):
        write_text(path, "".join(line + "\n" for line in kept))
    return len(lines) - len(kept)


def _row_step(line: str) -> int | None:
    try:
        row = json.loads(line)
    except ValueError:
        return None
    step = row.get("step") if isinstance(row, dict) else None
    return step if isinstance(step, int) else None
