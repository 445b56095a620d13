"""Every default of the project, in frozen dataclasses (the one source of truth).

The defaults are the original ``train.lua`` recipe at 128 px (Pathak et al. 2016, Sec. 3 and 5):
batch 64, L2 + adversarial loss with λrec = 0.999 and λadv = 0.001, an overlap ring weighted 10x
of ``image_size // 32`` px (4 px at 128 as train.lua's ``overlapPred=4``; the paper's text says
7 px), generator LR 10x the discriminator's, Adam with β1 = 0.5. Every difference from the paper
and the Lua code, and the setting that undoes it: docs/fidelity.md.
A YAML file and command-line flags override these; a run directory records the resolved config.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

ARCHS = ("center", "alexnet", "autoencoder")
DISC_WIDTHS = ("doubling", "lua")
RESAMPLES = ("bicubic", "bilinear")
WEIGHTINGS = ("ring", "lua-uniform", "lua-context")
HOLE_FILLS = ("mean", "harmonic")  # what hidden pixels hold when the net sees them (masks.fill_hole)
MASKS = ("center", "block", "region", "folder", "none")  # none: no hole (an autoencoder of any arch)
# --mask region: fresh noise per image | crops of train_random.lua's one pattern, per sample | per batch
REGION_MASKS = ("per-image", "lua", "lua-batch")
TASKS = ("center", "whole-image", "autoencoder")  # what a run learns: task_of(), from arch, mask and full_image
LOSSES = ("l2", "adv", "joint")
REC_LOSSES = ("l2", "log-l2")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
INPAINT_PRECISIONS = ("auto", "fp32", "bf16")  # the generator's arithmetic when inpainting (device.inpaint_dtype)
BLENDS = ("hard", "feather", "poisson")
TRAIN_PASTES = ("hard", "poisson")  # what the reconstruction loss is taken on (LossConfig.paste)
EVAL_PROTOCOLS = ("center", "masks", "photos")
EVAL_METHODS = ("model", "harmonic", "mean-fill", "opencv-telea", "opencv-ns", "opencv-fsr", "opencv-fsr-best",
                "biharmonic", "nn-hog", "nn-features")
DEVICES = ("auto", "cpu", "cuda")
MAX_CONFIG_BYTES = 1 << 20  # a config file (YAML, config.json, model.json) is a few hundred bytes
MAX_PIXELS = 50_000_000  # default budget of one input image (inpaint --max-pixels), checked before decoding

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
    # px of context ring inside the predicted square; -1 = image_size // 32, i.e. 4 px at 128 as
    # train.lua's overlapPred=4 (the paper's text says 7 px: --overlap 7). docs/fidelity.md
    overlap: int = -1
    # discriminator widths: doubling (64, 128, 256, 512, 512 on a 128-px whole image) | lua
    # (train_random.lua: 64, 64, 128, 256, 512). Both give train.lua's net on the 64-px center.
    disc_widths: str = "doubling"
    # What hidden pixels hold in the net's input: mean (the paper's mean colour) | harmonic (a
    # deviation, issue 23: the harmonic fill of the known pixels around the hole). docs/fidelity.md
    hole_fill: str = "mean"
    # U-Net skip connections, encoder to decoder at each resolution (a deviation for whole-image
    # nets, issue 23: the decoder sees the context at full resolution, not only the bottleneck)
    skips: bool = False
    # The hole mask (1 = hidden) as a fourth input channel (a deviation, issue 23): with the harmonic
    # hole fill, nothing else in the input tells the net which smooth pixels are guessed
    mask_channel: bool = False
    # Residual 3x3 blocks after each of the decoder's 2x up-convolutions but the last (a deviation,
    # issue 23: depth where the hole's content is decided; models/layers.ResBlock). Each starts as
    # the identity, so a net grown by them starts as the net it was (--init).
    res_blocks: int = 0
    # Attention from the hole to the known context at this decoder resolution, px (a deviation, issue
    # 23: models/layers.KnownAttention; 0 = none). Needs skips and mask_channel; starts as the
    # identity, so a net grown by it starts as the net it was (--init).
    attention: int = 0

    @property
    def in_channels(self) -> int:
        """Channels of the generator's input: RGB, and the mask with ``mask_channel``."""
        return self.nc + int(self.mask_channel)

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
    # Share of samples that show the whole image in a square window of its longer side, mirrored past
    # its shorter sides: what ``inpaint`` feeds a whole-image net for a hole spanning the photo
    # (issue 23; 0 = only random crops)
    window_views: float = 0.0
    val_fraction: float = 0.0  # seeded hold-out, never trained on
    workers: int = 2
    cache: bool = True  # decode every image once into memory (uint8)
    resample: str = "bicubic"  # bicubic | bilinear (the original's image.scale)

    def resolved_load_size(self, image_size: int) -> int:
        return self.load_size or round(image_size * 350 / 128)


