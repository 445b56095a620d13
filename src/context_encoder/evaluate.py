"""Evaluation like the paper's Table 1 (Sec. 5.1): fixed protocols, every method scored on the same pixels.

Protocols (both fully deterministic):

- ``center``: each image opened as RGB, its largest centered square resized to 128×128 with
  Pillow bicubic (uint8); the hole is the center 64×64 square, or its inner (64 − 2o)² when an
  o-px overlap ring is shown as context. SSIM is taken on the composited center 64×64 patch.
- ``masks``: the same images, each paired with a fixed hole mask from a folder by a seeded
  permutation; SSIM is the SSIM map averaged over the hole. Results are also split by hole share.

A method maps (images uint8 (n, S, S, 3) with the hidden pixels zeroed, masks bool (n, S, S),
True = hidden) to uint8 outputs; only its hidden pixels are kept (composited into the original)
and scored by :mod:`metrics`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from tqdm import tqdm

from context_encoder import baselines, compose
from context_encoder.checkpoint import PRETRAINED, load_generator, resolve_weights
from context_encoder.config import ModelConfig
from context_encoder.data import find_images, float_to_uint8, to_rgb, uint8_to_float
from context_encoder.inference import composite, predict
from context_encoder.masks import MaskFolder, center_box, center_mask
from context_encoder.metrics import hole_errors, ssim, ssim_over
from context_encoder.models import FlipAverage

IMAGE_SIZE = 128  # the paper's Table 1 setting: 128 px images, 64 px center hole
PROTOCOLS = ("center", "masks")
BASELINES = ("mean-fill", "opencv-telea", "opencv-ns", "nn-hog", "nn-features")
METHODS = ("model", *BASELINES)
NEEDS_BANK = ("nn-hog", "nn-features")
NEEDS_CHECKPOINT = ("model", "nn-features")
BATCH_SIZE = 32  # fixed, so model outputs never depend on a flag

Method = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (images (n,S,S,3) u8, masks (n,S,S) bool) -> u8


def prepare_image(path: Path, size: int = IMAGE_SIZE) -> np.ndarray:
    """Open as RGB, crop the largest centered square, resize bicubically: (size, size, 3) uint8."""
    with Image.open(path) as raw:
        img = to_rgb(raw)
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    img = img.crop((left, top, left + side, top + side)).resize((size, size), Image.BICUBIC)
    return np.asarray(img, dtype=np.uint8)


def load_images(folder: str | Path, size: int = IMAGE_SIZE, desc: str = "loading") -> tuple[list[str], np.ndarray]:
    """Every image below ``folder`` prepared by :func:`prepare_image`: (names, (N, S, S, 3) uint8)."""
    paths = find_images([folder])
    if not paths:
        raise ValueError(f"no images found in {folder}")
    images = []
    for path in tqdm(paths, desc=desc, unit="img"):
        try:
            images.append(prepare_image(path, size))
        except OSError as err:
            raise ValueError(f"cannot read image {path}: {err}") from err
    return [p.relative_to(folder).as_posix() for p in paths], np.stack(images)


def center_hidden(size: int, overlap: int) -> np.ndarray:
    """The hidden pixels of the center protocol: (S, S) bool, the center square minus the ring."""
    return center_mask(1, size, overlap)[0, 0].numpy() > 0.5


def describe_center(size: int, overlap: int) -> str:
    lo, hi = center_box(size)
    side, first, last = hi - lo - 2 * overlap, lo + overlap, hi - overlap - 1
    if overlap == 0:
        return f"center {side}x{side} square, rows/cols {first}-{last} (full hole)"
    return (f"inner {side}x{side} of the center {hi - lo}x{hi - lo} square, rows/cols {first}-{last} "
            f"({overlap}-px ring shown as context)")


def paired_masks(n: int, mask_dir: str | Path, *, size: int = IMAGE_SIZE,
                 seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Masks for n images: image i gets mask ``perm[i % M]`` of a seeded permutation of the M sorted
    masks (no flips or rotations): (names, (n, S, S) bool)."""
    folder = MaskFolder(mask_dir, size)
    order = torch.randperm(len(folder), generator=torch.Generator().manual_seed(seed)).tolist()
    picks = [order[i % len(folder)] for i in range(n)]
    masks = np.stack([folder.load(k)[0].numpy() > 0.5 for k in picks])
    flat = masks.reshape(n, -1)
    if not flat.any(axis=1).all() or flat.all(axis=1).any():
        raise ValueError(f"a mask in {mask_dir} hides no pixel or every pixel")
    return [folder.paths[k].name for k in picks], masks


@dataclass(frozen=True)
class EvalSet:
    """Prepared images and the pixels hidden from every method."""

    protocol: str
    names: list[str]
    images: np.ndarray  # (N, S, S, 3) uint8
    masks: np.ndarray  # (N, S, S) bool, True = hidden
    hidden_region: str
    mask_names: list[str] = field(default_factory=list)


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


