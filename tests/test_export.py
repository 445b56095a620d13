"""ONNX and TorchScript export: parity with PyTorch (max abs <= 1e-4) at batch sizes 1 and 3."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from context_encoder.checkpoint import find_checkpoint, load_generator
from context_encoder.cli import main
from context_encoder.commands import export as export_command
from context_encoder.config import ModelConfig
from context_encoder.inpainting.export import EXPORT_FORMATS, example_inputs, export_generator, parity, run_exported
from context_encoder.masks import fill_hole
from context_encoder.models import build_generator

TOL = 1e-4


def _needs(fmt: str) -> None:
    if fmt == "onnx":
        for module in ("onnx", "onnxscript", "onnxruntime"):
            pytest.importorskip(module)


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_cli_export_matches_pytorch(fmt: str, tiny_checkpoint: Path, tmp_path: Path, capsys) -> None:
    _needs(fmt)
    out = tmp_path / f"gen.{'onnx' if fmt == 'onnx' else 'pt'}"
    assert main(["export", "--checkpoint", str(tiny_checkpoint), "--format", fmt, "-o", str(out)]) == 0
    assert "max abs difference to PyTorch" in capsys.readouterr().out
    generator, cfg = load_generator(tiny_checkpoint)
    for n in (1, 3):  # the batch axis is dynamic
        image, mask = example_inputs(cfg, n, seed=10 + n)
        got = run_exported(out, image, mask, fmt=fmt)
        with torch.no_grad():
            want = generator(fill_hole(image, mask)).numpy()
        assert got.shape == (n, 3, 16, 16)
        assert np.abs(got - want).max() <= TOL


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_alexnet_generator_exports(fmt: str, tmp_path: Path) -> None:
    _needs(fmt)
    cfg = ModelConfig(arch="alexnet", image_size=96)
    generator = build_generator(cfg).eval()
    path = export_generator(generator, cfg, tmp_path / "alexnet.bin", fmt=fmt)
    assert parity(path, generator, cfg, fmt=fmt, batch_sizes=(1, 3)) <= TOL


def test_onnx_file_describes_itself(tiny_checkpoint: Path, tmp_path: Path) -> None:
    _needs("onnx")
    import onnx

    out = tmp_path / "gen.onnx"
    assert main(["export", "--checkpoint", str(tiny_checkpoint), "--format", "onnx", "-o", str(out)]) == 0
    model = onnx.load(str(out))
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["model_config"])["image_size"] == 32
    dims = [[d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input]
    assert dims == [["batch", 3, 32, 32], ["batch", 1, 32, 32]]


def test_export_bad_input_writes_nothing(tiny_checkpoint: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "gen.pt"
    truncated = tmp_path / "bad.safetensors"
    data = find_checkpoint(tiny_checkpoint).read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    cases = [
        (["--checkpoint", str(tiny_checkpoint), "--arch", "alexnet"], "expected 'alexnet'"),
        (["--checkpoint", str(truncated)], "bad.safetensors"),
        (["--checkpoint", str(tmp_path / "missing")], "no checkpoint found"),
    ]
    for argv, message in cases:
        assert main(["export", *argv, "--format", "torchscript", "-o", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err
        assert not out.exists()
    out.write_bytes(b"old")
    assert main(["export", "--checkpoint", str(tiny_checkpoint), "--format", "torchscript", "-o", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err and out.read_bytes() == b"old"


def test_cli_formats_match_the_library() -> None:
    assert export_command.FORMATS == EXPORT_FORMATS