@dataclass(frozen=True)
class MaskConfig:
    kind: str = "center"  # center | block | region | folder | none
    folder: str = ""  # PNG masks (white = hole) for kind == "folder"
    # kind == "region": per-image (fresh noise and crop per image) | lua (train_random.lua's one
    # 10000² pattern drawn once from the seed, a random crop of it per sample) | lua-batch (the
    # same pattern, one crop per step shared by the whole global batch, as train_random.lua).
    # docs/fidelity.md
    region_masks: str = "per-image"
    # With loss.paste = poisson: PNG masks whose crops give the photo's hole inside a center net's
    # hidden square (as ``inpaint`` meets holes: the net hides the square, the photo's hole is any
    # part of it); empty = the whole square. A quarter of the samples keep the whole square.
    paste_folder: str = ""
    # kind == "folder": keep only the masks hiding between share_min and share_max of the image (at
    # the model's size), e.g. 0.1-0.5 as the photos protocol draws them; and replace this share of
    # the samples' masks by a box (masks.box_mask: half the center S/2 square, half a random
    # rectangle of 10-50 % of the image), as the center protocols and boxes on photos hide.
    share_min: float = 0.0
    share_max: float = 1.0
    box_share: float = 0.0


@dataclass(frozen=True)
class LossConfig:
    kind: str = "joint"  # l2 | adv | joint
    rec: str = "l2"  # l2 (paper) | log-l2: per-image log MSE, i.e. the mean PSNR (losses.py)
    w_rec: float = 0.999
    w_adv: float = 0.001
    ring_weight: float = 10.0  # L2 weight of the overlap ring relative to the hole
    # L2 weights around an arbitrary hole (whole-image nets): ring (ours: 1 in the hole, ring_weight
    # within overlap px of it, 0 elsewhere) | lua-uniform (train_random.lua useOverlapPred=0, its
    # README command: 1 everywhere) | lua-context (useOverlapPred=1: 1 in the hole, ring_weight on
    # all the context). docs/fidelity.md
    weighting: str = "ring"
    # hard (the paper): the loss on the raw prediction. poisson (a deviation): on the prediction
    # Poisson-pasted over the hole, as ``inpaint`` writes it (training/paste.py), plus
    # ``raw_weight`` x the paper's loss on the raw prediction to keep its colours anchored.
    paste: str = "hard"
    raw_weight: float = 0.1
    # A second, onion pass in each step (a deviation, with ``paste: poisson``): the hole deeper than
    # ``onion`` px is hidden again and filled by the net with the first pass's pasted fill as its
    # context ring, and the loss of that pass is added (training/step.py, onion_term). 0 = off.
    onion: int = 0


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
    val_every: int = 500  # steps between held-out loss / PSNR rows (with data.val_fraction > 0)


