"""What the packaged net gives at test time beyond one pass (issue 23, seventh round).

On the ``photos`` protocol (photos at their own size, held-out masks of 10-50 %, the first
``--limit`` photos as the training curves score them), beside one pass of the default path:

- ``passes``: onion passes. After the first fill, the hole deeper than r px is hidden again and
  filled by a second ``inpaint`` whose context includes the first fill's outer ring (r = 4: one more
  pass; "4,8": two more, each deeper).
- ``harmonic-ring``: the same, but the first fill is the harmonic fill (is it the net's ring that
  helps, or any smoother start?).
- ``alpha``: the net's prediction scaled by alpha before the Poisson paste, i.e. the harmonic fill
  plus alpha x the net's detail (the paste is linear in the prediction).
- ``adapt``: test-time training on the photo itself. K Adam steps on crops of the photo's known
  pixels at the coarse window's scale and at scale 2, each hiding the photo's own hole shifted and
  flipped (and its real hole, which is never scored), the loss taken through the Poisson paste.
- ``blend``: the default fill averaged with another net's (``--blend-with``, the paper's center net
  by default) at weight w: an ensemble of two differently built and trained nets.
- ``transfer``: the photo and its hole brought down to a longer side of N px and filled there; the
  fill's residual over the harmonic fill at that size, upscaled (bicubic), added to the harmonic
  fill at the photo's own size (does the gain at the net's scale carry over by itself?).

- ``finest-scale``: refinement windows down to that scale (1 = the photo's own pixels; the default
  is 2), the rest of the default path unchanged.

``--center-full`` scores the ``center`` protocol with the whole 64×64 square hidden (all crops)
instead of photos.

    python benchmarks/test_time_variants.py --data ../shared/data/bsd100 --passes 4 4,8 3,6,9,12 \
        --harmonic-ring 4 --alpha 0.8 1.25 --adapt 20:1e-4 20:1e-5

``--checkpoint`` scores another net than the packaged default (a training run's step, say).

``--large ../shared/data`` scores the four 1920×1280 painted holes of the large-photo check instead
(``harmonic_figure.PHOTOS`` upscaled 4× with painted holes of seeds 0-2, and ``img_087`` with seed 7).

Prints each variant's mean PSNR over the hole, its gain over one pass and its seconds per photo.
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable, Sequence

import cv2
import numpy as np
import torch
from harmonic_figure import PHOTOS, SCALE, painted_hole
from PIL import Image
from torch import nn

from context_encoder.config import InpaintConfig
from context_encoder.data import uint8_to_float
from context_encoder.evaluation.baselines import harmonic_inpaint
from context_encoder.evaluation.evaluate import build_set
from context_encoder.evaluation.protocol import score
from context_encoder.inpainting.inpainter import Inpainter
from context_encoder.losses import reconstruction_loss
from context_encoder.masks import net_input
from context_encoder.training.paste import poisson_paste

Fill = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (photo with hole zeroed (H, W, 3) u8, hole (H, W) bool) -> u8


class _Scaled(nn.Module):
    """The generator's prediction times ``alpha``."""

    def __init__(self, generator: nn.Module, alpha: float) -> None:
        super().__init__()
        self.generator, self.alpha = generator, alpha

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.generator(x) * self.alpha


def onion(inpainter: Inpainter, depths: Sequence[int], *, harmonic_first: bool = False) -> Fill:
    """One pass (the harmonic fill with ``harmonic_first``), then one more pass of the net per depth
    r over the hole pixels deeper than r px."""
    def fill(given: np.ndarray, hole: np.ndarray) -> np.ndarray:
        first = harmonic_inpaint(given[None], hole[None])[0] if harmonic_first else inpainter.inpaint(given, hole)
        out = np.where(hole[..., None], np.asarray(first), given)
        depth = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 3)
        for r in depths:
            deep = depth > r
            if not deep.any():
                break
            out = np.where(deep[..., None], np.asarray(inpainter.inpaint(np.where(deep[..., None], 0, out), deep)), out)
        return out
    return fill


def blended(base: Inpainter, other: Inpainter, weight: float) -> Fill:
    """(1 - weight) x the default fill + weight x ``other``'s."""
    def fill(given: np.ndarray, hole: np.ndarray) -> np.ndarray:
        a = np.asarray(base.inpaint(given, hole)).astype(np.float64)
        b = np.asarray(other.inpaint(given, hole)).astype(np.float64)
        return np.clip(np.rint((1 - weight) * a + weight * b), 0, 255).astype(np.uint8)
    return fill