def check_checkpoints(checkpoints: Sequence[Checkpoint], protocol: str) -> list[Checkpoint]:
    """Reject models the protocol cannot evaluate fairly, with one clear message; name rows uniquely
    (``run@step`` when two checkpoints share a run)."""
    for ckpt in checkpoints:
        if ckpt.cfg.image_size != IMAGE_SIZE:
            raise ValueError(f"checkpoint {ckpt.path} is a {ckpt.cfg.image_size}-px model; the {protocol} "
                             f"protocol evaluates {IMAGE_SIZE}-px images")
        if protocol == "masks" and ckpt.cfg.predicts_center:
            raise ValueError(f"checkpoint {ckpt.path} predicts only the center square; the masks protocol "
                             "needs a whole-image model (trained with --mask block/region/folder)")
    out = list(checkpoints)
    if len({c.name for c in out}) < len(out):
        out = [replace(c, name=f"{c.name}@{c.step}") for c in out]
        if len({c.name for c in out}) < len(out):
            raise ValueError("the same checkpoint is given twice")
    return out


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


def model_row(ckpt: Checkpoint, blend: str, flip_tta: bool) -> str:
    """A model row's name: the run, plus " +flip" and " +BLEND" unless the paste is "hard"."""
    return ckpt.name + (" +flip" if flip_tta else "") + ("" if blend == "hard" else f" +{blend}")


def model_method(ckpt: Checkpoint, blend: str = compose.DEFAULT_BLEND, flip_tta: bool = False) -> Method:
    """The checkpoint's inpainting as ``inpaint`` runs it (the prediction pasted by ``blend``,
    optionally averaged with the mirrored image's), quantised to uint8."""
    generator = FlipAverage(ckpt.generator).eval() if flip_tta else ckpt.generator

    def fill(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
        device = next(generator.parameters()).device
        x = uint8_to_float(torch.from_numpy(images).permute(0, 3, 1, 2)).to(device)  # (n, 3, S, S)
        m = torch.from_numpy(masks)[:, None].float().to(device)  # (n, 1, S, S)
        pred = predict(generator, x, m, ckpt.cfg)  # (n, 3, S, S), the overlap ring predicted too
        to_u8 = lambda t: float_to_uint8(t).permute(0, 2, 3, 1).cpu().numpy()  # noqa: E731
        out = to_u8(composite(x, pred, m))
        if blend == "hard":
            return out
        return np.stack([compose.blend(i, o, h, mode=blend, border=b)
                         for i, o, h, b in zip(images, out, masks, to_u8(pred))])
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
                  hidden: np.ndarray | None, blends: Sequence[str] = (compose.DEFAULT_BLEND,),
                  flip_tta: bool = False) -> dict[str, Method]:
    """Row name -> method, in the order asked; one ``model`` row per checkpoint and blend, one
    ``nn-features`` row per checkpoint."""
    table = {
        "mean-fill": baselines.mean_fill,
        "opencv-telea": lambda x, m: baselines.opencv_inpaint(x, m, method="telea"),
        "opencv-ns": lambda x, m: baselines.opencv_inpaint(x, m, method="ns"),
    }
    methods: dict[str, Method] = {}
    for name in names:
        if name == "model":
            methods.update({model_row(c, b, flip_tta): model_method(c, b, flip_tta)
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


def score(output: np.ndarray, image: np.ndarray, mask: np.ndarray, protocol: str) -> dict[str, float]:
    """Metrics of one composited output (S, S, 3) against its original over the hidden pixels (S, S)."""
    row = hole_errors(output, image, mask)
    if protocol == "center":
        lo, hi = center_box(image.shape[0])
        row["ssim"] = ssim(output[lo:hi, lo:hi], image[lo:hi, lo:hi])
    else:
        row["ssim"] = ssim_over(output, image, mask)
    return row


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
             blends: Sequence[str] = (compose.DEFAULT_BLEND,)) -> Evaluation:
    """Score ``methods`` on the images below ``data`` under ``protocol``. Raises ValueError on bad input.

    Everything is validated before any long computation starts.
    """
    validate_request(methods=methods, checkpoints=checkpoints, protocol=protocol, overlap=overlap,
                     mask_dir=mask_dir, nn_bank=nn_bank, data=data, seed=seed, blends=blends)
    loaded = check_checkpoints([load_checkpoint(p, device) for p in checkpoints], protocol)
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
                     blends: Sequence[str] = (compose.DEFAULT_BLEND,)) -> None:
    """One clear ValueError for the first inconsistent argument."""
    unknown = [m for m in methods if m not in METHODS]
    checks = [
        (bool(blends) and set(blends) <= set(compose.BLENDS),
         f"blend must be one of {compose.BLENDS}, got {', '.join(blends)}"),
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
