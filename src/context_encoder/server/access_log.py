"""One access log line per HTTP request: method, path, status and milliseconds.

:class:`AccessLog` is the outermost middleware, so it also times the answers that other middleware
gives (413 from the byte limit); a request that ends in an unexpected error is logged as 500
(the answer the error handler gives it). Lines go to the ``context_encoder.server.access`` logger
at INFO, which ``context-encoder serve`` prints on stderr.
"""

from __future__ import annotations

import logging
import time

from context_encoder.server.limits import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("context_encoder.server.access")


class AccessLog:
    """ASGI middleware: log ``METHOD /path STATUS N ms`` when each HTTP response has been sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def logged_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, logged_send)
        finally:
            ms = (time.perf_counter() - start) * 1000
            log.info("%s %s %d %.0f ms", scope["method"], scope["path"], status, ms)
