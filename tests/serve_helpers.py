"""Start ``context-encoder serve`` as a real process on a free port, for the API and browser tests."""

from __future__ import annotations

import re
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

URL = re.compile(r"on (http://\S+/)")


class Served:
    """The server's process; ``stdout_text`` / ``stderr_text`` / ``returncode`` once it has stopped."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc, self.stdout_text, self.stderr_text = proc, "", ""

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode


def _first_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The first line the server prints (its URL), or fail with what it printed instead."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sel.select(deadline - time.monotonic()):
                return proc.stdout.readline()
    proc.kill()
    raise AssertionError(f"the server printed nothing in {timeout} s: {proc.communicate()[1]}")


@contextmanager
def running_server(*args: str, timeout: float = 60.0) -> Iterator[tuple[str, Served]]:
    """Run ``context-encoder serve --port 0 ARGS``; yield its URL; stop it with Ctrl-C (SIGINT)."""
    cmd = [sys.executable, "-m", "context_encoder.cli", "serve", "--port", "0", "--device", "cpu", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    served = Served(proc)
    try:
        line = _first_line(proc, timeout)
        match = URL.search(line)
        if match is None:
            proc.kill()
            raise AssertionError(f"no URL in the server's first line {line!r}: {proc.communicate()[1]}")
        served.stdout_text = line
        yield match.group(1), served
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        served.stdout_text += out
        served.stderr_text = err
