"""Every default of the project, in frozen dataclasses (the one source of truth).

The defaults are the paper's recipe at 128 px (Pathak et al. 2016, Sec. 3 and 5; the original
``train.lua``): batch 64, L2 + adversarial loss with λrec = 0.999 and λadv = 0.001, a 4 px
overlap ring weighted 10x, generator LR 10x the discriminator's, Adam with β1 = 0.5.
A YAML file and command-line flags override these; a run directory records the resolved config.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields
from typing import Any

ARCHS = ("center", "alexnet", "autoencoder")
MASKS = ("center", "block", "region", "folder")
LOSSES = ("l2", "adv", "joint")
REC_LOSSES = ("l2", "log-l2")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
BLENDS = ("hard", "feather", "poisson")
EVAL_PROTOCOLS = ("center", "masks", "photos")
EVAL_METHODS = ("model", "mean-fill", "opencv-telea", "opencv-ns", "opencv-fsr", "opencv-fsr-best", "biharmonic",
                "nn-hog", "nn-features")
DEVICES = ("auto", "cpu", "cuda")

# The mean colour (117, 104, 123) that fills hidden pixels before encoding (original train.lua).
MEAN_RGB = (117, 104, 123)


@dataclass(frozen=True)
class ModelConfig:
    """What is needed to rebuild the generator and discriminator (saved with every checkpoint)."""

    arch: str = "center"  # center | alexnet | autoencoder (center net, no hole)
    image_size: int = 128
    full_image: bool = False  # generator outputs the whole image (arbitrary-region masks)
    nc: int = 3
    nef: int = 64  # encoder width
    ngf: int = 64  # decoder width
    ndf: int = 64  # discriminator width
    bottleneck: int = 4000
    overlap: int = -1  # px of context ring inside the predicted square; -1 = image_size // 32

    @property
    def overlap_px(self) -> int:
        return self.image_size // 32 if self.overlap < 0 else self.overlap

    @property
    def predicts_center(self) -> bool:
        """True when the generator outputs only the center square (the paper's inpainting net)."""
        return self.arch == "center" and not self.full_image

    @property
    def output_size(self) -> int:
        return self.image_size // 2 if self.predicts_center else self.image_size


@dataclass(frozen=True)
class DataConfig:
    data: tuple[str, ...] = ()
    load_size: int = 0  # shorter side before the random crop; 0 = image_size * 350 / 128
    min_load_size: int = 0  # > 0: each crop's shorter side is drawn from [min_load_size, load_size]
    val_fraction: float = 0.0  # seeded hold-out, never trained on
    workers: int = 2
    cache: bool = True  # decode every image once into memory (uint8)

    def resolved_load_size(self, image_size: int) -> int:
        return self.load_size or round(image_size * 350 / 128)


@dataclass(frozen=True)
class MaskConfig:
    kind: str = "center"  # center | block | region | folder
    folder: str = ""  # PNG masks (white = hole) for kind == "folder"


@dataclass(frozen=True)
class LossConfig:
    kind: str = "joint"  # l2 | adv | joint
    rec: str = "l2"  # l2 (paper) | log-l2: per-image log MSE, i.e. the mean PSNR (losses.py)
    w_rec: float = 0.999
    w_adv: float = 0.001
    ring_weight: float = 10.0  # L2 weight of the overlap ring relative to the hole


@dataclass(frozen=True)
class OptimConfig:
    lr_g: float = 2e-3
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    lr_schedule: str = "constant"  # constant | cosine
    ema: float = 0.0  # decay of a moving average of the generator weights; 0 = off


@dataclass(frozen=True)
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    mask: MaskConfig = field(default_factory=MaskConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    out: str = "runs/ce"
    init: str = ""  # generator weights to start from: a checkpoint, or "pretrained" (the packaged model)
    batch_size: int = 64
    steps: int = 0  # 0 = bounded by epochs
    epochs: int = 25
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    channels_last: str = "auto"  # auto (on for CUDA, off on CPU where BatchNorm is slower) | on | off
    compile: bool = False
    log_every: int = 10
    sample_every: int = 200
    ckpt_every: int = 500


@dataclass(frozen=True)
class InpaintConfig:
    """How a trained generator fills holes in photos: read by ``Inpainter``, the CLI and the server.

    ``blend`` pastes the prediction (hard: the original's paste; feather: a blurred edge; poisson:
    the prediction's gradients with the photo's values on the hole's border, measured best in
    docs/MODEL_CARD.md). A hole is filled whole in one window, however far downscaled, then refined
    at finer scales near its border down to ``finest_scale`` (1 = the photo's own pixels; larger
    is faster and blurrier at the border, never seamed);
    ``batch_size`` windows go through the generator at once; ``flip_tta`` averages each
    prediction with that of the mirrored window (2x compute).
    """

    blend: str = "poisson"
    feather_px: int = 8
    finest_scale: float = 2.0
    batch_size: int = 16
    flip_tta: bool = False

    def __post_init__(self) -> None:
        checks = [
            (self.blend in BLENDS, f"blend must be one of {', '.join(BLENDS)}, got '{self.blend}'"),
            (isinstance(self.feather_px, int) and 1 <= self.feather_px <= 256, "feather must be in [1, 256] px"),
            (math.isfinite(self.finest_scale) and 1 <= self.finest_scale <= 64, "finest-scale must be in [1, 64]"),
            (isinstance(self.batch_size, int) and 1 <= self.batch_size <= 1024, "batch-size must be in [1, 1024]"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-able nested dict of a config dataclass."""
    out = dataclasses.asdict(cfg)
    if isinstance(cfg, TrainConfig):
        out["data"]["data"] = list(cfg.data.data)
    return out


_SECTIONS = {
    "model": ModelConfig,
    "data": DataConfig,
    "mask": MaskConfig,
    "loss": LossConfig,
    "optim": OptimConfig,
}


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    known = {f.name for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise ValueError(f"unknown config key '{where}{key}'")
        if cls is TrainConfig and key in _SECTIONS:
            kwargs[key] = _build(_SECTIONS[key], value or {}, f"{where}{key}.")
        elif key == "data" and cls is DataConfig:
            kwargs[key] = tuple(value) if isinstance(value, (list, tuple)) else (value,)
        else:
            kwargs[key] = value
    return cls(**kwargs)


def model_config_from_dict(values: dict[str, Any]) -> ModelConfig:
    return _build(ModelConfig, values, "model.")


def train_config_from_dict(values: dict[str, Any]) -> TrainConfig:
    """Build a TrainConfig from a nested dict (YAML/JSON), validating keys and values."""
    cfg = _build(TrainConfig, values, "")
    # Arbitrary holes need a whole-image output; the autoencoder reconstructs the whole image.
    if cfg.model.arch == "autoencoder" or (cfg.model.arch == "center" and cfg.mask.kind != "center"):
        cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, full_image=True))
    validate(cfg)
    return cfg


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` into a copy of ``base``."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def validate(cfg: TrainConfig) -> None:
    """Raise ValueError with one clear message on the first invalid value."""
    m = cfg.model
    checks = [
        (m.arch in ARCHS, f"arch must be one of {ARCHS}, got '{m.arch}'"),
        (cfg.mask.kind in MASKS, f"mask must be one of {MASKS}, got '{cfg.mask.kind}'"),
        (cfg.loss.kind in LOSSES, f"loss must be one of {LOSSES}, got '{cfg.loss.kind}'"),
        (cfg.loss.rec in REC_LOSSES, f"rec-loss must be one of {REC_LOSSES}, got '{cfg.loss.rec}'"),
        (cfg.precision in PRECISIONS, f"precision must be one of {PRECISIONS}"),
        (cfg.device in DEVICES, f"device must be one of {DEVICES}"),
        (cfg.channels_last in ("auto", "on", "off"), "channels-last must be auto, on or off"),
        (cfg.batch_size >= 1, "batch-size must be >= 1"),
        (cfg.steps >= 0 and cfg.epochs >= 0, "steps and epochs must be >= 0"),
        (cfg.steps > 0 or cfg.epochs > 0, "set --steps or --epochs to bound the run"),
        (0.0 <= cfg.data.val_fraction < 1.0, "val-fraction must be in [0, 1)"),
        (cfg.optim.lr_g > 0 and cfg.optim.lr_d > 0, "learning rates must be > 0"),
        (cfg.optim.lr_schedule in ("constant", "cosine"), "lr-schedule: constant | cosine"),
        (len(cfg.data.data) > 0, "no data folder given (--data DIR)"),
        (cfg.data.min_load_size <= cfg.data.resolved_load_size(m.image_size),
         "min-load-size must be <= load-size"),
        (cfg.data.min_load_size == 0 or cfg.data.min_load_size >= m.image_size,
         "min-load-size must be 0 or >= image-size"),
        (0.0 <= cfg.optim.ema < 1.0, "ema must be in [0, 1)"),
        (cfg.mask.kind != "folder" or bool(cfg.mask.folder), "--mask folder needs --mask-dir"),
    ]
    if m.arch == "alexnet":
        checks.append((m.image_size >= 96, "alexnet arch needs --image-size >= 96"))
    else:
        size = m.image_size
        ok = size >= 32 and (size & (size - 1)) == 0
        checks.append((ok, f"{m.arch} arch needs a power-of-two --image-size >= 32, got {size}"))
    checks.append((0 <= m.overlap_px < m.image_size // 4, "overlap must be < image_size / 4"))
    for ok, message in checks:
        if not ok:
            raise ValueError(message)
