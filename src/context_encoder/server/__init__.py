"""The web UI and HTTP API of ``context-encoder serve``: fill a painted hole through the Inpainter.

:func:`context_encoder.server.app.create_app` builds the FastAPI app around one
:class:`context_encoder.Inpainter`; model calls run one at a time in a worker thread
(:mod:`context_encoder.server.worker`) behind the request limits of
:mod:`context_encoder.server.limits`. The page lives in ``static/`` (no CDN, no build step).
"""
