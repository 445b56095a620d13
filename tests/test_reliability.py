"""Issue 15, case by case: nothing lost, no traceback, no write where it does not belong.

Each test names the case of docs/reliability.md it covers; every one failed on the code before the
fix. Runs are tiny (32 px, 2-4 steps); the property tests at the end feed random bytes, truncated
files, odd modes and odd masks to the loaders and to ``Inpainter.inpaint``.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import one_line_error as _one_line_error
from PIL import Image

from context_encoder import atomic
from context_encoder.checkpoint import find_checkpoint, load_generator, save_checkpoint, save_weights
from context_encoder.cli import main
from context_encoder.config import ModelConfig, to_dict
from context_encoder.models import build_generator
from context_encoder.training import loop

LOOP = ["--batch-size", "4", "--workers", "0", "--precision", "fp32", "--log-every", "1"]
TINY = ["--image-size", "32", "--bottleneck", "32", "--nef", "16", "--ngf", "16", "--ndf", "16", *LOOP]
CFG = ModelConfig(image_size=32, bottleneck=32, nef=16, ngf=16, ndf=16)


def _train(image_dir: Path, run: Path, steps: int, *extra: str) -> int:
    return main(["train", "--data", str(image_dir), "--steps", str(steps), "--out", str(run), *TINY, *extra])


def _rows(run: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def _photo(path: Path, h: int = 30, w: int = 40, channels: int = 3) -> Path:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (h, w, channels), dtype=np.uint8).squeeze()).save(path)
    return path


def _mask(path: Path, hole: np.ndarray) -> Path:
    Image.fromarray(hole.astype(np.uint8) * 255).save(path)
    return path


def _box(h: int = 30, w: int = 40) -> np.ndarray:
    hole = np.zeros((h, w), bool)
    hole[10:20, 12:25] = True
    return hole


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _weights(run: Path) -> dict[str, torch.Tensor]:
    gen, _ = load_generator(run)
    return gen.state_dict()


# --- 1. train --out on an existing run -------------------------------------------------------------

def test_1_train_into_a_run_is_refused_without_resume_or_overwrite(image_dir: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    assert _train(image_dir, run, 3) == 0
    before = _snapshot(run)
    capsys.readouterr()
    assert _train(image_dir, run, 1) == 2
    _one_line_error(capsys, "holds a run", "--resume", "--overwrite")
    assert _snapshot(run) == before
    assert _train(image_dir, run, 1, "--overwrite") == 0  # fewer steps: its own checkpoint survives
    assert _rows(run) == [1]
    assert find_checkpoint(run).parent.name == "step_0000001"
    assert [p.name for p in (run / "checkpoints").glob("step_*")] == ["step_0000001"]
    assert main(["inpaint", str(_photo(tmp_path / "in.png")), "-o", str(tmp_path / "out.png"),
                 "--checkpoint", str(run)]) == 0
    assert main(["train", "--resume", str(run), "--overwrite", "--steps", "2"]) == 2


def test_1_a_checkpoint_older_than_the_others_is_not_pruned(tmp_path: Path) -> None:
    gen = build_generator(CFG)
    for step in (10, 11):
        save_checkpoint(tmp_path, step=step, generator=gen, discriminator=None, cfg=CFG, training_state={})
    final = save_checkpoint(tmp_path, step=5, generator=gen, discriminator=None, cfg=CFG, training_state={})
    assert final.is_dir() and find_checkpoint(tmp_path).parent == final


# --- 2. writes follow symlinks -----------------------------------------------------------------------

def test_2_a_symlink_planted_at_the_temp_name_is_not_followed(tiny_checkpoint: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out_dir = tmp_path / "S"
    out_dir.mkdir()
    (out_dir / ".out.png.tmp").symlink_to(victim)  # the old, predictable temp name
    # and the new name, made predictable for the test: the exclusive create must refuse the link
    names = iter(["deadbeef", "cafef00d"])
    monkeypatch.setattr(atomic.secrets, "token_hex", lambda n: next(names))
    (out_dir / ".out.png.deadbeef.tmp").symlink_to(victim)
    image = _photo(tmp_path / "img.png")
    assert main(["inpaint", str(image), "-o", str(out_dir / "out.png"), "--checkpoint", str(tiny_checkpoint)]) == 0
    assert victim.read_text() == "precious"
    with Image.open(out_dir / "out.png") as img:
        assert img.format == "PNG" and img.size == (40, 30)


@pytest.mark.parametrize("empty_mask", [True, False])
def test_2_a_symlink_at_the_output_is_replaced_not_followed(empty_mask: bool, tiny_checkpoint: Path,
                                                             tmp_path: Path, capsys) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    image = _photo(tmp_path / "in.png")
    mask = _mask(tmp_path / "mask.png", np.zeros((30, 40), bool) if empty_mask else _box())
    out = tmp_path / "out.png"
    out.symlink_to(victim)
    argv = ["inpaint", str(image), "--mask", str(mask), "-o", str(out), "--checkpoint", str(tiny_checkpoint)]
    assert main(argv) == 2  # exists: needs --overwrite
    _one_line_error(capsys, "exists")
    assert main([*argv, "--overwrite"]) == 0
    assert victim.read_text() == "precious" and not out.is_symlink()
    if empty_mask:
        assert out.read_bytes() == image.read_bytes()


def test_2_atomic_write_leaves_the_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic.atomic_open(target) as f:
        f.write(b"half")
        raise RuntimeError("disk full")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_2_every_writer_goes_through_atomic_files(tmp_path: Path) -> None:
    # save_weights (checkpoints), model.json, latest: all replace a planted symlink instead of writing through it
    # (links planted at the target and at the old predictable temp names alike)
    victim = tmp_path / "victim"
    victim.write_text("precious")
    root = tmp_path / "checkpoints"
    root.mkdir()
    for link in ("g.safetensors", "g.safetensors.tmp", "checkpoints/latest", "checkpoints/latest.tmp"):
        (tmp_path / link).symlink_to(victim)
    save_weights(tmp_path / "g.safetensors", build_generator(CFG), CFG)
    save_checkpoint(tmp_path, step=1, generator=build_generator(CFG), discriminator=None, cfg=CFG, training_state={})
    assert victim.read_text() == "precious"
    assert not (tmp_path / "g.safetensors").is_symlink()
    assert not (root / "latest").is_symlink() and (root / "latest").read_text() == "step_0000001"


# --- 3. outputs that would replace masks or inputs ---------------------------------------------------

def test_3_output_equal_to_the_mask_is_refused(tiny_checkpoint: Path, tmp_path: Path, capsys) -> None:
    image, mask = _photo(tmp_path / "in.png"), _mask(tmp_path / "mask.png", _box())
    kept = mask.read_bytes()
    link = tmp_path / "link.png"
    link.symlink_to(mask)
    for out in (mask, link):
        assert main(["inpaint", str(image), "--mask", str(mask), "-o", str(out), "--overwrite",
                     "--checkpoint", str(tiny_checkpoint)]) == 2
        _one_line_error(capsys, "would replace the mask")
    assert mask.read_bytes() == kept


@pytest.mark.parametrize("case", ["output is mask dir", "mask dir is input dir"])
def test_3_batch_folders_that_would_touch_the_masks_are_refused(case: str, tiny_checkpoint: Path, tmp_path: Path,
                                                                 capsys) -> None:
    src, masks = tmp_path / "in", tmp_path / "masks"
    src.mkdir(), masks.mkdir()
    _photo(src / "a.png")
    _mask(masks / "a.png", _box())
    if case == "mask dir is input dir":
        masks = src
        _mask(src / "b.png", _box())
    out = masks if case == "output is mask dir" else tmp_path / "out"
    before = _snapshot(tmp_path)
    assert main(["inpaint", "--input-dir", str(src), "--output-dir", str(out), "--mask-dir", str(masks),
                 "--overwrite", "--checkpoint", str(tiny_checkpoint)]) == 2
    _one_line_error(capsys, "--mask-dir")
    assert _snapshot(tmp_path) == before


def test_3_a_shared_mask_inside_the_input_folder_is_not_inpainted(tiny_checkpoint: Path, tmp_path: Path,
                                                                    capsys) -> None:
    src = tmp_path / "in"
    src.mkdir()
    _photo(src / "a.png")
    mask = _mask(src / "hole.png", _box())
    assert main(["inpaint", "--input-dir", str(src), "--output-dir", str(tmp_path / "out"), "--mask", str(mask),
                 "--checkpoint", str(tiny_checkpoint)]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png"]


# --- 4. signals, kills and stale temporary files -----------------------------------------------------

def _signal_at(monkeypatch: pytest.MonkeyPatch, step: int, *signals: int) -> None:
    """Make the training loop send itself ``signals`` right after step ``step``."""
    real, count = loop.train_step, [0]

    def train_step(*args, **kwargs):
        out = real(*args, **kwargs)
        count[0] += 1
        if count[0] == step:
            for sig in signals:
                os.kill(os.getpid(), sig)
        return out

    monkeypatch.setattr(loop, "train_step", train_step)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_4_a_signal_checkpoints_and_resume_matches_an_uninterrupted_run(sig: int, image_dir: Path, tmp_path: Path,
                                                                       capsys, monkeypatch) -> None:
    full, part = tmp_path / "full", tmp_path / "part"
    assert _train(image_dir, full, 4) == 0
    capsys.readouterr()
    _signal_at(monkeypatch, 2, sig)
    assert _train(image_dir, part, 4) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [f"stopped by {signal.Signals(sig).name} at step 2: checkpoint saved; continue with "
                   f"context-encoder train --resume {part}"]
    assert find_checkpoint(part).parent.name == "step_0000002" and _rows(part) == [1, 2]
    monkeypatch.undo()
    assert main(["train", "--resume", str(part), "--steps", "4"]) == 0
    assert _rows(part) == [1, 2, 3, 4]
    for (name, a), b in zip(_weights(full).items(), _weights(part).values()):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4, msg=name)


def test_4_a_second_ctrl_c_aborts_at_once(image_dir: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    before = signal.getsignal(signal.SIGINT)  # default_int_handler; SIG_IGN under a background shell
    _signal_at(monkeypatch, 1, signal.SIGINT, signal.SIGINT)
    assert _train(image_dir, tmp_path / "run", 4) == 130
    _one_line_error(capsys, "interrupted")
    assert signal.getsignal(signal.SIGINT) is before  # handlers restored


def test_4_sigterm_from_outside_exits_0_with_a_checkpoint(image_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    code = ("import sys; from context_encoder.cli import main; sys.exit(main(sys.argv[1:]))")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", code, "train", "--data", str(image_dir), "--steps", "100000",
                             "--out", str(run), *TINY], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    deadline = time.monotonic() + 120
    while not ((run / "metrics.jsonl").is_file() and (run / "metrics.jsonl").read_text().count("\n") >= 2):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    assert out.strip().startswith("stopped by SIGTERM at step") and "Traceback" not in err
    step = int(out.split("at step ")[1].split(":")[0])
    assert find_checkpoint(run).parent.name == f"step_{step:07d}" and _rows(run)[-1] == step


def test_4_a_killed_checkpoint_write_and_its_duplicate_rows_are_cleaned(image_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert _train(image_dir, run, 2) == 0
    # What SIGKILL during the next checkpoint leaves: rows logged after step 2, half a step directory,
    # a temporary pointer.
    with (run / "metrics.jsonl").open("a") as f:
        f.write(json.dumps({"step": 3, "loss_rec": 1.0}) + "\n" + '{"step": 4, "los')
    partial = run / "checkpoints" / ".step_0000004.x1y2z3"
    partial.mkdir()
    (partial / "generator.safetensors").write_bytes(b"\0" * 1000)
    (run / "checkpoints" / ".latest.0123abcd.tmp").write_text("step_0000004")
    assert main(["train", "--resume", str(run), "--steps", "4"]) == 0
    assert _rows(run) == [1, 2, 3, 4]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["latest", "step_0000002", "step_0000004"]


def test_4_a_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(image_dir: Path, tmp_path: Path, capsys,
                                                                     monkeypatch) -> None:
    real, count = loop.train_step, [0]

    def poisoned(images, mask, state, *rest):
        count[0] += 1
        if count[0] == 3:  # the weights go bad in step 3
            with torch.no_grad():
                next(loop.unwrap(state.generator).parameters()).fill_(float("nan"))
        return real(images, mask, state, *rest)

    monkeypatch.setattr(loop, "train_step", poisoned)
    run = tmp_path / "run"
    assert _train(image_dir, run, 6, "--ckpt-every", "2") == 2
    _one_line_error(capsys, "NaN or infinite by step 3", "last good checkpoint is step 2")
    assert find_checkpoint(run).parent.name == "step_0000002"
    assert all(v.isfinite().all() for v in _weights(run).values() if v.is_floating_point())
    assert _rows(run) == [1, 2]  # no NaN row


# --- 5. small files, huge cost -----------------------------------------------------------------------

def _png_claiming(path: Path, width: int, height: int) -> Path:
    """A few-byte PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb's header)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = lambda kind, data: (struct.pack(">I", len(data)) + kind + data  # noqa: E731
                                + struct.pack(">I", zlib.crc32(kind + data)))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def test_5_the_pixel_budget_is_checked_before_decoding(tiny_checkpoint: Path, tmp_path: Path, capsys,
                                                        monkeypatch) -> None:
    monkeypatch.setattr(Image.Image, "load", lambda self: pytest.fail("decoded"))
    for side in (9000, 13000):
        bomb = _png_claiming(tmp_path / f"bomb{side}.png", side, side)
        t0 = time.perf_counter()
        assert main(["inpaint", str(bomb), "-o", str(tmp_path / "out.png"), "--checkpoint", str(tiny_checkpoint)]) == 2
        assert time.perf_counter() - t0 < 5
        _one_line_error(capsys, f"{side}x{side} px", "over the limit of 50,000,000", "--max-pixels")
    monkeypatch.undo()
    small = _photo(tmp_path / "in.png")
    assert main(["inpaint", str(small), "-o", str(tmp_path / "o.png"), "--max-pixels", "1000",
                 "--checkpoint", str(tiny_checkpoint)]) == 2
    _one_line_error(capsys, "--max-pixels")
    assert not (tmp_path / "out.png").exists() and not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("flags", [["--feather", "1000000"], ["--max-pixels", "0"], ["--max-pixels", "nan"],
                                   ["--finest-scale", "inf"], ["--finest-scale", "nan"],
                                   ["--finest-scale", "1e9"]])
