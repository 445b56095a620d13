"""Running an evaluation: every method on the same prepared set, scored on the same pixels."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
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
    HOLE_SHARE,
    IMAGE_SIZE,
    PROTOCOLS,
    EvalSet,
    center_hidden,
    describe_center,
    load_images,
    load_photos,
    paired_masks,
    photo_masks,
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


def build_set(protocol: str, *, data: str | Path, mask_dir: str | Path | None, seed: int | None, max_side: int,
              hole_share: tuple[float, float], overlap: Callable[[], int],
              limit: int = 0) -> tuple[EvalSet, np.ndarray | None]:
    """The prepared set of ``protocol`` and, for ``center``, its one hidden region (S, S) bool."""
    if protocol == "photos":
        assert mask_dir is not None
        names, photos = load_photos(data, max_side, desc=f"loading {data}", limit=limit)
        mask_names, masks = photo_masks([p.shape[:2] for p in photos], mask_dir, band=hole_share, seed=seed or 0)
        region = (f"masks from {mask_dir} with {hole_share[0]:g}-{hole_share[1]:g} % hole share (seed {seed or 0}), "
                  f"photos at {'their own size' if not max_side else f'at most {max_side} px'}")
        return EvalSet("photos", names, photos, masks, region, mask_names), None
    names, images = load_images(data, desc=f"loading {data}")
    if protocol == "center":
        ring = overlap()
        hidden = center_hidden(IMAGE_SIZE, ring)
        masks_c = np.broadcast_to(hidden, images.shape[:3]).copy()
        return EvalSet("center", names, images, masks_c, describe_center(IMAGE_SIZE, ring)), hidden
    assert mask_dir is not None
    mask_names, masks_m = paired_masks(len(images), mask_dir, seed=seed or 0)
    return EvalSet("masks", names, images, masks_m, f"masks from {mask_dir} (seed {seed or 0})", mask_names), None


@dataclass
class Evaluation:
    """Per-image metrics of every method on one set, plus composited example outputs."""

    eval_set: EvalSet
    per_image: dict[str, list[dict[str, float]]]  # method -> one row per image
    examples: dict[str, list[np.ndarray]]  # method -> K composited outputs (S, S, 3) or (H, W, 3) uint8
    example_index: list[int]
    info: dict[str, Any]


def run_method(name: str, method: Method, eval_set: EvalSet,
               example_index: Sequence[int]) -> tuple[list[dict[str, float]], list[np.ndarray]]:
    """Run one method batch by batch (photo by photo for ``photos``), timed; return its
    per-image metrics and composited examples."""
    rows: list[dict[str, float]] = []
    composited: list[np.ndarray] = []
    n = len(eval_set.images)
    step = 1 if eval_set.protocol == "photos" else BATCH_SIZE
    with tqdm(total=n, desc=name, unit="img") as bar:
        for lo in range(0, n, step):
            images, masks = np.stack(eval_set.images[lo : lo + step]), np.stack(eval_set.masks[lo : lo + step])
            given = np.where(masks[..., None], np.uint8(0), images)  # no method sees the hole's content
            start = time.perf_counter()
            out = np.asarray(method(given, masks), dtype=np.uint8)
            seconds = (time.perf_counter() - start) / len(images)
            if out.shape != images.shape:
                raise ValueError(f"method {name} returned shape {out.shape}, expected {images.shape}")
            out = np.where(masks[..., None], out, images)  # only the hidden pixels are the method's
            for o, x, m in zip(out, images, masks):
                row = score(o, x, m, eval_set.protocol) | {"seconds": seconds}
                rows.append(row)
            composited += list(out)
            bar.update(len(images))
    return rows, [composited[i] for i in example_index]


def example_indices(n: int, k: int) -> list[int]:
    """k image indices spread evenly over the set (deterministic)."""
    return sorted({int(round(v)) for v in np.linspace(0, n - 1, min(k, n))}) if k > 0 else []


def evaluate(*, data: str | Path, methods: Sequence[str], checkpoints: Sequence[str | Path] = (),
             protocol: str = "center", overlap: int | None = None, mask_dir: str | Path | None = None,
             nn_bank: str | Path | None = None, seed: int | None = None, examples: int = 6,
             device: str | torch.device = "cpu", flip_tta: bool = False,
             blends: Sequence[str] = (InpaintConfig.blend,), max_side: int = 0,
             hole_share: tuple[float, float] = HOLE_SHARE, limit: int = 0, onion: int = 0) -> Evaluation:
    """Score ``methods`` on the images below ``data`` under ``protocol``. Raises ValueError on bad input.

    Everything is validated before any long computation starts.
    """
    validate_request(methods=methods, checkpoints=checkpoints, protocol=protocol, overlap=overlap,
                     mask_dir=mask_dir, nn_bank=nn_bank, data=data, seed=seed, blends=blends, max_side=max_side,
                     hole_share=hole_share, limit=limit)
    InpaintConfig(onion=onion)  # validated before anything is loaded
    loaded = check_checkpoints([load_checkpoint(p, device) for p in checkpoints], methods)
    eval_set, hidden = build_set(protocol, data=data, mask_dir=mask_dir, seed=seed, max_side=max_side,
                                 hole_share=hole_share, limit=limit,
                                 overlap=lambda: resolve_overlap(overlap, loaded))
    images = eval_set.images
    bank = load_images(nn_bank, desc=f"loading bank {nn_bank}")[1] if any(m in NEEDS_BANK for m in methods) else None
    table = build_methods(methods, checkpoints=loaded, bank=bank, hidden=hidden, blends=blends, flip_tta=flip_tta,
                          onion=onion)
    index = example_indices(len(images), examples)
    per_image, shown = {}, {}
    for name, method in table.items():
        per_image[name], shown[name] = run_method(name, method, eval_set, index)
    info = {
        "data": str(data),
        "image_size": None if protocol == "photos" else IMAGE_SIZE,
        "checkpoints": {c.name: {"path": c.path, "step": c.step, "overlap_px": c.cfg.overlap_px} for c in loaded},
        "nn_bank": None if bank is None else str(nn_bank),
        "seed": (seed or 0) if protocol != "center" else None,
    }
    return Evaluation(eval_set, per_image, shown, index, info)


def validate_request(*, methods: Sequence[str], checkpoints: Sequence[str | Path], protocol: str,
                     overlap: int | None, mask_dir: str | Path | None, nn_bank: str | Path | None,
                     data: str | Path, seed: int | None = None,
                     blends: Sequence[str] = (InpaintConfig.blend,), max_side: int = 0,
                     hole_share: tuple[float, float] = HOLE_SHARE, limit: int = 0) -> None:
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
         "methods 'model' and 'nn-features' need --checkpoint (a run directory, or 'pretrained' for the "
         "packaged model)"),
        (nn_bank is not None or not any(m in NEEDS_BANK for m in methods),
         "methods 'nn-hog' and 'nn-features' need --nn-bank DIR (training images to retrieve from)"),
        (nn_bank is None or Path(nn_bank).is_dir(), f"nn bank folder not found: {nn_bank}"),
        (nn_bank is None or Path(nn_bank).resolve() != Path(data).resolve(),
         "--nn-bank must not be the evaluated set (each image would retrieve itself)"),
        (protocol == "center" or mask_dir is not None, f"the {protocol} protocol needs --mask-dir DIR"),
        (protocol == "center" or overlap is None, "--overlap applies to the center protocol only"),
        (protocol == "photos" or not max_side, "--max-side applies to the photos protocol only"),
        (max_side >= 0, "--max-side must be >= 0 (0 = the photos' own size)"),
        (protocol == "photos" or not limit, "--limit applies to the photos protocol only"),
        (limit >= 0, "--limit must be >= 0 (0 = every photo)"),
        (0 <= hole_share[0] <= hole_share[1] <= 100, f"hole share band must lie in [0, 100] %, got {hole_share}"),
        (protocol != "photos" or not any(m in NEEDS_BANK for m in methods),
         "nn-hog and nn-features retrieve 128-px crops: use the center or masks protocol"),
        (overlap is None or 0 <= overlap < IMAGE_SIZE // 4,
         f"overlap must be in [0, {IMAGE_SIZE // 4}), got {overlap}"),
        (protocol != "center" or mask_dir is None, "--mask-dir applies to the masks and photos protocols only"),
        (protocol != "center" or seed is None, "--seed applies to the masks protocol only (and photos)"),
        (protocol != "masks" or "nn-features" not in methods,
         "nn-features needs one hidden region for every image: use the center protocol"),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)
