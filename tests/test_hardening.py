"""Issue 25, case by case: every writer safe, one run per folder, a localhost server only for localhost.

Each test is named after its item of the issue (and its row of docs/reliability.md, second table)
and failed on the code before the fix. Runs are tiny (32 px, 1-2 steps).
"""

from __future__ import annotations

import ast
import errno
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from conftest import one_line_error as _one_line_error
from fastapi.testclient import TestClient
from PIL import Image
from serve_helpers import running_server

from context_encoder import Inpainter, atomic
from context_encoder.checkpoint import find_checkpoint, save_weights
from context_encoder.cli import main
from context_encoder.config import ModelConfig
from context_encoder.models import build_generator
from context_encoder.server.app import create_app

CFG = ModelConfig(image_size=32, bottleneck=32, nef=16, ngf=16, ndf=16)
TINY = ["--image-size", "32", "--bottleneck", "32", "--nef", "16", "--ngf", "16", "--ndf", "16", "--batch-size", "4",
        "--workers", "0", "--precision", "fp32", "--log-every", "1"]


def _train(data: Path, run: Path, steps: int, *extra: str) -> int:
    return main(["train", "--data", str(data), "--steps", str(steps), "--out", str(run), *TINY, *extra])


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


# ---- 4: no output over a checkpoint, a config or inside a data folder --------------------------------
def _step_dir(run: Path) -> Path:
    return find_checkpoint(run).parent


def _labelled(root: Path) -> tuple[Path, Path]:
    from test_probe import write_labelled

    write_labelled(root / "train", 4, seed=0)
    write_labelled(root / "test", 2, seed=1)
    return root / "train", root / "test"


