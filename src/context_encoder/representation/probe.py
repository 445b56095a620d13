"""Classification probes of learned features (Sec. 5.2, Table 2, scaled down).

Two protocols on a labelled image folder (class = sub-folder):

- ``linear``: the encoder stays frozen; its features are extracted once, standardised with the
  training set's statistics, and a multinomial logistic regression (one linear layer, full-batch
  L-BFGS, L2 penalty picked on a seeded 10 % hold-out of the training labels) is fitted on them.
- ``finetune``: encoder + a linear head trained end to end for a few epochs of Adam, as the paper
  fine-tunes its pre-trained encoder for classification.

Labels are (N,) int64; images (N, 3, S, S) uint8 until a step maps them to [-1, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from context_encoder.data import IMAGE_SUFFIXES, uint8_to_float
from context_encoder.representation.features import extract, features, load_images

WEIGHT_DECAYS = (1e-3, 1e-2, 1e-1)


@dataclass(frozen=True)
class LabelledImages:
    """A labelled image set: images (N, 3, S, S) uint8, labels (N,) int64, class names, files."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    files: tuple[Path, ...]


def load_labelled(root: Path, *, image_size: int, per_class: int = 0, seed: int = 0,
                  classes: Sequence[str] | None = None) -> LabelledImages:
    """Images of ``root/<class>/*`` center-cropped to ``image_size``.

    ``per_class > 0`` keeps a seeded random subset of that many images per class. ``classes``
    fixes the class order (pass the training set's so test labels mean the same).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"labelled folder not found: {root}")
    found = sorted(d.name for d in root.iterdir() if d.is_dir())
    classes = tuple(classes) if classes is not None else tuple(found)
    if len(classes) < 2:
        raise ValueError(f"{root} needs at least two class sub-folders, found {len(classes)}")
    g = torch.Generator().manual_seed(seed)
    files, labels = [], []
    for label, name in enumerate(classes):
        paths = sorted(p for p in (root / name).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if per_class > 0 and len(paths) > per_class:
            keep = torch.randperm(len(paths), generator=g)[:per_class].sort().values.tolist()
            paths = [paths[i] for i in keep]
        files += paths
        labels += [label] * len(paths)
    if not files:
        raise ValueError(f"no images found below {root}")
    images, kept = load_images(files, image_size)
    by_file = dict(zip(files, labels))
    return LabelledImages(images, torch.tensor([by_file[f] for f in kept]), classes, tuple(kept))


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy in [0, 1] of logits (N, C) against labels (N,)."""
    return (logits.argmax(1) == labels).float().mean().item()


