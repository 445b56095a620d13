"""Training through the Poisson paste: the loss sees what ``inpaint`` writes, and its gradient is right."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from context_encoder.config import LossConfig, ModelConfig, TrainConfig, to_dict, train_config_from_dict
from context_encoder.geometry import center_mask, hole_box
from context_encoder.inpainting.blend import paste
from context_encoder.masks import PasteHoles
from context_encoder.training.paste import poisson_paste


def _holes() -> torch.Tensor:
    hole = torch.zeros(2, 14, 14, dtype=torch.bool)
    hole[0, 3:10, 2:9] = True
    hole[1, 4:8, 3:12] = True
    hole[1, 9, 6] = True  # a second, one-pixel region
    return hole


def test_poisson_paste_is_what_inpaint_pastes() -> None:
    rng = np.random.default_rng(0)
    hole = _holes()
    for i in range(2):
        photo = rng.integers(0, 256, (14, 14, 3), dtype=np.uint8)
        pred = rng.integers(0, 256, (14, 14, 3), dtype=np.uint8)
        m = hole[i].numpy()
        expected = paste(photo, pred, m, mode="poisson", border=pred)
        as_tensor = lambda a: torch.from_numpy(a).permute(2, 0, 1)[None].double()  # noqa: E731
        ours = poisson_paste(as_tensor(pred), as_tensor(photo), hole[i : i + 1])[0].permute(1, 2, 0).numpy()
        ours = np.where(m[..., None], np.clip(ours + 0.5, 0, 255).astype(np.uint8), photo)
        assert np.array_equal(ours, expected)


def test_poisson_paste_gradient_matches_finite_differences() -> None:
    torch.manual_seed(0)
    pred = torch.randn(2, 3, 14, 14, dtype=torch.float64, requires_grad=True)
    target = torch.randn(2, 3, 14, 14, dtype=torch.float64)
    weights = torch.randn(2, 3, 14, 14, dtype=torch.float64)
    hole = _holes()

    def f(p: torch.Tensor) -> torch.Tensor:
        return (poisson_paste(p, target, hole).double() * weights).sum()

    f(pred).backward()
    gen = np.random.default_rng(1)
    for _ in range(60):  # the map is linear: a central difference with a large step is exact
        i = tuple(int(gen.integers(0, s)) for s in pred.shape)
        d = torch.zeros_like(pred)
        d[i] = 0.5
        numeric = (f(pred.detach() + d) - f(pred.detach() - d)).item()
        assert numeric == pytest.approx(pred.grad[i].item(), rel=1e-4, abs=1e-4)
    border_grad = pred.grad[0, :, 2, 2:9]  # the row above hole 0 feeds its correction
    assert border_grad.abs().sum() > 0


def test_pasted_loss_ignores_harmonic_errors() -> None:
    """A prediction off by a harmonic field (here a constant and a ramp) pastes to the target."""
    target = torch.rand(1, 3, 14, 14, dtype=torch.float64)
    ramp = torch.linspace(-0.3, 0.5, 14, dtype=torch.float64)[None, None, None, :]
    pasted = poisson_paste(target + 0.2 + ramp, target, _holes()[:1])
    assert torch.allclose(pasted[0][:, _holes()[0]], target[0][:, _holes()[0]].float(), atol=1e-5)


def test_paste_holes_lie_in_the_hidden_square(tmp_path) -> None:
    from PIL import Image

    tmp_path.mkdir(exist_ok=True)
    for k in range(4):
        m = np.zeros((64, 64), np.uint8)
        m[5 + 8 * k : 30 + 8 * k, 10:50] = 255
        Image.fromarray(m).save(tmp_path / f"m{k}.png")
    cfg = ModelConfig(overlap=4)
    hidden = center_mask(1, 128, 4)[0]
    holes = PasteHoles(tmp_path, hole_box(cfg))
    seen_part = seen_whole = False
    for seed in range(40):
        sub = holes(hidden, torch.Generator().manual_seed(seed))
        assert sub.shape == hidden.shape and ((sub > 0) <= (hidden > 0)).all() and sub.sum() > 0
        seen_whole |= bool(torch.equal(sub, hidden))
        seen_part |= bool(sub.sum() < hidden.sum())
    assert seen_whole and seen_part


def test_paste_config_is_validated() -> None:
    base = to_dict(TrainConfig()) | {"data": {"data": ["x"]}}
    cfg = train_config_from_dict(base | {"loss": {"paste": "poisson"}})
    assert cfg.loss.paste == "poisson" and LossConfig().paste == "hard"  # the paper's loss by default
    with pytest.raises(ValueError, match="paste must be one of"):
        train_config_from_dict(base | {"loss": {"paste": "feather"}})
    with pytest.raises(ValueError, match="paste-folder needs"):
        train_config_from_dict(base | {"mask": {"kind": "center", "paste_folder": "m"}})


def test_step_through_the_paste_is_the_pasted_mse_plus_the_raw_term() -> None:
    from context_encoder.device import setup_runtime
    from context_encoder.losses import reconstruction_loss, ring_weights
    from context_encoder.training.loop import build_gan, mask_sampler_for
    from context_encoder.training.step import crop_center, prepare_batch, train_step

    cfg = train_config_from_dict({
        "data": {"data": ["unused"]}, "batch_size": 4, "steps": 1, "loss": {"kind": "l2", "paste": "poisson"},
        "model": {"image_size": 32, "bottleneck": 16, "nef": 8, "ngf": 8, "ndf": 8},
    })
    state = build_gan(cfg, setup_runtime("cpu", "fp32"))
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8, generator=g)
    masks = mask_sampler_for(cfg)(4, g).to(torch.uint8)
    paste_holes = masks.clone()
    paste_holes[:2, :, :, :12] = 0  # the photo's hole: part of the hidden square in two samples
    _, inp, target, weights = prepare_batch(images, masks, state)
    with torch.no_grad():
        pred = state.generator(inp)
    hole = crop_center(paste_holes > 0)[:, 0]
    pasted = poisson_paste(pred, target, hole)
    expected = (reconstruction_loss(pasted, target, hole[:, None].float())
                + 0.1 * reconstruction_loss(pred, target, weights))
    out = train_step(images, masks, state, paste_holes)
    assert out["loss_rec"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert weights.shape == crop_center(ring_weights(masks.float(), 1)).shape


def test_deeper_than_is_the_euclidean_depth() -> None:
    from context_encoder.masks import deeper_than

    g = torch.Generator().manual_seed(1)
    hole = torch.rand(2, 1, 20, 24, generator=g) > 0.2  # mostly hole, scattered known pixels
    hole[:, :, :, :2] = False
    known = [(~hole[i, 0]).nonzero().float() for i in range(2)]
    for depth in (1, 2, 3):
        got = deeper_than(hole, depth)
        for i in range(2):
            pos = torch.stack(torch.meshgrid(torch.arange(20.0), torch.arange(24.0), indexing="ij"), -1).view(-1, 1, 2)
            nearest = (pos - known[i][None]).pow(2).sum(-1).min(1).values.sqrt().view(20, 24)
            assert torch.equal(got[i, 0], hole[i, 0] & (nearest > depth))


def test_onion_step_adds_the_second_pass_over_the_deep_hole() -> None:
    from context_encoder.device import setup_runtime
    from context_encoder.losses import reconstruction_loss
    from context_encoder.masks import deeper_than, net_input
    from context_encoder.training.loop import build_gan
    from context_encoder.training.step import prepare_batch, train_step

    base = {"data": {"data": ["unused"]}, "batch_size": 2, "steps": 1, "mask": {"kind": "region"},
            "model": {"image_size": 32, "bottleneck": 16, "nef": 8, "ngf": 8, "ndf": 8, "hole_fill": "harmonic"}}
    with pytest.raises(ValueError, match="onion passes need the Poisson paste"):
        train_config_from_dict(base | {"loss": {"kind": "l2", "onion": 2}})
    cfg = train_config_from_dict(base | {"loss": {"kind": "l2", "paste": "poisson", "rec": "log-l2", "onion": 2}})
    state = build_gan(cfg, setup_runtime("cpu", "fp32"))
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    masks = torch.zeros(2, 1, 32, 32, dtype=torch.uint8)
    masks[0, :, 6:20, 4:26] = 1
    masks[1, :, 10:14, 3:30] = 1  # a 4-px stroke: nothing deeper than 2 px
    state.generator.eval()  # the same BatchNorm statistics in both forwards
    real, inp, target, _ = prepare_batch(images, masks, state)
    with torch.no_grad():
        hole = masks > 0
        first = poisson_paste(state.generator(inp), real, hole[:, 0])
        deep = deeper_than(hole, 2)
        given = torch.where(hole, first, real)
        second = state.generator(net_input(given, deep.float(), state.model))
        expected = reconstruction_loss(poisson_paste(second, given, deep[:, 0]), real, deep.float(), "log-l2")
    assert deep[0].any() and not deep[1].any()
    out = train_step(images, masks, state, masks.clone())
    assert out["loss_onion"].item() == pytest.approx(expected.item(), rel=1e-4)
