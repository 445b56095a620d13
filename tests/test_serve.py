"""The HTTP API of ``context-encoder serve``: the fill, every error path, the queue under load, the CLI."""

from __future__ import annotations

import hashlib
import io
import logging
import re
import socket
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from serve_helpers import running_server

from context_encoder import Inpainter
from context_encoder.checkpoint import save_weights
from context_encoder.cli import COMMANDS, main
from context_encoder.commands.serve import is_loopback
from context_encoder.config import MAX_PIXELS, ModelConfig
from context_encoder.models import build_generator
from context_encoder.server import app as app_module
from context_encoder.server.app import create_app
from context_encoder.server.limits import Limits

TINY = ModelConfig(image_size=32, bottleneck=32, nef=16, ngf=16, ndf=16, overlap=1)
INPAINT = "/api/v1/inpaint"
LOCAL = "http://localhost"  # the Host the app answers (HostGuard)


def photo(h: int = 60, w: int = 84, seed: int = 0) -> np.ndarray:
    """A smooth random photo (H, W, 3) uint8."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    planes = [128 + 100 * np.sin(rng.uniform(2, 8) * xx + rng.uniform(2, 8) * yy + c) for c in range(3)]
    return np.clip(np.stack(planes, -1), 0, 255).astype(np.uint8)


def hole(h: int = 60, w: int = 84) -> np.ndarray:
    """A hole (H, W) bool: a box and a separate dot."""
    out = np.zeros((h, w), bool)
    out[h // 4 : h // 2, w // 3 : w // 2] = True
    out[h - 8 : h - 5, w - 10 : w - 6] = True
    return out


def encode(array: np.ndarray, fmt: str = "PNG", mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode).save(buf, format=fmt)
    return buf.getvalue()


def mask_png(hole_: np.ndarray) -> bytes:
    return encode(hole_.astype(np.uint8) * 255)


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height RGB pixels but holds almost none: a decompression bomb's header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised tiny center generator, saved as a checkpoint."""
    path = tmp_path_factory.mktemp("serve") / "generator.safetensors"
    save_weights(path, build_generator(TINY), TINY)
    return path


@pytest.fixture(scope="module")
def inpainter(weights: Path) -> Inpainter:
    return Inpainter.from_checkpoint(weights, "cpu")


@pytest.fixture
def client(inpainter: Inpainter, weights: Path) -> Iterator[TestClient]:
    with TestClient(create_app(inpainter, checkpoint=weights), base_url=LOCAL) as c:
        yield c


def post(client: TestClient, image: bytes | None, mask: bytes | None, **fields: str) -> httpx.Response:
    files = {k: (f"{k}.png", v) for k, v in (("image", image), ("mask", mask)) if v is not None}
    return client.post(INPAINT, files=files, data=fields)


def assert_error(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]
    assert "Traceback" not in response.text
    for word in words:
        assert word in body["error"].lower(), body["error"]


# ---- the fill ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("mode", "fmt"), [("RGB", "PNG"), ("RGBA", "PNG"), ("L", "PNG"), ("RGB", "JPEG")])
def test_inpaint_changes_only_the_hole_at_full_size(client: TestClient, mode: str, fmt: str) -> None:
    rgb = photo()
    pixels = {"RGB": rgb, "L": rgb[..., 0],
              "RGBA": np.dstack([rgb, np.linspace(40, 255, rgb.shape[1], dtype=np.uint8)[None].repeat(60, 0)])}[mode]
    data = encode(pixels, fmt)
    response = post(client, data, mask_png(hole()))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    out, original = Image.open(io.BytesIO(response.content)), Image.open(io.BytesIO(data))
    assert out.format == "PNG" and out.size == original.size and out.mode == original.mode
    changed = np.asarray(out) != np.asarray(original)
    changed = changed.any(-1) if changed.ndim == 3 else changed
    assert changed.any() and not changed[~hole()].any()


