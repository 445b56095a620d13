"""Filling holes in photos with a trained context encoder (Sec. 5.1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from context_encoder.checkpoint import load_generator
from context_encoder.data import float_to_uint8, to_rgb, uint8_to_float
from context_encoder.device import resolve_device
from context_encoder.inference import inpaint_tensor
from context_encoder.masks import center_mask


def inpaint_center_file(image: Path, output: Path, *, checkpoint: Path, device: str = "auto") -> None:
    """Resize ``image`` to the model's size, fill its center hole, write ``output``."""
    dev = resolve_device(device)
    gen, cfg = load_generator(checkpoint, dev)
    with Image.open(image) as raw:
        img = to_rgb(raw).resize((cfg.image_size, cfg.image_size), Image.BICUBIC)
    x = uint8_to_float(torch.from_numpy(np.array(img)).permute(2, 0, 1)[None]).to(dev)
    mask = center_mask(1, cfg.image_size, cfg.overlap_px).to(dev)
    out = float_to_uint8(inpaint_tensor(gen, x, mask, cfg))[0].permute(1, 2, 0).cpu().numpy()
    output.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(out).save(output)
