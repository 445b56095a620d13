"""Encoder features of a trained (or random) generator: the representation of Sec. 5.2.

The paper judges a context encoder by what its encoder has learned: features taken from the
encoder of whole, unmasked images are fed to a classifier (and to nearest-neighbour retrieval,
Fig. 8). Layers by architecture:

- ``center`` / ``autoencoder``: ``encoder`` (the last 4×4 conv features, (N, 8nef, 4, 4)) and
  ``bottleneck`` (N, bottleneck, 1, 1);
- ``alexnet``: ``pool5`` (N, 256, P, P) and ``conv5`` (before the last max-pool).

Features come out flattened as (N, D); ``pool=k`` first averages the spatial map to k×k.
Images are (N, 3, S, S) float in [-1, 1], resized and center-cropped by the training code's own
:class:`~context_encoder.data.ImageFolderDataset`.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes
from torch import nn
from tqdm import tqdm

from context_encoder.atomic import atomic_open
from context_encoder.config import ModelConfig
from context_encoder.data import to_rgb, uint8_to_float
from context_encoder.geometry import center_square
from context_encoder.models import build_generator

LAYERS: dict[str, tuple[str, ...]] = {
    "center": ("encoder", "bottleneck"),
    "autoencoder": ("encoder", "bottleneck"),
    "alexnet": ("pool5", "conv5"),
}
FEATURE_SUFFIXES = (".safetensors", ".npz")


def check_layer(cfg: ModelConfig, layer: str) -> None:
    """Raise ValueError unless ``layer`` is a feature layer of ``cfg.arch``."""
    if layer not in LAYERS[cfg.arch]:
        raise ValueError(f"layer '{layer}' is not one of {LAYERS[cfg.arch]} for arch '{cfg.arch}'")


def layer_output(generator: nn.Module, images: torch.Tensor, layer: str) -> torch.Tensor:
    """The named layer's activations (N, C, h, w) for images (N, 3, S, S) in [-1, 1]."""
    if layer in ("encoder", "pool5"):
        return generator.encode(images)
    if layer == "bottleneck":
        return generator.bottleneck(generator.encode(images))
    if layer == "conv5":
        return generator.encoder[:-1](images)  # everything up to (not including) pool5
    raise ValueError(f"unknown feature layer '{layer}'")


def features(generator: nn.Module, images: torch.Tensor, *, layer: str, pool: int = 0) -> torch.Tensor:
    """Flattened features (N, D) of ``images`` (N, 3, S, S); ``pool=k > 0`` averages to k×k first.

    Differentiable (the fine-tuning probe uses it); wrap in ``torch.no_grad`` to extract.
    """
    out = layer_output(generator, images, layer)  # (N, C, h, w)
    if pool > 0 and out.shape[-1] > pool:
        out = F.adaptive_avg_pool2d(out, pool)  # (N, C, pool, pool)
    return out.flatten(1)


@torch.no_grad()
def extract(
    generator: nn.Module,
    images: torch.Tensor,
    *,
    layer: str,
    pool: int = 0,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Features of uint8 images (N, 3, S, S) in eval mode, batch by batch: (N, D) float32 on CPU."""
    generator.eval()
    out = []
    for start in range(0, images.shape[0], batch_size):
        batch = uint8_to_float(images[start : start + batch_size].to(device))
        out.append(features(generator, batch, layer=layer, pool=pool).float().cpu())
    if not out:
        raise ValueError("no images to extract features from")
    return torch.cat(out)


def load_images(files: Sequence[Path], image_size: int) -> tuple[torch.Tensor, list[Path]]:
    """Each file's largest centered square resized to ``image_size`` (as the evaluation protocols
    crop, :func:`context_encoder.geometry.center_square`): (N, 3, S, S) uint8.

    Returns the images and the files that could be read (unreadable ones are skipped, by name).
    """
    images, kept, bad = [], [], []
    for path in tqdm(files, desc="decoding images", unit="img", leave=False, disable=len(files) < 200):
        try:
            with Image.open(path) as raw:
                images.append(torch.from_numpy(np.array(center_square(to_rgb(raw), image_size))).permute(2, 0, 1))
            kept.append(Path(path))
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
            bad.append(f"{path} ({type(err).__name__})")
    if bad:
        warnings.warn(f"skipped {len(bad)} unreadable image(s): {', '.join(bad)}", stacklevel=2)
    if not images:
        raise ValueError("none of the images could be read")
    return torch.stack(images).contiguous(), kept


def relative_names(files: Sequence[Path], root: Path) -> list[str]:
    """File names relative to ``root`` with '/' separators (stable across machines)."""
    return [Path(f).relative_to(root).as_posix() for f in files]


def save_features(path: Path, feats: torch.Tensor, names: Sequence[str], meta: dict[str, object]) -> None:
    """Write (N, D) features and their N file names as .safetensors (names in metadata) or .npz."""
    if len(names) != feats.shape[0]:
        raise ValueError(f"{feats.shape[0]} feature rows but {len(names)} names")
    if path.suffix not in FEATURE_SUFFIXES:
        raise ValueError(f"feature file must end in one of {FEATURE_SUFFIXES}, got '{path.name}'")
    feats = feats.detach().float().cpu().contiguous()
    with atomic_open(path) as f:  # a full disk leaves the old file (or none), never a truncated one
        if path.suffix == ".safetensors":
            metadata = {"names": json.dumps(list(names)), "meta": json.dumps(meta)}
            f.write(safetensors_bytes({"features": feats}, metadata=metadata))
        else:
            np.savez(f, features=feats.numpy(), names=np.array(list(names)), meta=np.array(json.dumps(meta)))


def load_features(path: Path) -> tuple[torch.Tensor, list[str], dict[str, object]]:
    """Read what :func:`save_features` wrote: ((N, D) features, N names, metadata)."""
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            metadata = f.metadata() or {}
        return load_file(str(path))["features"], json.loads(metadata["names"]), json.loads(metadata["meta"])
    if path.suffix == ".npz":
        with np.load(path) as z:
            return torch.from_numpy(z["features"]), [str(n) for n in z["names"]], json.loads(str(z["meta"]))
    raise ValueError(f"feature file must end in one of {FEATURE_SUFFIXES}, got '{path.name}'")


def nearest_neighbours(queries: torch.Tensor, bank: torch.Tensor, k: int, chunk: int = 1024) -> torch.Tensor:
    """Indices (Q, k) of the ``k`` most cosine-similar rows of ``bank`` (B, D) for each query (Q, D).

    Both sets are centred on the bank's mean first, so a constant offset shared by every feature
    (common in untrained nets) does not dominate the similarity.
    """
    mean = bank.mean(0, keepdim=True)
    b = F.normalize(bank - mean, dim=1)
    out = []
    for start in range(0, queries.shape[0], chunk):
        q = F.normalize(queries[start : start + chunk] - mean, dim=1)
        out.append((q @ b.T).topk(min(k, b.shape[0]), dim=1).indices)  # (chunk, k)
    return torch.cat(out)


def random_generator(cfg: ModelConfig, seed: int) -> nn.Module:
    """An untrained generator with the DCGAN init drawn from ``seed`` (the random-init baseline).

    The global RNG state is restored afterwards, so building one changes nothing else.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_generator(cfg).eval()