def transferred(base: Inpainter, side: int) -> Fill:
    """The harmonic fill plus the upscaled residual of the fill at a longer side of ``side`` px."""
    def fill(given: np.ndarray, hole: np.ndarray) -> np.ndarray:
        (h, w), k = hole.shape, side / max(hole.shape)
        size = (max(1, round(w * k)), max(1, round(h * k)))
        small = cv2.resize(given, size, interpolation=cv2.INTER_AREA)
        small_hole = cv2.resize(hole.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0
        small = np.where(small_hole[..., None], np.uint8(0), small)
        filled = np.asarray(base.inpaint(small, small_hole)).astype(np.float32)
        residual = np.where(small_hole[..., None], filled - harmonic_inpaint(small[None], small_hole[None])[0], 0)
        up = cv2.resize(residual.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
        harmonic = harmonic_inpaint(given[None], hole[None])[0].astype(np.float32)
        return np.clip(np.rint(harmonic + up), 0, 255).astype(np.uint8)
    return fill


def _crop_sample(filled: np.ndarray, hole: np.ndarray, scale: float, size: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """A size×size crop of the photo brought down by ``scale`` (mirrored when smaller): (image
    (S, S, 3) u8, its real hole (S, S) bool, a synthetic hole (S, S) bool over known pixels only)."""
    h, w = max(1, round(hole.shape[0] / scale)), max(1, round(hole.shape[1] / scale))
    img = cv2.resize(filled, (w, h), interpolation=cv2.INTER_AREA)
    real = cv2.resize(hole.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) > 0
    ph, pw = max(0, size - h), max(0, size - w)
    if ph or pw:
        pads = (ph // 2, ph - ph // 2, pw // 2, pw - pw // 2)
        img = cv2.copyMakeBorder(img, *pads, cv2.BORDER_REFLECT_101)
        real = cv2.copyMakeBorder(real.astype(np.uint8), *pads, cv2.BORDER_REFLECT_101) > 0
    for _ in range(50):
        y, x = int(rng.integers(0, img.shape[0] - size + 1)), int(rng.integers(0, img.shape[1] - size + 1))
        shifted = np.roll(real, (int(rng.integers(0, real.shape[0])), int(rng.integers(0, real.shape[1]))), (0, 1))
        shifted = shifted[::-1] if rng.random() < 0.5 else shifted
        shifted = shifted[:, ::-1] if rng.random() < 0.5 else shifted
        crop_real = real[y : y + size, x : x + size]
        synthetic = shifted[y : y + size, x : x + size] & ~crop_real
        if synthetic.sum() > 30:
            return img[y : y + size, x : x + size], crop_real, synthetic
    return None


def adapted(base: Inpainter, steps: int, lr: float, batch: int, seed: int = 0) -> Fill:
    """Fine-tune a copy of the net on the photo's own known pixels (through the paste), then fill."""
    cfg, size = base.cfg, base.cfg.image_size

    def fill(given: np.ndarray, hole: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng(seed)
        gen = copy.deepcopy(base.generator).eval()  # BatchNorm keeps its running statistics
        filled = harmonic_inpaint(given[None], hole[None])[0]
        scales = (max(hole.shape) / size, 2.0)
        opt = torch.optim.Adam(gen.parameters(), lr=lr, betas=(0.5, 0.999))
        for _ in range(steps):
            drawn = [_crop_sample(filled, hole, scales[j % 2], size, rng) for j in range(batch)]
            drawn = [d for d in drawn if d is not None]
            if not drawn:
                break
            images = uint8_to_float(torch.from_numpy(np.stack([d[0] for d in drawn])).permute(0, 3, 1, 2))
            real = torch.from_numpy(np.stack([d[1] for d in drawn]))[:, None].float()
            synthetic = torch.from_numpy(np.stack([d[2] for d in drawn]))[:, None].float()
            pred = gen(net_input(images, ((real + synthetic) > 0).float(), cfg))
            pasted = poisson_paste(pred.float(), images, synthetic[:, 0] > 0)
            loss = reconstruction_loss(pasted, images, synthetic)  # the MSE over the synthetic hole
            opt.zero_grad()
            loss.backward()
            opt.step()
        return np.asarray(Inpainter(gen, cfg, device=base.device, config=base.config).inpaint(given, hole))
    return fill


def large_photos(root: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The large-photo check: (photos (H, W, 3) u8, painted holes (H, W) bool), 1920×1280 each."""
    images, holes = [], []
    for name, seed in [*zip(PHOTOS, range(3)), (PHOTOS[2], 7)]:
        photo = Image.open(f"{root}/{name}").convert("RGB")
        image = np.asarray(photo.resize((photo.width * SCALE, photo.height * SCALE), Image.BICUBIC))
        images.append(image)
        holes.append(painted_hole(*image.shape[:2], seed))
    return images, holes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="folder of held-out photos")
    ap.add_argument("--large", metavar="DATA_ROOT", help="score the four large painted holes instead")
    ap.add_argument("--masks", default="runs/masks/heldout", help="held-out masks (scripts/split_masks.py)")
    ap.add_argument("--limit", type=int, default=20, help="photos, evenly spaced (the curves' 20)")
    ap.add_argument("--passes", nargs="*", default=[], help="depth schedules of onion passes, e.g. 4 4,8")
    ap.add_argument("--onion", nargs="*", default=[], help="depths of Inpainter's own onion pass (InpaintConfig.onion)")
    ap.add_argument("--harmonic-ring", nargs="*", default=[], help="depth schedules after a harmonic first fill")
    ap.add_argument("--alpha", nargs="*", type=float, default=[], help="prediction scales")
    ap.add_argument("--adapt", nargs="*", default=[], help="STEPS:LR of test-time training")
    ap.add_argument("--batch", type=int, default=8, help="crops per test-time training step")
    ap.add_argument("--blend", nargs="*", type=float, default=[], help="weights of --blend-with's fill")
    ap.add_argument("--blend-with", default="pretrained-center", help="the other net of --blend")
    ap.add_argument("--transfer", nargs="*", type=int, default=[], help="longer sides (px) to fill at")
    ap.add_argument("--finest-scale", nargs="*", type=float, default=[], help="finest refinement scales")
    ap.add_argument("--center-full", action="store_true", help="score the center protocol, 64x64 hidden")
    ap.add_argument("--checkpoint", default="pretrained",
                    help="the net: 'pretrained' (the packaged default) or a checkpoint (run, step folder, file)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    protocol = "center" if args.center_full else "photos"
    if args.large:
        images, holes = large_photos(args.large)
    elif args.data and args.center_full:
        crops, _ = build_set("center", data=args.data, mask_dir=None, seed=0, max_side=0,
                             hole_share=(0.0, 100.0), overlap=lambda: 0)
        images, holes = crops.images, crops.masks
    elif args.data:
        photos, _ = build_set("photos", data=args.data, mask_dir=args.masks, seed=0, max_side=0,
                              hole_share=(10.0, 50.0), overlap=lambda: 0, limit=args.limit)
        images, holes = photos.images, photos.masks
    else:
        ap.error("give --data or --large")
    base = Inpainter.from_checkpoint(args.checkpoint, "cpu")
    variants: dict[str, Fill] = {"one pass (default)": onion(base, [])}
    variants |= {f"passes {p}": onion(base, [int(v) for v in p.split(",")]) for p in args.passes}
    variants |= {f"InpaintConfig(onion={r})": onion(Inpainter(base.generator, base.cfg, device=base.device,
                                                              config=InpaintConfig(onion=int(r))), [])
                 for r in args.onion}
    variants |= {f"harmonic, then passes {p}": onion(base, [int(v) for v in p.split(",")], harmonic_first=True)
                 for p in args.harmonic_ring}
    variants |= {f"alpha {a:g}": onion(Inpainter(_Scaled(base.generator, a), base.cfg, device=base.device,
                                                 config=base.config), []) for a in args.alpha}
    for spec in args.adapt:
        steps, lr = spec.split(":")
        variants[f"adapt {steps} steps, lr {lr}"] = adapted(base, int(steps), float(lr), args.batch)
    if args.blend:
        other = Inpainter.from_checkpoint(args.blend_with, "cpu")
        variants |= {f"blend {w:g} of {args.blend_with}": blended(base, other, w) for w in args.blend}
    variants |= {f"transfer from {n} px": transferred(base, n) for n in args.transfer}
    variants |= {f"finest scale {f:g}": onion(Inpainter(base.generator, base.cfg, device=base.device,
                                                        config=InpaintConfig(finest_scale=f)), [])
                 for f in args.finest_scale}
    first = None
    for name, fill in variants.items():
        psnrs, seconds = [], []
        for image, hole in zip(images, holes):
            given = np.where(hole[..., None], np.uint8(0), image)
            start = time.perf_counter()
            out = fill(given, hole)
            seconds.append(time.perf_counter() - start)
            psnrs.append(score(np.where(hole[..., None], out, image), image, hole, protocol)["psnr"])
        mean = float(np.mean(psnrs))
        first = mean if first is None else first
        print(f"{name:32s} {mean:6.3f} dB  {mean - first:+.3f}  {np.mean(seconds):5.2f} s/photo", flush=True)


if __name__ == "__main__":
    main()
