"""Checkpoints: safetensors weights + the JSON config that rebuilds the nets; no pickled modules.

Layout of a run directory::

    RUN_DIR/checkpoints/step_000500/generator.safetensors      (config in its metadata too)
                                    generator_ema.safetensors  (with --ema: the averaged weights)
                                    discriminator.safetensors
                                    model.json                  (ModelConfig)
                                    training_state.pt           (optimizers, scaler, step)
    RUN_DIR/checkpoints/latest                                  (name of the newest step dir)

A step directory is written under a temporary name and renamed into place, then ``latest`` is
replaced atomically (every file through :mod:`context_encoder.atomic`), so an interrupted write
never leaves a half checkpoint behind; a stale ``latest`` falls back to the newest step directory.
The config in the weights' safetensors metadata is the one that rebuilds the net: a ``model.json``
that disagrees with it is reported and ignored. Every bad file is a one-line CheckpointError.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import shutil
import tempfile
import warnings
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes
from torch import nn

from context_encoder.atomic import atomic_open, full_disk_error, write_bytes, write_text
from context_encoder.config import MAX_CONFIG_BYTES, ModelConfig, model_config_from_dict, to_dict
from context_encoder.models import build_generator

KEEP = 2  # step directories kept per run
PRETRAINED = "pretrained"  # names the default models packaged at context_encoder/weights/
PACKAGED_CENTER = "weights/center.safetensors"  # the paper's center net; what "pretrained" loads as one net
PACKAGED_RESIDUAL = "weights/residual.safetensors"  # the harmonic-residual whole-image net (issue 23)
# The net "pretrained" fills photos with (Inpainter.from_pretrained: inpaint, serve, evaluate), holes of every shape
PACKAGED_DEFAULT = PACKAGED_RESIDUAL
# One packaged net by name
PACKAGED = {"pretrained-center": PACKAGED_CENTER, "pretrained-residual": PACKAGED_RESIDUAL}
_STEP_DIR = re.compile(r"^step_(\d+)$")


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
    """One self-describing safetensors file (the ModelConfig is stored in its metadata), written atomically."""
    write_bytes(path, safetensors_bytes(_state(module, dtype), metadata={"model_config": json.dumps(to_dict(cfg))}))


def step_number(path: Path) -> int | None:
    """``step_0000500`` -> 500; None for any other name."""
    match = _STEP_DIR.match(path.name)
    return int(match.group(1)) if match else None


def step_dirs(root: Path) -> list[Path]:
    """The complete step directories of a checkpoints folder, oldest first."""
    found = [p for p in root.iterdir() if step_number(p) is not None and p.is_dir()] if root.is_dir() else []
    return sorted(found, key=step_number)


def save_checkpoint(run_dir: Path, *, step: int, generator: nn.Module, discriminator: nn.Module | None,
                    cfg: ModelConfig, training_state: dict[str, Any], ema: nn.Module | None = None) -> Path:
    """Write step ``step`` atomically, point ``latest`` at it and prune the others (see :func:`prune`)."""
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:07d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=root))  # private (0700): nothing planted inside
    try:
        save_weights(tmp / "generator.safetensors", generator, cfg)
        if ema is not None:
            save_weights(tmp / "generator_ema.safetensors", ema, cfg)
        if discriminator is not None:
            save_weights(tmp / "discriminator.safetensors", discriminator, cfg)
        write_text(tmp / "model.json", json.dumps(to_dict(cfg), indent=2))
        with atomic_open(tmp / "training_state.pt") as f:
            torch.save({**training_state, "step": step}, f)
    except BaseException as err:
        full = full_disk_error(err, final)  # named as the step it was to be, not the temporary folder
        shutil.rmtree(tmp, ignore_errors=True)
        if full is not None:
            raise full from err
        raise
    aside = None
    if final.exists():  # the same step written again (a resumed run): swap, then delete the old one
        aside = root / f".{final.name}.{secrets.token_hex(4)}.old"
        os.replace(final, aside)
    os.replace(tmp, final)
    write_text(root / "latest", final.name)
    if aside is not None:
        shutil.rmtree(aside)
    prune(root, final)
    return final


def prune(root: Path, newest: Path, keep: int = KEEP) -> None:
    """Keep ``newest`` and the ``keep - 1`` step directories before it; delete the rest, including
    any numbered after it (left by a run that ``latest`` no longer describes)."""
    before = [p for p in step_dirs(root) if step_number(p) < step_number(newest)]
    kept = {newest, *before[len(before) - (keep - 1):]} if keep > 1 else {newest}
    for old in step_dirs(root):
        if old not in kept:
            shutil.rmtree(old)


def remove_partial_checkpoints(run_dir: Path) -> list[Path]:
    """Delete the temporary step directories an interrupted write left behind; returns them."""
    root = Path(run_dir) / "checkpoints"
    stale = [p for p in root.iterdir() if p.name.startswith(".step_") and p.is_dir() and not p.is_symlink()] \
        if root.is_dir() else []
    for p in stale:
        shutil.rmtree(p)
    return stale


def _generator_file(step_dir: Path) -> Path | None:
    """A step directory's averaged weights (``generator_ema.safetensors``) if present, else its generator."""
    return next((p for p in (step_dir / "generator_ema.safetensors", step_dir / "generator.safetensors")
                 if p.is_file()), None)


