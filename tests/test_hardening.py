"""Issue 25, case by case: every writer safe, one run per folder, a localhost server only for localhost.

Each test is named after its item of the issue (and its row of docs/reliability.md, second table)
and failed on the code before the fix. Runs are tiny (32 px, 1-2 steps).
"""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from serve_helpers import running_server

from context_encoder import Inpainter
from context_encoder.checkpoint import save_weights
from context_encoder.config import ModelConfig
from context_encoder.models import build_generator
from context_encoder.server.app import create_app

CFG = ModelConfig(image_size=32, bottleneck=32, nef=16, ngf=16, ndf=16)


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def _fill_request() -> dict[str, tuple[str, bytes]]:
    picture = np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    hole = np.zeros((40, 48), np.uint8)
    hole[10:20, 12:30] = 255
    return {"image": ("a.png", _png(picture)), "mask": ("m.png", _png(hole))}


class CountingInpainter:
    """The real Inpainter, counting its fills: a refused request must never reach the model."""

    def __init__(self, inner: Inpainter) -> None:
        self.inner, self.cfg, self.config, self.calls = inner, inner.cfg, inner.config, 0

    def inpaint(self, *args: object, **kwargs: object) -> Image.Image:
        self.calls += 1
        return self.inner.inpaint(*args, **kwargs)


@pytest.fixture(scope="module")
def inpainter() -> CountingInpainter:
    return CountingInpainter(Inpainter(build_generator(CFG), CFG, device="cpu"))


# ---- 1: the server answers only to its own names and its own page --------------------------------
@pytest.mark.parametrize("host", ["evil.example", "evil.example:7860", "127.0.0.1.nip.io", "192.168.1.4", ""])
def test_1_a_foreign_host_is_refused(host: str, inpainter: CountingInpainter) -> None:
    calls = inpainter.calls
    with TestClient(create_app(inpainter), base_url="http://localhost") as client:
        for response in (client.get("/api/v1/model", headers={"Host": host}),
                         client.get("/", headers={"Host": host}),
                         client.post("/api/v1/inpaint", files=_fill_request(), headers={"Host": host})):
            assert response.status_code == 403, response.text
            assert "is not served here" in response.json()["error"]
    assert inpainter.calls == calls


@pytest.mark.parametrize("host", ["localhost", "localhost:7860", "127.0.0.1:7860", "127.0.0.2", "[::1]:7860",
                                  "LOCALHOST.", "app.localhost:80"])
def test_1_loopback_hosts_are_answered(host: str, inpainter: CountingInpainter) -> None:
    with TestClient(create_app(inpainter), base_url="http://localhost") as client:
        assert client.get("/api/v1/model", headers={"Host": host}).status_code == 200


def test_1_allowed_hosts_extend_the_list(inpainter: CountingInpainter) -> None:
    from context_encoder.commands.serve import allowed_hosts

    with TestClient(create_app(inpainter, allowed_hosts=["192.168.1.4", "box.lan"]), base_url="http://x") as client:
        for host in ("192.168.1.4:7860", "BOX.lan", "localhost"):
            assert client.get("/api/v1/health", headers={"Host": host}).status_code == 200
        assert client.get("/api/v1/health", headers={"Host": "evil.example"}).status_code == 403
    assert allowed_hosts("0.0.0.0", []) == [] and allowed_hosts("::", ["a"]) == ["a"]
    assert allowed_hosts("192.168.1.4", ["b"]) == ["192.168.1.4", "b"]


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://localhost:9999",
                                    "file://"])
def test_1_a_post_from_another_origin_is_refused_before_any_work(origin: str, inpainter: CountingInpainter) -> None:
    calls = inpainter.calls
    with TestClient(create_app(inpainter), base_url="http://localhost") as client:
        response = client.post("/api/v1/inpaint", files=_fill_request(), headers={"Origin": origin})
    assert response.status_code == 403 and "only this server's own page" in response.json()["error"]
    assert inpainter.calls == calls  # the model never ran
    assert not any(k.lower().startswith("access-control") for k in response.headers)


def test_1_the_own_page_and_scripts_may_post_and_no_cors_is_sent(inpainter: CountingInpainter) -> None:
    with TestClient(create_app(inpainter), base_url="http://localhost") as client:
        own = client.post("/api/v1/inpaint", files=_fill_request(), headers={"Origin": "http://localhost"})
        script = client.post("/api/v1/inpaint", files=_fill_request())  # curl, httpx: no Origin
        read = client.get("/api/v1/model", headers={"Origin": "http://evil.example"})
        preflight = client.options("/api/v1/inpaint", headers={"Origin": "http://evil.example",
                                                               "Access-Control-Request-Method": "POST"})
    assert own.status_code == 200 and script.status_code == 200
    assert preflight.status_code in (403, 405)
    for response in (own, script, read, preflight):
        assert not any(k.lower().startswith("access-control") for k in response.headers)


def test_1_the_serve_command_refuses_a_foreign_host(tmp_path: Path) -> None:
    weights = tmp_path / "g.safetensors"
    save_weights(weights, build_generator(CFG), CFG)
    with running_server("--checkpoint", str(weights)) as (url, _served):
        assert httpx.get(f"{url}api/v1/health").status_code == 200
        assert httpx.get(f"{url}api/v1/health", headers={"Host": "evil.example"}).status_code == 403
        port = url.rsplit(":", 1)[1].rstrip("/")
        foreign = httpx.post(f"{url}api/v1/inpaint", files=_fill_request(),
                             headers={"Origin": "http://evil.example", "Host": f"127.0.0.1:{port}"})
        assert foreign.status_code == 403
