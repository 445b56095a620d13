"""Stopping a run cleanly: SIGINT (Ctrl-C) or SIGTERM ends the current step, the loop writes a
checkpoint and returns; a second signal aborts at once (KeyboardInterrupt).

Data-loading workers ignore both signals (a terminal's Ctrl-C reaches the whole process group), so
the batch in flight is never lost to a dead worker. The ranks of a distributed run agree on the
step to stop at, since each may receive the signal at a different one: every step starts a
non-blocking all-reduce of its flag (a CPU tensor, over gloo even in a GPU job) and reads the one
started a step earlier, so no step waits on the other ranks or on the GPU, and all of them stop
one step after the first signal.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

import torch
import torch.distributed as dist

from context_encoder.device import Runtime

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def ignore_stop_signals(_worker_id: int) -> None:
    """``worker_init_fn`` of the training DataLoader: leave stopping to the main process."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


class StopSignals:
    """``with StopSignals() as stop: ... if stop.agreed(runtime): break``.

    Outside the main thread (where Python cannot install handlers) it never requests a stop.
    """

    def __init__(self) -> None:
        self.received: str | None = None  # name of the first signal, e.g. "SIGINT"
        self._previous: dict[int, Any] = {}
        self._pending: tuple[dist.Work, torch.Tensor] | None = None  # the all-reduce of the last call

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._restore()
        if self._pending is not None and kind is None:  # every rank started it: finish it before the group ends
            self._pending[0].wait()
        self._pending = None

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.received is not None:  # the second one: abort now
            self._restore()
            raise KeyboardInterrupt
        self.received = signal.Signals(signum).name

    def agreed(self, runtime: Runtime) -> bool:
        """Whether to stop now. Single process: whether a signal came. Distributed (a collective
        call, once per step on every rank): whether any rank had received one by its previous
        call; this call's flag is all-reduced in the background and read by the next call."""
        if not runtime.distributed:
            return self.received is not None
        stop = False
        if self._pending is not None:
            work, flag = self._pending
            work.wait()  # started a step ago: done by now, short of a rank that lags behind
            stop = bool(flag.item() > 0)  # a CPU tensor: no wait for the GPU
        on_cpu = "gloo" in dist.get_backend_config()  # "cpu:gloo,cuda:nccl" for a GPU job: device.setup_runtime
        flag = torch.tensor([float(self.received is not None)], device="cpu" if on_cpu else runtime.device)
        self._pending = (dist.all_reduce(flag, op=dist.ReduceOp.MAX, async_op=True), flag)
        if stop and self.received is None:
            self.received = "a signal on another rank"
        return stop
