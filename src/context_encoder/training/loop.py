"""Training loop: data, masks, steps, logging, sample grids and checkpoints of a run directory.

RUN_DIR/config.json (resolved TrainConfig), metrics.jsonl (one line per log step), tb/
(TensorBoard), samples/step_XXXXXXX.png (masked input | output | original) and checkpoints/.
Rank 0 alone writes files. A run may start from trained generator weights (``init``, e.g. the
packaged model) and may keep a moving average of the generator (``optim.ema``), which its
checkpoints then offer first to ``evaluate`` and ``inpaint``.

Nothing is lost: a folder holding a run is only continued (``resume``) or replaced
(``overwrite``) on request (:mod:`.run_dir`); SIGINT / SIGTERM end the current step with a
checkpoint (:mod:`.interrupt`); a non-finite loss or weight stops the run before it can reach a
checkpoint, so the last one written is the last good one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from context_encoder.atomic import atomic_path, locked_folder, open_append, write_text
from context_encoder.checkpoint import (
    CheckpointError,
    checkpoint_files,
    find_checkpoint,
    load_grown,
    load_shared_state,
    load_state,
    load_training_state,
    read_model_config,
    resolve_weights,
    save_checkpoint,
    unwrap,
)
from context_encoder.config import TrainConfig, task_of, to_dict
from context_encoder.data import ImageFolderDataset, StepBatchSampler, find_images, split_files
from context_encoder.device import (
    Runtime,
    is_main_process,
    setup_runtime,
    shutdown,
    use_channels_last,
    wrap_ddp,
)
from context_encoder.geometry import hole_box
from context_encoder.masks import MaskFn, MaskSampler, PasteHoles
from context_encoder.models import build_discriminator, build_generator, set_dense_kernels
from context_encoder.names import shown
from context_encoder.training.budget import check_budget
from context_encoder.training.ema import WeightEMA
from context_encoder.training.global_bn import global_batchnorm
from context_encoder.training.interrupt import StopSignals, ignore_stop_signals
from context_encoder.training.logs import Throughput, log_row, open_tensorboard
from context_encoder.training.resume import check_resume, planned_total
from context_encoder.training.run_dir import (
    check_run_dir,
    check_run_inputs,
    discard_unstarted_run,
    prepare_run_dir,
    trim_metrics,
)
from context_encoder.training.samples import preview_grid
from context_encoder.training.step import TrainState, train_step
from context_encoder.training.validation import held_out, validation_batch

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter


class TrainingDiverged(ValueError):
    """A loss or weight became NaN or infinite; no checkpoint holds it."""


@dataclass(frozen=True)
class TrainResult:
    """How a run ended: at ``step``, stopped early by the named signal or (None) done, with the
    final nets and optimizers in ``state``."""

    run_dir: Path
    step: int
    stopped_by: str | None = None
    state: TrainState | None = None


class MaskedImages(torch.utils.data.Dataset):
    """(uint8 crop (3,S,S), uint8 mask (1,S,S), uint8 paste hole (1,S,S)) triples for the
    (index, sample seed, batch seed) items of :class:`StepBatchSampler`. The mask is drawn from the
    sample seed, or with ``per_batch`` from the batch seed (every sample of a step, on every rank,
    gets the same mask: ``--region-masks lua-batch``); the paste hole (the photo's hole, for the
    Poisson-paste loss) is the mask itself unless ``paste_holes`` picks part of it."""

    def __init__(self, images: ImageFolderDataset, masks: MaskFn, paste_holes: PasteHoles | None = None, *,
                 per_batch: bool = False) -> None:
        self.images, self.masks, self.paste_holes, self.per_batch = images, masks, paste_holes, per_batch

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, item: tuple[int, int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        index, sample_seed, batch_seed = item
        g = torch.Generator().manual_seed(sample_seed + 7)
        mask = self.masks(1, torch.Generator().manual_seed(batch_seed) if self.per_batch else g)[0]
        paste = mask if self.paste_holes is None else self.paste_holes(mask, g)
        return self.images[index, sample_seed], mask.to(torch.uint8), paste.to(torch.uint8)


def mask_sampler_for(cfg: TrainConfig) -> MaskFn:
    """``sampler(n, generator) -> (n, 1, S, S)`` masks of the run; an autoencoder (``--arch
    autoencoder``, or any arch with ``--mask none``) hides nothing."""
    s = cfg.model.image_size
    if task_of(cfg).hides_nothing:
        return lambda n, generator: torch.zeros(n, 1, s, s)
    return MaskSampler(cfg.mask.kind, s, cfg.model.overlap_px, cfg.mask.folder,
                       region_masks=cfg.mask.region_masks, seed=cfg.seed,
                       share=(cfg.mask.share_min, cfg.mask.share_max), box_share=cfg.mask.box_share)


def paste_holes_for(cfg: TrainConfig) -> PasteHoles | None:
    """The sampler of photo holes inside the hidden square (``mask.paste_folder``), or None."""
    if not cfg.mask.paste_folder:
        return None
    return PasteHoles(cfg.mask.paste_folder, hole_box(cfg.model))


def build_gan(cfg: TrainConfig, runtime: Runtime, *, fast: bool = True) -> TrainState:
    """Nets and optimizers for ``cfg``; ``fast=False`` gives the plain fp32 reference setup."""
    torch.manual_seed(cfg.seed)
    cl = fast and use_channels_last(cfg.channels_last, runtime.device)
    fmt = torch.channels_last if cl else torch.contiguous_format
    gen = build_generator(cfg.model).to(runtime.device, memory_format=fmt)
    if not fast:  # the ports' plain convolutions for the bottleneck, not our matmul kernels
        set_dense_kernels(gen, False)
    task = task_of(cfg)
    disc = None
    if cfg.loss.kind != "l2":
        size = cfg.model.image_size // 2 if task.disc_on_center else cfg.model.image_size
        disc = build_discriminator(cfg.model, size).to(runtime.device, memory_format=fmt)
    if fast and runtime.distributed:  # BatchNorm over the global batch: the run is one run on W x B images
        gen, disc = global_batchnorm(gen), disc and global_batchnorm(disc)
    o = cfg.optim
    impl = {"fused": True} if fast and runtime.device.type in ("cpu", "cuda") else {}
    opt_g = torch.optim.Adam(gen.parameters(), lr=o.lr_g, betas=(o.beta1, o.beta2), **impl)
    opt_d = None
    if disc is not None:
        opt_d = torch.optim.Adam(disc.parameters(), lr=o.lr_d, betas=(o.beta1, o.beta2), **impl)
    if fast:
        gen, disc = wrap_ddp(gen, runtime), disc and wrap_ddp(disc, runtime)
        if cfg.compile:
            # The step backpropagates twice through one D graph (retain_graph=True), which
            # compiled backwards with donated buffers refuse.
            torch._functorch.config.donated_buffer = False
            gen, disc = torch.compile(gen), disc and torch.compile(disc)
    else:
        runtime = Runtime(runtime.device, None, runtime.rank, runtime.world_size)
    return TrainState(gen, disc, opt_g, opt_d, runtime.grad_scaler(), cfg.model, cfg.loss, runtime,
                    task, channels_last=cl)


def total_steps(cfg: TrainConfig, n_images: int, world_size: int) -> int:
    if cfg.steps:
        return cfg.steps
    return cfg.epochs * max(1, n_images // (cfg.batch_size * world_size))


def _set_lr(state: TrainState, cfg: TrainConfig, step: int, total: int) -> None:
    scale = 1.0
    if cfg.optim.lr_schedule == "cosine":
        scale = 0.5 * (1 + math.cos(math.pi * min(step, total) / max(1, total)))
    for opt, lr in ((state.opt_g, cfg.optim.lr_g), (state.opt_d, cfg.optim.lr_d)):
        for group in opt.param_groups if opt is not None else []:
            group["lr"] = lr * scale


def _resume(state: TrainState, run_dir: Path, ema: float) -> tuple[int, int | None]:
    """Load the run's last checkpoint into ``state``; a weight average starts from the resumed
    generator unless the checkpoint holds one, a discriminator added by a change of loss starts
    fresh. Returns (its step, the step count its LR schedule was planned for, or None when the
    checkpoint predates that record). Raises CheckpointError for a checkpoint that does not fit."""
    step_dir = find_checkpoint(run_dir, resume=True).parent
    load_state(unwrap(state.generator), step_dir / "generator.safetensors")
    ts = load_training_state(step_dir)
    try:
        state.opt_g.load_state_dict(ts["opt_g"])
        state.scaler.load_state_dict(ts["scaler"])
        if state.discriminator is not None:
            if (step_dir / "discriminator.safetensors").is_file() and isinstance(ts.get("opt_d"), dict):
                load_state(unwrap(state.discriminator), step_dir / "discriminator.safetensors")
                state.opt_d.load_state_dict(ts["opt_d"])
            else:
                warnings.warn(f"{step_dir.name} has no discriminator: a fresh one starts", stacklevel=2)
    except (ValueError, KeyError, TypeError, RuntimeError) as err:
        raise CheckpointError(f"the training state of {step_dir} does not fit this run's model and optimizers "
                              f"({type(err).__name__}: {str(err).strip()[:120]})") from err
    if ema:
        state.ema = WeightEMA(unwrap(state.generator), ema)
        if (step_dir / "generator_ema.safetensors").is_file():
            load_state(state.ema.shadow, step_dir / "generator_ema.safetensors")
    plan = ts.get("schedule_total")
    return int(ts["step"]), int(plan) if isinstance(plan, int) else None


def _initialize(state: TrainState, spec: str) -> None:
    """Start the generator from trained weights whose architecture matches the run's. A center
    net may start a whole-image one (``full_image``, ``skips``, ``hole_fill`` and ``bottleneck`` are
    the differences allowed): the layers they share by name and shape (the encoder, the bottleneck
    and up-convs where their shapes agree) are loaded, the rest keep their random init. A net may
    also start from the same net grown by a ``mask_channel`` (the mask's input weights start at
    zero), by ``res_blocks`` (the new blocks start as the identity), by ``attention`` (its output
    starts at zero) or by a wider ``bottleneck`` (the decoder reads the new channels with zero
    weights), so it starts as the net it was."""
    weights = resolve_weights(spec)
    saved = read_model_config(weights)
    diff = [f.name for f in dataclasses.fields(saved) if getattr(saved, f.name) != getattr(state.model, f.name)]
    grows = (state.model.mask_channel >= saved.mask_channel and state.model.res_blocks >= saved.res_blocks
             and saved.attention in (0, state.model.attention) and state.model.bottleneck >= saved.bottleneck)
    if diff and set(diff) <= {"mask_channel", "res_blocks", "attention", "bottleneck"} and grows:
        fresh = load_grown(unwrap(state.generator), weights)
        blocks = [k for k in fresh if k.startswith("blocks.")]
        grown = ["the mask channel's input weights start at zero" if "mask_channel" in diff else "",
                 f"{len(blocks)} tensors of new residual blocks start as the identity" if blocks else "",
                 "the new attention layer starts as the identity" if "attention" in diff else "",
                 f"the bottleneck widens from {saved.bottleneck} to {state.model.bottleneck} channels, read "
                 "with zero weights" if "bottleneck" in diff else ""]
        print(f"--init {shown(spec)}: loaded; " + "; ".join(g for g in grown if g))
        return
    if "full_image" in diff and set(diff) <= {"full_image", "skips", "hole_fill", "bottleneck"}:
        fresh = load_shared_state(unwrap(state.generator), weights)
        print(f"--init {shown(spec)}: shared layers loaded; {len(fresh)} tensors start at random "
              f"({', '.join(sorted({k.rsplit('.', 1)[0] for k in fresh}))})")
        return
    if diff:
        detail = ", ".join(f"{n}={getattr(saved, n)} (run: {getattr(state.model, n)})" for n in diff)
        raise ValueError(f"--init {spec}: its model differs from the run's: {detail}")
    load_state(unwrap(state.generator), weights)


def _checkpoint(state: TrainState, run_dir: Path, step: int, plan: int) -> None:
    """Rank 0 writes the step; every rank holds the same nets, BatchNorm statistics and weight
    average (training/global_bn.py), so its files are the job's, not rank 0's."""
    if not state.runtime.is_main:
        return
    ts = {"opt_g": state.opt_g.state_dict(), "scaler": state.scaler.state_dict(), "schedule_total": plan}
    if state.opt_d is not None:
        ts["opt_d"] = state.opt_d.state_dict()
    save_checkpoint(run_dir, step=step, generator=state.generator, discriminator=state.discriminator,
                    cfg=state.model, training_state=ts, ema=state.ema and state.ema.shadow)


def _split_data(cfg: TrainConfig) -> tuple[list[Path], list[Path]]:
    """The run's (training, held-out) photos."""
    files = find_images(cfg.data.data)
    if not files:
        raise ValueError(f"no image files found in {', '.join(cfg.data.data)}")
    return split_files(files, cfg.data.val_fraction, seed=0)


