"""The rows of an evaluation: the model as ``inpaint`` runs it, and the paper's baselines.

A method maps (images uint8 (n, S, S, 3) with the hidden pixels zeroed, masks bool (n, S, S),
True = hidden) to uint8 outputs; only its hidden pixels are kept (composited into the original)
and scored. The model row is :class:`context_encoder.Inpainter` itself, photo by photo, so its
composited output is exactly what ``context-encoder inpaint`` writes for that photo and mask.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from context_encoder.checkpoint import PRETRAINED, load_generator, resolve_weights
from context_encoder.config import EVAL_METHODS, InpaintConfig, ModelConfig
from context_encoder.evaluation import baselines
from context_encoder.evaluation.protocol import IMAGE_SIZE
from context_encoder.inpainting.inpainter import Inpainter

METHODS = EVAL_METHODS
NEEDS_BANK = ("nn-hog", "nn-features")
NEEDS_CHECKPOINT = ("model", "nn-features")
BATCH_SIZE = 32  # images per method call, fixed so that no output depends on a flag

Method = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (images (n,S,S,3) u8, masks (n,S,S) bool) -> u8


@dataclass(frozen=True)
class Checkpoint:
    """A trained generator and where it came from; ``name`` is its run (plus ``@step`` when needed)."""

    name: str
    path: str
    step: int | None
    generator: nn.Module
    cfg: ModelConfig


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> Checkpoint:
    """Load a run dir / step dir / weights file or "pretrained" (the packaged model), naming it by its
    run. Raises CheckpointError."""
    weights = resolve_weights(path)
    generator, cfg = load_generator(weights, device)
    step_dir = weights.parent
    step = int(step_dir.name.split("_")[-1]) if step_dir.name.startswith("step_") else None
    run = step_dir.parent.parent if step_dir.parent.name == "checkpoints" else step_dir
    name = PRETRAINED if str(path) == PRETRAINED else run.resolve().name
    return Checkpoint(name=name, path=str(path), step=step, generator=generator, cfg=cfg)


def check_checkpoints(checkpoints: Sequence[Checkpoint], methods: Sequence[str]) -> list[Checkpoint]:
    """Reject models a method cannot use, with one clear message; name rows uniquely (``run@step``
    when two checkpoints share a run). The model row fills any hole at any size, through windows."""
    for ckpt in checkpoints:
        if "nn-features" in methods and ckpt.cfg.image_size != IMAGE_SIZE:
            raise ValueError(f"checkpoint {ckpt.path} is a {ckpt.cfg.image_size}-px model; nn-features "
                             f"encodes the protocol's {IMAGE_SIZE}-px images")
    out = list(checkpoints)
    if len({c.name for c in out}) < len(out):
        out = [replace(c, name=f"{c.name}@{c.step}") for c in out]
        if len({c.name for c in out}) < len(out):
            raise ValueError("the same checkpoint is given twice")
    return out


def model_row(ckpt: Checkpoint, blend: str, flip_tta: bool, onion: int = 0) -> str:
    """A model row's name: the run, plus " +flip", " +BLEND" unless the paste is "hard", and
    " +onionR" with an onion pass."""
    return (ckpt.name + (" +flip" if flip_tta else "") + ("" if blend == "hard" else f" +{blend}")
            + (f" +onion{onion}" if onion else ""))


def model_method(ckpt: Checkpoint, config: InpaintConfig) -> Method:
    """The checkpoint's inpainting exactly as ``inpaint`` runs it: :meth:`Inpainter.inpaint` on
    each photo and its mask, with ``config`` (paste, flip averaging, windows); "pretrained" is the
    packaged default (:meth:`Inpainter.from_pretrained`), not the center net that "pretrained" names
    as one net."""
    device = next(ckpt.generator.parameters()).device
    if ckpt.path == PRETRAINED:  # the packaged default, as inpaint runs it
        inpainter = Inpainter.from_pretrained(str(device), config=config)
    else:
        inpainter = Inpainter(ckpt.generator, ckpt.cfg, device=device, config=config)

    def fill(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
        return np.stack([np.asarray(inpainter.inpaint(image, mask)) for image, mask in zip(images, masks)])
    return fill


def nn_hog_method(bank: np.ndarray) -> Method:
    """Paste the hole content of the bank image whose visible-context HOG is closest."""
    bank_cells = baselines.hog_cells(bank)  # (B, R, C, 9)

    def fill(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
        return bank[baselines.nearest_hog(baselines.hog_cells(images), masks, bank_cells)]
    return fill


def nn_features_method(ckpt: Checkpoint, bank: np.ndarray, hidden: np.ndarray) -> Method:
    """Paste the hole content of the bank image whose context-encoder code is closest (cosine).

    The bank is encoded once with the same ``hidden`` (S, S) region filled, so query and bank
    features describe the same context; hence the center protocol only.
    """
    bank_masks = np.broadcast_to(hidden, bank.shape[:3])
    bank_feats = baselines.encoder_features(ckpt.generator, bank, bank_masks, ckpt.cfg, batch_size=BATCH_SIZE)

    def fill(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
        if not (masks == hidden).all():
            raise ValueError("nn-features needs the same hidden region in every image")
        feats = baselines.encoder_features(ckpt.generator, images, masks, ckpt.cfg, batch_size=BATCH_SIZE)
        return bank[baselines.nearest_features(feats, bank_feats)]
    return fill


def build_methods(names: Sequence[str], *, checkpoints: Sequence[Checkpoint], bank: np.ndarray | None,
                  hidden: np.ndarray | None, blends: Sequence[str] = (InpaintConfig.blend,),
                  flip_tta: bool = False, onion: int = 0) -> dict[str, Method]:
    """Row name -> method, in the order asked; one ``model`` row per checkpoint and blend, one
    ``nn-features`` row per checkpoint."""
    table = {
        "harmonic": baselines.harmonic_inpaint,
        "mean-fill": baselines.mean_fill,
        "opencv-telea": lambda x, m: baselines.opencv_inpaint(x, m, method="telea"),
        "opencv-ns": lambda x, m: baselines.opencv_inpaint(x, m, method="ns"),
        "opencv-fsr": baselines.fsr_inpaint,
        "opencv-fsr-best": lambda x, m: baselines.fsr_inpaint(x, m, best=True),
        "biharmonic": baselines.biharmonic_inpaint,
    }
    methods: dict[str, Method] = {}
    for name in names:
        if name == "model":
            methods.update({model_row(c, b, flip_tta, onion): model_method(c, InpaintConfig(blend=b, flip_tta=flip_tta,
                                                                                            onion=onion))
                            for c in checkpoints for b in blends})
        elif name == "nn-hog":
            assert bank is not None
            methods[name] = nn_hog_method(bank)
        elif name == "nn-features":
            assert bank is not None and hidden is not None
            methods.update({f"nn-features ({c.name})": nn_features_method(c, bank, hidden) for c in checkpoints})
        else:
            methods[name] = table[name]
    return methods