@pytest.mark.parametrize("blend", ["hard", "feather", "poisson"])
def test_per_request_blend_and_feather(client: TestClient, blend: str) -> None:
    image = photo()
    response = post(client, encode(image), mask_png(hole()), blend=blend, feather="3")
    assert response.status_code == 200, response.text
    assert not (decode(response.content) != image).any(-1)[~hole()].any()


def test_a_browser_mask_marks_only_its_opaque_painted_pixels(client: TestClient) -> None:
    """The page sends its canvas: transparent where unpainted, a colour where painted."""
    image, painted = photo(), hole()
    canvas = np.zeros((*painted.shape, 4), np.uint8)
    canvas[painted] = (255, 45, 85, 255)
    canvas[:5, :5] = (255, 45, 85, 0)  # a colour with no opacity is not hole
    response = post(client, encode(image), encode(canvas))
    assert response.status_code == 200, response.text
    changed = (decode(response.content) != image).any(-1)
    assert changed.any() and not changed[~painted].any()


def test_exif_rotated_photo_takes_a_mask_as_displayed(client: TestClient) -> None:
    raw = Image.fromarray(photo())  # 84x60 as stored; orientation 6: shown 60x84
    exif = raw.getexif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    raw.save(buf, format="JPEG", exif=exif.tobytes())
    shown = np.asarray(Image.open(io.BytesIO(buf.getvalue())).transpose(Image.Transpose.ROTATE_270))
    response = post(client, buf.getvalue(), mask_png(hole(84, 60)))
    assert response.status_code == 200, response.text
    out = decode(response.content)
    assert out.shape == (84, 60, 3) and not (out != shown).any(-1)[~hole(84, 60)].any()
    assert_error(post(client, buf.getvalue(), mask_png(hole(60, 84))), 400, "60x84")


def test_a_jpeg_mask_is_read_as_drawn_and_an_inverted_one_warns_in_a_header(client: TestClient) -> None:
    image, painted = photo(), hole()
    response = post(client, encode(image), encode(painted.astype(np.uint8) * 255, "JPEG"))
    assert response.status_code == 200, response.text
    changed = (decode(response.content) != image).any(-1)
    assert changed.any() and not changed[~painted].any()  # compression noise around the hole is no hole
    assert "x-inpaint-warning" not in response.headers
    inverted = post(client, encode(image), mask_png(~painted))
    assert inverted.status_code == 200, inverted.text
    assert inverted.headers["x-inpaint-warning"] == ("the mask hides 96% of the image: is it inverted? "
                                                     "(white / non-zero = hole)")


