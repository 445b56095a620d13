"""The HTTP API and web page around one :class:`context_encoder.Inpainter`.

``POST /api/v1/inpaint`` (multipart ``image``, ``mask``; optional ``blend``, ``feather``) answers
the filled image as PNG, at the upload's full size and mode, with the Inpainter's warnings (an
inverted-looking mask) in the ``X-Inpaint-Warning`` header; ``GET /api/v1/health`` and
``GET /api/v1/model`` describe the server; ``/`` is the page, ``/docs`` the OpenAPI UI. Holes are
filled only by the Inpainter, one request at a time (:mod:`context_encoder.server.worker`); a
request whose client disconnects while it waits (the page's Cancel) is dropped unrun.
"""

from __future__ import annotations

import asyncio
import dataclasses
import warnings
from collections.abc import AsyncIterator, Awaitable, Iterable
from contextlib import asynccontextmanager
from functools import partial
from importlib import metadata, resources
from pathlib import Path
from typing import Annotated, TypeVar

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from context_encoder import Inpainter
from context_encoder.config import InpaintConfig
from context_encoder.server.access_log import AccessLog
from context_encoder.server.errors import BadInput, install_error_handlers, responses
from context_encoder.server.limits import BodySizeLimit, Limits
from context_encoder.server.origin import HostGuard
from context_encoder.server.schemas import Blend, Health, ModelInfo, model_info
from context_encoder.server.uploads import Upload, check_same_size, decode_hole, decode_picture, encode_png, probe
from context_encoder.server.worker import ModelWorker

API = "/api/v1"
WARNING_HEADER = "X-Inpaint-Warning"
CLIENT_GONE = 499  # as nginx logs it: the client closed the request before its answer
_STATIC = ("context_encoder.server", "static")
T = TypeVar("T")


class PNGResponse(Response):
    media_type = "image/png"


def fill(inpainter: Inpainter, image: Upload, mask: Upload, options: InpaintConfig) -> tuple[bytes, list[str]]:
    """Decode the uploads, fill the hole with the Inpainter, encode PNG (runs in the model worker).
    Also returns the Inpainter's warnings, for the client rather than the server's stderr."""
    picture, hole = decode_picture(image), decode_hole(mask)
    # catch_warnings is process-wide; fills run one at a time in this thread and the event loop warns of nothing.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = inpainter.inpaint(picture, hole, blend=options.blend, feather_px=options.feather_px)
        except ValueError as err:  # the Inpainter's word on a mask it cannot fill (e.g. hiding everything)
            raise BadInput(str(err)) from err
    return encode_png(out), [" ".join(str(w.message).split()) for w in caught]


async def unless_gone(request: Request, work: Awaitable[T], *, poll_s: float = 0.2) -> tuple[bool, T | None]:
    """Await ``work`` unless the client disconnects first: then cancel it (a fill still queued is
    dropped unrun; one running finishes unused) and return ``(False, None)``; else ``(True, result)``."""
    task = asyncio.ensure_future(work)
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=poll_s)
            if not task.done() and await request.is_disconnected():
                return False, None
        return True, task.result()
    finally:
        task.cancel()  # a no-op once done; else (client gone, server stopping) nothing awaits it any more


def request_options(defaults: InpaintConfig, *, blend: str | None, feather: int | None) -> InpaintConfig:
    """The server's InpaintConfig with a request's overrides; BadInput if the config rejects them."""
    overrides = {k: v for k, v in (("blend", blend), ("feather_px", feather)) if v is not None}
    try:
        return dataclasses.replace(defaults, **overrides)
    except ValueError as err:
        raise BadInput(str(err)) from err


def create_app(inpainter: Inpainter, *, limits: Limits | None = None, checkpoint: str | Path | None = None,
               allowed_hosts: Iterable[str] = ()) -> FastAPI:
    """The app serving ``inpainter``; ``checkpoint`` (a path or "pretrained") names it in /api/v1/model.
    Requests must address it by a loopback name or one of ``allowed_hosts`` (:class:`HostGuard`)."""
    limits = limits or Limits()
    worker = ModelWorker(queue_size=limits.queue_size)
    info = model_info(inpainter.cfg, inpainter.config, limits, checkpoint=checkpoint)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        worker.stop()

    app = FastAPI(title="context-encoder", version=metadata.version("context-encoder"), lifespan=lifespan,
                  description="Fill a painted hole in a photo with a Context Encoder (Pathak et al., CVPR 2016).")
    app.state.worker = worker
    app.add_middleware(BodySizeLimit, max_bytes=limits.max_upload_bytes)
    app.add_middleware(HostGuard, allowed_hosts=tuple(allowed_hosts))  # before any work on a request
    app.add_middleware(AccessLog)  # added last: the outermost, it times (and logs) every answer, refusals too
    install_error_handlers(app)
    app.mount("/static", StaticFiles(packages=[_STATIC]), name="static")
    index = resources.files(_STATIC[0]).joinpath(_STATIC[1], "index.html").read_text(encoding="utf-8")

    @app.get("/", include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(index)

    @app.api_route(f"{API}/health", methods=["GET", "HEAD"], response_model=Health,
                   summary="Is the server up, and how busy")
    async def health() -> Health:
        return Health(busy=worker.busy, waiting=worker.waiting, queue_size=worker.queue_size)

    @app.get(f"{API}/model", response_model=ModelInfo, summary="The model: architecture, input size, weights")
    async def model() -> ModelInfo:
        return info

    @app.post(f"{API}/inpaint", response_class=PNGResponse, summary="Fill the mask's hole in the image",
              responses={200: {"content": {"image/png": {}}, "description": "the filled image, same size, PNG",
                               "headers": {WARNING_HEADER: {"description": "present when the fill warns, e.g. "
                                                            "a mask hiding over half of the photo (inverted?)",
                                                            "schema": {"type": "string"}}}},
                         **responses(400, 413, 422, 429)})
    async def inpaint(
        request: Request,
        image: Annotated[UploadFile, File(description="the photo (PNG, JPEG, WebP, BMP, TIFF, GIF)")],
        mask: Annotated[UploadFile, File(description="same size; non-zero opaque pixels = hole")],
        blend: Annotated[Blend | None, Form(description="paste: hard | feather | poisson")] = None,
        feather: Annotated[int | None, Form(ge=1, description="px of the feathered edge (blend=feather)")] = None,
    ) -> Response:
        options = request_options(inpainter.config, blend=blend, feather=feather)
        photo = probe(await image.read(), "image", max_pixels=limits.max_pixels)
        hole = probe(await mask.read(), "mask", max_pixels=limits.max_pixels)
        check_same_size(photo, hole)
        answered, filled = await unless_gone(request, worker.submit(partial(fill, inpainter, photo, hole, options)))
        if not answered:  # the page's Cancel, a closed tab: nobody to answer
            return Response(status_code=CLIENT_GONE)
        png, warned = filled
        headers = {"Content-Disposition": 'inline; filename="inpainted.png"'}
        if warned:
            headers[WARNING_HEADER] = "; ".join(warned).encode("ascii", "replace").decode()
        return PNGResponse(png, headers=headers)

    return app
