"""Property-based checks of the HTTP API against its own OpenAPI schema (schemathesis + hypothesis).

Whatever a client sends, generated from the schema (valid and invalid fields, random bytes for the
files), the server answers without a 500, with a status the schema lists, and a body that matches
the schema of that status. A second property sends valid photos and masks of random sizes, modes
and holes: the answer is the photo, changed inside the hole only.
"""

from __future__ import annotations

import io

import numpy as np
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from context_encoder import Inpainter
from context_encoder.config import ModelConfig
from context_encoder.models import build_generator
from context_encoder.server.app import create_app
from context_encoder.server.limits import Limits

TINY = ModelConfig(image_size=32, bottleneck=32, nef=16, ngf=16, ndf=16, overlap=1)
# small limits, so that generated requests reach the 413 paths too
APP = create_app(Inpainter(build_generator(TINY), TINY, device="cpu"),
                 limits=Limits(max_upload_bytes=256 * 1024, max_pixels=200_000),
                 allowed_hosts=("testserver",))  # the Host schemathesis sends
SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", APP)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
BOUNDED = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                   suppress_health_check=list(HealthCheck))


@SCHEMA.parametrize()
@BOUNDED
def test_every_answer_matches_the_schema(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKS)


@st.composite
def photo_and_hole(draw: st.DrawFn) -> tuple[Image.Image, np.ndarray]:
    """A photo of random size and mode and a non-empty hole that leaves some context."""
    h, w = draw(st.integers(2, 90)), draw(st.integers(2, 90))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    mode = draw(st.sampled_from(["RGB", "RGBA", "L", "LA"]))
    pixels = rng.integers(0, 256, (h, w, len(mode)), dtype=np.uint8)
    top, left = draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))
    bottom, right = draw(st.integers(top + 1, h)), draw(st.integers(left + 1, w))
    hole = np.zeros((h, w), bool)
    hole[top:bottom, left:right] = True
    if hole.all():
        hole[draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))] = False
    return Image.fromarray(pixels if len(mode) > 1 else pixels[..., 0], mode), hole


@given(example=photo_and_hole(), blend=st.sampled_from(["hard", "feather", "poisson"]))
@settings(max_examples=30, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
def test_any_valid_photo_comes_back_changed_only_in_its_hole(example: tuple[Image.Image, np.ndarray],
                                                              blend: str) -> None:
    image, hole = example
    files = {}
    for name, img in (("image", image), ("mask", Image.fromarray(hole.astype(np.uint8) * 255))):
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        files[name] = (f"{name}.png", buf.getvalue())
    with TestClient(APP) as client:
        response = client.post("/api/v1/inpaint", files=files, data={"blend": blend})
    assert response.status_code == 200, response.text
    out = Image.open(io.BytesIO(response.content))
    assert out.size == image.size and out.mode == image.mode
    changed = np.asarray(out) != np.asarray(image)
    changed = changed.any(-1) if changed.ndim == 3 else changed
    assert not changed[~hole].any()
