"""Running an evaluation: every method on the same prepared set, scored on the same pixels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from context_encoder.config import BLENDS, InpaintConfig
from context_encoder.evaluation.methods import (
    BATCH_SIZE,
    METHODS,
    NEEDS_BANK,
    NEEDS_CHECKPOINT,
    Checkpoint,
    Method,
    build_methods,
    check_checkpoints,
    load_checkpoint,
)
from context_encoder.evaluation.protocol import (
    IMAGE_SIZE,
    PROTOCOLS,
    EvalSet,
    center_hidden,
    describe_center,
    load_images,
    paired_masks,
    score,
)


def resolve_overlap(overlap: int | None, checkpoints: Sequence[Checkpoint]) -> int:
    """The ring shown as context: ``overlap`` if given, else the checkpoints' (0 without one)."""
    if overlap is None:
        found = sorted({c.cfg.overlap_px for c in checkpoints})
        if len(found) > 1:
            raise ValueError(f"the checkpoints were trained with different overlaps {found}; "
                             "pass --overlap N so every method is given the same hidden region")
        overlap = found[0] if found else 0
    if not 0 <= overlap < IMAGE_SIZE // 4:
        raise ValueError(f"overlap must be in [0, {IMAGE_SIZE // 4}), got {overlap}")
    return overlap


@dataclass
class Evaluation:
    """Per-image metrics of every method on one set, plus composited example outputs."""

    eval_set: EvalSet
    per_image: dict[str, list[dict[str, float]]]  # method -> one row per image
    examples: dict[str, np.ndarray]  # method -> (K, S, S, 3) uint8 composited outputs
    example_index: list[int]
    info: dict[str, Any]


def run_method(name: str, method: Method, eval_set: EvalSet,
               example_index: Sequence[int]) -> tuple[list[dict[str, float]], np.ndarray]:
    """Run one method batch by batch; return its per-image metrics and composited examples."""
    rows: list[dict[str, float]] = []
    composited = []
    n = len(eval_set.images)
    with tqdm(total=n, desc=name, unit="img") as bar:
        for lo in range(0, n, BATCH_SIZE):
            images, masks = eval_set.images[lo : lo + BATCH_SIZE], eval_set.masks[lo : lo + BATCH_SIZE]
            given = np.where(masks[..., None], np.uint8(0), images)  # no method sees the hole's content
            out = np.asarray(method(given, masks), dtype=np.uint8)
            if out.shape != images.shape:
                raise ValueError(f"method {name} returned shape {out.shape}, expected {images.shape}")
            out = np.where(masks[..., None], out, images)  # only the hidden pixels are the method's
            rows += [score(o, x, m, eval_set.protocol) for o, x, m in zip(out, images, masks)]
            composited.append(out)
            bar.update(len(images))
    return rows, np.concatenate(composited)[list(example_index)]


def example_indices(n: int, k: int) -> list[int]:
    """k image indices spread evenly over the set (deterministic)."""
    return sorted({int(round(v)) for v in np.linspace(0, n - 1, min(k, n))}) if k > 0 else []


