"""A training run's memory, estimated before any work: sane bounds on sizes, then the host memory.

``train --load-size 20000`` on two photos once took 8.4 GB before failing, and ``--batch-size
1000000000`` 8.6 GB and 2.5 minutes before ``std::bad_alloc``. :func:`check_budget` refuses such a
run in one line, from the image headers alone (nothing decoded, nothing written): a size out of
its bounds, or an estimate of the host memory the run needs at least (the decoded-photo cache and
the batch tensors) over what the machine has available (``/proc/meminfo``'s ``MemAvailable``,
or the cgroup limit when lower). The estimate leaves out the nets and their activations, so a run
it lets through may still not fit; one it refuses cannot.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from context_encoder.config import TrainConfig

MAX_LOAD_SIZE = 8192  # px: a 8192 px shorter side is a 67+ MP photo, far above any training crop
MAX_BATCH_SIZE = 16384  # images per step per process
HEADER_SAMPLE = 256  # photos whose header gives the aspect ratio of the decoded cache
TRANSIENT_BYTES_PER_PIXEL = 10  # resizing one photo: Pillow's RGBX output, the array and its copy


def check_budget(cfg: TrainConfig, files: Sequence[Path], n_cached: int) -> None:
    """Raise ValueError, before anything is decoded or written, when a size of ``cfg`` is out of its
    bounds or the run cannot fit the available memory. ``files`` are the run's photos, ``n_cached``
    of which are decoded into memory (all with the cache on, else the held-out ones)."""
    d = cfg.data
    if d.load_size > MAX_LOAD_SIZE:
        raise ValueError(f"load-size must be in [0, {MAX_LOAD_SIZE}] px, got {d.load_size}")
    if cfg.batch_size > MAX_BATCH_SIZE:
        raise ValueError(f"batch-size must be in [1, {MAX_BATCH_SIZE}] images per step, got {cfg.batch_size}")
    need, parts = estimate_bytes(cfg, files, n_cached)
    have = available_bytes()
    if have is not None and need > have:
        raise ValueError(f"this run needs at least {_gb(need)} of memory ({', '.join(parts)}), over the "
                         f"{_gb(have)} available: lower --load-size or --batch-size, or set data.cache: false")


def estimate_bytes(cfg: TrainConfig, files: Sequence[Path], n_cached: int) -> tuple[int, list[str]]:
    """(the least host memory the run needs in bytes, its parts in words)."""
    s, load = cfg.model.image_size, max(cfg.data.resolved_load_size(cfg.model.image_size), cfg.model.image_size)
    mean_aspect, max_aspect = _aspects(files)
    cache = round(n_cached * load * load * mean_aspect * 3)
    transient = round(load * load * max_aspect * TRANSIENT_BYTES_PER_PIXEL) if files else 0
    prefetched = max(1, 2 * cfg.data.workers)  # the DataLoader keeps 2 batches per worker in flight
    per_image = s * s * 5 * prefetched + s * s * 3 * 4 + 128  # uint8 crop + masks, the float batch, its index
    batch = cfg.batch_size * per_image + 16 * cfg.batch_size  # + the sampler's epoch order (int64, twice)
    parts = [f"decoded photos {_gb(cache + transient)} at --load-size {load} for {n_cached} photo(s)",
             f"batches {_gb(batch)} at --batch-size {cfg.batch_size}"]
    return cache + transient + batch, parts


def available_bytes() -> int | None:
    """The memory this process may still take: ``MemAvailable``, lowered by a cgroup (v2) limit;
    None where neither can be read."""
    have = _meminfo_available()
    if have is None:
        try:
            have = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            have = None
    room = _cgroup_room()
    if room is not None:
        have = room if have is None else min(have, room)
    return have


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_room() -> int | None:
    root = Path("/sys/fs/cgroup")
    try:
        limit = (root / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(0, int(limit) - int((root / "memory.current").read_text().strip()))
    except (OSError, ValueError):
        return None


def _aspects(files: Sequence[Path]) -> tuple[float, float]:
    """(mean, largest) longer/shorter side ratio over up to HEADER_SAMPLE evenly spread photos,
    read from their headers; (1, 1) where none can be read."""
    step = max(1, len(files) // HEADER_SAMPLE)
    ratios = []
    for path in list(files)[::step][:HEADER_SAMPLE]:
        try:
            with Image.open(path) as img:
                w, h = img.size
        except Exception:  # noqa: BLE001 - an unreadable photo is skipped by the loader too
            continue
        if min(w, h) > 0:
            ratios.append(max(w, h) / min(w, h))
    if not ratios:
        return 1.0, 1.0
    return sum(ratios) / len(ratios), max(ratios)


def _gb(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"
