"""Device, precision and distributed setup, decided in one place from flags and environment.

``torchrun`` sets RANK / WORLD_SIZE / LOCAL_RANK; without them a run is single-process.
"""

from __future__ import annotations

import contextlib
import inspect
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    amp_dtype: torch.dtype | None  # None = fp32
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A scaler that is active only for fp16 (bf16 and fp32 need none)."""
        return torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def reset_peak_memory(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)

    def peak_memory_mb(self) -> float | None:
        """Most device memory held by tensors since the last reset (CUDA); None on the CPU."""
        if self.device.type != "cuda":
            return None
        return torch.cuda.max_memory_allocated(self.device) / 2**20


def cpu_supports_bf16() -> bool:
    """True on CPUs with native bf16 math (AVX512-BF16 or AMX), where bf16 autocast is faster."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


def resolve_device(name: str = "auto") -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda requested but CUDA is not available")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return torch.device(name)


def resolve_amp_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """auto: bf16 on CUDA with bf16 (else fp16), bf16 on CPUs that support it, else fp32."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        return torch.float16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_supports_bf16() else None


def inpaint_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """The generator's autocast dtype when inpainting (None = fp32). auto: bf16 on CPUs with native
    bf16, where the packaged net runs 3x faster and its output moves by at most 0.3 grey levels
    (docs/benchmarks.md), else fp32 (on CUDA fp32 is already fast)."""
    if precision == "auto":
        return torch.bfloat16 if device.type == "cpu" and cpu_supports_bf16() else None
    return resolve_amp_dtype(device, precision)


def use_channels_last(setting: str, device: torch.device) -> bool:
    """auto: channels_last on CUDA and on CPUs without native bf16, i.e. on the fp32 path.

    On an AVX2 CPU (fp32) oneDNN's convolutions are 1.1-1.4x faster in channels_last and the
    step 1.1-1.2x (docs/benchmarks.md). On the bf16 CPUs measured, BatchNorm under bf16 autocast
    was 4x slower in channels_last, so it stays off there.
    """
    if setting != "auto":
        return setting == "on"
    return device.type == "cuda" or (device.type == "cpu" and not cpu_supports_bf16())


def is_main_process() -> bool:
    """Rank 0 of a torchrun job, or a single process: the one that writes files."""
    return int(os.environ.get("RANK", "0")) == 0


def setup_runtime(device: str = "auto", precision: str = "auto") -> Runtime:
    """Pick the device and precision; join the process group when launched by torchrun."""
    dev = resolve_device(device)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1 and not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        # CPU tensors (the stop-signal flag, training/interrupt.py) go through gloo on a GPU job too,
        # so agreeing on a stop never waits for the GPU.
        dist.init_process_group("cpu:gloo,cuda:nccl" if dev.type == "cuda" else "gloo")
    return Runtime(dev, resolve_amp_dtype(dev, precision), rank, world)


def shutdown(runtime: Runtime) -> None:
    if runtime.distributed and dist.is_initialized():
        dist.destroy_process_group()


def wrap_ddp(module: nn.Module, runtime: Runtime) -> nn.Module:
    """DistributedDataParallel around ``module`` when distributed, else the module itself.

    DDP's broadcast of rank 0's buffers before every forward is turned off: the BatchNorm layers of
    a distributed run compute the same running statistics on every rank (training/global_bn.py),
    so there is nothing to broadcast. torch 2.14 renamed the switch (``broadcast_buffers`` warns);
    the name this torch knows is used.
    """
    if not runtime.distributed:
        return module
    ddp = nn.parallel.DistributedDataParallel
    renamed = "forward_sync_buffers" in inspect.signature(ddp).parameters
    no_broadcast = {"forward_sync_buffers": False} if renamed else {"broadcast_buffers": False}
    ids = [runtime.device.index] if runtime.device.type == "cuda" else None
    return ddp(module, device_ids=ids, **no_broadcast)
