"""Optional extras (pyproject.toml, context_encoder/extras.py): the core imports, trains and
inpaints with every extra's modules refused, and each command that needs one says which to install."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from context_encoder.extras import EXTRAS

ROOT = Path(__file__).parents[1]

# Run in a fresh interpreter where every module of every extra (and those only they bring) is
# missing: each import finder is wrapped to find none of them, so ``import onnx`` fails and
# ``importlib.util.find_spec("onnx")`` is None, as without the package. Then each command runs
# in-process with its stderr kept.
SCRIPT = r'''
import contextlib, importlib.abc, io, json, sys
REFUSED = set(sys.argv[1].split(","))

class Missing(importlib.abc.MetaPathFinder):
    def __init__(self, finder):
        self.finder = finder

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in REFUSED:
            return None
        return self.finder.find_spec(name, path, target)

    def invalidate_caches(self):
        getattr(self.finder, "invalidate_caches", lambda: None)()

sys.meta_path[:] = [Missing(f) if hasattr(f, "find_spec") else f for f in sys.meta_path]
from context_encoder.cli import main

out = {}
for argv in json.loads(sys.argv[2]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(argv)
    out[argv[0] + (" onnx" if "onnx" in argv else "")] = [code, err.getvalue()]
out["imported"] = sorted(m for m in sys.modules if m.split(".")[0] in REFUSED)
print(json.dumps(out))
'''
REFUSED = sorted({module for pairs in EXTRAS.values() for module, _ in pairs}
                 | {"starlette", "multipart"})


def _error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("context-encoder ")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_core_trains_and_inpaints_without_extras_and_commands_name_theirs(image_dir: Path, tmp_path: Path) -> None:
    run, photo, mask = tmp_path / "run", tmp_path / "photo.png", tmp_path / "mask.png"
    Image.fromarray(np.full((40, 48, 3), 120, np.uint8)).save(photo)
    hole = np.zeros((40, 48), np.uint8)
    hole[10:20, 10:20] = 255
    Image.fromarray(hole).save(mask)
    commands = [
        ["train", "--data", str(image_dir), "--image-size", "32", "--bottleneck", "16", "--nef", "8", "--ngf", "8",
         "--ndf", "8", "--batch-size", "2", "--steps", "1", "--workers", "0", "--precision", "fp32", "--out", str(run)],
        ["inpaint", str(photo), "--mask", str(mask), "--checkpoint", str(run), "-o", str(tmp_path / "out.png"),
         "--device", "cpu"],
        ["serve", "--checkpoint", str(run), "--port", "0"],
        ["evaluate", "--data", str(image_dir), "--report", str(tmp_path / "report")],
        ["plot", str(run)],
        ["export", "--checkpoint", str(run), "--format", "onnx", "-o", str(tmp_path / "g.onnx")],
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", SCRIPT, ",".join(REFUSED), json.dumps(commands)],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out.pop("imported") == []
    (code, err), _ = out.pop("train"), None
    assert code == 0, err
    assert re.search(r"^warning: no TensorBoard logs .*: tensorboard is not installed: pip install "
                     r"'context-encoder\[viz\]'$", err, re.M), err
    assert (run / "checkpoints").is_dir() and (run / "metrics.jsonl").is_file() and not (run / "tb").exists()
    code, err = out.pop("inpaint")
    assert code == 0 and (tmp_path / "out.png").is_file(), err
    expected = {"serve": ("serving", "serve", "fastapi, uvicorn, python-multipart are"),
                "evaluate": ("evaluation (SSIM, the baselines)", "eval", "scikit-image is"),
                "plot": ("plotting", "viz", "matplotlib is"),
                "export onnx": ("ONNX export", "export", "onnx, onnxscript, onnxruntime are")}
    for name, (what, extra, packages) in expected.items():
        code, err = out.pop(name)
        assert code == 2, (name, err)
        command = name.split()[0]
        assert _error(err) == (f"context-encoder {command}: error: {what} needs the '{extra}' extra: {packages} "
                               f"not installed: pip install 'context-encoder[{extra}]'")
    assert not out
    assert not (tmp_path / "report").exists() and not (tmp_path / "g.onnx").exists()


def _lists(toml: str) -> dict[str, list[str]]:
    """The ``name = [...]`` string lists of pyproject.toml, comments dropped (Python 3.10 has no tomllib)."""
    text = re.sub(r"#[^\n]*", "", toml)
    return {m[1]: ast.literal_eval(m[2]) for m in re.finditer(r"^([\w-]+) = (\[.*?\])[ \t]*$", text, re.M | re.S)}


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=~!;\[ ]", r, maxsplit=1)[0] for r in requirements}


def test_dev_installs_every_extra() -> None:
    """The README's `pip install -e ".[dev]"` brings every extra, and the extras are the ones the
    code names (extras.EXTRAS), one pip package per module, none of them in the core."""
    lists = _lists((ROOT / "pyproject.toml").read_text())
    (self_ref,) = [r for r in lists["dev"] if r.startswith("context-encoder[")]
    assert set(self_ref[len("context-encoder["):-1].split(",")) == set(EXTRAS)
    for extra, pairs in EXTRAS.items():
        assert _names(lists[extra]) == {package for _, package in pairs}, extra
    assert not _names(lists["dependencies"]) & {package for pairs in EXTRAS.values() for _, package in pairs}
    assert "torch" in _names(lists["dependencies"])
