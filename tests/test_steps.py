"""Numerics guard: the fast training step computes what the plain reference step computes.

20 steps from the same seed on the same batches and masks. The fast path differs only by
autocast (bf16 where the CPU supports it), matmul kernels for the bottleneck convs and reusing
the discriminator's logits on the fake batch for the generator loss (as the original Lua code
does). Stated tolerance: reconstruction and generator losses within 1 % of the reference at every
step, the discriminator loss within 5 %.
"""

from __future__ import annotations

import math

import pytest
import torch

from context_encoder.config import train_config_from_dict
from context_encoder.device import setup_runtime
from context_encoder.training.loop import build_gan, mask_sampler_for
from context_encoder.training.step import disc_view, prepare_batch, reference_step, train_step


@pytest.mark.parametrize("precision", ["fp32", "auto"])
def test_fast_step_matches_reference_for_20_steps(precision: str) -> None:
    cfg = train_config_from_dict({
        "data": {"data": ["unused"]}, "batch_size": 8, "steps": 20,
        "model": {"image_size": 32, "bottleneck": 64, "nef": 16, "ngf": 16, "ndf": 16},
    })
    g = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8, generator=g) for _ in range(20)]
    masks = mask_sampler_for(cfg)(8, g).to(torch.uint8)
    fast = build_gan(cfg, setup_runtime("cpu", precision), fast=True)
    ref = build_gan(cfg, setup_runtime("cpu", "fp32"), fast=False)
    for i, images in enumerate(batches):
        a, b = train_step(images, masks, fast), reference_step(images, masks, ref)
        for key, tol in (("loss_rec", 0.01), ("loss_g", 0.01), ("loss_d", 0.05)):
            assert a[key].item() == pytest.approx(b[key].item(), rel=tol), (i, key)


# --- Tests that see the GAN: the 1 % tolerance above cannot see a flipped adversarial gradient,
# whose weight in the joint loss is 0.001.

def _tiny(loss: str, **extra: object) -> dict:
    return {"data": {"data": ["unused"]}, "batch_size": 8, "steps": 30, "loss": {"kind": loss, **extra},
            "model": {"image_size": 32, "bottleneck": 32, "nef": 8, "ngf": 8, "ndf": 8}}


