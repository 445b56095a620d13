"""``context-encoder serve``: the web UI and HTTP API (docs/serve.md), on FastAPI + uvicorn.

The help is self-contained (an installed package has no docs/ folder). The port is bound before
the model loads, so a port in use is reported at once; each request is logged on stderr.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import logging
import math
import signal
import socket
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from context_encoder.commands.inpaint_options import add_inpaint_options, inpaint_config
from context_encoder.config import DEVICES
from context_encoder.names import shown
from context_encoder.server.limits import MB, Limits
from context_encoder.server.origin import is_loopback

if TYPE_CHECKING:
    import uvicorn

ARCHS = ("center", "alexnet")
_LIMITS = Limits()


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve", help="web UI and HTTP API: paint the hole in a browser, or call it from a script",
        description="Serve a web page (http://HOST:PORT/) on which you open a photo, paint the hole and press "
        "Inpaint, and an HTTP API: POST /api/v1/inpaint with multipart fields image (file), mask (file, same size, "
        "white / non-zero opaque pixels = hole; JPEG masks: over mid-grey) and optional blend and feather answers "
        "the filled image as PNG (header X-Inpaint-Warning when the mask hides over half the photo); errors are "
        'JSON {"error": "..."} with status 400 (bad image or mask), 413 (over --max-upload-mb or --max-pixels), '
        "422 (missing or invalid field) or 429 (queue full). GET /api/v1/health and /api/v1/model describe the "
        "server, /openapi.json the API. Model calls run one at a time; each request is logged on stderr. No "
        "authentication: keep the default loopback --host unless a trusted proxy guards it.",
        epilog="example: curl -F image=@photo.jpg -F mask=@mask.png -o filled.png http://127.0.0.1:7860/api/v1/inpaint")
    p.add_argument("--checkpoint", type=Path, help="run directory, step directory, generator .safetensors or "
                   "'pretrained' (default: the packaged harmonic-residual net, for holes of every shape; "
                   "'pretrained-center' for the paper's center net, packaged beside it)")
    p.add_argument("--arch", choices=ARCHS, help="fail unless the checkpoint is of this architecture")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on; anything but loopback opens the API to the network "
                   "(default: %(default)s)")
    p.add_argument("--allow-host", action="append", default=[], metavar="HOST",
                   help="a name or address the server may be reached by besides loopback and --host, e.g. this "
                   "machine's LAN address with --host 0.0.0.0; other Host headers get 403 (repeatable; '*' = any, "
                   "only behind a proxy that checks Host)")
    p.add_argument("--port", type=int, default=7860, help="port; 0 picks a free one (default: %(default)s)")
    p.add_argument("--max-upload-mb", type=float, default=_LIMITS.max_upload_bytes / MB,
                   help="largest request body, image + mask, in MB (default: %(default)g)")
    p.add_argument("--max-pixels", type=float, default=_LIMITS.max_pixels,
                   help="refuse images (and masks) larger than this many pixels, checked on the header before "
                   "decoding (default: %(default)g)")
    p.add_argument("--queue-size", type=int, default=_LIMITS.queue_size,
                   help="requests that may wait while one is filled; more get HTTP 429 (default: %(default)s)")
    add_inpaint_options(p, blend_help="default paste of the prediction; a request may ask for another")
    p.add_argument("--device", default="auto", choices=DEVICES, help="where to run (default: auto)")


def allowed_hosts(host: str, extra: list[str]) -> list[str]:
    """The Host names the server answers besides loopback: ``--host`` itself unless it is a wildcard
    address (which names no host), and ``--allow-host``."""
    bound = host.strip("[]")
    try:
        wildcard = ipaddress.ip_address(bound).is_unspecified
    except ValueError:
        wildcard = False
    return ([] if wildcard else [bound]) + extra


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port``; OSError with a one-line reason (the port in use: what to do)."""
    family, _, _, _, address = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM,
                                                  flags=socket.AI_PASSIVE)[0]
    try:
        return socket.create_server(address[:2], family=family)
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            raise OSError(f"port {port} is in use: pass --port N (0 picks a free port)") from err
        if err.errno == errno.EACCES:
            raise OSError(f"port {port} needs privileges on {host}: pass --port N above 1023") from err
        raise


def log_requests() -> None:
    """Print the access log (one line per request) and the server's error log on stderr."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    logger = logging.getLogger("context_encoder.server")
    logger.setLevel(logging.INFO)
    if not logger.handlers:  # once per process (tests call run() more than once)
        logger.addHandler(handler)


def url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = "127.0.0.1" if host == "0.0.0.0" else "[::1]" if host == "::" else f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def serve_until_stopped(server: uvicorn.Server, sock: socket.socket) -> None:
    """Run ``server`` on ``sock`` in a thread until it ends, Ctrl-C or SIGTERM: the first asks it to
    finish the requests in flight, a second cuts them off. No traceback either way."""

    def stop(_signum: int, _frame: object) -> None:
        server.force_exit = server.should_exit
        server.should_exit = True

    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn")
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.5)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run(args: argparse.Namespace) -> int:
    from context_encoder.extras import require

    require("serve", "serving")
    if not (math.isfinite(args.max_upload_mb) and math.isfinite(args.max_pixels)):
        raise ValueError("--max-upload-mb and --max-pixels must be finite numbers")
    limits = Limits(max_upload_bytes=round(args.max_upload_mb * MB), max_pixels=round(args.max_pixels),
                    queue_size=args.queue_size)
    config = inpaint_config(args)
    if not 0 <= args.port <= 65535:
        raise ValueError("--port must be in [0, 65535]")
    if not is_loopback(args.host):
        warnings.warn(f"--host {args.host}: the API is open to the network, with no authentication; "
                      "anyone who can reach this machine can use the model", stacklevel=1)
    hosts = allowed_hosts(args.host, args.allow_host)
    if hosts == [] and not is_loopback(args.host):
        warnings.warn(f"--host {args.host}: only requests to 127.0.0.1 or localhost are answered; name this "
                      "machine's address with --allow-host ADDRESS to serve others", stacklevel=1)
    if any(not h.strip() for h in hosts):
        raise ValueError("--allow-host must name a host")
    import uvicorn

    from context_encoder import Inpainter
    from context_encoder.checkpoint import resolve_weights
    from context_encoder.server.app import create_app

    checkpoint = args.checkpoint if args.checkpoint is not None else "pretrained"
    resolve_weights(checkpoint)  # a missing checkpoint is said before anything listens
    sock = bind(args.host, args.port)  # before the model loads: a port in use is said at once
    try:
        inpainter = Inpainter.from_checkpoint(checkpoint, args.device, arch=args.arch, config=config)
        app = create_app(inpainter, limits=limits, checkpoint=checkpoint, allowed_hosts=hosts)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=10))
        log_requests()
        print(f"serving the {inpainter.cfg.arch} model ({shown(checkpoint)}) on {url(sock)}  (Ctrl-C to stop)",
              flush=True)
        serve_until_stopped(server, sock)
    finally:
        sock.close()
    print("stopped", flush=True)
    return 0
