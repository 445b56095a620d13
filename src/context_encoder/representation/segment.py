"""Segmentation transfer: an FCN head on the encoder, fine-tuned end to end (the paper's Table 2).

The paper fine-tunes its context encoder's AlexNet inside FCN (Long et al. 2015) on PASCAL VOC
and reports mean IoU. Here, sized for a CPU:

- features: the encoder's ``conv5`` map (AlexNet conv1–conv5, 256 channels at stride 16:
  10 × 14 at 180 × 240 px), kept before pool5 so that small classes (poles, signs) keep a few
  cells; ``pool5`` (stride 32) is the coarser choice, FCN-32s-like. Center-net encoders give
  their ``encoder`` map;
- head: BatchNorm without affine (puts random and trained encoders' activations on one scale,
  as the classification probe does) and a 1×1 conv to the classes: (N, C, h, w) scores;
- upsampling: bilinear to the input size, fixed (FCN initialises its up-convolution as
  bilinear; a learned one adds parameters the short schedule cannot train);
- training: pixel-wise cross-entropy, void ignored; Adam on encoder (``encoder_lr``) and head
  (``lr``); random horizontal flips; the epoch with the best val mIoU is kept and scored on test.

Images (N, 3, H, W) uint8 until a step maps them to [-1, 1]; labels (N, H, W) uint8, 255 = void.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from context_encoder.config import ModelConfig, SegmentConfig
from context_encoder.data import uint8_to_float
from context_encoder.representation.features import layer_output
from context_encoder.representation.seg_data import IGNORE, SegmentationSet
from context_encoder.representation.seg_metrics import confusion_matrix, segmentation_scores

SEG_LAYERS: dict[str, tuple[str, ...]] = {
    "alexnet": ("conv5", "pool5"),
    "center": ("encoder",),
    "autoencoder": ("encoder",),
}


def check_seg_layer(cfg: ModelConfig, layer: str) -> None:
    """Raise ValueError unless ``layer`` is a spatial feature map of ``cfg.arch`` the head can read."""
    if layer not in SEG_LAYERS[cfg.arch]:
        raise ValueError(f"layer '{layer}' cannot feed a segmentation head for arch '{cfg.arch}': "
                         f"choose from {SEG_LAYERS[cfg.arch]}")


class SegmentationNet(nn.Module):
    """(N, 3, H, W) in [-1, 1] -> (N, classes, H, W) per-pixel class scores."""

    def __init__(self, generator: nn.Module, *, layer: str, channels: int, n_classes: int) -> None:
        super().__init__()
        self.generator, self.layer = generator, layer
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.classifier = nn.Conv2d(channels, n_classes, 1)

    def encoder_parameters(self) -> list[nn.Parameter]:
        """The generator's encoder weights (the decoder never sees a gradient here)."""
        return list(self.generator.encoder.parameters())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        feats = layer_output(self.generator, images, self.layer)  # (N, 256, h, w)
        scores = self.classifier(self.norm(feats))  # (N, classes, h, w)
        return F.interpolate(scores, size=images.shape[-2:], mode="bilinear", align_corners=False)


def build_segmenter(generator: nn.Module, *, layer: str, n_classes: int, height: int, width: int,
                    seed: int) -> SegmentationNet:
    """The generator wrapped with a head drawn from ``seed`` (global RNG state left as it was)."""
    with torch.no_grad():
        channels = layer_output(generator.eval(), torch.zeros(1, 3, height, width), layer).shape[1]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SegmentationNet(generator, layer=layer, channels=channels, n_classes=n_classes)


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, *, batch_size: int, device: torch.device) -> torch.Tensor:
    """Arg-max class maps (N, H, W) uint8 of uint8 images (N, 3, H, W), in eval mode."""
    model.eval()
    return torch.cat([model(uint8_to_float(images[i : i + batch_size].to(device))).argmax(1).to(torch.uint8).cpu()
                      for i in range(0, images.shape[0], batch_size)])


def score(model: nn.Module, data: SegmentationSet, *, n_classes: int, batch_size: int, device: torch.device,
          class_names: Sequence[str] | None = None) -> dict[str, object]:
    """:func:`segmentation_scores` of the model's predictions on ``data``."""
    pred = predict(model, data.images, batch_size=batch_size, device=device)
    return segmentation_scores(confusion_matrix(pred, data.labels, n_classes), class_names)


def train_epoch(model: SegmentationNet, data: SegmentationSet, opt: torch.optim.Optimizer, *, batch_size: int,
                g: torch.Generator, device: torch.device) -> float:
    """One shuffled pass with random horizontal flips; returns the mean cross-entropy."""
    model.train()
    order = torch.randperm(data.images.shape[0], generator=g)
    losses = []
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        x = uint8_to_float(data.images[idx].to(device))  # (B, 3, H, W)
        y = data.labels[idx].long().to(device)  # (B, H, W)
        flip = (torch.rand(len(idx), generator=g) < 0.5).to(device)
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        y = torch.where(flip[:, None, None], y.flip(-1), y)
        if bool((y == IGNORE).all()):  # nothing labelled: the mean over no pixel would be NaN
            continue
        loss = F.cross_entropy(model(x), y, ignore_index=IGNORE)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return sum(losses) / max(1, len(losses))


def segmentation_probe(generator: nn.Module, *, train: SegmentationSet, val: SegmentationSet | None,
                       test: SegmentationSet, layer: str, cfg: SegmentConfig,
                       class_names: Sequence[str] | None = None, device: torch.device | str = "cpu",
                       on_epoch: Callable[[dict[str, object]], None] | None = None) -> dict[str, object]:
    """Fine-tune encoder + head on ``train``, keep the epoch with the best ``val`` mIoU (the last
    epoch without ``val``), and score ``test``. The generator is modified in place.

    Returns the test scores (``test``: mIoU, per-class IoU, pixel accuracy), the chosen epoch,
    the per-epoch training loss and val mIoU, and the wall time. ``on_epoch`` sees each epoch's row.
    """
    t0 = time.perf_counter()
    device = torch.device(device)
    model = build_segmenter(generator, layer=layer, n_classes=cfg.n_classes, height=cfg.height, width=cfg.width,
                            seed=cfg.seed).to(device)
    groups = [{"params": model.encoder_parameters(), "lr": cfg.encoder_lr},
              {"params": [*model.norm.parameters(), *model.classifier.parameters()], "lr": cfg.lr}]
    opt = torch.optim.Adam([gr for gr in groups if gr["lr"] > 0])
    model.generator.encoder.requires_grad_(cfg.encoder_lr > 0)
    g = torch.Generator().manual_seed(cfg.seed)
    kw = {"n_classes": cfg.n_classes, "batch_size": cfg.batch_size, "device": device, "class_names": class_names}
    best: dict[str, object] = {}
    best_state, history = None, []
    for epoch in range(1, cfg.epochs + 1):
        loss = train_epoch(model, train, opt, batch_size=cfg.batch_size, g=g, device=device)
        val_scores = score(model, val, **kw) if val is not None else None
        history.append({"epoch": epoch, "train_loss": loss, "val_miou": val_scores and val_scores["miou"],
                        "seconds": time.perf_counter() - t0})
        if on_epoch is not None:
            on_epoch(history[-1])
        if val_scores is None or not best or val_scores["miou"] > best["val"]["miou"]:
            best, best_state = {"epoch": epoch, "val": val_scores}, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    return {"test": score(model, test, **kw), **best, "chosen_on": "val mIoU" if val is not None else "last epoch",
            "history": history, "seconds": time.perf_counter() - t0}
