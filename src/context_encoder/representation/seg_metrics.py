"""Semantic-segmentation scores: the confusion matrix and the mean intersection over union.

As the paper reports segmentation (Table 2, "mIU", after FCN, Long et al. 2015): pixels are
counted over the whole set, not averaged per image; a class's IoU is TP / (TP + FP + FN); the mean
is over the classes, leaving out only a class that is neither in the labels nor predicted (its IoU
is 0 / 0). Void pixels (label >= n_classes, e.g. 255) are skipped: what the net predicts there
counts as neither right nor wrong.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, n_classes: int) -> torch.Tensor:
    """(C, C) int64 pixel counts, row = true class, column = predicted class.

    ``pred`` and ``target`` are integer maps of the same shape, e.g. (N, H, W); target pixels
    outside ``0 .. C - 1`` (void) are not counted.
    """
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and labels {tuple(target.shape)} differ in shape")
    target, pred = target.long().flatten(), pred.long().flatten()
    valid = (target >= 0) & (target < n_classes)
    index = target[valid] * n_classes + pred[valid].clamp(0, n_classes - 1)
    return torch.bincount(index, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def segmentation_scores(confusion: torch.Tensor, class_names: Sequence[str] | None = None) -> dict[str, object]:
    """mIoU, per-class IoU, pixel accuracy and mean class accuracy of a (C, C) confusion matrix.

    Values are fractions in [0, 1]; a class with no labelled or predicted pixel has IoU None
    and is left out of the mean (``classes_scored`` says how many are in it).
    """
    conf = confusion.double()
    tp = conf.diagonal()
    truth, predicted = conf.sum(1), conf.sum(0)  # (C,) pixels labelled / predicted as each class
    union = truth + predicted - tp
    iou = torch.where(union > 0, tp / union.clamp_min(1), torch.full_like(tp, float("nan")))
    recall = torch.where(truth > 0, tp / truth.clamp_min(1), torch.full_like(tp, float("nan")))
    names = list(class_names) if class_names is not None else [str(c) for c in range(conf.shape[0])]
    scored = ~iou.isnan()
    return {
        "miou": iou[scored].mean().item() if scored.any() else float("nan"),
        "pixel_accuracy": (tp.sum() / conf.sum()).item() if conf.sum() > 0 else float("nan"),
        "mean_class_accuracy": recall[~recall.isnan()].mean().item() if (~recall.isnan()).any() else float("nan"),
        "classes_scored": int(scored.sum()),
        "per_class_iou": {n: (None if v != v else v) for n, v in zip(names, iou.tolist())},
        "pixels": int(conf.sum()),
    }
