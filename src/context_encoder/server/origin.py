"""Who may talk to the server: the Host it is addressed by and the Origin of a page that posts to it.

A page on another site can make a browser send requests to ``http://127.0.0.1:7860`` (a form or a
``no-cors`` fetch: the work is done even though the page cannot read the answer), and with DNS
rebinding (``evil.example`` re-pointed at 127.0.0.1) it can read the answers too, because the browser
then treats the server as ``evil.example``. :class:`HostGuard` closes both: a ``Host`` header that
names neither this machine's loopback nor an allowed host is refused with 403, and so is any
request other than GET / HEAD whose ``Origin`` is not the server itself. Scripts (curl, httpx)
send no ``Origin`` and are unaffected. No CORS header is ever sent, so no other origin may read.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from urllib.parse import urlsplit

from context_encoder.server.limits import ASGIApp, Receive, Scope, Send

LOOPBACK_NAMES = ("localhost",)
_SAFE_METHODS = ("GET", "HEAD")


def is_loopback(host: str) -> bool:
    """Whether ``host`` is only reachable from this machine (127.0.0.0/8, ::1, localhost)."""
    host = host.strip("[]").lower().rstrip(".")
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: where it points is for the resolver to say
        return False


def host_name(value: str) -> str:
    """The host of a ``Host`` header value or ``host[:port]`` (lower case, no port, IPv6 without brackets)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    if value.count(":") == 1:  # host:port (an IPv6 address without brackets has several colons)
        value = value.split(":", 1)[0]
    return value.rstrip(".")


class HostGuard:
    """ASGI middleware: 403 ``{"error": ...}`` for a foreign ``Host``, or a foreign ``Origin`` on a
    request that is not GET / HEAD.

    ``allowed_hosts``: host names or addresses accepted besides loopback (``*`` accepts any Host,
    which is for a server behind a proxy that checks it).
    """

    def __init__(self, app: ASGIApp, *, allowed_hosts: Iterable[str] = ()) -> None:
        self.app = app
        self.allowed = {host_name(h) for h in allowed_hosts}

    def host_allowed(self, host: str) -> bool:
        name = host_name(host)
        return bool(name) and ("*" in self.allowed or name in self.allowed or is_loopback(name))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
        host = headers.get(b"host", "")
        if not self.host_allowed(host):
            await _refuse(send, f"host {host!r} is not served here: use http://127.0.0.1 or localhost, "
                          "or start the server with --allow-host")
            return
        origin = headers.get(b"origin")
        if scope.get("method", "GET") not in _SAFE_METHODS and origin is not None and not _same(origin, host):
            await _refuse(send, f"requests from the page at {origin!r} are refused: only this server's own "
                          "page may post to it")
            return
        await self.app(scope, receive, send)


def _same(origin: str, host: str) -> bool:
    """Whether ``origin`` (scheme://host[:port], or 'null') is the server addressed as ``host``."""
    parts = urlsplit(origin.strip())
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.strip().lower()


async def _refuse(send: Send, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 403, "headers": headers})
    await send({"type": "http.response.body", "body": body})