@dataclass(frozen=True)
class InpaintConfig:
    """How a trained generator fills holes in photos: read by ``Inpainter``, the CLI and the server.

    ``blend`` pastes the prediction (hard: the original's paste; feather: a blurred edge; poisson:
    the prediction's gradients with the photo's values on the hole's border, measured best in
    docs/MODEL_CARD.md). A hole is filled whole in one window, however far downscaled, then refined
    at finer scales near its border down to ``finest_scale`` (1 = the photo's own pixels; larger
    is faster and blurrier at the border, never seamed), and on large photos no finer than the
    scale at which the photo's longer side is ``finest_side`` px (0 = no such bound): the net
    sees a 4 MP photo as it sees a 1.3 MP one, 1.5-1.7x faster at 4-12 MP with the same PSNR
    (docs/benchmarks.md);
    ``smooth``: a whole-image net's predictions get a [1, 2, 1]² filter at model size, which
    removes its up-convolutions' 2-px stripes (streaks on large photos; PSNR unchanged to 0.01 dB);
    ``batch_size`` windows go through the generator at once; ``flip_tta`` averages each
    prediction with that of the mirrored window (2x compute). ``precision``: the generator's
    arithmetic (auto: bf16 on CPUs with native bf16, 3x faster there, else fp32). ``onion`` > 0:
    a second pass over the hole deeper than that many px, with the first fill around it as context
    (about 2x the time; 0 = one pass).
    """

    blend: str = "poisson"
    feather_px: int = 8
    finest_scale: float = 2.0
    finest_side: int = 640
    smooth: bool = True
    batch_size: int = 16
    flip_tta: bool = False
    precision: str = "auto"
    onion: int = 0

    def finest(self, shape: tuple[int, int]) -> float:
        """The finest refinement scale for a photo of ``shape`` (H, W): ``finest_scale``, or coarser
        on a photo whose longer side exceeds ``finest_scale * finest_side``."""
        return max(self.finest_scale, max(shape) / self.finest_side) if self.finest_side else self.finest_scale

    def __post_init__(self) -> None:
        checks = [
            (self.blend in BLENDS, f"blend must be one of {', '.join(BLENDS)}, got '{self.blend}'"),
            (isinstance(self.feather_px, int) and 1 <= self.feather_px <= 256, "feather must be in [1, 256] px"),
            (math.isfinite(self.finest_scale) and 1 <= self.finest_scale <= 64, "finest-scale must be in [1, 64]"),
            (isinstance(self.finest_side, int) and (self.finest_side == 0 or 128 <= self.finest_side <= 65536),
             "finest-side must be 0 (no bound) or in [128, 65536] px"),
            (isinstance(self.batch_size, int) and 1 <= self.batch_size <= 1024, "batch-size must be in [1, 1024]"),
            (self.precision in INPAINT_PRECISIONS,
             f"precision must be one of {', '.join(INPAINT_PRECISIONS)}, got '{self.precision}'"),
            (isinstance(self.onion, int) and 0 <= self.onion <= 4096, "onion must be in [0, 4096] px"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


@dataclass(frozen=True)
class SegmentConfig:
    """The segmentation transfer probe (the paper's Table 2 FCN fine-tuning, sized for a CPU).

    Images are resized to ``height`` × ``width`` (bicubic; labels nearest). Label values
    ``0 .. n_classes - 1`` are classes; ``void`` (CamVid's 11) is ignored in the loss and the
    metric, and so is every value >= ``n_classes`` when ``void`` is None. Encoder and head are
    trained together with Adam (``encoder_lr`` for the pre-trained layers, ``lr`` for the new
    head) for ``epochs`` passes with random horizontal flips; the epoch is chosen on val mIoU.
    The defaults are CamVid's 11 classes at half resolution, one probe in about 3 minutes on
    2 CPU cores.
    """

    height: int = 180
    width: int = 240
    n_classes: int = 11
    void: int | None = 11
    epochs: int = 8
    batch_size: int = 16
    lr: float = 1e-3
    encoder_lr: float = 1e-4
    seed: int = 0

    def __post_init__(self) -> None:
        checks = [
            (64 <= self.height <= MAX_IMAGE_SIZE and 64 <= self.width <= MAX_IMAGE_SIZE,
             f"--height and --width must be in [64, {MAX_IMAGE_SIZE}] px, got {self.height}×{self.width}"),
            (2 <= self.n_classes <= 255, f"--classes must be in [2, 255], got {self.n_classes}"),
            (self.void is None or self.n_classes <= self.void <= 255,
             f"--void must be 'any' or a label value in [--classes, 255] = [{self.n_classes}, 255], got {self.void}"),
            (self.epochs >= 1, "--epochs must be >= 1"),
            (self.batch_size >= 1, "--batch-size must be >= 1"),
            (_finite(self.lr, self.encoder_lr) and self.lr > 0 and self.encoder_lr >= 0,
             "--lr must be > 0 and --encoder-lr >= 0 (0 freezes the encoder), both finite"),
            (0 <= self.seed < 2**32, f"--seed must be in [0, 2^32), got {self.seed}"),
        ]
        _raise_first(checks)


@dataclass(frozen=True)
class Task:
    """What a training run learns, decided by :func:`task_of` alone (docs/fidelity.md).

    ``name``: center (the center net predicts the hidden center square from its context:
    train.lua), whole-image (the net outputs the whole image, whatever the hole: train_random.lua,
    the AlexNet net, a center net with ``full_image``) or autoencoder (nothing hidden, every pixel
    weighs 1 in the loss: ``--arch autoencoder``, or any arch with ``--mask none``).
    ``disc_on_center``: the discriminator sees the center square (the hole is the center square),
    else the whole image.
    """

    name: str
    disc_on_center: bool

    @property
    def predicts_center(self) -> bool:
        return self.name == "center"

    @property
    def hides_nothing(self) -> bool:
        return self.name == "autoencoder"


def task_of(cfg: TrainConfig) -> Task:
    """The one place where ``arch``, ``mask.kind`` and ``full_image`` decide what a run learns."""
    m, kind = cfg.model, cfg.mask.kind
    if m.arch == "autoencoder" or kind == "none":
        name = "autoencoder"
    elif m.arch == "center" and kind == "center" and not m.full_image:
        name = "center"
    else:
        name = "whole-image"
    return Task(name, disc_on_center=name != "autoencoder" and kind == "center")


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


_SCALARS: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float, str), "str": (str,), "bool": (bool,)}
_TYPE_NAMES = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false"}