def _smooth_batches(n: int, seed: int = 0) -> list[torch.Tensor]:
    """Smooth uint8 images (N, 3, 32, 32): a real distribution a discriminator can tell from noise."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        coarse = torch.rand(8, 3, 4, 4, generator=g)
        img = torch.nn.functional.interpolate(coarse, size=(32, 32), mode="bilinear", align_corners=False)
        out.append((img * 255).round().to(torch.uint8))
    return out


@pytest.mark.parametrize("step", [train_step, reference_step])
def test_discriminator_loss_falls_under_the_adversarial_loss(step) -> None:
    """30 steps of ``--loss adv`` with G held still (lr 0): D learns to tell real centers from G's,
    so its loss falls from 2 ln 2 (chance). Flipped D labels, or a D that is never stepped, leave it
    at or above chance. (With both nets moving at the paper's 10x generator LR this tiny G outruns
    D within a few steps, so D's loss is no test there.)"""
    cfg = train_config_from_dict(_tiny("adv"))
    state = build_gan(cfg, setup_runtime("cpu", "fp32"), fast=step is train_step)
    for group in state.opt_g.param_groups:
        group["lr"] = 0.0
    masks = mask_sampler_for(cfg)(8, torch.Generator().manual_seed(0)).to(torch.uint8)
    batches = _smooth_batches(31)
    losses = [step(images, masks, state)["loss_d"].item() for images in batches[:30]]
    first, last = sum(losses[:3]) / 3, sum(losses[-5:]) / 5
    assert first == pytest.approx(2 * math.log(2), abs=0.3)
    assert last < first - 0.3, losses
    # ... and it learned the right way round (a loss with swapped labels falls as well): on a batch
    # it has not seen, D's logit is higher on the real center than on G's prediction.
    with torch.no_grad():
        _, inp, target, _ = prepare_batch(batches[30], masks, state)
        real = state.discriminator(disc_view(target, state)).mean()
        fake = state.discriminator(disc_view(state.generator(inp), state)).mean()
    assert real > fake + 1.0


@pytest.mark.parametrize("step", [train_step, reference_step])
@pytest.mark.parametrize("loss", [{"kind": "adv"}, {"kind": "joint", "w_rec": 0.0, "w_adv": 1.0}])
def test_generator_step_raises_the_discriminators_logit_on_its_fake(step, loss: dict) -> None:
    """One G step on the adversarial loss, D held still (lr 0): D's logit on the new fake rises,
    i.e. the non-saturating loss pushes G towards 'real'. A flipped sign lowers it."""
    cfg = train_config_from_dict(_tiny(**{k if k != "kind" else "loss": v for k, v in loss.items()}))
    state = build_gan(cfg, setup_runtime("cpu", "fp32"), fast=step is train_step)
    for group in state.opt_d.param_groups:
        group["lr"] = 0.0
    images = _smooth_batches(1)[0]
    masks = mask_sampler_for(cfg)(8, torch.Generator().manual_seed(0)).to(torch.uint8)

    def fake_logit() -> float:
        with torch.no_grad():
            _, inp, _, _ = prepare_batch(images, masks, state)
            return state.discriminator(disc_view(state.generator(inp), state)).mean().item()

    before = fake_logit()
    step(images, masks, state)
    assert fake_logit() > before + 0.01


def test_a_forced_bf16_step_runs_in_bf16_and_tracks_fp32() -> None:
    """``--precision bf16`` on any CPU (native bf16 or not): the nets run under bf16 autocast and
    five joint-loss steps stay within 5 % of the fp32 reference's losses."""
    cfg = train_config_from_dict(_tiny("joint"))
    rt = setup_runtime("cpu", "bf16")
    assert rt.amp_dtype == torch.bfloat16
    fast = build_gan(cfg, rt, fast=True)
    ref = build_gan(cfg, setup_runtime("cpu", "fp32"), fast=False)
    dtypes = []
    fast.generator.register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    masks = mask_sampler_for(cfg)(8, torch.Generator().manual_seed(0)).to(torch.uint8)
    for images in _smooth_batches(5):
        a, b = train_step(images, masks, fast), reference_step(images, masks, ref)
        for key in ("loss_rec", "loss_d", "loss_adv"):
            assert torch.isfinite(a[key])
            assert a[key].item() == pytest.approx(b[key].item(), rel=0.05), key
    assert dtypes and all(d == torch.bfloat16 for d in dtypes)


@pytest.mark.parametrize(("weighting", "hole", "near", "far"),
                         [("ring", 1.0, 10.0, 0.0), ("lua-uniform", 1.0, 1.0, 1.0), ("lua-context", 1.0, 10.0, 10.0)])
def test_region_l2_weighting_of_train_random_lua(weighting: str, hole: float, near: float, far: float) -> None:
    """A whole-image net's L2 weights: ours (a ring), or either of train_random.lua's."""
    cfg = train_config_from_dict({**_tiny("l2", weighting=weighting), "mask": {"kind": "block"}})
    state = build_gan(cfg, setup_runtime("cpu", "fp32"))
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 10:20, 10:20] = 1
    images = torch.zeros(1, 3, 32, 32, dtype=torch.uint8)
    weights = prepare_batch(images, mask.to(torch.uint8), state)[3][0, 0]
    assert (weights[15, 15].item(), weights[15, 9].item(), weights[0, 0].item()) == (hole, near, far)


def test_lua_weighting_is_refused_where_it_would_be_ignored() -> None:
    with pytest.raises(ValueError, match="l2-weighting lua"):
        train_config_from_dict(_tiny("l2", weighting="lua-uniform"))  # the center net, center hole