def test_4_no_output_replaces_a_checkpoint_or_config(tiny_checkpoint: Path, image_dir: Path, tmp_path: Path,
                                                     capsys) -> None:
    run, step = tiny_checkpoint, _step_dir(tiny_checkpoint)
    train, test = _labelled(tmp_path / "labelled")
    before = _snapshot(run)
    probe = ["probe", "--checkpoint", str(run), "--train", str(train), "--test", str(test), "--overwrite"]
    cases = [
        ["features", "--checkpoint", str(step / "generator.safetensors"), "--data", str(image_dir),
         "-o", str(step / "generator.safetensors"), "--overwrite"],
        ["features", "--checkpoint", str(run), "--data", str(image_dir), "-o", str(step / "generator.safetensors"),
         "--overwrite"],
        [*probe, "-o", str(run / "config.json")],
        [*probe, "-o", str(step / "model.json")],
        ["plot", str(run), "-o", str(run / "config.json"), "--overwrite"],
        ["plot", str(run), "-o", str(run / "metrics.jsonl"), "--overwrite"],
        ["export", "--checkpoint", str(run), "--format", "onnx", "-o", str(step / "model.json"), "--overwrite"],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        _one_line_error(capsys, "would replace the", "'s file")
    assert _snapshot(run) == before


def test_4_no_output_inside_a_data_folder(image_dir: Path, tmp_path: Path, capsys) -> None:
    train, test = _labelled(tmp_path / "labelled")
    before = _snapshot(image_dir), _snapshot(train)
    model = ["--random-init", "--nef", "8", "--bottleneck", "16", "--device", "cpu"]
    cases = [["features", *model, "--data", str(image_dir), "-o", str(image_dir / "feats.npz")],
             ["probe", *model, "--train", str(train), "--test", str(test), "-o", str(train / "red" / "p.json")],
             ["evaluate", "--data", str(image_dir), "--report", str(image_dir)],
             ["evaluate", "--data", str(image_dir), "--report", str(image_dir / "report")]]
    for argv in cases:
        assert main(argv) == 2, argv
        _one_line_error(capsys, "folder", "read back as input")
    assert (_snapshot(image_dir), _snapshot(train)) == before


# ---- 5: every writer through atomic.py ----------------------------------------------------------------
def _write_each(kind: str, out: Path, image_dir: Path, tmp_path: Path, *extra: str) -> int:
    model = ["--random-init", "--nef", "8", "--bottleneck", "16", "--device", "cpu"]
    if kind == "features":
        return main(["features", *model, "--data", str(image_dir), "-o", str(out), *extra])
    if kind == "probe":
        train, test = _labelled(tmp_path / "labelled")
        return main(["probe", *model, "--train", str(train), "--test", str(test), "-o", str(out), *extra])
    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    (run / "metrics.jsonl").write_text("".join(json.dumps({"step": s, "loss_rec": 1 / s}) + "\n" for s in (1, 2, 3)))
    return main(["plot", str(run), "-o", str(out), *extra])


@pytest.mark.parametrize(("kind", "name"), [("features", "f.npz"), ("features", "f.safetensors"),
                                            ("probe", "p.json"), ("plot", "curves.png")])
def test_5_and_9_a_link_at_the_output_is_replaced_not_followed_and_needs_overwrite(
        kind: str, name: str, image_dir: Path, tmp_path: Path, capsys) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out" / name
    out.parent.mkdir()
    out.symlink_to(victim)
    assert _write_each(kind, out, image_dir, tmp_path) == 2  # 9: like inpaint and export, no silent replace
    _one_line_error(capsys, f"{out} exists (pass --overwrite to replace it)")
    assert _write_each(kind, out, image_dir, tmp_path, "--overwrite") == 0
    assert victim.read_text() == "precious" and not out.is_symlink() and out.stat().st_size > 0
    assert sorted(p.name for p in out.parent.iterdir()) == [name]  # no temporary file left


def test_5_evaluate_does_not_follow_a_link_at_its_old_temp_name(image_dir: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    report = tmp_path / "report"
    report.mkdir()
    for name in ("summary.json", "per_image.csv", "table.md", "examples.png"):
        (report / f".{name}.tmp-{os.getpid()}").symlink_to(victim)  # the name evaluate used, predictable
    assert main(["evaluate", "--data", str(image_dir), "--methods", "mean-fill", "--examples", "2",
                 "--report", str(report), "--device", "cpu"]) == 0
    assert victim.read_text() == "precious"
    assert json.loads((report / "summary.json").read_text())


# The calls that write a file, and the only ways they may get one: a file object or temporary path
# from atomic_open / atomic_path, or an in-memory buffer. A new writer that bypasses atomic.py fails here.
WRITERS = {"savefig", "save", "savez", "savez_compressed", "save_file", "save_image", "write_text", "write_bytes",
           "tofile", "dump", "fdopen", "SummaryWriter", "to_csv"}
SHUTIL = {"copy", "copy2", "copyfile", "copytree", "move"}  # as shutil.NAME
# call sites whose target comes from their caller (checked there): module -> {function: why}
PASSED_IN = {
    "training/samples.py": {"save_image": "its path is the atomic_path of loop._loop"},
    "inpainting/export.py": {"save": "onnx.save and torch.jit.save to the atomic_path of commands/export.py"},
    "training/logs.py": {"SummaryWriter": "TensorBoard's own event files (docs/reliability.md: not covered)"},
}


def _writes(tree: ast.AST) -> list[tuple[str, int, ast.Call]]:
    """(name, line, call) of every call that may write a file: WRITERS and open() in a write mode."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name == "open":
            on_os = isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "os"
            modes = [a.value for a in [*node.args, *(k.value for k in node.keywords if k.arg == "mode")]
                     if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if on_os or any(set(m) & set("wax+") for m in modes):  # builtin, Path.open, os.open
                found.append((name, node.lineno, node))
        elif name in WRITERS or (name in SHUTIL and isinstance(func, ast.Attribute)
                                 and getattr(func.value, "id", "") == "shutil"):
            found.append((name, node.lineno, node))
    return found


def _safe_targets(tree: ast.AST) -> set[str]:
    """Names bound by ``with atomic_open(...) as X`` / ``atomic_path``, or to an in-memory buffer."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.withitem) and isinstance(node.context_expr, ast.Call):
            func = node.context_expr.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("atomic_open", "atomic_path") and isinstance(node.optional_vars, ast.Name):
                names.add(node.optional_vars.id)
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            func = node.value.func
            if (func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")) in ("BytesIO", "StringIO"):
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def test_5_every_file_the_package_writes_goes_through_atomic() -> None:
    root = Path(__file__).resolve().parents[1] / "src" / "context_encoder"
    bypass = []
    for path in sorted(root.rglob("*.py")):
        module = path.relative_to(root).as_posix()
        if module == "atomic.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # functions of this package (atomic.write_text, imageio.save_image): checked where they are defined
        ours = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                and (n.module or "").startswith("context_encoder") for a in n.names}
        safe = _safe_targets(tree)
        for name, line, call in _writes(tree):
            if isinstance(call.func, ast.Name) and name in ours:
                continue
            if any(isinstance(a, ast.Name) and a.id in safe for a in call.args):
                continue
            if name in PASSED_IN.get(module, {}):
                continue
            bypass.append(f"{module}:{line} {name}(...)")
    assert not bypass, f"writers that bypass atomic.py: {bypass}"
    probe = "open(p, 'w'); p.open('ab'); os.open(p, 1); np.savez(p); fig.savefig(p); p.write_text('x'); open(p)"
    assert [name for name, _, _ in _writes(ast.parse(probe))] == ["open", "open", "open", "savez", "savefig",
                                                                   "write_text"]


# ---- 9: the smaller ones ------------------------------------------------------------------------------
def _animated(fmt: str) -> bytes:
    frames = [Image.fromarray(np.full((40, 48, 3), v, np.uint8)) for v in (30, 200)]
    buf = io.BytesIO()
    frames[0].save(buf, format=fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_9_the_server_refuses_animated_uploads_as_the_cli_does(fmt: str, inpainter: CountingInpainter) -> None:
    files = _fill_request()
    with TestClient(create_app(inpainter), base_url="http://localhost") as client:
        response = client.post("/api/v1/inpaint", files={"image": ("a", _animated(fmt)), "mask": files["mask"]})
    assert response.status_code == 400 and "animated" in response.json()["error"]


def test_9_head_health_is_answered(inpainter: CountingInpainter) -> None:
    with TestClient(create_app(inpainter), base_url="http://localhost") as client:
        response = client.head("/api/v1/health")
    assert response.status_code == 200 and response.content == b""


def test_9_nan_weights_are_refused_in_one_line(tmp_path: Path, capsys) -> None:
    import torch

    net = build_generator(CFG)
    with torch.no_grad():
        next(net.parameters()).fill_(float("nan"))
    weights = tmp_path / "g.safetensors"
    save_weights(weights, net, CFG)
    image = tmp_path / "in.png"
    Image.fromarray(np.zeros((40, 48, 3), np.uint8)).save(image)
    assert main(["inpaint", str(image), "-o", str(tmp_path / "out.png"), "--checkpoint", str(weights)]) == 2
    _one_line_error(capsys, "holds NaN or infinite weights", "use an earlier checkpoint")
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("window", ["0", "-5"])
def test_9_plot_window_below_one_is_one_line(window: str, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text("".join(json.dumps({"step": s, "loss_rec": 1 / s}) + "\n" for s in (1, 2, 3)))
    assert main(["plot", str(run), "--window", window]) == 2
    _one_line_error(capsys, "--window must be >= 1")
    assert not (run / "loss_curves.png").exists()


def test_9_an_unwritable_report_fails_before_the_run(image_dir: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    from context_encoder.evaluation import evaluate

    ran = []
    monkeypatch.setattr(evaluate, "evaluate", lambda **kw: ran.append(kw))  # the run must not start
    monkeypatch.setattr(atomic.os, "access", lambda *a, **k: False)  # as a read-only place
    assert main(["evaluate", "--data", str(image_dir), "--report", str(tmp_path / "report")]) == 2
    _one_line_error(capsys, "cannot write the report", "no write permission")
    assert not ran


# ---- 8: export --opset is honoured or refused ---------------------------------------------------------
def test_8_export_opset_is_honoured_or_refused(tiny_checkpoint: Path, tmp_path: Path, capsys) -> None:
    onnx = pytest.importorskip("onnx")
    out = tmp_path / "g.onnx"
    base = ["export", "--checkpoint", str(tiny_checkpoint), "-o", str(out)]
    for opset in ("99999", "-1", "0"):
        assert main([*base, "--format", "onnx", "--opset", opset]) == 2
        _one_line_error(capsys, "--opset must be in [1, ")
    assert main([*base, "--format", "torchscript", "--opset", "17"]) == 2
    _one_line_error(capsys, "--opset is for --format onnx")
    assert main([*base, "--format", "onnx", "--opset", "13"]) == 2  # before: opset 18 written, rc 0
    _one_line_error(capsys, "wrote opset 18, not --opset 13", "nothing written")
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert main([*base, "--format", "onnx", "--opset", "17"]) == 0
    assert {o.domain: o.version for o in onnx.load(str(out)).opset_import}[""] == 17


# ---- 6 (in part): a full disk leaves no partial output ---------------------------------------------------
@pytest.mark.parametrize("name", ["f.npz", "f.safetensors"])
def test_6_features_on_a_full_disk_leave_no_partial_file(name: str, image_dir: Path, tmp_path: Path, capsys,
                                                         monkeypatch) -> None:
    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full)  # the data did not reach the disk
    out = tmp_path / "out" / name
    assert _write_each("features", out, image_dir, tmp_path) == 2
    _one_line_error(capsys, f"No space left on device: cannot write {out}")
    assert list(out.parent.iterdir()) == []  # before: a truncated file at the output name


def _full_torch_save(obj: object, f: object, *args: object, **kwargs: object) -> None:
    """torch.save on a full disk, as it fails there: part written, then the zip writer's complaint
    raised while the OSError is handled."""
    f.write(b"PK\x03\x04 part of a zip")
    try:
        raise OSError(errno.ENOSPC, "No space left on device")
    except OSError:
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598") from None


def _full_for(part: str):  # noqa: ANN202 - a stand-in for os.fsync: full for files whose name holds part
    real = os.fsync

    def fsync(fd: int) -> None:
        if part in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd)
    return fsync


@pytest.mark.parametrize("fault", ["training state (torch.save)", "weights (safetensors)"])
def test_6_a_full_disk_during_a_checkpoint_names_it_in_one_line(fault: str, image_dir: Path, tmp_path: Path,
                                                               capsys, monkeypatch) -> None:
    run = tmp_path / "run"
    assert _train(image_dir, run, 1) == 0
    capsys.readouterr()
    with monkeypatch.context() as m:
        if fault.startswith("training state"):
            m.setattr("context_encoder.checkpoint.torch.save", _full_torch_save)
        else:
            m.setattr(atomic.os, "fsync", _full_for(".safetensors."))  # the weights in a checkpoint
        assert main(["train", "--resume", str(run), "--steps", "2"]) == 2  # before: unexpected RuntimeError, rc 1
        line = _one_line_error(capsys, f"No space left on device: cannot write {run / 'checkpoints' / 'step_0000002'}")
        assert "unexpected" not in line
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["latest", "step_0000001"]  # no partial step
    assert (run / "checkpoints" / "latest").read_text() == "step_0000001"
    assert main(["train", "--resume", str(run), "--steps", "2"]) == 0  # room again: it goes on
    assert find_checkpoint(run).parent.name == "step_0000002"


def test_6_a_full_disk_names_the_output_of_inpaint_and_export(tiny_checkpoint: Path, tmp_path: Path, capsys,
                                                              monkeypatch) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(_png(np.full((40, 48, 3), 120, np.uint8)))
    mask = np.zeros((40, 48), np.uint8)
    mask[10:20, 10:20] = 255
    (tmp_path / "mask.png").write_bytes(_png(mask))
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(atomic.os, "fsync", _full_for(""))
    assert main(["inpaint", str(photo), "--mask", str(tmp_path / "mask.png"), "--checkpoint", str(tiny_checkpoint),
                 "-o", str(out / "filled.png"), "--device", "cpu"]) == 2  # before: no path in the message
    _one_line_error(capsys, f"No space left on device: cannot write {out / 'filled.png'}")
    # export writes to a temporary name, checks it, then renames it: the message names the output
    assert main(["export", "--checkpoint", str(tiny_checkpoint), "--format", "torchscript",
                 "-o", str(out / "g.pt")]) == 2
    _one_line_error(capsys, f"No space left on device: cannot write {out / 'g.pt'}")
    assert list(out.iterdir()) == []


def test_6_torchs_bare_write_failure_on_a_full_file_system_is_a_full_disk(tmp_path: Path, monkeypatch) -> None:
    err = RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")  # no cause kept
    assert atomic.full_disk_error(err, tmp_path / "x.pt") is None  # room left: another failure, kept as it was
    monkeypatch.setattr(atomic.os, "statvfs", lambda _p: os.statvfs_result((4096, 4096, 10, 0, 0, 10, 0, 0, 0, 255)))
    full = atomic.full_disk_error(err, tmp_path / "x.pt")
    assert isinstance(full, OSError) and full.errno == errno.ENOSPC and str(tmp_path / "x.pt") in str(full)
    assert atomic.full_disk_error(ValueError("bad"), tmp_path / "x.pt") is None


# ---- 7: sizes bounded against the memory before any work ---------------------------------------------
def _no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the old code fail fast instead of taking gigabytes: no photo decoded, no net built."""
    def decoded(*_args: object, **_kw: object) -> None:
        raise AssertionError("a photo was decoded")

    monkeypatch.setattr("context_encoder.data.load_resized", decoded)
    monkeypatch.setattr("context_encoder.training.loop.build_gan", decoded)


@pytest.mark.parametrize(("flags", "message"), [
    (["--load-size", "20000"], "load-size must be in [0, 8192] px, got 20000"),  # before: 8.4 GB for 2 photos
    (["--batch-size", "1000000000"], "batch-size must be in [1, 16384] images per step, got 1000000000"),  # 8.6 GB
])
def test_7_unbounded_sizes_are_refused_before_any_work(flags: list[str], message: str, image_dir: Path,
                                                       tmp_path: Path, capsys, monkeypatch) -> None:
    run = tmp_path / "run"
    with monkeypatch.context() as m:
        _no_work(m)
        assert _train(image_dir, run, 1, *flags) == 2
        _one_line_error(capsys, message)
    assert not run.exists()  # nothing made, so the next start needs no --overwrite
    assert _train(image_dir, run, 1) == 0


def test_7_a_run_over_the_available_memory_is_refused_with_the_estimate(image_dir: Path, tmp_path: Path, capsys,
                                                                        monkeypatch) -> None:
    from context_encoder.training import budget

    monkeypatch.setattr(budget, "available_bytes", lambda: 200_000_000)
    run = tmp_path / "run"
    with monkeypatch.context() as m:
        _no_work(m)
        # 8 photos of aspect 1.2 / 1.4 at a 4096 px shorter side: 8 x 4096^2 x 1.3 x 3 = 0.52 GB
        assert _train(image_dir, run, 1, "--load-size", "4096") == 2
    line = _one_line_error(capsys, "this run needs at least 0.", "decoded photos 0.",
                           "at --load-size 4096 for 8 photo(s)", "over the 0.2 GB available",
                           "lower --load-size or --batch-size")
    assert float(re.search(r"at least ([\d.]+) GB", line).group(1)) >= 0.5
    assert not run.exists()
    assert _train(image_dir, run, 1) == 0  # the default load size (88 px) needs a few MB


def test_7_available_memory_is_read() -> None:
    from context_encoder.training import budget

    have = budget.available_bytes()
    assert have is None or have > 0


def test_7_a_failed_first_start_leaves_nothing_that_blocks_the_next(image_dir: Path, tmp_path: Path, capsys,
                                                                   monkeypatch) -> None:
    from context_encoder.training import loop

    real, calls = loop.train_step, []

    def fails_at_step_2(*args: object, **kwargs: object) -> dict:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("std::bad_alloc")
        return real(*args, **kwargs)

    run = tmp_path / "run"
    with monkeypatch.context() as m:
        m.setattr(loop, "train_step", fails_at_step_2)
        assert _train(image_dir, run, 5, "--sample-every", "1") == 1  # step 1 logged and sampled, no checkpoint
        _one_line_error(capsys, "unexpected RuntimeError: std::bad_alloc")
    assert not run.exists()  # before: config.json, metrics.jsonl, tb/, samples/ left: --overwrite needed
    assert _train(image_dir, run, 1) == 0
    # a run with a checkpoint keeps it when a resume fails
    with monkeypatch.context() as m:
        calls.clear()
        m.setattr(loop, "train_step", fails_at_step_2)
        assert main(["train", "--resume", str(run), "--steps", "5"]) == 1
    assert find_checkpoint(run).parent.name == "step_0000001" and (run / "config.json").is_file()


# ---- 9 (names): a file name prints as one escaped line ------------------------------------------------
def test_9_names_are_shown_escaped() -> None:
    from context_encoder.names import one_line, shown

    assert shown(Path("a\nb\x1b[2J.png")) == "a\\nb\\x1b[2J.png"
    assert shown("café\t\u2028\x7f") == "café\\t\\u2028\\x7f"  # printable letters kept, separators escaped
    assert shown(b"\xff.png".decode("utf-8", "surrogateescape")) == "\\xff.png"  # a byte not in UTF-8
    assert shown("plain/name.png") == "plain/name.png"
    assert one_line("cannot read\n  it: \x1b[31mred") == "cannot read it: \\x1b[31mred"


def test_9_inpaint_prints_file_names_escaped_on_one_line(tiny_checkpoint: Path, tmp_path: Path, capsys) -> None:
    photo = _png(np.full((40, 48, 3), 120, np.uint8))
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    (src / "a\nb.png").write_bytes(photo)  # done
    (src / "bad\nname.png").write_bytes(b"not a png")  # skipped with its reason
    (src / "\x1b[2Jc.png").write_bytes(photo)  # skipped: its output exists
    (out / "\x1b[2Jc.png").write_bytes(photo)
    model = ["--checkpoint", str(tiny_checkpoint), "--device", "cpu"]
    assert main(["inpaint", "--input-dir", str(src), "--output-dir", str(out), *model]) == 1
    captured = capsys.readouterr()
    assert "\x1b" not in captured.out + captured.err  # before: the escape code reached the terminal
    lines = captured.out.strip().splitlines()
    assert len(lines) == 1, captured.out  # before: the name's newline split the summary
    assert lines[0].startswith("done 1, skipped 2: ")
    assert "bad\\nname.png (cannot read image " in lines[0] and "\\x1b[2Jc.png (output exists" in lines[0]

    target = tmp_path / "one\n\x1b[31mred.png"
    assert main(["inpaint", str(src / "a\nb.png"), "-o", str(target), *model]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"wrote {tmp_path}/one\\n\\x1b[31mred.png\n"
    # an error naming the file: one line, no escape code
    assert main(["inpaint", str(tmp_path / "gone\x1b[31m.png"), "-o", str(tmp_path / "x.png"), *model]) == 2
    err = _one_line_error(capsys, "image not found: ", "gone\\x1b[31m.png")
    assert "\x1b" not in err


# ---- 10 (checkpoints): a damaged newest step, a run killed in its first checkpoint ------------------

def test_10_the_newest_step_missing_its_generator_is_skipped_for_the_intact_older_one(image_dir: Path,
                                                                                      tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert _train(image_dir, run, 4, "--ckpt-every", "2") == 0
    root = run / "checkpoints"
    assert sorted(p.name for p in root.glob("step_*")) == ["step_0000002", "step_0000004"]
    (root / "step_0000004" / "generator.safetensors").unlink()  # before: 'no checkpoint found at RUN'
    skipped = f"{root / 'step_0000004'} is incomplete (no generator.safetensors): skipped for step_0000002"
    with pytest.warns(UserWarning, match=re.escape(skipped)):
        assert find_checkpoint(run) == root / "step_0000002" / "generator.safetensors"
    photo = tmp_path / "in.png"
    photo.write_bytes(_png(np.full((32, 32, 3), 120, np.uint8)))
    result = subprocess.run([sys.executable, "-m", "context_encoder.cli", "inpaint", str(photo), "-o",
                             str(tmp_path / "out.png"), "--checkpoint", str(run)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("warning:")] == [f"warning: {skipped}"]
    with pytest.warns(UserWarning, match=re.escape(skipped)):
        assert main(["evaluate", "--data", str(image_dir), "--methods", "model", "--checkpoint", str(run),
                     "--examples", "0", "--report", str(tmp_path / "report")]) == 0
    # a resume needs training_state.pt too: it goes on from step 2 and rewrites step 4 whole
    (root / "step_0000004" / "generator.safetensors").write_bytes(b"")
    (root / "step_0000004" / "training_state.pt").unlink()
    with pytest.warns(UserWarning, match=re.escape(f"{root / 'step_0000004'} is incomplete (no training_state.pt)")):
        assert main(["train", "--resume", str(run), "--steps", "6"]) == 0
    rows = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows == [1, 2, 3, 4, 5, 6]
    assert sorted(p.name for p in root.glob("step_*")) == ["step_0000004", "step_0000006"]
    assert (root / "step_0000004" / "training_state.pt").is_file()


def test_10_a_run_killed_in_its_first_checkpoint_is_told_the_same_by_resume_and_out(image_dir: Path,
                                                                                   tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    assert _train(image_dir, run, 2, "--ckpt-every", "2") == 0
    root = run / "checkpoints"  # as SIGKILL leaves it: config.json, metrics, a temporary step folder
    os.replace(root / "step_0000002", root / ".step_0000002.x1y2z3")
    (root / "latest").unlink()
    (root / ".step_0000002.x1y2z3" / "training_state.pt").unlink()
    before = _snapshot(run)
    capsys.readouterr()
    told = f"{run} holds a run with no complete checkpoint yet: nothing to resume; start it again with --overwrite"
    assert main(["train", "--resume", str(run), "--steps", "2"]) == 2  # before: 'no checkpoint found at RUN'
    _one_line_error(capsys, told)
    assert _train(image_dir, run, 2) == 2  # before: 'holds a run: continue it with --resume RUN'
    _one_line_error(capsys, told)
    assert _snapshot(run) == before
    assert _train(image_dir, run, 2, "--overwrite") == 0
    assert find_checkpoint(run).parent.name == "step_0000002" and not (root / ".step_0000002.x1y2z3").exists()