def _typed(kind: str, value: Any, name: str) -> Any:
    """``value`` checked against a field's type (``kind``: int | float | str | bool), one-line errors.

    Numbers are accepted for float fields, and so are numeric strings: YAML 1.1 reads ``2e-3``
    as a string.
    """
    ok = isinstance(value, _SCALARS[kind]) and not (kind in ("int", "float") and isinstance(value, bool))
    if ok and kind == "float":
        try:
            value = float(value)
        except ValueError:
            ok = False
    if not ok:
        raise ValueError(f"{name} must be {_TYPE_NAMES[kind]}, got {value!r}")
    return value


def _build(cls: type, values: Any, where: str) -> Any:
    if not isinstance(values, dict):
        what = f"'{where.rstrip('.')}'" if where else "a config"
        raise ValueError(f"{what} must be a mapping of keys to values, got {type(values).__name__} {values!r}"[:200])
    types = {f.name: f.type for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in types:
            raise ValueError(f"unknown config key '{where}{key}'")
        if cls is TrainConfig and key in _SECTIONS:
            kwargs[key] = _build(_SECTIONS[key], {} if value is None else value, f"{where}{key}.")
        elif key == "data" and cls is DataConfig:
            folders = tuple(value) if isinstance(value, (list, tuple)) else (value,)
            kwargs[key] = tuple(_typed("str", v, f"{where}{key}") for v in folders)
        else:
            kwargs[key] = _typed(types[key], value, f"{where}{key}")
    return cls(**kwargs)


def model_config_from_dict(values: Any) -> ModelConfig:
    """A validated ModelConfig from a dict (model.json, safetensors metadata). Raises ValueError."""
    cfg = _build(ModelConfig, values, "model.")
    validate_model(cfg)
    return cfg


def train_config_from_dict(values: dict[str, Any]) -> TrainConfig:
    """Build a TrainConfig from a nested dict (YAML/JSON), validating keys and values."""
    cfg = _build(TrainConfig, values, "")
    # Arbitrary holes need a whole-image output; the autoencoder reconstructs the whole image.
    # (The AlexNet net always outputs the whole image: its full_image stays unset.)
    if task_of(cfg).name != "center" and cfg.model.arch != "alexnet":
        cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, full_image=True))
    validate(cfg)
    return cfg