RESUME_FILES = ("generator.safetensors", "training_state.pt")  # what a resume reads from a step


def missing_files(step_dir: Path, *, resume: bool = False) -> list[str]:
    """The files a step directory lacks to be used: its weights (``generator_ema.safetensors`` or
    ``generator.safetensors``), or for a resume ``generator.safetensors`` and ``training_state.pt``."""
    if resume:
        return [name for name in RESUME_FILES if not (step_dir / name).is_file()]
    return [] if _generator_file(step_dir) is not None else ["generator.safetensors"]


def complete_step_dirs(root: Path, *, resume: bool = False) -> list[Path]:
    """The step directories of a checkpoints folder that hold every file they need, oldest first."""
    return [p for p in step_dirs(root) if not missing_files(p, resume=resume)]


def _latest_step_dir(root: Path, *, resume: bool = False) -> Path | None:
    """The step directory ``root/latest`` names if it is complete, else (missing or stale pointer,
    or a step that lacks a file) the newest complete one, with a warning naming the one skipped."""
    latest, steps = root / "latest", step_dirs(root)
    complete = [p for p in steps if not missing_files(p, resume=resume)]
    name = latest.read_text(errors="replace").strip()[:64] if latest.is_file() else None
    named = root / name if name is not None and _STEP_DIR.match(name) and (root / name).is_dir() else None
    if named is not None and named in complete:
        return named
    chosen = complete[-1] if complete else (steps[-1] if steps else None)
    skipped = named if named is not None else (steps[-1] if name is None and steps else None)
    if chosen is None or chosen == skipped and not complete:
        return chosen  # nothing better: the caller says what is missing
    if skipped is not None and skipped != chosen:
        lacks = ", ".join(missing_files(skipped, resume=resume))
        warnings.warn(f"{skipped} is incomplete (no {lacks}): skipped for {chosen.name}", stacklevel=3)
    elif name is not None and named is None:
        warnings.warn(f"{latest} names '{name}', which is not a checkpoint: using {chosen.name}", stacklevel=3)
    return chosen


def find_checkpoint(path: str | Path, *, resume: bool = False) -> Path:
    """A run dir, a checkpoints dir, a step dir or a generator .safetensors -> that file.

    A step directory's averaged weights (``generator_ema.safetensors``) are preferred when present.
    Of a run, the newest complete step is taken (``resume``: one with ``training_state.pt`` too): a
    newer one that lacks a file is skipped with a warning naming it.
    """
    p = Path(path)
    if p.is_file():
        return p
    for root in (p / "checkpoints", p):
        step_dir = _latest_step_dir(root, resume=resume)
        if step_dir is not None:
            p = step_dir
            break
    gen = _generator_file(p)
    if gen is None:
        raise CheckpointError(f"no checkpoint found at {path} (give a run directory, step directory, generator "
                              ".safetensors, or 'pretrained' for the packaged default, 'pretrained-center' / "
                              "'pretrained-residual' for a packaged net by name)")
    return gen


def _saved_files(root: Path) -> list[Path]:
    """The files of a checkpoints folder: ``latest`` and those of every step directory."""
    return [root / "latest", *(p for step_dir in step_dirs(root) for p in step_dir.iterdir() if p.is_file())]


def run_files(run_dir: str | Path) -> list[Path]:
    """The files that make a run: ``config.json``, ``metrics.jsonl`` and its checkpoints."""
    run_dir = Path(run_dir)
    return [run_dir / "config.json", run_dir / "metrics.jsonl", *_saved_files(run_dir / "checkpoints")]


def checkpoint_files(spec: str | Path) -> list[Path]:
    """Every file that a checkpoint is read from or kept with, which no output may replace: the
    weights and their ``model.json``; for a step directory, the other steps and its run's files."""
    if str(spec) == PRETRAINED:  # every packaged net
        return [packaged_weights(name) for name in PACKAGED.values()]
    weights = resolve_weights(spec)
    files = [weights, weights.with_name("model.json")]
    root = weights.parent.parent
    if step_number(weights.parent) is not None:
        files += run_files(root.parent) if root.name == "checkpoints" else _saved_files(root)
    return files


