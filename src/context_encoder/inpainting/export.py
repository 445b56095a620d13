"""Exporting a trained generator to ONNX or TorchScript, for inference without this package.

The exported graph is the bare generator behind the one mean-colour fill used in training:

    inputs   image (N, 3, S, S) float in [-1, 1], mask (N, 1, S, S) float, 1 = missing
    output   prediction (N, 3, S/2, S/2) for the center net (the center square), else (N, 3, S, S)

The batch axis N is dynamic. The ModelConfig is stored in the file (ONNX metadata
``model_config``; TorchScript extra file ``model_config.json``). ONNX export needs the
``export`` extra (onnx, onnxscript; onnxruntime for the parity check). Files are written through
:mod:`context_encoder.atomic`: complete or not at all, never through a symlink.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import io
import json
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from torch import nn

from context_encoder.atomic import atomic_open
from context_encoder.config import ModelConfig, to_dict
from context_encoder.inference import generate
from context_encoder.models import set_dense_kernels

EXPORT_FORMATS = ("onnx", "torchscript")
INPUT_NAMES = ("image", "mask")
OUTPUT_NAME = "prediction"


class InpaintingGraph(nn.Module):
    """The generator behind the mean-colour fill, and the mask as a fourth channel for a
    ``mask_channel`` model (:func:`context_encoder.inference.generate`): (image (N, 3, S, S),
    mask (N, 1, S, S)) -> (N, 3, O, O)."""

    def __init__(self, generator: nn.Module, cfg: ModelConfig) -> None:
        super().__init__()
        self.generator = generator
        self.cfg = cfg

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return generate(self.generator, image, mask, self.cfg)


def example_inputs(cfg: ModelConfig, batch: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random images in [-1, 1] and random masks of the model's size: ((N, 3, S, S), (N, 1, S, S))."""
    g = torch.Generator().manual_seed(seed)
    s = cfg.image_size
    image = torch.rand(batch, cfg.nc, s, s, generator=g) * 2 - 1
    mask = (torch.rand(batch, 1, s, s, generator=g) < 0.3).float()
    return image, mask


def _graph(generator: nn.Module, cfg: ModelConfig) -> InpaintingGraph:
    """The generator, in eval mode on the CPU, with its full-kernel convs as plain convolutions
    (the same weights and result; they export as standard Conv / ConvTranspose ops). A copy:
    ``generator`` itself is left as it was."""
    generator = copy.deepcopy(generator).cpu().eval()
    set_dense_kernels(generator, False)
    return InpaintingGraph(generator, cfg).eval()


def export_onnx(generator: nn.Module, cfg: ModelConfig, output: Path | BinaryIO, *, opset: int = 18) -> None:
    """Write an ONNX file (a path or an open binary file) with a dynamic batch axis (torch.onnx's
    torch.export-based exporter)."""
    import onnx  # the export extra; imported here so the rest of the package never needs it

    if "dynamo" not in inspect.signature(torch.onnx.export).parameters:
        raise ValueError("ONNX export needs torch >= 2.5 (the torch.export-based exporter)")
    graph = _graph(generator, cfg)
    batch = torch.export.Dim("batch", min=1)
    log = io.StringIO()
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log), torch.no_grad(), \
            warnings.catch_warnings():
        # both inputs share the one batch Dim, which the exporter reports as a renaming
        warnings.filterwarnings("ignore", message=".*axis name.*will not be used")
        program = torch.onnx.export(graph, example_inputs(cfg, 2), dynamo=True, opset_version=opset,
                                    input_names=list(INPUT_NAMES), output_names=[OUTPUT_NAME],
                                    dynamic_shapes=({0: batch}, {0: batch}), external_data=False)
    if program is None:
        raise RuntimeError(f"ONNX export produced nothing: {' '.join(log.getvalue().split())[:500]}")
    model = program.model_proto
    entry = model.metadata_props.add()
    entry.key, entry.value = "model_config", json.dumps(to_dict(cfg))
    if isinstance(output, Path):
        onnx.save(model, str(output))
    else:
        output.write(model.SerializeToString())


def export_torchscript(generator: nn.Module, cfg: ModelConfig, output: Path | BinaryIO) -> None:
    """Write a traced TorchScript module (a path or an open binary file; its shapes are static
    except the batch axis)."""
    graph = _graph(generator, cfg)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.filterwarnings("ignore", category=FutureWarning, message=".*torch.jit.*deprecated")
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*torch.jit.*deprecated")
        # the mean fill colour is a constant indeed
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning, message="torch.tensor results")
        traced = torch.jit.trace(graph, example_inputs(cfg, 2))
        torch.jit.save(traced, output if not isinstance(output, Path) else str(output),
                       _extra_files={"model_config.json": json.dumps(to_dict(cfg))})


def export_generator(generator: nn.Module, cfg: ModelConfig, output: str | Path, *, fmt: str,
                     opset: int = 18) -> Path:
    """Export to ``fmt`` (onnx | torchscript) at ``output``, written atomically."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {EXPORT_FORMATS}, got '{fmt}'")
    if cfg.hole_fill != "mean":
        raise ValueError(f"this model fills its hole with the {cfg.hole_fill} fill (a sparse solve in SciPy), "
                         "which an exported graph cannot hold: only mean-fill models export")
    output = Path(output)
    with atomic_open(output) as f:
        if fmt == "onnx":
            export_onnx(generator, cfg, f, opset=opset)
        else:
            export_torchscript(generator, cfg, f)
    return output


def run_exported(path: str | Path, image: torch.Tensor, mask: torch.Tensor, *, fmt: str) -> np.ndarray:
    """Run an exported file on the CPU (onnxruntime for ONNX): (N, 3, O, O) float32."""
    if fmt == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feeds = {INPUT_NAMES[0]: image.numpy(), INPUT_NAMES[1]: mask.numpy()}
        return session.run([OUTPUT_NAME], feeds)[0]
    with warnings.catch_warnings(), torch.no_grad():
        warnings.filterwarnings("ignore", category=FutureWarning, message=".*torch.jit.*deprecated")
        module = torch.jit.load(str(path), map_location="cpu")
        return module(image, mask).numpy()


@torch.no_grad()
def parity(path: str | Path, generator: nn.Module, cfg: ModelConfig, *, fmt: str,
           batch_sizes: tuple[int, ...] = (1, 3)) -> float:
    """Max abs difference between the exported file and PyTorch on random inputs, over batch sizes."""
    generator = generator.cpu().eval()
    worst = 0.0
    for n in batch_sizes:
        image, mask = example_inputs(cfg, n, seed=n)
        reference = generate(generator, image, mask, cfg).numpy()
        worst = max(worst, float(np.abs(run_exported(path, image, mask, fmt=fmt) - reference).max()))
    return worst
