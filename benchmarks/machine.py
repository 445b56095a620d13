"""The machine a benchmark ran on: CPU model, the CPU features that decide the fast path, GPU.

A figure measured here holds on machines of the same *kind*: ``cpu_kind`` names the widest vector
and matrix units the CPU has (AMX, AVX512-BF16, AVX-512, AVX2, ...), read from /proc/cpuinfo,
since bf16 autocast is fast only with AVX512-BF16 or AMX and fp32 convolutions are twice as wide
with AVX-512 as with AVX2.
"""

from __future__ import annotations

import os
import platform

import torch

# /proc/cpuinfo flag -> the name used in the docs, widest first (x86, then Arm)
FEATURES = {"amx_tile": "AMX", "avx512_bf16": "AVX512-BF16", "avx512f": "AVX-512", "avx2": "AVX2",
            "sve": "SVE", "bf16": "BF16", "asimd": "NEON"}
KIND_ORDER = ("AMX", "AVX512-BF16", "AVX-512", "AVX2", "SVE", "BF16", "NEON")


def _cpuinfo() -> tuple[str, set[str]]:
    """(model name, flags) from /proc/cpuinfo; (platform.processor(), empty) where there is none."""
    model, flags = platform.processor() or platform.machine() or "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model in (platform.processor(), platform.machine(), "unknown CPU"):
                    model = value.strip()
                elif key in ("flags", "Features") and not flags:  # x86: flags, Arm: Features
                    flags = set(value.split())
    except OSError:
        pass
    return model, flags


def cpu_features() -> list[str]:
    """The CPU's relevant features, widest first, e.g. ['AVX2'] or ['AMX', 'AVX512-BF16', ...]."""
    flags = _cpuinfo()[1]
    return [name for flag, name in FEATURES.items() if flag in flags]


def cpu_kind() -> str:
    """The widest unit the CPU has ('AMX', 'AVX512-BF16', 'AVX-512', 'AVX2', ...): the table key."""
    feats = cpu_features()
    return next((k for k in KIND_ORDER if k in feats), platform.machine() or "unknown")


def gpu_name() -> str | None:
    return torch.cuda.get_device_name() if torch.cuda.is_available() else None


def describe() -> str:
    """One line: CPU model, kind and features, cores, torch, its CPU kernels, threads, GPU."""
    model = _cpuinfo()[0]
    feats = ", ".join(cpu_features()) or "none of " + "/".join(KIND_ORDER)
    parts = [f"CPU {model} ({feats})", f"kind {cpu_kind()}", f"{os.cpu_count()} cores",
             f"torch {torch.__version__} (CPU kernels: {torch.backends.cpu.get_cpu_capability()})",
             f"threads {torch.get_num_threads()}"]
    gpu = gpu_name()
    if gpu:
        parts.append(f"GPU {gpu} x{torch.cuda.device_count()}")
    return ", ".join(parts)
