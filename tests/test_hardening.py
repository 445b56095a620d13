"""Issue 25, case by case: every writer safe, one run per folder, a localhost server only for localhost.

Each test is named after its item of the issue (and its row of docs/reliability.md, second table)
and failed on the code before the fix. Runs are tiny (32 px, 1-2 steps).
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from serve_helpers import running_server

from context_encoder import Inpainter, atomic
from context_encoder.checkpoint import save_weights
from context_encoder.cli import main
from context_encoder.config import ModelConfig
from context_encoder.models import build_generator
from context_encoder.server.app import create_app

CFG = ModelConfig(image_size=32, bottleneck=32, nef=16, ngf=16, ndf=16)
TINY = ["--image-size", "32", "--bottleneck", "32", "--nef", "16", "--ngf", "16", "--ndf", "16", "--batch-size", "4",
        "--workers", "0", "--precision", "fp32", "--log-every", "1"]


def _train(data: Path, run: Path, steps: int, *extra: str) -> int:
    return main(["train", "--data", str(data), "--steps", str(steps), "--out", str(run), *TINY, *extra])


def _one_line_error(capsys: pytest.CaptureFixture, *needles: str) -> str:
    err = capsys.readouterr().err.strip()
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("warning:")
             and not re.match(r"^\s*train:.*\|", line)]  # the progress bar
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


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


# ---- 2: one process per run folder ----------------------------------------------------------------
def test_2_a_second_train_into_a_busy_folder_is_refused(image_dir: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    with atomic.locked_folder(run):  # another process training there
        assert _train(image_dir, run, 1) == 2
        _one_line_error(capsys, f"{run} is in use by another training process (pid ", "pick another --out")
        assert sorted(p.name for p in run.iterdir()) == [".lock"]  # nothing of a run written
    assert not run.exists()  # the lock's folder was made for it, and is gone with it
    assert _train(image_dir, run, 2) == 0  # free again
    assert not (run / ".lock").exists()
    assert [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2]


def test_2_a_second_resume_is_refused_and_leaves_the_run_as_it_was(image_dir: Path, tmp_path: Path,
                                                                    capsys) -> None:
    run = tmp_path / "run"
    assert _train(image_dir, run, 1) == 0
    capsys.readouterr()
    before = _snapshot(run)
    with atomic.locked_folder(run):
        assert main(["train", "--resume", str(run), "--steps", "2"]) == 2
        _one_line_error(capsys, "is in use by another training process")
    assert _snapshot(run) == before
    assert main(["train", "--resume", str(run), "--steps", "2"]) == 0


def test_2_two_real_processes_one_trains_the_other_is_told(image_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert _train(image_dir, run, 1) == 0
    cmd = [sys.executable, "-m", "context_encoder.cli", "train", "--resume", str(run), "--steps", "100000"]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while len((run / "metrics.jsonl").read_text().splitlines()) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        second = subprocess.run(cmd, capture_output=True, text=True, timeout=60)  # before: it trained too
        assert second.returncode == 2, second.stderr
        assert f"is in use by another training process (pid {first.pid})" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        first.terminate()  # SIGTERM: a checkpoint, then exit 0
        first.communicate(timeout=120)
    assert first.returncode == 0
    assert not (run / ".lock").exists()
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, len(steps) + 1))  # one writer: no step twice


# ---- 3: a run folder that overlaps its data ----------------------------------------------------------
@pytest.mark.parametrize("where", ["same", "inside", "through a link"])
def test_3_a_run_folder_in_the_data_is_refused(where: str, image_dir: Path, tmp_path: Path, capsys) -> None:
    run = {"same": image_dir, "inside": image_dir / "runs" / "a", "through a link": tmp_path / "link"}[where]
    if where == "through a link":
        run.symlink_to(image_dir, target_is_directory=True)
    before = _snapshot(image_dir)
    for flags in ([], ["--overwrite"]):
        assert _train(image_dir, run, 1, *flags) == 2
        _one_line_error(capsys, f"output {run}", f"the data folder {image_dir}", "read back as input")
    assert _snapshot(image_dir) == before and not (image_dir / "runs").exists()


def test_3_the_sample_grids_of_a_run_are_not_data_and_overwrite_deletes_no_input(image_dir: Path, tmp_path: Path,
                                                                                 capsys) -> None:
    run = tmp_path / "run"
    assert _train(image_dir, run, 1, "--sample-every", "1") == 0
    capsys.readouterr()
    before = _snapshot(run)
    cases = [["--data", str(run / "samples"), "--out", str(run), "--overwrite"],  # trains on its own grids
             ["--data", str(image_dir), "--out", str(run), "--overwrite", "--init", str(run)],  # deletes the init
             ["--data", str(image_dir), "--out", str(run), "--overwrite", "--config", str(run / "config.json")]]
    for flags in cases:
        assert main(["train", "--steps", "1", *TINY, *flags]) == 2
        _one_line_error(capsys, f"among the files of the run {run}", "pick another --out")
    assert _snapshot(run) == before