def _load_data(cfg: TrainConfig, split: tuple[list[Path], list[Path]]) -> tuple[ImageFolderDataset,
                                                                                ImageFolderDataset | None]:
    train_files, val_files = split
    kw = {"image_size": cfg.model.image_size, "resample": cfg.data.resample,
          "load_size": cfg.data.resolved_load_size(cfg.model.image_size)}
    train_set = ImageFolderDataset(train_files, cache=cfg.data.cache, min_load_size=cfg.data.min_load_size,
                                   window_views=cfg.data.window_views, **kw)
    val_set = ImageFolderDataset(val_files, cache=True, **kw) if val_files else None
    return train_set, val_set


def train(cfg: TrainConfig, *, resume: bool = False, overwrite: bool = False,
          config_files: list[Path] | None = None, new_phase: bool = False) -> TrainResult:
    """Train a context encoder as ``cfg`` says into the run directory ``cfg.out``.

    ``resume`` continues the run there; ``overwrite`` replaces it; without either a folder that
    holds a run is refused (ValueError) before anything is written, and so is a run folder that
    overlaps its inputs (``cfg``'s data, masks and init weights, and ``config_files``). A resume
    that changes the run's data stream, model, loss or learning rates is refused unless
    ``new_phase`` (:mod:`.resume`).
    """
    if new_phase and not resume:
        raise ValueError("--new-phase continues a run: give it with --resume")
    state, result = _run(cfg, resume=resume, overwrite=overwrite, config_files=config_files or [],
                         new_phase=new_phase)
    return dataclasses.replace(result, state=state)