def test_5_and_6_unbounded_inpaint_flags_are_one_line_errors(flags: list[str], tmp_path: Path, capsys) -> None:
    image = _photo(tmp_path / "in.png")
    assert main(["inpaint", str(image), "-o", str(tmp_path / "out.png"), *flags]) == 2
    _one_line_error(capsys, flags[0].lstrip("-"))


# --- 6. tracebacks instead of one-line errors --------------------------------------------------------

class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


@pytest.mark.parametrize("content", ["crafted pickle", "truncated", "not a dict", "empty", "other optimizer"])
def test_6_a_bad_training_state_on_resume_is_one_line(content: str, tiny_checkpoint: Path, tmp_path: Path,
                                                      capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    run = shutil.copytree(tiny_checkpoint, tmp_path / "run")
    state = find_checkpoint(run).parent / "training_state.pt"
    data = {"crafted pickle": pickle.dumps(_Evil()), "truncated": state.read_bytes()[:300], "empty": b""}
    if content == "not a dict":
        torch.save([1, 2, 3], state)
    elif content == "other optimizer":  # one parameter group of one tensor: not this run's optimizer
        group = {"lr": 1.0, "betas": (0.5, 0.9), "eps": 1e-8, "weight_decay": 0, "amsgrad": False, "params": [0]}
        torch.save({"step": 2, "opt_g": {"state": {}, "param_groups": [group]}, "opt_d": {}, "scaler": {}}, state)
    else:
        state.write_bytes(data[content])
    assert main(["train", "--resume", str(run), "--steps", "4"]) == 2
    _one_line_error(capsys, "training state")
    assert not Path("pwned").exists()


def test_6_resuming_with_a_discriminator_the_run_lacks_starts_a_fresh_one(image_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert _train(image_dir, run, 2, "--loss", "l2") == 0
    with pytest.warns(UserWarning, match="has no discriminator: a fresh one starts"):
        assert main(["train", "--resume", str(run), "--steps", "3", "--loss", "joint", "--new-phase"]) == 0
    assert (find_checkpoint(run).parent / "discriminator.safetensors").is_file()


BAD_MODEL_JSON = {
    "arch foo": {"arch": "foo"}, "a list": [], "null": None, "string size": {"image_size": "128"},
    "nef -1": {"nef": -1}, "bottleneck 1e9": {"bottleneck": 10**9}, "image_size 100": {"image_size": 100},
    "not json": "{", "unknown key": {"depth": 3},
}


def _step_dir(tmp_path: Path, model_json: object, *, metadata: bool) -> Path:
    step = tmp_path / "step"
    step.mkdir()
    gen = build_generator(CFG)
    if metadata:
        save_weights(step / "generator.safetensors", gen, CFG)
    else:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in gen.state_dict().items()}, str(step / "generator.safetensors"))
    text = model_json if isinstance(model_json, str) else json.dumps(
        {**to_dict(CFG), **model_json} if isinstance(model_json, dict) else model_json)
    (step / "model.json").write_text(text)
    return step


