"""Every error of the API as JSON ``{"error": "..."}`` with its status code, never a stack trace.

Request handling raises :class:`ApiError` (400 bad input, 413 over a limit, 429 queue full);
:func:`install_error_handlers` turns those, FastAPI's validation errors (422) and Starlette's
HTTP errors (404, 405) into that one shape, and anything unexpected into a logged 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("context_encoder.server")


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: str


class ApiError(Exception):
    """An error the client can act on: ``status`` and a one-line ``message``."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadInput(ApiError):
    """An image or mask that cannot be used (undecodable, wrong size, empty)."""

    status = 400


class TooLarge(ApiError):
    """An upload over the byte or pixel limit."""

    status = 413


class Busy(ApiError):
    """The model's queue is full: try again later."""

    status = 429


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the error statuses a route can answer."""
    what = {400: "bad image or mask", 413: "upload or image over the limits", 422: "missing or invalid field",
            429: "queue full, retry later", 500: "internal error"}
    content = {"application/json": {"schema": ErrorBody.model_json_schema()}}  # inline: not the route's PNG
    return {status: {"description": what[status], "content": content} for status in statuses}


def _field_message(errors: list[dict[str, Any]]) -> str:
    """One line from pydantic's validation errors: 'image: Field required; blend: ...'."""
    parts = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header", "form")]
        parts.append(f"{'.'.join(loc) or 'request'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` as :class:`ErrorBody`."""

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, err: ApiError) -> JSONResponse:
        return _error(err.status, err.message, {"Retry-After": "1"} if isinstance(err, Busy) else None)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, err: RequestValidationError) -> JSONResponse:
        return _error(422, _field_message(list(err.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, err: StarletteHTTPException) -> JSONResponse:
        return _error(err.status_code, str(err.detail), getattr(err, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, err: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=err)
        return _error(500, "internal error: see the server's log")
