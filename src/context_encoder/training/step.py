"""One training step of a context encoder (Sec. 3.2 and 5, Algorithm of the original train.lua).

``train_step`` is the fast path used by ``train``: one discriminator forward on the real region
and one on the prediction, whose logits serve both the discriminator loss and the generator's
adversarial loss (the original Lua code reuses them the same way, so the generator's adversarial
gradient comes from the discriminator before its update), bf16/fp16 autocast, channels_last and
no host synchronisation. ``reference_step`` is the straightforward port (three discriminator
forwards, fp32): the baseline of the throughput benchmark and of the numerics test.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from context_encoder.config import LossConfig, ModelConfig, Task
from context_encoder.data import uint8_to_float
from context_encoder.device import Runtime
from context_encoder.geometry import center_box
from context_encoder.losses import (
    adversarial_d_loss,
    adversarial_g_loss,
    generator_loss,
    reconstruction_loss,
    ring_weights,
)
from context_encoder.masks import deeper_than, net_input
from context_encoder.training.ema import WeightEMA
from context_encoder.training.paste import poisson_paste


@dataclass
class TrainState:
    """The nets, optimizers and settings a step needs."""

    generator: nn.Module
    discriminator: nn.Module | None  # None for the L2-only loss
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer | None
    scaler: torch.amp.GradScaler
    model: ModelConfig
    loss: LossConfig
    runtime: Runtime
    task: Task  # center | whole-image | autoencoder, and what the discriminator sees (config.task_of)
    channels_last: bool = True
    ema: WeightEMA | None = None  # moving average of the generator weights (--ema)


def crop_center(x: torch.Tensor) -> torch.Tensor:
    """(N, C, S, S) -> (N, C, S/2, S/2), the predicted center square."""
    lo, hi = center_box(x.shape[-1])
    return x[..., lo:hi, lo:hi]


def prepare_batch(images: torch.Tensor, masks: torch.Tensor, state: TrainState) -> tuple[torch.Tensor, ...]:
    """uint8 images (N,3,S,S) and masks (N,1,S,S) -> (real, masked input, target, L2 weights)."""
    dev = state.runtime.device
    fmt = torch.channels_last if state.channels_last else torch.contiguous_format
    real = uint8_to_float(images.to(dev, non_blocking=True)).contiguous(memory_format=fmt)
    mask = masks.to(dev, non_blocking=True).float()
    inp = net_input(real, mask, state.model).contiguous(memory_format=fmt)
    if state.task.hides_nothing or state.loss.weighting == "lua-uniform":
        weights = torch.ones_like(mask)
    elif state.loss.weighting == "lua-context":
        weights = mask + state.loss.ring_weight * (1 - mask)
    else:
        weights = ring_weights(mask, state.model.overlap_px, state.loss.ring_weight)
    if state.task.predicts_center:
        return real, inp, crop_center(real), crop_center(weights)
    return real, inp, real, weights


def rec_term(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor, paste_hole: torch.Tensor | None,
             state: TrainState) -> torch.Tensor:
    """The reconstruction loss of ``state.loss``: on the raw prediction (``paste`` hard, the
    paper's), or on the prediction Poisson-pasted over the photo's hole plus ``raw_weight`` x the
    paper's. pred, target, weights as :func:`prepare_batch` gives them; paste_hole (N, 1, S, S)
    uint8 (None: the hidden region)."""
    raw = reconstruction_loss(pred, target, weights, state.loss.rec)
    if state.loss.paste == "hard":
        return raw
    hole = (weights == 1.0) if paste_hole is None else paste_hole.to(pred.device) > 0  # (N, 1, *) bool
    if state.task.predicts_center and hole.shape[-1] == state.model.image_size:
        hole = crop_center(hole)
    pasted = poisson_paste(pred.float(), target.float(), hole[:, 0])
    pasted_loss = reconstruction_loss(pasted, target, hole.float(), state.loss.rec)
    return pasted_loss + state.loss.raw_weight * raw


def onion_term(pred: torch.Tensor, real: torch.Tensor, paste_hole: torch.Tensor, state: TrainState) -> torch.Tensor:
    """The loss of a second pass of the net over the hole deeper than ``loss.onion`` px, whose
    context ring is the first pass's Poisson-pasted fill (no gradient through the first pass).

    What ``benchmarks/test_time_variants.py --passes`` does at test time, trained: the net sees its
    own ring as context, and the deep hole is filled again from it. pred (N, 3, S, S) the first
    pass's prediction; real (N, 3, S, S) the photos; paste_hole (N, 1, S, S) the photo's hole.
    Returns the ``loss.rec`` loss of the second pass's pasted output over the deep hole.
    """
    hole = paste_hole.to(pred.device) > 0
    with torch.no_grad():
        first = poisson_paste(pred.detach().float(), real.float(), hole[:, 0])
        deep = deeper_than(hole, state.loss.onion)
        given = torch.where(hole, first, real.float()).to(real.dtype)
        inp = net_input(given, deep.float(), state.model)
        if state.channels_last:
            inp = inp.contiguous(memory_format=torch.channels_last)
    with state.runtime.autocast():
        second = state.generator(inp)
    pasted = poisson_paste(second.float(), given.float(), deep[:, 0])
    return reconstruction_loss(pasted, real, deep.float(), state.loss.rec)


def disc_view(x: torch.Tensor, state: TrainState) -> torch.Tensor:
    """What the discriminator is shown: the center square (center masks) or the whole image."""
    return crop_center(x) if state.task.disc_on_center and x.shape[-1] == state.model.image_size else x


def _no_sync(module: nn.Module) -> contextlib.AbstractContextManager:
    sync_off = getattr(module, "no_sync", None)
    return sync_off() if sync_off is not None else contextlib.nullcontext()


def train_step(images: torch.Tensor, masks: torch.Tensor, state: TrainState,
               paste_holes: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """One D update and one G update. Returns detached loss tensors (no host sync, unless the loss
    goes through the Poisson paste). ``paste_holes`` (N, 1, S, S): the photo's hole for
    ``--paste poisson`` (None: the hidden region)."""
    real, inp, target, weights = prepare_batch(images, masks, state)
    gen, disc, rt = state.generator, state.discriminator, state.runtime
    use_adv = state.loss.kind != "l2" and disc is not None
    with rt.autocast():
        pred = gen(inp)
        if use_adv:
            with _no_sync(disc):  # DDP: only the fake forward's backward triggers the reduction
                d_real = disc(disc_view(target, state))
            d_fake = disc(disc_view(pred, state))
    rec = rec_term(pred, target, weights, paste_holes, state)
    out = {"loss_rec": rec.detach()}
    if state.loss.onion:
        onion = onion_term(pred, real, (weights == 1.0) if paste_holes is None else paste_holes, state)
        rec = rec + onion
        out["loss_onion"] = onion.detach()
    adv = None
    state.opt_g.zero_grad(set_to_none=True)
    if use_adv:
        loss_d = adversarial_d_loss(d_real, d_fake)
        adv = adversarial_g_loss(d_fake)
        state.opt_d.zero_grad(set_to_none=True)
        d_params = [p for p in disc.parameters() if p.requires_grad]
        state.scaler.scale(loss_d).backward(inputs=d_params, retain_graph=True)
        out |= {"loss_d": loss_d.detach(), "loss_adv": adv.detach()}
    loss_g = generator_loss(rec, adv, kind=state.loss.kind, w_rec=state.loss.w_rec, w_adv=state.loss.w_adv)
    state.scaler.scale(loss_g).backward(inputs=[p for p in gen.parameters() if p.requires_grad])
    if use_adv:
        state.scaler.step(state.opt_d)
    state.scaler.step(state.opt_g)
    state.scaler.update()
    out["loss_g"] = loss_g.detach()
    return out


def reference_step(images: torch.Tensor, masks: torch.Tensor, state: TrainState,
                   paste_holes: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The straightforward step of the public ports: fp32, three D forwards, separate backwards.

    Single-process only; used as the baseline, never for training.
    """
    real, inp, target, weights = prepare_batch(images, masks, state)
    gen, disc = state.generator, state.discriminator
    pred = gen(inp)
    out: dict[str, torch.Tensor] = {}
    adv = None
    if state.loss.kind != "l2" and disc is not None:
        d_real = disc(disc_view(target, state))
        d_fake = disc(disc_view(pred.detach(), state))
        loss_d = adversarial_d_loss(d_real, d_fake)
        state.opt_d.zero_grad()
        loss_d.backward()
        state.opt_d.step()
        adv = adversarial_g_loss(disc(disc_view(pred, state)))
        out |= {"loss_d": loss_d.detach(), "loss_adv": adv.detach()}
    rec = rec_term(pred, target, weights, paste_holes, state)
    loss_g = generator_loss(rec, adv, kind=state.loss.kind, w_rec=state.loss.w_rec, w_adv=state.loss.w_adv)
    state.opt_g.zero_grad()
    loss_g.backward()
    state.opt_g.step()
    return out | {"loss_rec": rec.detach(), "loss_g": loss_g.detach()}
