"""Checkpoints: safetensors weights + the JSON config that rebuilds the nets; no pickled modules.

Layout of a run directory::

    RUN_DIR/checkpoints/step_000500/generator.safetensors      (config in its metadata too)
                                    generator_ema.safetensors  (with --ema: the averaged weights)
                                    discriminator.safetensors
                                    model.json                  (ModelConfig)
                                    training_state.pt           (optimizers, scaler, step)
    RUN_DIR/checkpoints/latest                                  (name of the newest step dir)

A step directory is written under a temporary name and renamed into place, then ``latest`` is
replaced atomically, so an interrupted write never leaves a half checkpoint behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from context_encoder.config import ModelConfig, model_config_from_dict, to_dict
from context_encoder.models import build_generator

KEEP = 2  # step directories kept per run
PRETRAINED = "pretrained"  # names the default model packaged at context_encoder/weights/
PACKAGED_CENTER = "weights/center.safetensors"


class CheckpointError(ValueError):
    """A checkpoint that is missing, truncated, corrupt or of the wrong kind."""


def unwrap(module: nn.Module) -> nn.Module:
    """The bare module inside DDP / torch.compile wrappers."""
    module = getattr(module, "module", module)
    return getattr(module, "_orig_mod", module)


def _state(module: nn.Module, dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in unwrap(module).state_dict().items():
        v = v.detach().cpu().contiguous()
        out[k] = v.to(dtype) if dtype is not None and v.is_floating_point() else v
    return out


def save_weights(path: Path, module: nn.Module, cfg: ModelConfig, dtype: torch.dtype | None = None) -> None:
    """One self-describing safetensors file (the ModelConfig is stored in its metadata)."""
    tmp = path.with_name(path.name + ".tmp")
    save_file(_state(module, dtype), str(tmp), metadata={"model_config": json.dumps(to_dict(cfg))})
    os.replace(tmp, path)


def save_checkpoint(run_dir: Path, *, step: int, generator: nn.Module, discriminator: nn.Module | None,
                    cfg: ModelConfig, training_state: dict[str, Any], ema: nn.Module | None = None) -> Path:
    """Write step ``step`` atomically, point ``latest`` at it and prune old ones."""
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:07d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=root))
    save_weights(tmp / "generator.safetensors", generator, cfg)
    if ema is not None:
        save_weights(tmp / "generator_ema.safetensors", ema, cfg)
    if discriminator is not None:
        save_weights(tmp / "discriminator.safetensors", discriminator, cfg)
    (tmp / "model.json").write_text(json.dumps(to_dict(cfg), indent=2))
    torch.save({**training_state, "step": step}, tmp / "training_state.pt")
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    pointer = root / "latest.tmp"
    pointer.write_text(final.name)
    os.replace(pointer, root / "latest")
    for old in sorted(root.glob("step_*"))[:-KEEP]:
        shutil.rmtree(old)
    return final


def find_checkpoint(path: str | Path) -> Path:
    """A run dir, a checkpoints dir, a step dir or a generator .safetensors -> that file.

    A step directory's averaged weights (``generator_ema.safetensors``) are preferred when present.
    """
    p = Path(path)
    if p.is_file():
        return p
    for root in (p / "checkpoints", p):
        latest = root / "latest"
        if latest.is_file():
            p = root / latest.read_text().strip()
            break
    gen = p / "generator_ema.safetensors"
    if not gen.is_file():
        gen = p / "generator.safetensors"
    if not gen.is_file():
        raise CheckpointError(f"no checkpoint found at {path}")
    return gen


def packaged_weights(name: str = PACKAGED_CENTER) -> Path:
    """The path of a model packaged inside this install. Raises CheckpointError when absent."""
    weights = resources.files("context_encoder").joinpath(name)
    if not weights.is_file():
        raise CheckpointError("no default model is packaged with this install: pass --checkpoint "
                              "(Python: Inpainter.from_checkpoint(path))")
    return Path(str(weights))


def resolve_weights(spec: str | Path) -> Path:
    """``"pretrained"`` (the packaged model) or anything :func:`find_checkpoint` takes -> a file."""
    return packaged_weights() if str(spec) == PRETRAINED else find_checkpoint(spec)


def read_model_config(weights: Path) -> ModelConfig:
    sidecar = weights.parent / "model.json"
    try:
        if sidecar.is_file():
            return model_config_from_dict(json.loads(sidecar.read_text()))
        from safetensors import safe_open

        with safe_open(str(weights), "pt") as f:
            meta = f.metadata() or {}
        return model_config_from_dict(json.loads(meta["model_config"]))
    except (KeyError, ValueError, TypeError, OSError, SafetensorError) as err:
        raise CheckpointError(f"cannot read the model config of {weights}: {err}") from err


def load_state(module: nn.Module, path: Path) -> None:
    """Load safetensors weights into ``module`` (any float dtype on disk), strictly."""
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"corrupt or truncated checkpoint {path}: {err}") from err
    own = module.state_dict()
    state = {k: v.to(own[k].dtype) if k in own else v for k, v in state.items()}
    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(f"checkpoint {path} does not match its architecture") from err


def load_generator(path: str | Path, device: str | torch.device = "cpu",
                   arch: str | None = None) -> tuple[nn.Module, ModelConfig]:
    """Rebuild the generator from a checkpoint (or "pretrained"), in eval mode. Raises CheckpointError."""
    weights = resolve_weights(path)
    cfg = read_model_config(weights)
    if arch is not None and cfg.arch != arch:
        raise CheckpointError(f"checkpoint is a '{cfg.arch}' model, expected '{arch}'")
    gen = build_generator(cfg)
    load_state(gen, weights)
    return gen.to(device).eval(), cfg


def load_training_state(step_dir: Path) -> dict[str, Any]:
    return torch.load(step_dir / "training_state.pt", map_location="cpu", weights_only=True)