@pytest.mark.parametrize("case", list(BAD_MODEL_JSON))
def test_6_a_bad_model_json_without_metadata_is_one_line(case: str, tmp_path: Path, capsys) -> None:
    step = _step_dir(tmp_path, BAD_MODEL_JSON[case], metadata=False)
    image = _photo(tmp_path / "in.png")
    assert main(["inpaint", str(image), "-o", str(tmp_path / "out.png"), "--checkpoint", str(step)]) == 2
    _one_line_error(capsys, "model.json")
    assert not (tmp_path / "out.png").exists()


def test_6_bad_metadata_does_not_allocate_terabytes(tmp_path: Path, capsys) -> None:
    from safetensors.torch import save_file

    step = tmp_path / "step"
    step.mkdir()
    meta = {"model_config": json.dumps({**to_dict(CFG), "bottleneck": 10**9})}
    save_file({"w": torch.zeros(1)}, str(step / "generator.safetensors"), metadata=meta)
    assert main(["export", "--checkpoint", str(step), "--format", "torchscript", "-o", str(tmp_path / "g.pt")]) == 2
    _one_line_error(capsys, "bottleneck must be in [1, 16384]")


@pytest.mark.parametrize("flags,message", [
    (["--bottleneck", "0"], "bottleneck"), (["--nef", "0"], "nef"), (["--ngf", "-3"], "ngf"),
    (["--ndf", "100000"], "ndf"), (["--bottleneck", "1000000000"], "bottleneck"),
    (["--ckpt-every", "0"], "ckpt-every"), (["--log-every", "0"], "log-every"), (["--sample-every", "0"], "sample"),
    (["--lr-g", "inf"], "learning rates"), (["--lr-d", "nan"], "learning rates"), (["--lr-g", "0"], "learning"),
    (["--seed", "-1"], "seed"), (["--workers", "-1"], "workers"), (["--ring-weight", "inf"], "ring-weight"),
    (["--image-size", "100"], "power-of-two"), (["--image-size", "4096"], "image-size"),
])
def test_6_bad_train_flags_are_one_line_and_write_nothing(flags: list[str], message: str, image_dir: Path,
                                                          tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    assert _train(image_dir, run, 2, *flags) == 2
    _one_line_error(capsys, message)
    assert not run.exists()


@pytest.mark.parametrize("text,message", [
    ("model: [1, 2\n", "cannot parse --config"), ("- 1\n- 2\n", "must hold a mapping"),
    ("model: 5\n", "'model' must be a mapping"), ("batch_size: x\n", "batch_size must be an integer"),
    ("model:\n  image_size: '128'\n", "model.image_size must be an integer"), ("steps: true\n", "steps must be"),
    ("\tbad: 1\n", "cannot parse --config"), ("mask:\n  folder: 3\n", "mask.folder must be a string"),
])
def test_6_bad_yaml_configs_are_one_line(text: str, message: str, image_dir: Path, tmp_path: Path, capsys) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(text)
    assert main(["train", "--data", str(image_dir), "--config", str(config), "--dry-run"]) == 2
    _one_line_error(capsys, message)


def test_6_yaml_1_1_exponents_are_numbers(image_dir: Path, tmp_path: Path, capsys) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("optim:\n  lr_g: 2e-3\n")  # YAML 1.1 reads this as a string
    assert main(["train", "--data", str(image_dir), "--config", str(config), "--dry-run"]) == 0
    assert "lr_g: 0.002" in capsys.readouterr().out


def test_6_an_unexpected_error_in_batch_mode_skips_only_that_file(tiny_checkpoint: Path, tmp_path: Path, capsys,
                                                                  monkeypatch) -> None:
    from context_encoder.inpainting.inpainter import Inpainter

    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        _photo(src / name)
    real = Inpainter.inpaint

    def flaky(self, image, *args, **kwargs):  # image: the decoded file (a Picture)
        if image.to_image().getpixel((0, 0)) == Image.open(src / "b.png").getpixel((0, 0)) and flaky.calls == 1:
            flaky.calls += 1
            raise RuntimeError("CUDA out of memory")
        flaky.calls += 1
        return real(self, image, *args, **kwargs)

    flaky.calls = 0
    monkeypatch.setattr(Inpainter, "inpaint", flaky)
    assert main(["inpaint", "--input-dir", str(src), "--output-dir", str(tmp_path / "out"),
                 "--checkpoint", str(tiny_checkpoint)]) == 1
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("done 2, skipped 1") and "b.png (RuntimeError: CUDA out of memory)" in line


def test_6_the_cli_turns_any_error_into_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    from context_encoder.commands import plot

    def boom(args):
        raise RuntimeError("something\nbroke")

    monkeypatch.setattr(plot, "run", boom)
    assert main(["plot", str(tmp_path)]) == 1
    _one_line_error(capsys, "unexpected RuntimeError: something broke", "--debug")
    with pytest.raises(RuntimeError):
        main(["--debug", "plot", str(tmp_path)])
    with pytest.raises(RuntimeError):
        main(["plot", str(tmp_path), "--debug"])
    monkeypatch.setenv("CE_DEBUG", "1")
    with pytest.raises(RuntimeError):
        main(["plot", str(tmp_path)])
    monkeypatch.delenv("CE_DEBUG")

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(plot, "run", interrupted)
    assert main(["plot", str(tmp_path)]) == 130
    _one_line_error(capsys, "interrupted")


# --- 7. silently wrong -------------------------------------------------------------------------------

def test_7_the_weights_own_config_wins_over_model_json(tmp_path: Path) -> None:
    step = _step_dir(tmp_path, {"image_size": 64}, metadata=True)
    with pytest.warns(UserWarning, match=r"disagrees .*image_size=64 \(weights: 32\)"):
        _, cfg = load_generator(step)
    assert cfg == CFG
    (step / "model.json").write_text("[]")
    with pytest.warns(UserWarning, match="using the config stored in"):
        assert load_generator(step)[1] == CFG


def test_7_resume_past_the_end_is_an_error(tiny_checkpoint: Path, tmp_path: Path, capsys) -> None:
    run = shutil.copytree(tiny_checkpoint, tmp_path / "run")
    before = _snapshot(run)
    assert main(["train", "--resume", str(run), "--steps", "1"]) == 2
    _one_line_error(capsys, "already at step 2", "nothing to train")
    assert _snapshot(run) == before


@pytest.mark.parametrize("pointer", ["step_0000001", "../../etc", None])
def test_7_a_stale_latest_falls_back_to_the_newest_step(pointer: str | None, tiny_checkpoint: Path,
                                                        tmp_path: Path) -> None:
    run = shutil.copytree(tiny_checkpoint, tmp_path / "run")
    latest = run / "checkpoints" / "latest"
    newest = find_checkpoint(run)
    if pointer is None:
        latest.unlink()
        assert find_checkpoint(run) == newest
    else:
        latest.write_text(pointer)
        with pytest.warns(UserWarning, match="not a checkpoint"):
            assert find_checkpoint(run) == newest


# --- 8. smaller ones ---------------------------------------------------------------------------------

def test_8_sixteen_bit_input_warns_and_help_says_what_is_kept(tiny_checkpoint: Path, tmp_path: Path, capsys) -> None:
    deep = tmp_path / "deep.png"
    cv2.imwrite(str(deep), (np.random.default_rng(0).random((30, 40, 3)) * 65535).astype(np.uint16))
    with pytest.warns(UserWarning, match="more than 8 bits per channel"):
        assert main(["inpaint", str(deep), "-o", str(tmp_path / "out.png"), "--checkpoint", str(tiny_checkpoint)]) == 0
    with pytest.raises(SystemExit):
        main(["inpaint", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "byte for byte" not in text and "JPEG output re-encodes every pixel" in text


def test_8_animated_gif_is_refused_and_batch_reports_gifs(tiny_checkpoint: Path, tmp_path: Path, capsys) -> None:
    src = tmp_path / "in"
    src.mkdir()
    frames = [Image.new("RGB", (40, 30), c) for c in ("red", "blue")]
    frames[0].save(src / "anim.gif", save_all=True, append_images=frames[1:])
    frames[0].save(src / "still.gif")
    assert main(["inpaint", str(src / "anim.gif"), "-o", str(tmp_path / "o.png"),
                 "--checkpoint", str(tiny_checkpoint)]) == 2
    _one_line_error(capsys, "animated")
    assert main(["inpaint", "--input-dir", str(src), "--output-dir", str(tmp_path / "out"),
                 "--checkpoint", str(tiny_checkpoint)]) == 1
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert "done 0, skipped 2" in line and "still.gif (cannot write '.gif'" in line


def test_8_an_unwritable_output_fails_before_the_model_loads(tmp_path: Path, capsys, monkeypatch) -> None:
    image = _photo(tmp_path / "in.png")
    (tmp_path / "file").write_text("x")
    missing = str(tmp_path / "no-checkpoint")  # loading it would fail: the output check must come first
    assert main(["inpaint", str(image), "-o", str(tmp_path / "file" / "out.png"), "--checkpoint", missing]) == 2
    _one_line_error(capsys, "is not a folder")
    monkeypatch.setattr(atomic.os, "access", lambda *a, **k: False)  # as a user without write permission
    assert main(["inpaint", str(image), "-o", str(tmp_path / "out.png"), "--checkpoint", missing]) == 2
    _one_line_error(capsys, "no write permission")
    assert main(["inpaint", "--input-dir", str(tmp_path), "--output-dir", str(tmp_path / "o"),
                 "--checkpoint", missing]) == 2
    _one_line_error(capsys, "no write permission")


def test_8_a_folder_given_as_a_file_says_so(tmp_path: Path, capsys) -> None:
    (tmp_path / "d.png").mkdir()
    assert main(["inpaint", str(tmp_path / "d.png"), "-o", str(tmp_path / "o.png")]) == 2
    _one_line_error(capsys, "is a folder, not a file")
    image = _photo(tmp_path / "in.png")
    assert main(["inpaint", str(image), "--mask", str(tmp_path / "d.png"), "-o", str(tmp_path / "o.png")]) == 2
    _one_line_error(capsys, "mask", "is a folder, not a file")
    assert main(["inpaint", str(image), "-o", str(tmp_path)]) == 2
    _one_line_error(capsys)


# --- property tests: random bytes, truncated files, odd modes and odd masks ---------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from context_encoder.inpainting.files import inpaint_file  # noqa: E402
from context_encoder.inpainting.imageio import read_image, read_mask  # noqa: E402
from context_encoder.inpainting.inpainter import Inpainter  # noqa: E402

ONE_LINE_ERRORS = (ValueError, OSError)
MODES = ("1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV",
         "I", "I;16", "I;16B", "F")
SUFFIXES = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "BMP": ".bmp", "TIFF": ".tif", "GIF": ".gif"}
PROPERTY = settings(max_examples=int(os.environ.get("CE_PROPERTY_EXAMPLES", "25")), deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
TINY_CFG = ModelConfig(image_size=32, bottleneck=8, nef=4, ngf=4, ndf=4)


@st.composite
def images(draw: st.DrawFn) -> Image.Image:
    """A PIL image of any mode and a small size (1 to 40 px a side), random pixels."""
    mode = draw(st.sampled_from(MODES))
    w, h = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**16))
    probe = Image.new(mode, (1, 1))
    n = len(probe.tobytes()) * w * h if mode != "1" else ((w + 7) // 8) * h
    return Image.frombytes(mode, (w, h), np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes())


@st.composite
def image_files(draw: st.DrawFn) -> tuple[str, bytes]:
    """(suffix, bytes): an encoded image, truncated or corrupted or not, or random bytes."""
    kind = draw(st.sampled_from(["valid", "valid", "truncated", "corrupted", "random"]))
    fmt = draw(st.sampled_from(list(SUFFIXES)))
    if kind == "random":
        return SUFFIXES[fmt], draw(st.binary(max_size=2000))
    img = draw(images())
    buf = io.BytesIO()
    try:
        img.save(buf, format=fmt)
    except (OSError, ValueError, KeyError):  # the format cannot store this mode: an RGB image then
        buf = io.BytesIO()
        Image.new("RGB", img.size, (200, 10, 90)).save(buf, format=fmt)
    data = buf.getvalue()
    if kind == "truncated":
        data = data[: draw(st.integers(0, max(0, len(data) - 1)))]
    elif kind == "corrupted":
        flips = draw(st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(0, 255)), min_size=1, max_size=8))
        raw = bytearray(data)
        for i, v in flips:
            raw[i] = v
        data = bytes(raw)
    return SUFFIXES[fmt], data


