"""A one-line description of the machine a benchmark ran on (CPU model, cores, torch, GPU)."""

from __future__ import annotations

import os
import platform

import torch


def describe() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    parts = [f"CPU {cpu}", f"{os.cpu_count()} cores", f"torch {torch.__version__}",
             f"threads {torch.get_num_threads()}"]
    if torch.cuda.is_available():
        parts.append(f"GPU {torch.cuda.get_device_name()}")
    return ", ".join(parts)
