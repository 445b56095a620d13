"""What one request may ask of the server: upload bytes, pixels, and how many may wait for the model.

The byte limit is enforced by :class:`BodySizeLimit` while the body streams in (a declared
``Content-Length`` over it is refused before anything is read); the pixel limit is checked on an
image's header before it is decoded (:mod:`context_encoder.server.uploads`); the queue size bounds
:class:`context_encoder.server.worker.ModelWorker`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from context_encoder.config import MAX_PIXELS

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """``max_upload_bytes``: the largest request body (image + mask + fields); ``max_pixels``: the
    largest image (width x height); ``queue_size``: requests that may wait while one is filled."""

    max_upload_bytes: int = 25 * MB
    max_pixels: int = MAX_PIXELS
    queue_size: int = 4

    def __post_init__(self) -> None:
        checks = [
            (self.max_upload_bytes >= 1024, "max upload size must be >= 1 KiB"),
            (self.max_pixels >= 1, "max pixels must be >= 1"),
            (1 <= self.queue_size <= 1024, "queue size must be in [1, 1024]"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


class _BodyTooLarge(Exception):
    """Raised into the app's ``receive`` once the body passes the limit."""


class BodySizeLimit:
    """ASGI middleware: answer 413 ``{"error": ...}`` to any HTTP request whose body is over ``max_bytes``.

    The rest of a refused body is read and dropped first (up to ``DRAIN_FACTOR`` times the limit):
    closing a connection with unread data resets it, and a browser would lose the answer.
    """

    DRAIN_FACTOR = 4

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            # A client waiting for "100 Continue" has sent nothing yet: reading would invite the body.
            if headers.get(b"expect", b"").lower() != b"100-continue" and int(declared) <= self._drain_cap:
                await self._drain(receive, 0)
            await self._refuse(send)
            return
        received, ended, over, refused = 0, False, False, False

        async def refuse_once() -> None:
            nonlocal refused
            if not refused:
                refused = True
                if not ended:
                    await self._drain(receive, received)
                await self._refuse(send)

        async def counting_receive() -> Message:
            nonlocal received, ended, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                ended = not message.get("more_body", False)
                if received > self.max_bytes:
                    over = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            if not over:
                await send(message)
            elif message["type"] == "http.response.start":  # whatever the app made of the error
                await refuse_once()

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _BodyTooLarge:
            await refuse_once()

    @property
    def _drain_cap(self) -> int:
        return self.DRAIN_FACTOR * self.max_bytes

    async def _drain(self, receive: Receive, received: int) -> None:
        """Read and drop the request body until it ends, the client leaves or the cap is reached."""
        while received <= self._drain_cap:
            message = await receive()
            if message["type"] != "http.request":
                return
            received += len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    async def _refuse(self, send: Send) -> None:
        mb = self.max_bytes / MB
        body = json.dumps({"error": f"upload too large: the limit is {mb:g} MB per request"}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
