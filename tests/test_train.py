"""End to end through the CLI: train, resume, inpaint; config handling and bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from PIL import Image

from context_encoder.checkpoint import find_checkpoint, load_generator
from context_encoder.cli import main

LOOP = ["--batch-size", "4", "--workers", "0", "--precision", "fp32", "--log-every", "1"]
TINY = ["--image-size", "32", "--bottleneck", "32", "--nef", "16", "--ngf", "16", "--ndf", "16", *LOOP]


def _metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_train_then_inpaint_through_cli(image_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert main(["train", "--data", str(image_dir), "--steps", "3", "--out", str(run), *TINY]) == 0
    assert json.loads((run / "config.json").read_text())["model"]["image_size"] == 32
    rows = _metrics(run)
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert {"loss_rec", "loss_d", "loss_adv", "loss_g", "img_per_s"} <= set(rows[0])
    assert (run / "samples" / "step_0000003.png").is_file()
    assert list((run / "tb").iterdir())
    step_dir = find_checkpoint(run).parent
    assert {p.name for p in step_dir.iterdir()} == {
        "generator.safetensors", "discriminator.safetensors", "model.json", "training_state.pt"}
    gen, cfg = load_generator(run)
    assert cfg.image_size == 32 and not gen.training
    out, source = tmp_path / "filled.png", sorted(image_dir.iterdir())[0]
    assert main(["inpaint", str(source), "-o", str(out), "--checkpoint", str(run)]) == 0
    with Image.open(out) as img, Image.open(source) as src:
        assert img.size == src.size


def test_resume_reproduces_uninterrupted_run(image_dir: Path, tmp_path: Path) -> None:
    full, part = tmp_path / "full", tmp_path / "part"
    assert main(["train", "--data", str(image_dir), "--steps", "4", "--out", str(full), *TINY]) == 0
    assert main(["train", "--data", str(image_dir), "--steps", "2", "--out", str(part), *TINY]) == 0
    assert main(["train", "--resume", str(part), "--steps", "4"]) == 0
    a, b = _metrics(full), _metrics(part)
    assert [r["step"] for r in b] == [1, 2, 3, 4]
    for ra, rb in zip(a, b):
        for key in ("loss_rec", "loss_d", "loss_g"):
            assert ra[key] == pytest.approx(rb[key], rel=1e-4, abs=1e-6), (ra["step"], key)
    ga, _ = load_generator(full)
    gb, _ = load_generator(part)
    for (name, pa), pb in zip(ga.state_dict().items(), gb.state_dict().values()):
        torch.testing.assert_close(pa, pb, atol=1e-5, rtol=1e-4, msg=name)


def test_resume_with_loader_workers_reproduces_an_uninterrupted_run(image_dir: Path, tmp_path: Path) -> None:
    """Random masks drawn in 2 DataLoader worker processes, stopped at step 2 and resumed: the
    run is the one-process, uninterrupted one (the data stream depends on (seed, step) alone)."""
    full, part = tmp_path / "full", tmp_path / "part"
    block = ["--data", str(image_dir), "--mask", "block", *TINY]
    assert main(["train", *block, "--steps", "4", "--out", str(full)]) == 0
    assert main(["train", *block, "--steps", "2", "--out", str(part), "--workers", "2"]) == 0
    assert main(["train", "--resume", str(part), "--steps", "4", "--workers", "2"]) == 0
    a, b = _metrics(full), _metrics(part)
    assert [r["step"] for r in b] == [1, 2, 3, 4]
    for ra, rb in zip(a, b):
        for key in ("loss_rec", "loss_d", "loss_g"):
            assert ra[key] == pytest.approx(rb[key], rel=1e-4, abs=1e-6), (ra["step"], key)


@pytest.mark.parametrize(("mask", "arch"), [("block", "center"), ("region", "center"), ("center", "autoencoder")])
def test_other_masks_and_archs_train(image_dir: Path, tmp_path: Path, mask: str, arch: str) -> None:
    run = tmp_path / "run"
    assert main(["train", "--data", str(image_dir), "--mask", mask, "--arch", arch, "--steps", "1",
                 "--out", str(run), *TINY]) == 0
    _, cfg = load_generator(run)
    assert cfg.full_image and cfg.output_size == 32


def test_dry_run_prints_resolved_config(image_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("batch_size: 7\nloss:\n  kind: l2\n")
    run = tmp_path / "run"
    assert main(["train", "--data", str(image_dir), "--config", str(cfg), "--steps", "9", "--out", str(run),
                 "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "batch_size: 7" in out and "kind: l2" in out and "steps: 9" in out
    assert not run.exists()


def test_empty_folder_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "empty").mkdir()
    code = main(["train", "--data", str(tmp_path / "empty"), "--steps", "1", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1 and "no image files" in err
    assert not (tmp_path / "r").exists()


def test_bad_config_values_are_one_line_errors(image_dir: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["train", "--data", str(image_dir), "--image-size", "48", "--dry-run"]) == 2
    assert "power-of-two" in capsys.readouterr().err
    cfg = image_dir / "bad.yaml"
    cfg.write_text("nope: 1\n")
    assert main(["train", "--data", str(image_dir), "--config", str(cfg), "--dry-run"]) == 2
    assert "unknown config key 'nope'" in capsys.readouterr().err


def test_plot_command_writes_png(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    rows = [{"step": s, "loss_rec": 1 / s, "loss_d": 1.0, "loss_adv": 2.0, "img_per_s": 50.0} for s in range(1, 30)]
    (run / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    assert main(["plot", str(run)]) == 0
    with Image.open(run / "loss_curves.png") as img:
        assert img.size[0] > 400
    assert main(["plot", str(tmp_path / "missing")]) == 2


def test_plot_handles_a_loss_change_mid_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    joint = [{"step": s, "loss_rec": 1.0, "loss_d": 0.5, "img_per_s": 9.0} for s in range(1, 5)]
    l2 = [{"step": s, "loss_rec": 0.5, "img_per_s": 9.0} for s in range(5, 9)]
    (run / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in joint + l2))
    assert main(["plot", str(run)]) == 0


def test_init_starts_from_the_given_weights(image_dir: Path, tmp_path: Path,
                                            tiny_checkpoint: Path) -> None:
    run = tmp_path / "run"
    # Tiny LR: after one step the weights are still those of the init checkpoint.
    assert main(["train", "--data", str(image_dir), "--init", str(tiny_checkpoint), "--steps", "1",
                 "--loss", "l2", "--lr-g", "1e-12", "--out", str(run), *LOOP]) == 0
    saved = json.loads((run / "config.json").read_text())
    assert saved["model"]["bottleneck"] == 32 and saved["init"] == str(tiny_checkpoint)
    source, _ = load_generator(tiny_checkpoint)
    tuned, _ = load_generator(run)
    for (name, a), b in zip(source.state_dict().items(), tuned.state_dict().values()):
        if a.is_floating_point() and "running" not in name:
            torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5, msg=name)


def test_a_center_net_starts_a_whole_image_net_with_its_shared_layers(
        image_dir: Path, tmp_path: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "run"
    assert main(["train", "--data", str(image_dir), "--init", str(tiny_checkpoint), "--mask", "region",
                 "--steps", "1", "--loss", "l2", "--lr-g", "1e-12", "--out", str(run), *LOOP]) == 0
    out = capsys.readouterr().out
    source, _ = load_generator(tiny_checkpoint)
    tuned, cfg = load_generator(run)
    assert cfg.full_image and not source.cfg.full_image
    theirs = source.state_dict()
    shared = {k: v for k, v in tuned.state_dict().items() if k in theirs and theirs[k].shape == v.shape}
    fresh = sorted({k.rsplit(".", 1)[0] for k in tuned.state_dict() if k not in shared})
    assert f"start at random ({', '.join(fresh)})" in out and fresh and all(k.startswith("decoder") for k in fresh)
    assert any(k.startswith("encoder") for k in shared) and any(k.startswith("to_bottleneck") for k in shared)
    for name, b in shared.items():
        if b.is_floating_point() and "running" not in name:
            torch.testing.assert_close(theirs[name], b, atol=1e-6, rtol=1e-5, msg=name)


def test_a_mask_channel_net_starts_as_the_net_it_widens(image_dir: Path, tmp_path: Path,
                                                       tiny_checkpoint: Path) -> None:
    config = tmp_path / "mask.yaml"
    config.write_text("model:\n  mask_channel: true\n")
    run = tmp_path / "run"
    assert main(["train", "--config", str(config), "--data", str(image_dir), "--init", str(tiny_checkpoint),
                 "--steps", "1", "--loss", "l2", "--lr-g", "1e-12", "--out", str(run), *TINY]) == 0
    source, _ = load_generator(tiny_checkpoint)
    tuned, cfg = load_generator(run)
    assert cfg.mask_channel and cfg.in_channels == 4
    first = tuned.state_dict()["encoder.0.weight"]  # (nef, 4, 4, 4): RGB as saved, the mask's at zero
    torch.testing.assert_close(first[:, :3], source.state_dict()["encoder.0.weight"], atol=1e-6, rtol=1e-5)
    assert first[:, 3].abs().max() < 1e-6


def test_a_net_grown_by_residual_blocks_starts_as_the_net_it_grew_from(
        image_dir: Path, tmp_path: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture) -> None:
    config = tmp_path / "blocks.yaml"
    config.write_text("model:\n  res_blocks: 2\n")
    run = tmp_path / "run"
    assert main(["train", "--config", str(config), "--data", str(image_dir), "--init", str(tiny_checkpoint),
                 "--steps", "1", "--loss", "l2", "--lr-g", "1e-12", "--out", str(run), *TINY]) == 0
    assert "tensors of new residual blocks start as the identity" in capsys.readouterr().out
    source, _ = load_generator(tiny_checkpoint)
    grown, cfg = load_generator(run)
    assert cfg.res_blocks == 2 and any(k.startswith("blocks.") for k in grown.state_dict())
    x = torch.rand(2, 3, cfg.image_size, cfg.image_size) * 2 - 1
    with torch.no_grad():  # BatchNorm statistics moved by the one step are restored for the comparison
        for name, b in source.state_dict().items():
            grown.state_dict()[name].copy_(b)
        torch.testing.assert_close(grown(x), source(x), atol=1e-6, rtol=1e-5)


def test_init_widens_the_bottleneck_of_the_net_it_grows(
        image_dir: Path, tmp_path: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "run"
    assert main(["train", "--data", str(image_dir), "--init", str(tiny_checkpoint), *TINY, "--bottleneck", "48",
                 "--steps", "1", "--loss", "l2", "--lr-g", "1e-12", "--out", str(run)]) == 0
    assert "the bottleneck widens from 32 to 48 channels" in capsys.readouterr().out
    source, _ = load_generator(tiny_checkpoint)
    grown, cfg = load_generator(run)
    assert cfg.bottleneck == 48
    torch.testing.assert_close(grown.state_dict()["decoder.0.weight"][:32], source.state_dict()["decoder.0.weight"],
                               atol=1e-6, rtol=1e-5)
    assert grown.state_dict()["decoder.0.weight"][32:].abs().max() < 1e-6


def test_init_with_another_architecture_is_a_one_line_error(
        image_dir: Path, tmp_path: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["train", "--data", str(image_dir), "--init", str(tiny_checkpoint), "--bottleneck", "16",
                 "--steps", "1", "--out", str(tmp_path / "run"), *LOOP])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "bottleneck=32 (run: 16)" in err and len(err.splitlines()) == 1


def test_ema_checkpoints_are_preferred_and_resumed(image_dir: Path, tmp_path: Path) -> None:
    full, part = tmp_path / "full", tmp_path / "part"
    args = ["--data", str(image_dir), "--ema", "0.5", "--loss", "l2", *TINY]
    assert main(["train", *args, "--steps", "3", "--out", str(full)]) == 0
    assert main(["train", *args, "--steps", "2", "--out", str(part)]) == 0
    assert main(["train", "--resume", str(part), "--steps", "3"]) == 0
    assert find_checkpoint(full).name == "generator_ema.safetensors"
    step_dir = find_checkpoint(full).parent
    raw, _ = load_generator(step_dir / "generator.safetensors")
    avg, _ = load_generator(full)
    assert any(not torch.equal(a, b) for a, b in zip(raw.state_dict().values(), avg.state_dict().values()))
    resumed, _ = load_generator(part)  # the average continued from the saved one, not restarted
    for (name, a), b in zip(avg.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4, msg=name)


def test_ema_added_on_resume_starts_from_the_resumed_weights(image_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert main(["train", "--data", str(image_dir), "--loss", "l2", "--steps", "2", "--out", str(run), *TINY]) == 0
    # Another seed on resume: a fresh initialisation would differ from the run's own.
    assert main(["train", "--resume", str(run), "--steps", "3", "--ema", "0.999", "--seed", "1", "--new-phase"]) == 0
    step_dir = find_checkpoint(run).parent
    raw, _ = load_generator(step_dir / "generator.safetensors")
    avg, _ = load_generator(step_dir / "generator_ema.safetensors")
    # One update away from the resumed weights, so within one step of the raw ones; an average
    # restarted from a fresh initialisation would be far from both.
    for (name, a), b in zip(raw.state_dict().items(), avg.state_dict().values()):
        if a.is_floating_point() and "running" not in name:
            torch.testing.assert_close(a, b, atol=0.01, rtol=0.0, msg=name)


@pytest.mark.parametrize("change", [["--batch-size", "2"], ["--seed", "5"], ["--mask", "block"], ["--loss", "l2"],
                                    ["--lr-g", "0.0001"], ["--load-size", "36"], ["--ring-weight", "5"],
                                    ["--val-fraction", "0.25"]])
def test_resume_refuses_a_change_of_data_stream_loss_or_learning_rate(
        image_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture, change: list[str]) -> None:
    run = tmp_path / "run"
    assert main(["train", "--data", str(image_dir), "--steps", "2", "--out", str(run), *TINY]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--steps", "3", *change]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "would change" in err and "--new-phase" in err, err
    assert find_checkpoint(run).parent.name == "step_0000002"
    if change[0] == "--mask":  # a whole-image net: another architecture, which no phase can load
        return
    assert main(["train", "--resume", str(run), "--steps", "3", *change, "--new-phase"]) == 0
    assert find_checkpoint(run).parent.name == "step_0000003"


def test_new_phase_needs_resume(image_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["train", "--data", str(image_dir), "--steps", "1", "--out", str(tmp_path / "r"), "--new-phase",
                 *TINY]) == 2
    assert "--resume" in capsys.readouterr().err


def test_a_resumed_cosine_schedule_keeps_its_planned_total(image_dir: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture) -> None:
    """A run planned for 4 cosine steps, resumed at step 2 with --steps 3, is at the LR of step 3 of
    4 (lr/2), not of 3 of 3 (lr/4); extending it past 4 is refused, unless a new phase plans anew."""
    from shutil import rmtree

    from context_encoder.commands.train import add_parser, resolve_train_config
    from context_encoder.training.loop import train

    run = tmp_path / "run"
    assert main(["train", "--data", str(image_dir), "--steps", "4", "--ckpt-every", "2", "--lr-schedule", "cosine",
                 "--lr-g", "0.001", "--out", str(run), *TINY]) == 0
    rmtree(run / "checkpoints" / "step_0000004")  # as if stopped at step 2

    def resume(*flags: str) -> float:
        import argparse

        parser = argparse.ArgumentParser()
        add_parser(parser.add_subparsers())
        args = parser.parse_args(["train", "--resume", str(run), *flags])
        result = train(resolve_train_config(args), resume=True, new_phase=args.new_phase)
        return result.state.opt_g.param_groups[0]["lr"]  # set for the last step, from step - 1

    assert resume("--steps", "3") == pytest.approx(0.001 * 0.5)  # 0.5 (1 + cos(pi 2/4)), not cos(pi 2/3)
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--steps", "6"]) == 2
    assert "planned for 4 steps" in capsys.readouterr().err
    assert resume("--steps", "6", "--new-phase") == pytest.approx(0.001 * 0.5 * (1 + math.cos(math.pi * 5 / 6)))


def test_held_out_loss_and_psnr_are_logged_every_val_every_steps(image_dir: Path, tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from context_encoder.training.validation import held_out

    run = tmp_path / "run"
    assert main(["train", "--data", str(image_dir), "--steps", "4", "--val-fraction", "0.25", "--val-every", "2",
                 "--out", str(run), *TINY]) == 0
    rows = [r for r in _metrics(run) if "val_psnr" in r]
    assert [r["step"] for r in rows] == [2, 4]
    assert all(5 < r["val_psnr"] < 60 and r["val_loss_rec"] > 0 for r in rows)
    events = EventAccumulator(str(run / "tb"))
    events.Reload()
    assert [e.step for e in events.Scalars("val_psnr")] == [2, 4]
    # a perfect generator scores the cap, a wrong one less: the figure is the hole's PSNR
    from context_encoder.config import train_config_from_dict
    from context_encoder.device import setup_runtime
    from context_encoder.training.loop import build_gan

    cfg = train_config_from_dict({"data": {"data": ["x"]}, "model": {"image_size": 32, "bottleneck": 8}})
    state = build_gan(cfg, setup_runtime("cpu", "fp32"))
    images = torch.full((2, 3, 32, 32), 255, dtype=torch.uint8)
    masks = torch.zeros(2, 1, 32, 32, dtype=torch.uint8)
    masks[..., 10:22, 10:22] = 1
    class Constant(torch.nn.Module):
        def __init__(self, value: float) -> None:
            super().__init__()
            self.value = value

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.full((x.shape[0], 3, 16, 16), self.value)

    white = held_out(Constant(1.0), (images, masks), state)
    black = held_out(Constant(-1.0), (images, masks), state)
    assert white["val_psnr"] == 100.0 and black["val_psnr"] == 0.0