def evaluate(*, data: str | Path, methods: Sequence[str], checkpoints: Sequence[str | Path] = (),
             protocol: str = "center", overlap: int | None = None, mask_dir: str | Path | None = None,
             nn_bank: str | Path | None = None, seed: int | None = None, examples: int = 6,
             device: str | torch.device = "cpu", flip_tta: bool = False,
             blends: Sequence[str] = (InpaintConfig.blend,)) -> Evaluation:
    """Score ``methods`` on the images below ``data`` under ``protocol``. Raises ValueError on bad input.

    Everything is validated before any long computation starts.
    """
    validate_request(methods=methods, checkpoints=checkpoints, protocol=protocol, overlap=overlap,
                     mask_dir=mask_dir, nn_bank=nn_bank, data=data, seed=seed, blends=blends)
    loaded = check_checkpoints([load_checkpoint(p, device) for p in checkpoints], methods)
    names, images = load_images(data, desc=f"loading {data}")
    if protocol == "center":
        ring = resolve_overlap(overlap, loaded)
        hidden = center_hidden(IMAGE_SIZE, ring)
        masks = np.broadcast_to(hidden, images.shape[:3]).copy()
        eval_set = EvalSet("center", names, images, masks, describe_center(IMAGE_SIZE, ring))
    else:
        assert mask_dir is not None
        seed = seed or 0
        mask_names, masks = paired_masks(len(images), mask_dir, seed=seed)
        hidden = None
        eval_set = EvalSet("masks", names, images, masks, f"masks from {mask_dir} (seed {seed})", mask_names)
    bank = load_images(nn_bank, desc=f"loading bank {nn_bank}")[1] if any(m in NEEDS_BANK for m in methods) else None
    table = build_methods(methods, checkpoints=loaded, bank=bank, hidden=hidden, blends=blends, flip_tta=flip_tta)
    index = example_indices(len(images), examples)
    per_image, shown = {}, {}
    for name, method in table.items():
        per_image[name], shown[name] = run_method(name, method, eval_set, index)
    info = {
        "data": str(data),
        "image_size": IMAGE_SIZE,
        "checkpoints": {c.name: {"path": c.path, "step": c.step, "overlap_px": c.cfg.overlap_px} for c in loaded},
        "nn_bank": None if bank is None else str(nn_bank),
        "seed": seed if protocol == "masks" else None,
    }
    return Evaluation(eval_set, per_image, shown, index, info)


def validate_request(*, methods: Sequence[str], checkpoints: Sequence[str | Path], protocol: str,
                     overlap: int | None, mask_dir: str | Path | None, nn_bank: str | Path | None,
                     data: str | Path, seed: int | None = None,
                     blends: Sequence[str] = (InpaintConfig.blend,)) -> None:
    """One clear ValueError for the first inconsistent argument."""
    unknown = [m for m in methods if m not in METHODS]
    checks = [
        (bool(blends) and set(blends) <= set(BLENDS),
         f"blend must be one of {BLENDS}, got {', '.join(blends)}"),
        (len(set(blends)) == len(blends), "a blend is listed twice"),
        (protocol in PROTOCOLS, f"protocol must be one of {PROTOCOLS}, got '{protocol}'"),
        (bool(methods), "no method given"),
        (not unknown, f"unknown method(s) {unknown}; choose from {METHODS}"),
        (len(set(methods)) == len(methods), "a method is listed twice"),
        (Path(data).is_dir(), f"data folder not found: {data}"),
        (not checkpoints or any(m in NEEDS_CHECKPOINT for m in methods),
         "--checkpoint given but neither 'model' nor 'nn-features' is in --methods"),
        (bool(checkpoints) or not any(m in NEEDS_CHECKPOINT for m in methods),
         "methods 'model' and 'nn-features' need --checkpoint"),
        (nn_bank is not None or not any(m in NEEDS_BANK for m in methods),
         "methods 'nn-hog' and 'nn-features' need --nn-bank DIR (training images to retrieve from)"),
        (nn_bank is None or Path(nn_bank).is_dir(), f"nn bank folder not found: {nn_bank}"),
        (nn_bank is None or Path(nn_bank).resolve() != Path(data).resolve(),
         "--nn-bank must not be the evaluated set (each image would retrieve itself)"),
        (protocol != "masks" or mask_dir is not None, "the masks protocol needs --mask-dir DIR"),
        (protocol != "masks" or overlap is None, "--overlap applies to the center protocol only"),
        (overlap is None or 0 <= overlap < IMAGE_SIZE // 4,
         f"overlap must be in [0, {IMAGE_SIZE // 4}), got {overlap}"),
        (protocol != "center" or mask_dir is None, "--mask-dir applies to the masks protocol only"),
        (protocol != "center" or seed is None, "--seed applies to the masks protocol only"),
        (protocol != "masks" or "nn-features" not in methods,
         "nn-features needs one hidden region for every image: use the center protocol"),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)