@st.composite
def masks(draw: st.DrawFn, size: tuple[int, int]) -> object:
    """None, or a mask as an array or a PIL image: of the image's size or not, any dtype / mode, empty, full."""
    w, h = size if draw(st.booleans()) else (draw(st.integers(1, 40)), draw(st.integers(1, 40)))
    w, h = max(w, 1), max(h, 1)
    kind = draw(st.sampled_from(["none", "bits", "empty", "full", "odd array", "pil"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if kind == "none":
        return None
    if kind == "odd array":
        dtype = draw(st.sampled_from(["float32", "float64", "int64", "uint16", "bool", "object", "complex64"]))
        shape = draw(st.sampled_from([(h, w), (h, w, 1), (h, w, 3), (h, w, 4), (h,), (), (h, w, 2, 2), (0, w)]))
        arr = rng.normal(size=shape)
        if dtype == "float32" and arr.size:
            arr.reshape(-1)[0] = np.nan
        return arr.astype(dtype)
    if kind == "pil":
        return draw(images()).resize((w, h))
    bits = {"bits": rng.random((h, w)) < 0.3, "empty": np.zeros((h, w), bool), "full": np.ones((h, w), bool)}[kind]
    return bits


@pytest.fixture(scope="module")
def tiny_inpainter() -> Inpainter:
    torch.manual_seed(0)
    return Inpainter(build_generator(TINY_CFG).eval(), TINY_CFG, device="cpu")


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


@PROPERTY
@given(file=image_files())
def test_property_loaders_end_in_a_result_or_a_one_line_error(file: tuple[str, bytes], tmp_path: Path) -> None:
    suffix, data = file
    path = _write(tmp_path, f"f{suffix}", data)
    for load in (read_image, read_mask):
        try:
            out = load(path)
        except ONE_LINE_ERRORS as err:
            assert "\n" not in str(err)
        else:
            pixels = out.pixels if load is read_image else out
            assert pixels.shape[:2] == (out.size[1], out.size[0]) if load is read_image else pixels.dtype == bool
        assert path.read_bytes() == data


@PROPERTY
@given(data=st.data())
def test_property_inpaint_ends_in_an_image_or_a_one_line_error(data: st.DataObject,
                                                               tiny_inpainter: Inpainter) -> None:
    if data.draw(st.booleans()):
        image = data.draw(images())
        size, before = image.size, image.tobytes()
    else:
        shape = data.draw(st.sampled_from([(20, 30), (20, 30, 1), (20, 30, 2), (20, 30, 3), (20, 30, 4), (1, 1, 3),
                                           (0, 5, 3), (20, 30, 5), (5,)]))
        dtype = data.draw(st.sampled_from(["uint8", "float32", "int16"]))
        image = (np.random.default_rng(0).random(shape) * 255).astype(dtype)
        size, before = (shape[1], shape[0]) if len(shape) > 1 else (0, 0), image.copy()
    mask = data.draw(masks(size))
    mask_before = mask.copy() if isinstance(mask, (np.ndarray, Image.Image)) else None
    try:
        out = tiny_inpainter.inpaint(image, mask)
    except ONE_LINE_ERRORS as err:
        assert "\n" not in str(err).strip()
    else:  # in the form it was given
        if isinstance(image, Image.Image):
            assert isinstance(out, Image.Image) and out.size == size
        else:
            assert isinstance(out, np.ndarray) and out.shape == image.shape and out.dtype == np.uint8
    if isinstance(image, Image.Image):
        assert image.tobytes() == before
    else:
        assert np.array_equal(image, before)
    if isinstance(mask, np.ndarray):
        assert np.array_equal(mask, mask_before, equal_nan=mask.dtype.kind in "fc")
    elif isinstance(mask, Image.Image):
        assert mask.tobytes() == mask_before.tobytes()


@PROPERTY
@given(file=image_files(), data=st.data())
def test_property_inpaint_file_writes_a_whole_file_or_nothing(file: tuple[str, bytes], data: st.DataObject,
                                                              tiny_inpainter: Inpainter, tmp_path: Path) -> None:
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    suffix, raw = file
    image = _write(folder, f"in{suffix}", raw)
    mask_bytes = data.draw(image_files())[1] if data.draw(st.integers(0, 2)) == 0 else None
    mask = _write(folder, "mask.png", mask_bytes) if mask_bytes is not None else None
    out = folder / "out" / f"o{data.draw(st.sampled_from([suffix if suffix != '.gif' else '.png', '.png', '.jpg']))}"
    out.parent.mkdir()
    sentinel = folder / "sentinel"
    sentinel.write_bytes(b"keep")
    planted = data.draw(st.sampled_from(["none", "at the output", "at the old temp name"]))
    if planted == "at the output":
        out.symlink_to(sentinel)
    elif planted == "at the old temp name":
        (out.parent / f".{out.name}.tmp").symlink_to(sentinel)
    try:
        inpaint_file(tiny_inpainter, image, out, mask=mask, overwrite=True)
    except ONE_LINE_ERRORS as err:
        assert "\n" not in str(err).strip()
        assert not out.exists() or out.is_symlink()
    else:
        assert not out.is_symlink()
        with Image.open(out) as written:
            written.load()
    assert sentinel.read_bytes() == b"keep"
    assert image.read_bytes() == raw and (mask is None or mask.read_bytes() == mask_bytes)
    leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(".") and not p.is_symlink()]
    assert not leftovers, leftovers