def _run(cfg: TrainConfig, *, resume: bool, overwrite: bool, config_files: list[Path],
         new_phase: bool) -> tuple[TrainState, TrainResult]:
    run_dir = Path(cfg.out)
    init = checkpoint_files(cfg.init) if cfg.init and not resume else []
    check_run_inputs(run_dir, folders={"data": cfg.data.data, "mask": cfg.mask.folder,
                                       "paste mask": cfg.mask.paste_folder},
                     files={"--init checkpoint's file": init, "config": config_files})
    split = _split_data(cfg)
    check_budget(cfg, split[0] + split[1], len(split[0]) * cfg.data.cache + len(split[1]))  # from headers
    # One process per run folder, and the folder checked under that lock: two starts cannot both
    # find it free. Rank 0 holds it for a torchrun job; the other ranks write nothing.
    lock = locked_folder(run_dir, user="another training process", hint="wait for it to end, or pick another --out")
    with lock if is_main_process() else contextlib.nullcontext():
        check_run_dir(run_dir, resume=resume, overwrite=overwrite)  # every rank, before any of them writes
        if resume:
            check_resume(run_dir, cfg, new_phase=new_phase)
        rt = setup_runtime(cfg.device, cfg.precision)
        try:
            return _run_claimed(cfg, rt, run_dir, split, resume=resume, overwrite=overwrite, new_phase=new_phase)
        except TrainingDiverged:
            raise  # its log shows how the loss went; the message says no checkpoint was written
        except BaseException:
            if not resume and rt.is_main:
                with contextlib.suppress(OSError):  # a first start that failed blocks no next one
                    discard_unstarted_run(run_dir)
            raise
        finally:
            shutdown(rt)


