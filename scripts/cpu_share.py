"""The CPU share of the long training campaigns: one at a time, niced, on this 2-core machine.

Every resumable runner (scripts/run_ablation.py, scripts/run_paste_training.py, ...) holds
``runs/cpu.lock`` (an OS file lock, released when the process ends, however it ends) while it
trains, and lowers its own priority, so two campaigns never split the two cores between them
and interactive work (tests, evaluation) keeps its speed. A second runner waits for the first,
saying so once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from collections.abc import Iterator
from pathlib import Path

LOCK = Path("runs/cpu.lock")
NICENESS = 10


@contextlib.contextmanager
def one_long_job(name: str) -> Iterator[None]:
    """Hold the campaign lock (waiting for it if another runner has it) at lower priority."""
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    os.nice(max(0, NICENESS - os.nice(0)))
    with LOCK.open("a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"{name}: another training campaign holds {LOCK}; waiting for it to end", file=sys.stderr, flush=True)
            fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        f.truncate()
        f.write(f"{name} pid {os.getpid()}\n")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