def standardise(train: torch.Tensor, *others: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Zero-mean, unit-variance columns using the training rows' statistics: same shapes back."""
    mean, std = train.mean(0, keepdim=True), train.std(0, keepdim=True).clamp_min(1e-6)
    return tuple((x - mean) / std for x in (train, *others))


def fit_linear(x: torch.Tensor, y: torch.Tensor, n_classes: int, *, weight_decay: float, max_iter: int = 100,
               init: nn.Linear | None = None) -> nn.Linear:
    """Multinomial logistic regression on x (N, D), y (N,): mean cross-entropy + wd/2·‖W‖².

    Full-batch L-BFGS from zero weights, or from ``init`` (a warm start along a penalty path).
    The problem is convex and the solver deterministic, so the same inputs give the same head.
    """
    head = nn.Linear(x.shape[1], n_classes)
    with torch.no_grad():
        head.weight.copy_(init.weight if init is not None else torch.zeros_like(head.weight))
        head.bias.copy_(init.bias if init is not None else torch.zeros_like(head.bias))
    opt = torch.optim.LBFGS(head.parameters(), lr=1.0, max_iter=max_iter, history_size=20,
                            tolerance_grad=1e-6, tolerance_change=1e-9, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(head(x), y) + 0.5 * weight_decay * head.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return head.requires_grad_(False)


def linear_probe(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor, *,
                 weight_decays: Sequence[float] = WEIGHT_DECAYS, seed: int = 0) -> dict[str, float]:
    """Fit the linear probe on frozen features (N, D); L2 penalty chosen on a train hold-out.

    The penalties are fitted strongest first, each warm-started from the previous solution (a
    regularisation path: far fewer L-BFGS steps than cold starts). Returns top-1 on the test set,
    on the training set, the hold-out accuracy and the chosen penalty.
    """
    n_classes = int(max(train_y.max(), test_y.max())) + 1
    order = torch.randperm(train_x.shape[0], generator=torch.Generator().manual_seed(seed))
    n_val = max(1, train_x.shape[0] // 10)
    val, fit = order[:n_val], order[n_val:]
    fx, vx = standardise(train_x[fit], train_x[val])
    heads: dict[float, nn.Linear] = {}
    scores: dict[float, float] = {}
    prev = None
    for wd in sorted(weight_decays, reverse=True):
        prev = heads[wd] = fit_linear(fx, train_y[fit], n_classes, weight_decay=wd, init=prev)
        scores[wd] = accuracy(prev(vx), train_y[val])
    best = max(scores, key=lambda wd: (scores[wd], wd))  # ties: the stronger penalty
    tx, sx = standardise(train_x, test_x)
    head = fit_linear(tx, train_y, n_classes, weight_decay=best, init=heads[best])
    return {"top1": accuracy(head(sx), test_y), "train_top1": accuracy(head(tx), train_y),
            "val_top1": scores[best], "weight_decay": best}


class FeatureClassifier(nn.Module):
    """Encoder features + BatchNorm (no affine) + linear head: (N, 3, S, S) -> (N, classes) logits."""

    def __init__(self, generator: nn.Module, *, layer: str, pool: int, dim: int, n_classes: int) -> None:
        super().__init__()
        self.generator, self.layer, self.pool = generator, layer, pool
        self.norm = nn.BatchNorm1d(dim, affine=False)
        self.head = nn.Linear(dim, n_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(features(self.generator, images, layer=self.layer, pool=self.pool)))


def _predict(model: nn.Module, images: torch.Tensor, batch_size: int, device: torch.device) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return torch.cat([model(uint8_to_float(images[i : i + batch_size].to(device))).cpu()
                          for i in range(0, images.shape[0], batch_size)])


def finetune(generator: nn.Module, train: LabelledImages, test: LabelledImages, *, layer: str, pool: int = 2,
             epochs: int = 3, lr: float = 1e-3, batch_size: int = 128, seed: int = 0,
             device: torch.device | str = "cpu") -> dict[str, float]:
    """Train encoder + linear head end to end (Adam, random flips), then score ``test``.

    ``seed`` draws the head's init, the order and the flips. The generator is modified in place.
    Returns top-1 on the test and training sets.
    """
    device = torch.device(device)
    dim = extract(generator, train.images[:2], layer=layer, pool=pool, device=device).shape[1]
    with torch.random.fork_rng(devices=[]):  # the head's init from ``seed`` too: the same run, the same result
        torch.manual_seed(seed)
        model = FeatureClassifier(generator, layer=layer, pool=pool, dim=dim, n_classes=len(train.classes))
    model = model.to(device)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    g = torch.Generator().manual_seed(seed)
    n = train.images.shape[0]
    for _ in range(epochs):
        model.train()
        order = torch.randperm(n, generator=g)
        for start in range(0, n - 1, batch_size):  # a last batch of 1 would break BatchNorm
            idx = order[start : start + batch_size]
            x = uint8_to_float(train.images[idx].to(device))  # (B, 3, S, S)
            flip = (torch.rand(x.shape[0], generator=g) < 0.5).to(device)
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            loss = F.cross_entropy(model(x), train.labels[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return {"top1": accuracy(_predict(model, test.images, batch_size, device), test.labels),
            "train_top1": accuracy(_predict(model, train.images, batch_size, device), train.labels)}