def packaged_weights(name: str = PACKAGED_CENTER) -> Path:
    """The path of a model packaged inside this install. Raises CheckpointError when absent."""
    weights = resources.files("context_encoder").joinpath(name)
    if not weights.is_file():
        raise CheckpointError("no default model is packaged with this install: pass --checkpoint "
                              "(Python: Inpainter.from_checkpoint(path))")
    return Path(str(weights))


def resolve_weights(spec: str | Path) -> Path:
    """``"pretrained"`` (as one net: the packaged center net), ``"pretrained-center"``,
    ``"pretrained-residual"`` or anything :func:`find_checkpoint` takes -> a file."""
    if str(spec) == PRETRAINED:
        return packaged_weights()
    if str(spec) in PACKAGED:
        return packaged_weights(PACKAGED[str(spec)])
    return find_checkpoint(spec)


def _metadata_config(weights: Path) -> ModelConfig | None:
    """The ModelConfig stored in a safetensors file's metadata; None when it has none."""
    try:
        with safe_open(str(weights), "pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"corrupt or truncated checkpoint {weights}: {err}") from err
    if "model_config" not in meta:
        return None
    try:
        return model_config_from_dict(json.loads(meta["model_config"]))
    except (ValueError, RecursionError) as err:
        raise CheckpointError(f"bad model config in the metadata of {weights}: {err}") from err


def _sidecar_config(sidecar: Path) -> ModelConfig:
    try:
        if sidecar.stat().st_size > MAX_CONFIG_BYTES:
            raise ValueError("file too large")
        return model_config_from_dict(json.loads(sidecar.read_text(encoding="utf-8")))
    except (ValueError, OSError, RecursionError) as err:
        raise CheckpointError(f"bad model config {sidecar}: {err}") from err


def read_model_config(weights: Path) -> ModelConfig:
    """The config that rebuilds the net of ``weights``: its own metadata, else the ``model.json``
    beside it. A ``model.json`` that disagrees with the metadata is reported and ignored."""
    weights = Path(weights)
    stored = _metadata_config(weights)
    sidecar = weights.parent / "model.json"
    if stored is None:
        if not sidecar.is_file():
            raise CheckpointError(f"cannot read the model config of {weights}: no metadata and no model.json")
        return _sidecar_config(sidecar)
    if sidecar.is_file():
        try:
            beside = _sidecar_config(sidecar)
        except CheckpointError as err:
            warnings.warn(f"{err}; using the config stored in {weights.name}", stacklevel=2)
        else:
            if beside != stored:
                diff = ", ".join(f"{k}={v} (weights: {getattr(stored, k)})" for k, v in to_dict(beside).items()
                                 if v != getattr(stored, k))
                warnings.warn(f"{sidecar} disagrees with {weights.name}: {diff}; using the weights' own config",
                              stacklevel=2)
    return stored


def _finite(tensor: torch.Tensor) -> bool:
    """No NaN or infinity in ``tensor``: a finite sum proves it (one pass, nothing allocated; the
    packaged net's 14 million weights: 2 ms against 30-100 ms), else the element-wise check (a sum
    can overflow)."""
    return math.isfinite(float(tensor.sum())) or bool(tensor.isfinite().all())


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file; CheckpointError when missing, corrupt, truncated, or when
    a weight is NaN or infinite (a net that would answer garbage without a word)."""
    try:
        state = load_file(str(path))
    except FileNotFoundError as err:
        raise CheckpointError(f"checkpoint file not found: {path}") from err
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"corrupt or truncated checkpoint {path}: {err}") from err
    bad = [k for k, v in state.items() if v.is_floating_point() and not _finite(v)]
    if bad:
        raise CheckpointError(f"checkpoint {path} holds NaN or infinite weights ({', '.join(bad[:3])}"
                              f"{', ...' if len(bad) > 3 else ''}): use an earlier checkpoint")
    return state


def load_state(module: nn.Module, path: Path) -> None:
    """Load safetensors weights into ``module`` (any float dtype on disk), strictly."""
    own = module.state_dict()
    state = {k: v.to(own[k].dtype) if k in own else v for k, v in _read_state(path).items()}
    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(f"checkpoint {path} does not match its architecture") from err


def load_shared_state(module: nn.Module, path: Path) -> list[str]:
    """Load the tensors of ``path`` whose names and shapes ``module`` shares (e.g. a center net's
    encoder, bottleneck and first up-convs into a whole-image net). Returns the names of
    ``module``'s tensors left as they were. Raises CheckpointError when nothing is shared."""
    own = module.state_dict()
    shared = {k: v.to(own[k].dtype) for k, v in _read_state(path).items() if k in own and own[k].shape == v.shape}
    if not shared:
        raise CheckpointError(f"checkpoint {path} shares no layer with this model")
    module.load_state_dict(shared, strict=False)
    return [k for k in own if k not in shared]


def load_grown(module: nn.Module, path: Path) -> list[str]:
    """Load every tensor of ``path`` into ``module``, a net grown from the saved one: its first
    convolution may read more input channels (``ModelConfig.mask_channel``), whose weights start at
    zero; its bottleneck may be wider (``ModelConfig.bottleneck``), the new channels' encoder side
    keeping its init and the first up-convolution's weights from them starting at zero; and it may
    hold residual blocks (``ModelConfig.res_blocks``, names ``blocks.*``) or an attention layer
    (``ModelConfig.attention``, names ``attention.*``) the saved one lacks, which keep their identity
    init. So the grown net computes what the saved one did. Returns the names of the tensors that
    kept their init, wholly or in part. Raises CheckpointError when any other tensor is missing or
    differs."""
    own = module.state_dict()
    saved = _read_state(path)
    state, fresh = {}, []
    for name, tensor in own.items():
        value = saved.get(name)
        if value is None:
            if not name.startswith(("blocks.", "attention.")):
                raise CheckpointError(f"checkpoint {path} has no tensor {name}")
            state[name] = tensor
            fresh.append(name)
            continue
        if value.shape != tensor.shape:
            value = _widened(name, value, tensor, path)
            fresh.append(name)
        state[name] = value.to(tensor.dtype)
    module.load_state_dict(state)
    return fresh


def _widened(name: str, value: torch.Tensor, own: torch.Tensor, path: Path) -> torch.Tensor:
    """``value``, a saved tensor, grown to ``own``'s shape along the one axis a grown net widens:
    the input channels (axis 1) of a 4-D weight (a mask channel), padded with zeros; the bottleneck's
    channels, axis 0 of ``to_bottleneck.*`` (padded with ``own``'s init) and of the first
    up-convolution ``decoder.0.weight`` (its input channels, padded with zeros)."""
    grows = [d for d in range(value.dim()) if value.shape[d] != own.shape[d]] if value.dim() == own.dim() else []
    axis = grows[0] if len(grows) == 1 and value.shape[grows[0]] < own.shape[grows[0]] else None
    keep_init = name.startswith("to_bottleneck.")  # the bottleneck's encoder side
    bottleneck = keep_init or name == "decoder.0.weight"
    if not (axis == 0 and bottleneck or axis == 1 and value.dim() == 4 and not bottleneck):
        raise CheckpointError(f"checkpoint {path}: {name} is {tuple(value.shape)}, the model's {tuple(own.shape)}")
    rest = own.narrow(axis, value.shape[axis], own.shape[axis] - value.shape[axis])
    return torch.cat([value, rest.to(value.dtype) if keep_init else torch.zeros_like(rest, dtype=value.dtype)],
                     dim=axis)


def load_generator(path: str | Path, device: str | torch.device = "cpu",
                   arch: str | None = None) -> tuple[nn.Module, ModelConfig]:
    """Rebuild the generator from a checkpoint (or "pretrained"), in eval mode. Raises CheckpointError."""
    weights = resolve_weights(path)
    cfg = read_model_config(weights)
    if arch is not None and cfg.arch != arch:
        raise CheckpointError(f"checkpoint is a '{cfg.arch}' model, expected '{arch}'")
    gen = build_generator(cfg, init=False)  # not on the meta device: that imports torch's meta kernels (~1.3 s)
    load_state(gen, weights)  # strict: every tensor replaced
    return gen.to(device).eval(), cfg


def load_training_state(step_dir: Path) -> dict[str, Any]:
    """A step's optimizer and scaler states and step (``torch.load`` with ``weights_only``: no code runs).

    Raises CheckpointError for a missing, truncated, crafted or malformed file.
    """
    path = Path(step_dir) / "training_state.pt"
    if not path.is_file():
        raise CheckpointError(f"no training state in {step_dir} (training_state.pt): cannot resume from it")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - pickle, zip and torch errors alike mean a corrupt file
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise CheckpointError(f"corrupt or truncated training state {path}: {reason}") from err
    ok = isinstance(state, dict) and isinstance(state.get("step"), int) and state["step"] >= 0 \
        and all(isinstance(state.get(k), dict) for k in ("opt_g", "scaler"))
    if not ok:
        raise CheckpointError(f"training state {path} is not one this package wrote (no step, opt_g, scaler)")
    return state