def _run_claimed(cfg: TrainConfig, rt: Runtime, run_dir: Path, split: tuple[list[Path], list[Path]], *,
                 resume: bool, overwrite: bool, new_phase: bool) -> tuple[TrainState, TrainResult]:
    train_set, val_set = _load_data(cfg, split)
    state = build_gan(cfg, rt)
    start, stored_plan = 0, None
    if resume:
        start, stored_plan = _resume(state, run_dir, cfg.optim.ema)
    else:
        if cfg.init:
            _initialize(state, cfg.init)
        if cfg.optim.ema:
            state.ema = WeightEMA(unwrap(state.generator), cfg.optim.ema)
    total = total_steps(cfg, len(train_set), rt.world_size)
    if start >= total:
        raise ValueError(f"{run_dir} is already at step {start}, and this run ends at step {total}: "
                         "nothing to train (raise --steps or --epochs)")
    plan = planned_total(cfg, total, stored_plan, new_phase=new_phase)
    sampler = StepBatchSampler(len(train_set), batch_size=cfg.batch_size, seed=cfg.seed,
                               start_step=start, rank=rt.rank, world_size=rt.world_size)
    masks = mask_sampler_for(cfg)
    dataset = MaskedImages(train_set, masks, paste_holes_for(cfg), per_batch=cfg.mask.region_masks == "lua-batch")
    loader = DataLoader(dataset, batch_sampler=sampler,
                        num_workers=cfg.data.workers, pin_memory=rt.device.type == "cuda",
                        persistent_workers=cfg.data.workers > 0, worker_init_fn=ignore_stop_signals)
    preview = _preview_batch(val_set or train_set, masks, cfg.seed)
    val_batch = validation_batch(val_set, masks, cfg.seed) if val_set is not None and rt.is_main else None
    writer = None
    if rt.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        prepare_run_dir(run_dir, overwrite=overwrite)
        trim_metrics(run_dir, start)
        write_text(run_dir / "config.json", json.dumps(to_dict(cfg), indent=2))
        writer = open_tensorboard(run_dir, start)
    try:
        step, stopped_by = _loop(cfg, state, loader, (preview, val_batch), run_dir, (start, total, plan), writer)
    finally:
        if writer is not None:
            writer.close()
    return state, TrainResult(run_dir, step, stopped_by)


