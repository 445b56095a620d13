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
from context_encoder.inference import generate
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


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_a_mask_channel_generator_exports_with_the_mask_inside_the_graph(fmt: str, tmp_path: Path) -> None:
    _needs(fmt)
    cfg = ModelConfig(image_size=32, full_image=True, nef=8, ngf=8, bottleneck=16, mask_channel=True)
    generator = build_generator(cfg).eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():  # weights large enough for outputs of order 0.01-0.1, not the init's ~1e-6
        for module in generator.modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                module.weight.copy_(torch.randn(module.weight.shape, generator=g) * 0.08)
    path = export_generator(generator, cfg, tmp_path / "masked.bin", fmt=fmt)
    # the reference runs the generator on masks.net_input (4 channels): the graph builds the same
    assert parity(path, generator, cfg, fmt=fmt, batch_sizes=(1, 3)) <= TOL
    image, mask = example_inputs(cfg, 2)
    exported = run_exported(path, image, mask, fmt=fmt)
    assert np.abs(exported).mean() > 0.01  # 100 x TOL
    with torch.no_grad():  # without the mask channel's weights the output moves far beyond TOL
        generator.encoder[0].weight[:, 3] = 0
        blind = generate(generator, image, mask, cfg).numpy()
    assert np.abs(exported - blind).max() > 100 * TOL


@pytest.mark.parametrize("grown", [{"res_blocks": 1}, {"attention": 8, "mask_channel": True}])
@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_a_generator_with_residual_blocks_or_attention_exports(fmt: str, grown: dict, tmp_path: Path) -> None:
    _needs(fmt)
    cfg = ModelConfig(image_size=32, full_image=True, skips=True, nef=8, ngf=8, bottleneck=16, **grown)
    generator = build_generator(cfg).eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():  # blocks or attention that are not the identity, outputs of order 0.01-0.1
        for module in generator.modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                module.weight.copy_(torch.randn(module.weight.shape, generator=g) * 0.08)
            elif isinstance(module, torch.nn.BatchNorm2d):
                module.weight.fill_(1.0)
    path = export_generator(generator, cfg, tmp_path / "blocks.bin", fmt=fmt)
    assert parity(path, generator, cfg, fmt=fmt, batch_sizes=(1, 3)) <= TOL
    image, mask = example_inputs(cfg, 2)
    assert np.abs(run_exported(path, image, mask, fmt=fmt)).mean() > 0.01  # 100 x TOL


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
