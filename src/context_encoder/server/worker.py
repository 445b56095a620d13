"""One model call at a time, in a thread of its own, behind a bounded queue.

The event loop hands each fill to :meth:`ModelWorker.submit` and awaits it, so it keeps answering
other requests (``/api/v1/health``) while a large photo is filled. When ``queue_size`` calls are
already waiting, :meth:`~ModelWorker.submit` raises :class:`~context_encoder.server.errors.Busy`
at once (HTTP 429) instead of letting a backlog grow; a call whose client went away before its
turn is dropped unrun.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from context_encoder.server.errors import Busy

T = TypeVar("T")
_STOP = None  # the sentinel that ends the thread


class ModelWorker:
    """Runs submitted calls one by one in a daemon thread, started on the first call."""

    def __init__(self, *, queue_size: int) -> None:
        self.queue_size = queue_size
        self._queue: queue.Queue[tuple[Callable[[], Any], Future] | None] = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._busy = threading.Event()

    @property
    def waiting(self) -> int:
        """Calls queued behind the running one."""
        return self._queue.qsize()

    @property
    def busy(self) -> bool:
        """Whether a call is running now."""
        return self._busy.is_set()

    async def submit(self, fn: Callable[[], T]) -> T:
        """Run ``fn()`` in the worker thread and return (or raise) what it does; Busy if the queue is full."""
        self._ensure_started()
        future: Future[T] = Future()
        try:
            self._queue.put_nowait((fn, future))
        except queue.Full:
            raise Busy(f"the server is busy: {self.queue_size} requests are already waiting; "
                       "try again in a moment") from None
        return await asyncio.wrap_future(future)  # cancelling this cancels the future

    def stop(self, timeout: float = 1.0) -> None:
        """Drop the calls still waiting, end the thread once the running one is done (waiting up to
        ``timeout`` s for it: the thread is a daemon, a fill cut off by a forced exit dies with the process)."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                item[1].cancel()
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout)

    def _ensure_started(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="model-worker", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not _STOP:
            fn, future = item
            if not future.set_running_or_notify_cancel():
                continue  # its client went away while it waited
            self._busy.set()
            try:
                future.set_result(fn())
            except BaseException as err:  # handed to the awaiting request, which answers it
                future.set_exception(err)
            finally:
                self._busy.clear()
