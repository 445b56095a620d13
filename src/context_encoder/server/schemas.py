"""The JSON bodies of ``GET /api/v1/health`` and ``GET /api/v1/model``, and how the latter is computed."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from context_encoder.checkpoint import PACKAGED_DEFAULT, PRETRAINED, packaged_weights, resolve_weights
from context_encoder.config import BLENDS, InpaintConfig, ModelConfig
from context_encoder.server.limits import Limits

Blend = Literal[BLENDS]  # type: ignore[valid-type]


class Health(BaseModel):
    """The server is up; ``busy``: a fill is running; ``waiting``: requests queued behind it."""

    status: Literal["ok"] = "ok"
    busy: bool
    waiting: int = Field(ge=0)
    queue_size: int = Field(ge=1)


class InpaintDefaults(BaseModel):
    """How holes are filled when a request does not say (the server's InpaintConfig)."""

    blend: Blend
    feather_px: int
    finest_scale: float
    finest_side: int
    smooth: bool
    batch_size: int
    flip_tta: bool
    precision: str
    onion: int = Field(description="px: a second pass over the hole deeper than this (0 = one pass)")


class LimitsInfo(BaseModel):
    """What one request may send."""

    max_upload_bytes: int
    max_pixels: int
    queue_size: int


class ModelInfo(BaseModel):
    """The model behind the API: ``checkpoint`` as given to ``serve``, ``sha256`` of its weights file."""

    arch: str
    image_size: int = Field(description="side of the model's square input, px")
    checkpoint: str | None
    sha256: str | None = Field(description="SHA-256 of the .safetensors weights, hex")
    inpaint: InpaintDefaults
    limits: LimitsInfo


def weights_sha256(checkpoint: str | Path) -> str:
    """SHA-256 (hex) of the weights file that fills photos for a checkpoint; for "pretrained", the
    packaged default net (``PACKAGED_DEFAULT``)."""
    digest = hashlib.sha256()
    path = packaged_weights(PACKAGED_DEFAULT) if str(checkpoint) == PRETRAINED else resolve_weights(checkpoint)
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def model_info(cfg: ModelConfig, config: InpaintConfig, limits: Limits, *,
               checkpoint: str | Path | None) -> ModelInfo:
    """Describe the served model; ``checkpoint`` None for an Inpainter built in memory (no sha256)."""
    return ModelInfo(
        arch=cfg.arch, image_size=cfg.image_size,
        checkpoint=None if checkpoint is None else str(checkpoint),
        sha256=None if checkpoint is None else weights_sha256(checkpoint),
        inpaint=InpaintDefaults(blend=config.blend, feather_px=config.feather_px, finest_scale=config.finest_scale,
                                finest_side=config.finest_side, smooth=config.smooth,
                                batch_size=config.batch_size, flip_tta=config.flip_tta,
                                precision=config.precision, onion=config.onion),
        limits=LimitsInfo(max_upload_bytes=limits.max_upload_bytes, max_pixels=limits.max_pixels,
                          queue_size=limits.queue_size),
    )