def _preview_batch(dataset: ImageFolderDataset, masks: MaskFn, seed: int) -> tuple[torch.Tensor, ...]:
    n = min(8, len(dataset))
    images = torch.stack([dataset[i] for i in range(n)])
    return images, masks(n, torch.Generator().manual_seed(seed + 12345)).to(torch.uint8)


def _loop(cfg: TrainConfig, state: TrainState, loader: DataLoader, shown_batches: tuple, run_dir: Path,
          steps: tuple[int, int, int], writer: SummaryWriter | None) -> tuple[int, str | None]:
    """Steps ``start + 1 .. total`` of ``steps`` = (start, total, the LR schedule's planned total);
    ``shown_batches`` = (sample-grid batch, held-out batch or None). Returns (last step, name of
    the signal that ended it early or None)."""
    (start, total, plan), (preview, val_batch) = steps, shown_batches
    rt = state.runtime
    bar = tqdm(total=total, initial=start, desc="train", unit="step", disable=not rt.is_main,
               dynamic_ncols=True)
    clock = Throughput()
    step, saved, stopping = start, start or None, False  # saved: the last step with a (good) checkpoint
    bad = torch.zeros((), dtype=torch.bool, device=rt.device)  # a non-finite loss since the last check
    metrics_file = open_append(run_dir / "metrics.jsonl") if rt.is_main else contextlib.nullcontext()
    with bar, StopSignals() as stop, metrics_file as metrics:
        for images, mask, paste_hole in loader:
            if step >= total:
                break
            _set_lr(state, cfg, step, plan)
            losses = train_step(images, mask, state, paste_hole)
            bad |= ~torch.stack([v.float() for v in losses.values()]).isfinite().all()  # no host sync
            if state.ema is not None:
                state.ema.update(unwrap(state.generator))
            step += 1
            clock.seen += images.shape[0] * rt.world_size
            bar.update(1)
            stopping = stop.agreed(rt)
            if step % cfg.log_every == 0 or step == total:
                rt.synchronize()
                _check_finite(state, bad, step, saved, run_dir, weights=False)
                row = {"step": step, **{k: round(v.item(), 6) for k, v in losses.items()},
                       "img_per_s": clock.rate()}
                bar.set_postfix({k: v for k, v in row.items() if k != "step"})
                if metrics is not None:
                    log_row(metrics, writer, row)
            if rt.is_main and (step % cfg.sample_every == 0 or step == total):
                shown = state.ema.shadow if state.ema is not None else unwrap(state.generator)
                with atomic_path(run_dir / "samples" / f"step_{step:07d}.png") as path:
                    grid = preview_grid(shown, *preview, state, path)
                if writer is not None:
                    writer.add_image("samples", grid, step)
            if val_batch is not None and (step % cfg.val_every == 0 or step == total):
                shown = state.ema.shadow if state.ema is not None else unwrap(state.generator)
                log_row(metrics, writer, {"step": step, **held_out(shown, val_batch, state)})
            if step % cfg.ckpt_every == 0 or step == total or stopping:
                _check_finite(state, bad, step, saved, run_dir, weights=True)
                _checkpoint(state, run_dir, step, plan)
                saved = step
            if stopping:
                break
    return step, stop.received if stopping and step < total else None


def _check_finite(state: TrainState, bad: torch.Tensor, step: int, saved: int | None, run_dir: Path, *,
                  weights: bool) -> None:
    """Raise TrainingDiverged if a loss since the last check (or, with ``weights``, a weight) is not finite."""
    diverged = bool(bad)
    if weights and not diverged:
        nets = [unwrap(state.generator)] + ([unwrap(state.discriminator)] if state.discriminator else [])
        diverged = not all(bool(p.detach().isfinite().all()) for net in nets for p in net.parameters())
    if state.runtime.distributed:  # every rank stops at the same step
        flag = torch.tensor([float(diverged)], device=state.runtime.device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        diverged = bool(flag.item() > 0)
    if diverged:
        last = f"the last good checkpoint is step {saved} in {run_dir / 'checkpoints'}" if saved else \
            "no checkpoint was written"
        raise TrainingDiverged(f"training stopped: a loss or weight became NaN or infinite by step {step}; "
                               f"{last} (lower --lr-g / --lr-d, or use --precision fp32)")
