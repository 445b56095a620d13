"""Stopping a run cleanly: SIGINT (Ctrl-C) or SIGTERM ends the current step, the loop writes a
checkpoint and returns; a second signal aborts at once (KeyboardInterrupt).

Data-loading workers ignore both signals (a terminal's Ctrl-C reaches the whole process group), so
the batch in flight is never lost to a dead worker. The ranks of a distributed run agree on the
step to stop at, since each may receive the signal at a different one.
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

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._restore()

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
        """Whether any rank received a stop signal (a collective call when distributed)."""
        flag = self.received is not None
        if not runtime.distributed:
            return flag
        t = torch.tensor([float(flag)], device=runtime.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        if t.item() > 0 and self.received is None:
            self.received = "a signal on another rank"
        return bool(t.item() > 0)