def test_health_model_page_and_docs(client: TestClient, weights: Path) -> None:
    assert client.get("/api/v1/health").json() == {"status": "ok", "busy": False, "waiting": 0, "queue_size": 4}
    model = client.get("/api/v1/model").json()
    assert model["arch"] == "center" and model["image_size"] == 32 and model["checkpoint"] == str(weights)
    assert model["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert model["inpaint"]["blend"] == "poisson" and model["limits"]["max_pixels"] == MAX_PIXELS
    page = client.get("/")
    assert page.status_code == 200 and '<canvas id="mask"' in page.text
    scripts = ("app.js", "input.js", "view.js", "mask.js", "history.js")  # ES modules: app.js imports the rest
    for name, kind in (*((script, "javascript") for script in scripts), ("style.css", "text/css")):
        asset = client.get(f"/static/{name}")
        assert asset.status_code == 200 and kind in asset.headers["content-type"]
    assert "http" not in page.text.replace("http-equiv", "")  # nothing from a CDN: works offline
    assert client.get("/docs").status_code == 200
    assert set(client.get("/openapi.json").json()["paths"]) == {"/api/v1/inpaint", "/api/v1/health", "/api/v1/model"}


# ---- bad input ---------------------------------------------------------------------------------
def test_bad_images_and_masks_are_400(client: TestClient) -> None:
    image, mask = encode(photo()), mask_png(hole())
    assert_error(post(client, b"not an image", mask), 400, "cannot read the image")
    assert_error(post(client, image, b"GIF89a garbage"), 400, "cannot read the mask")
    assert_error(post(client, b"", mask), 400, "empty")
    assert_error(post(client, image[: len(image) // 2], mask), 400, "cannot decode the image")
    assert_error(post(client, image, mask_png(hole(60, 80))), 400, "80x60", "84x60")
    assert_error(post(client, image, mask_png(np.zeros((60, 84), bool))), 400, "mask is empty")
    assert_error(post(client, image, mask_png(np.ones((60, 84), bool))), 400, "whole image")
    assert_error(post(client, image, mask, feather="1000"), 400, "feather")


def test_missing_or_invalid_fields_are_422(client: TestClient) -> None:
    image, mask = encode(photo()), mask_png(hole())
    assert_error(post(client, None, mask), 422, "image")
    assert_error(post(client, image, None), 422, "mask")
    assert_error(client.post(INPAINT), 422)
    assert_error(post(client, image, mask, blend="median"), 422, "blend")
    assert_error(post(client, image, mask, feather="0"), 422, "feather")
    assert_error(client.post(INPAINT, data={"image": "text", "mask": "text"}), 422)


def test_other_http_errors_are_json(client: TestClient) -> None:
    assert_error(client.get("/nowhere"), 404)
    assert_error(client.delete("/api/v1/health"), 405)


def test_over_the_pixel_limit_is_413_before_decoding(inpainter: Inpainter) -> None:
    with TestClient(create_app(inpainter, limits=Limits(max_pixels=4000)), base_url=LOCAL) as client:
        assert_error(post(client, encode(photo()), mask_png(hole())), 413, "megapixels")
        assert_error(post(client, encode(photo(50, 50)), png_header(100, 100)), 413, "mask too large")
    with TestClient(create_app(inpainter), base_url=LOCAL) as client:
        started = time.perf_counter()
        assert_error(post(client, png_header(9000, 6000), mask_png(hole())), 413, "54.0 megapixels")
        assert_error(post(client, png_header(60000, 60000), mask_png(hole())), 413, "too large")  # Pillow's own
        assert time.perf_counter() - started < 2.0  # 3.6 gigapixels were never decoded


def test_over_the_byte_limit_is_413(inpainter: Inpainter) -> None:
    big = np.random.default_rng(0).integers(0, 256, (120, 120, 3), dtype=np.uint8)  # ~43 kB of PNG
    with TestClient(create_app(inpainter, limits=Limits(max_upload_bytes=16 * 1024)), base_url=LOCAL) as client:
        assert_error(post(client, encode(big), mask_png(hole(120, 120))), 413, "upload too large", "0.015625 mb")
        request = client.build_request("POST", INPAINT, files={"image": ("a.png", encode(big)),
                                                               "mask": ("m.png", mask_png(hole(120, 120)))})
        body = request.read()
        chunked = client.post(INPAINT, content=iter([body[i : i + 4096] for i in range(0, len(body), 4096)]),
                              headers={"content-type": request.headers["content-type"]})
        assert_error(chunked, 413, "upload too large")
        assert post(client, encode(photo()), mask_png(hole())).status_code == 200  # under it: fine


# ---- load --------------------------------------------------------------------------------------
class GatedInpainter:
    """The real Inpainter, held at a gate: fills wait until the test opens it."""

    def __init__(self, inner: Inpainter, delay: float = 0.0) -> None:
        self.inner, self.cfg, self.config = inner, inner.cfg, inner.config
        self.gate, self.delay, self.calls = threading.Event(), delay, 0

    def inpaint(self, *args: object, **kwargs: object) -> Image.Image:
        self.calls += 1
        assert self.gate.wait(10)
        time.sleep(self.delay)
        return self.inner.inpaint(*args, **kwargs)


def wait_for(client: TestClient, **expected: object) -> dict:
    for _ in range(500):
        health = client.get("/api/v1/health").json()
        if all(health[k] == v for k, v in expected.items()):
            return health
        time.sleep(0.01)
    raise AssertionError(f"health never reached {expected}: {health}")


def test_full_queue_is_429_at_once_and_health_answers_during_a_fill(inpainter: Inpainter) -> None:
    gated = GatedInpainter(inpainter)
    image, mask = encode(photo()), mask_png(hole())
    with TestClient(create_app(gated, limits=Limits(queue_size=2)), base_url=LOCAL) as client:
        results: list[int] = []

        def send() -> None:
            results.append(post(client, image, mask).status_code)

        threads = [threading.Thread(target=send) for _ in range(3)]
        threads[0].start()
        started = time.perf_counter()
        wait_for(client, busy=True)  # /health answers while the model is busy
        for t in threads[1:]:
            t.start()
        health = wait_for(client, busy=True, waiting=2)
        assert time.perf_counter() - started < 5 and health["queue_size"] == 2
        for _ in range(3):
            assert_error(post(client, image, mask), 429, "busy")  # refused at once, the gate still shut
        gated.gate.set()
        for t in threads:
            t.join(10)
        assert results == [200, 200, 200] and gated.calls == 3
        assert wait_for(client, busy=False, waiting=0)


def test_concurrent_requests_are_all_answered_none_lost_none_mixed_up(inpainter: Inpainter) -> None:
    gated = GatedInpainter(inpainter, delay=0.02)
    gated.gate.set()
    images = [photo(seed=i) for i in range(12)]
    answers: dict[int, httpx.Response] = {}
    with TestClient(create_app(gated, limits=Limits(queue_size=3)), base_url=LOCAL) as client:
        barrier = threading.Barrier(len(images))

        def send(i: int) -> None:
            barrier.wait()
            answers[i] = post(client, encode(images[i]), mask_png(hole()))

        threads = [threading.Thread(target=send, args=(i,)) for i in range(len(images))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert sorted(answers) == list(range(len(images)))
    codes = [answers[i].status_code for i in range(len(images))]
    assert set(codes) <= {200, 429} and codes.count(200) >= 4 and codes.count(200) == gated.calls
    for i, response in answers.items():
        if response.status_code == 200:  # each answer is the fill of its own photo
            assert not (decode(response.content) != images[i]).any(-1)[~hole()].any()
        else:
            assert_error(response, 429, "busy")


@contextmanager
def uvicorn_serving(app: object) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread (real connections, which a client may close); yield its URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def test_a_request_whose_client_goes_away_while_queued_is_dropped_unrun(
        inpainter: Inpainter, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="context_encoder.server.access")
    gated = GatedInpainter(inpainter)
    image, mask = encode(photo()), mask_png(hole())
    with uvicorn_serving(create_app(gated)) as url, httpx.Client(base_url=url) as client:
        first: list[int] = []
        running = threading.Thread(target=lambda: first.append(post(client, image, mask).status_code))
        running.start()
        wait_for(client, busy=True)
        request = client.build_request("POST", INPAINT, files={"image": ("p.png", image), "mask": ("m.png", mask)})
        head = "".join(f"{k}: {v}\r\n" for k, v in request.headers.items())
        with socket.create_connection(("127.0.0.1", client.base_url.port)) as queued:  # the page's Cancel: closed
            queued.sendall(f"POST {INPAINT} HTTP/1.1\r\n{head}\r\n".encode() + request.read())
            wait_for(client, busy=True, waiting=1)
        for _ in range(500):  # the server sees it gone while the first fill still holds the model
            if any(f"POST {INPAINT} 499" in r.getMessage() for r in caplog.records):
                break
            time.sleep(0.01)
        else:
            raise AssertionError("no 499 in the access log: the closed request was not seen gone")
        gated.gate.set()
        running.join(10)
        wait_for(client, busy=False, waiting=0)
    assert first == [200] and gated.calls == 1


# ---- the access log ----------------------------------------------------------------------------
def test_one_access_log_line_per_request(inpainter: Inpainter, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="context_encoder.server.access")
    with TestClient(create_app(inpainter, limits=Limits(max_upload_bytes=2048)), base_url=LOCAL) as client:
        client.get("/api/v1/health")
        client.get("/nowhere")
        client.post(INPAINT, files={"image": ("a.png", bytes(4096)), "mask": ("m.png", b"x")})  # over the limit
    lines = [r.getMessage() for r in caplog.records if r.name == "context_encoder.server.access"]
    assert len(lines) == 3, lines
    for line, expected in zip(lines, ("GET /api/v1/health 200 ", "GET /nowhere 404 ", "POST /api/v1/inpaint 413 ")):
        assert re.fullmatch(re.escape(expected) + r"\d+ ms", line), line


def test_an_unexpected_error_is_logged_as_500(inpainter: Inpainter, caplog: pytest.LogCaptureFixture,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(app_module, "fill", broken)
    caplog.set_level(logging.INFO, logger="context_encoder.server")
    with TestClient(create_app(inpainter), raise_server_exceptions=False, base_url=LOCAL) as client:
        assert_error(post(client, encode(photo()), mask_png(hole())), 500, "internal error")
    logged = [r.getMessage() for r in caplog.records if r.name.endswith(".access")]
    assert len(logged) == 1 and logged[0].startswith("POST /api/v1/inpaint 500 "), logged


# ---- the command -------------------------------------------------------------------------------
def test_a_port_in_use_says_so_in_one_line(weights: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", "--port", str(port), "--checkpoint", str(weights), "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"context-encoder serve: error: port {port} is in use: pass --port N (0 picks a free port)"


@pytest.mark.parametrize("command", COMMANDS)
def test_help_is_self_contained(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    """An installed package has no docs/ folder: no help may send the reader there."""
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "docs/" not in text and "serve.md" not in text
    if command == "serve":
        for needed in ("POST /api/v1/inpaint", "X-Inpaint-Warning", "429", "/api/v1/health", "curl -F image=@"):
            assert needed in " ".join(text.split()), needed


def test_loopback_hosts() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "[::1]", "127.1.2.3"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.4", "example.org"))


def test_a_public_host_warns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.warns(UserWarning, match="--host 0.0.0.0: the API is open to the network"):
        code = main(["serve", "--host", "0.0.0.0", "--checkpoint", str(tmp_path / "missing")])
    assert code == 2 and "no checkpoint found" in capsys.readouterr().err


@pytest.mark.parametrize(("flags", "message"), [(["--queue-size", "0"], "queue size"),
                                               (["--max-pixels", "inf"], "finite"),
                                               (["--max-upload-mb", "0"], "upload size"),
                                               (["--port", "70000"], "--port")])
def test_bad_limits_fail_up_front(flags: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", *flags]) == 2
    assert message in capsys.readouterr().err


def test_serve_command_round_trip_and_clean_ctrl_c(weights: Path, tmp_path: Path) -> None:
    with running_server("--checkpoint", str(weights), "--max-upload-mb", "0.5") as (url, proc):
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{url}api/v1/health").json()["status"] == "ok"
        image = photo()
        response = httpx.post(f"{url}api/v1/inpaint", files={"image": encode(image), "mask": mask_png(hole())})
        assert response.status_code == 200
        assert not (decode(response.content) != image).any(-1)[~hole()].any()
        # over the limit, streamed without a length: the answer still arrives whole
        form = httpx.Request("POST", url, files={"image": bytes(1 << 20), "mask": mask_png(hole())})
        body = form.read()
        chunks = (body[i : i + 65536] for i in range(0, len(body), 65536))
        big = httpx.post(f"{url}api/v1/inpaint", content=chunks, headers={"content-type": form.headers["content-type"]})
        assert "content-length" not in big.request.headers
        assert_error(big, 413, "0.5 mb")
    out, err = proc.stdout_text, proc.stderr_text
    assert proc.returncode == 0 and "Traceback" not in out + err, err
    assert re.search(r"^\d\d:\d\d:\d\d GET /api/v1/health 200 \d+ ms$", err, re.M), err  # the access log
    assert re.search(r"^\d\d:\d\d:\d\d POST /api/v1/inpaint 413 \d+ ms$", err, re.M), err
    assert "Ctrl-C" in out and "stopped" in out