def read_config_file(path: str | Path, what: str = "config") -> dict[str, Any]:
    """The mapping in a YAML (or JSON) file such as ``--config``; one-line ValueError otherwise."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{what} {path} is a folder, not a file")
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ValueError(f"{what} {path} is over {MAX_CONFIG_BYTES // 1024} KB: not a config file")
    import yaml  # here, not at the top: only commands that read a config file pay for it

    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ValueError(f"{what} {path} is not UTF-8 text: {err.reason}") from err
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        reason = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ValueError(f"cannot parse {what} {path}{where}: {reason}") from err
    except RecursionError as err:
        raise ValueError(f"cannot parse {what} {path}: nested too deeply") from err
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ValueError(f"{what} {path} must hold a mapping of keys to values, got a {type(values).__name__}")
    return values


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` into a copy of ``base``."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


# Bounds that keep a model buildable: the paper's nets use 64-wide layers and a 4000-channel
# bottleneck; 10^9 channels would ask for terabytes.
MAX_WIDTH = 1024
MAX_BOTTLENECK = 16384
MAX_IMAGE_SIZE = 1024
MAX_RES_BLOCKS = 4  # per decoder resolution


def validate_model(m: ModelConfig) -> None:
    """Raise ValueError with one clear message on the first invalid model setting."""
    checks = [
        (m.arch in ARCHS, f"arch must be one of {', '.join(ARCHS)}, got '{m.arch}'"),
        (m.nc == 3, f"nc must be 3 (RGB), got {m.nc}"),
        (m.disc_widths in DISC_WIDTHS, f"disc-widths must be one of {', '.join(DISC_WIDTHS)}, got '{m.disc_widths}'"),
        (1 <= m.bottleneck <= MAX_BOTTLENECK, f"bottleneck must be in [1, {MAX_BOTTLENECK}], got {m.bottleneck}"),
        (m.hole_fill in HOLE_FILLS, f"hole-fill must be one of {', '.join(HOLE_FILLS)}, got '{m.hole_fill}'"),
        (not m.skips or (m.arch in ("center", "autoencoder") and m.output_size == m.image_size),
         "skips (U-Net skip connections) need a whole-image net: --arch center with --mask block | region | "
         "folder"),
        (not m.mask_channel or m.arch == "center", "mask-channel needs --arch center"),
        (0 <= m.res_blocks <= MAX_RES_BLOCKS and (not m.res_blocks or m.arch in ("center", "autoencoder")),
         f"res-blocks must be in [0, {MAX_RES_BLOCKS}] and needs --arch center or autoencoder, got {m.res_blocks}"),
        (not m.attention or (m.skips and m.mask_channel and 8 <= m.attention <= m.image_size // 2
                               and m.attention & (m.attention - 1) == 0),
         f"attention must be 0 or a power of two in [8, image_size / 2] px, with skips and mask-channel, "
         f"got {m.attention}"),
    ]
    for name in ("nef", "ngf", "ndf"):
        value = getattr(m, name)
        checks.append((1 <= value <= MAX_WIDTH, f"{name} must be in [1, {MAX_WIDTH}], got {value}"))
    size = m.image_size
    if m.arch == "alexnet":
        checks.append((96 <= size <= MAX_IMAGE_SIZE, f"alexnet arch needs --image-size in [96, {MAX_IMAGE_SIZE}]"))
    else:
        ok = 32 <= size <= MAX_IMAGE_SIZE and (size & (size - 1)) == 0
        checks.append((ok, f"{m.arch} arch needs a power-of-two --image-size in [32, {MAX_IMAGE_SIZE}], got {size}"))
    checks.append((m.overlap >= -1 and 0 <= m.overlap_px < size // 4, "overlap must be < image_size / 4"))
    _raise_first(checks)


def validate_max_pixels(value: float) -> int:
    """The ``--max-pixels`` budget as an int; raises ValueError unless it is a positive finite number."""
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 1):
        raise ValueError(f"max-pixels must be a positive number of pixels, got {value}")
    return int(value)


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


def _task_checks(cfg: TrainConfig) -> list[tuple[bool, str]]:
    """The settings :func:`task_of` would leave unread, refused rather than silently ignored."""
    task, m, kind, loss = task_of(cfg), cfg.model, cfg.mask.kind, cfg.loss
    return [
        (m.arch != "autoencoder" or kind in ("center", "none"),
         f"--arch autoencoder hides nothing, so --mask {kind} would be ignored: give --mask none, or "
         f"--arch center (a whole-image net) to learn {kind} holes"),
        (not cfg.mask.folder or kind == "folder", f"--mask-dir is read only with --mask folder (got --mask {kind})"),
        (cfg.mask.region_masks in REGION_MASKS,
         f"region-masks must be one of {', '.join(REGION_MASKS)}, got '{cfg.mask.region_masks}'"),
        (cfg.mask.region_masks == "per-image" or kind == "region",
         f"--region-masks is read only with --mask region (got --mask {kind})"),
        (_finite(cfg.mask.share_min, cfg.mask.share_max, cfg.mask.box_share)
         and 0 <= cfg.mask.share_min < cfg.mask.share_max <= 1 and 0 <= cfg.mask.box_share <= 1,
         "mask share-min < share-max and box-share must lie in [0, 1]"),
        ((cfg.mask.share_min, cfg.mask.share_max, cfg.mask.box_share) == (0.0, 1.0, 0.0) or kind == "folder",
         f"mask share-min, share-max and box-share are read only with --mask folder (got --mask {kind})"),
        (m.arch != "alexnet" or not m.full_image, "model.full_image is for the center net: the AlexNet net always "
         "outputs the whole image"),
        (task.predicts_center == m.predicts_center,  # a TrainConfig built by hand, not by train_config_from_dict
         f"model.full_image must be true for a {task.name} run (arch {m.arch}, mask {kind})"),
        (not task.hides_nothing or loss.paste == "hard",
         "--paste poisson pastes the prediction into a hole: an autoencoder (--arch autoencoder or --mask none) "
         "hides nothing"),
        (not task.hides_nothing or loss.ring_weight == LossConfig.ring_weight,
         "--ring-weight would be ignored: an autoencoder (--arch autoencoder or --mask none) weighs every pixel 1"),
        (loss.weighting == "ring" or (task.name == "whole-image" and loss.paste == "hard"),
         "l2-weighting lua-* is train_random.lua's loss: it needs a whole-image net with a hole "
         "(--mask block | region | folder, or --arch alexnet) and --paste hard"),
        (not cfg.mask.paste_folder or (loss.paste == "poisson" and task.predicts_center),
         "paste-folder needs --paste poisson and a center net (it picks the hole inside the hidden square)"),
    ]


def validate(cfg: TrainConfig) -> None:
    """Raise ValueError with one clear message on the first invalid value."""
    validate_model(cfg.model)
    o, loss, d = cfg.optim, cfg.loss, cfg.data
    checks = [
        (cfg.mask.kind in MASKS, f"mask must be one of {MASKS}, got '{cfg.mask.kind}'"),
        (loss.kind in LOSSES, f"loss must be one of {LOSSES}, got '{loss.kind}'"),
        (loss.rec in REC_LOSSES, f"rec-loss must be one of {REC_LOSSES}, got '{loss.rec}'"),
        (loss.paste in TRAIN_PASTES, f"loss paste must be one of {TRAIN_PASTES}, got '{loss.paste}'"),
        (_finite(loss.raw_weight) and loss.raw_weight >= 0, "raw-weight must be finite and >= 0"),
        (loss.onion >= 0, f"onion must be >= 0, got {loss.onion}"),
        (loss.onion == 0 or loss.paste == "poisson", "onion passes need the Poisson paste (loss paste: poisson)"),
        (loss.weighting in WEIGHTINGS, f"l2-weighting must be one of {', '.join(WEIGHTINGS)}, got '{loss.weighting}'"),
        *_task_checks(cfg),
        (cfg.precision in PRECISIONS, f"precision must be one of {PRECISIONS}"),
        (cfg.device in DEVICES, f"device must be one of {DEVICES}"),
        (cfg.channels_last in ("auto", "on", "off"), "channels-last must be auto, on or off"),
        (cfg.batch_size >= 1, "batch-size must be >= 1"),
        (cfg.steps >= 0 and cfg.epochs >= 0, "steps and epochs must be >= 0"),
        (cfg.steps > 0 or cfg.epochs > 0, "set --steps or --epochs to bound the run"),
        (0 <= cfg.seed < 2**32, f"seed must be in [0, 2^32), got {cfg.seed}"),
        (bool(cfg.out), "out (the run directory) must not be empty"),
        (min(cfg.log_every, cfg.sample_every, cfg.ckpt_every, cfg.val_every) >= 1,
         "log-every, sample-every, ckpt-every and val-every must be >= 1"),
        (0.0 <= d.val_fraction < 1.0, "val-fraction must be in [0, 1)"),
        (d.workers >= 0, "workers must be >= 0"),
        (d.resample in RESAMPLES, f"resample must be one of {', '.join(RESAMPLES)}, got '{d.resample}'"),
        (d.load_size >= 0 and d.min_load_size >= 0, "load-size and min-load-size must be >= 0"),
        (0.0 <= d.window_views <= 1.0, f"window-views must be in [0, 1], got {d.window_views}"),
        (_finite(o.lr_g, o.lr_d) and o.lr_g > 0 and o.lr_d > 0, "learning rates must be finite and > 0"),
        (0.0 <= o.beta1 < 1.0 and 0.0 <= o.beta2 < 1.0, "Adam betas must be in [0, 1)"),
        (o.lr_schedule in ("constant", "cosine"), "lr-schedule: constant | cosine"),
        (_finite(loss.w_rec, loss.w_adv, loss.ring_weight) and min(loss.w_rec, loss.w_adv, loss.ring_weight) >= 0,
         "loss weights and ring-weight must be finite and >= 0"),
        (len(d.data) > 0, "no data folder given (--data DIR)"),
        (d.min_load_size <= d.resolved_load_size(cfg.model.image_size), "min-load-size must be <= load-size"),
        (d.min_load_size == 0 or d.min_load_size >= cfg.model.image_size,
         "min-load-size must be 0 or >= image-size"),
        (0.0 <= o.ema < 1.0, "ema must be in [0, 1)"),
        (cfg.mask.kind != "folder" or bool(cfg.mask.folder), "--mask folder needs --mask-dir"),
    ]
    _raise_first(checks)


def _raise_first(checks: list[tuple[bool, str]]) -> None:
    for ok, message in checks:
        if not ok:
            raise ValueError(message)
