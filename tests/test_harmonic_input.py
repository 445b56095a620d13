"""The harmonic hole fill of the net's input, the U-Net skips and the mask channel (issue 23's
deviations, behind ``model.hole_fill``, ``model.skips`` and ``model.mask_channel``): what they
compute, where they are refused, and that the paths a user runs (training step, ``Inpainter``)
read them from the model config."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from context_encoder.checkpoint import CheckpointError, load_grown, save_weights
from context_encoder.config import ModelConfig, TrainConfig, to_dict, train_config_from_dict, validate_model
from context_encoder.inpainting.export import export_generator
from context_encoder.inpainting.inpainter import Inpainter
from context_encoder.laplace import harmonic_fill, harmonic_fill_small
from context_encoder.masks import fill_hole, mean_fill_value, net_input
from context_encoder.models import build_generator


def _hole(n: int = 2, size: int = 32) -> torch.Tensor:
    mask = torch.zeros(n, 1, size, size)
    mask[0, 0, 8:20, 5:17] = 1
    mask[1, 0, 2:30, 12:15] = 1
    mask[1, 0, 20, 2] = 1
    return mask


def test_harmonic_fill_keeps_known_pixels_and_solves_the_laplace_equation() -> None:
    torch.manual_seed(0)
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    mask = _hole()
    out = fill_hole(images, mask, "harmonic")
    known = mask.expand_as(images) == 0
    assert torch.equal(out[known], images[known])
    for i in range(2):
        hole = mask[i, 0].numpy() > 0
        values = images[i].permute(1, 2, 0).numpy()
        expected = harmonic_fill(hole, values)  # the uncached photo-size solver
        got = out[i].permute(1, 2, 0).numpy()[hole]
        np.testing.assert_allclose(got, expected, atol=1e-5)


def test_the_cached_symmetric_factorisation_fills_as_the_uncached_solver() -> None:
    rng = np.random.default_rng(0)
    for i in range(4):
        hole, values = rng.random((24, 24)) < 0.3 + 0.1 * i, rng.random((24, 24, 3))
        np.testing.assert_allclose(harmonic_fill_small(hole, values), harmonic_fill(hole, values), atol=1e-10)


def test_lu_factors_are_cached_on_the_main_thread_only() -> None:
    # SciPy's SuperLU leaks an LU freed on another thread than the one that made it (scipy#15921):
    # a cache filled by the Inpainter's prefetch thread and emptied elsewhere grew without bound
    from concurrent.futures import ThreadPoolExecutor

    from context_encoder.laplace import _factors, factorized

    rng = np.random.default_rng(1)
    hole = rng.random((20, 20)) < 0.4
    _factors.clear()
    with ThreadPoolExecutor(1) as pool:
        lu = pool.submit(factorized, hole).result()
    assert len(_factors) == 0 and lu.shape[0] == hole.sum()
    assert factorized(hole) is factorized(hole) and len(_factors) == 1  # the main thread's cache


def test_harmonic_fill_reproduces_a_linear_ramp_and_differs_from_the_mean_fill() -> None:
    ramp = torch.linspace(-1, 1, 32).view(1, 1, 1, 32).expand(2, 3, 32, 32).contiguous()
    mask = _hole()
    out = fill_hole(ramp, mask, "harmonic")
    # a ramp along x is harmonic, and the no-flux photo edge does not bend it (the hole's pixels
    # there have a known neighbour in x on both sides)
    np.testing.assert_allclose(out.numpy(), ramp.numpy(), atol=1e-5)
    mean = fill_hole(ramp, mask)
    assert torch.allclose(mean[0, :, 10, 10], mean_fill_value().view(3))
    assert (out - mean).abs().max() > 0.5


def test_a_hole_with_no_known_border_gets_the_mean_colour() -> None:
    images = torch.rand(1, 3, 8, 8)
    out = fill_hole(images, torch.ones(1, 1, 8, 8), "harmonic")
    assert torch.allclose(out, mean_fill_value().expand(1, 3, 8, 8))


def test_skips_feed_the_encoder_features_to_the_decoder() -> None:
    cfg = ModelConfig(image_size=32, full_image=True, nef=8, ngf=8, bottleneck=16)
    plain, skip = build_generator(cfg), build_generator(dataclasses.replace(cfg, skips=True))
    own = plain.state_dict()
    widened = []  # up-convs whose input is [decoder, encoder] channels: weight (in, out, k, k)
    state = {}
    for name, value in skip.state_dict().items():
        base = own[name]
        if value.shape != base.shape:
            widened.append(name)
            base = torch.cat([base, torch.zeros_like(value[base.shape[0]:])])
        state[name] = base
    assert len(widened) == 3  # every up-conv after the bottleneck's (32 px: 4 -> 8 -> 16 -> 32)
    skip.load_state_dict(state)
    plain.eval(), skip.eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    # the skip channels' weights zeroed: the skip net is the plain net
    assert torch.allclose(plain(x), skip(x), atol=1e-6)
    with torch.no_grad():  # non-zero: the output reads the encoder's features directly
        for name in widened:
            weight = skip.get_parameter(name)
            weight[own[name].shape[0]:] = 0.05
    assert not torch.allclose(plain(x), skip(x), atol=1e-3)
    assert skip(x).shape == (2, 3, 32, 32)


def _grown(tmp_path: Path, cfg: ModelConfig, **change: int) -> tuple[nn.Module, nn.Module, list[str]]:
    """A net of ``cfg`` (seeded), the same grown by ``change`` and loaded from it, and the names of
    the grown net's tensors that kept their init."""
    torch.manual_seed(0)
    plain = build_generator(cfg).eval()
    grown = build_generator(dataclasses.replace(cfg, **change)).eval()
    save_weights(tmp_path / "plain.safetensors", plain, cfg)
    return plain, grown, load_grown(grown, tmp_path / "plain.safetensors")


def test_residual_blocks_start_as_the_identity_and_then_learn(tmp_path) -> None:
    cfg = ModelConfig(image_size=32, full_image=True, skips=True, nef=8, ngf=8, bottleneck=16)
    plain, grown, fresh = _grown(tmp_path, cfg, res_blocks=1)
    assert fresh and all(k.startswith("blocks.") for k in fresh)
    assert len(grown.blocks) == 2  # after each 2x up-conv but the last: 8 and 16 px
    assert [b[0].body[0].in_channels for b in grown.blocks] == [32, 16]  # the up-convs' widths there
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    torch.testing.assert_close(grown(x), plain(x), atol=0, rtol=0)
    grown.train()
    grown(x).square().mean().backward()
    last_scale = grown.blocks[0][0].body[-1].weight  # the zero-initialised BatchNorm scale
    assert last_scale.grad is not None and last_scale.grad.abs().max() > 0


def test_attention_starts_as_the_identity_and_copies_only_from_known_cells(tmp_path) -> None:
    cfg = ModelConfig(image_size=32, full_image=True, skips=True, mask_channel=True, nef=8, ngf=8, bottleneck=16)
    plain, grown, fresh = _grown(tmp_path, cfg, attention=8)
    assert fresh and all(k.startswith("attention.") for k in fresh)
    mask = torch.zeros(2, 1, 32, 32)
    mask[:, :, 8:24, 8:24] = 1
    x = torch.cat([torch.rand(2, 3, 32, 32) * 2 - 1, mask], 1)
    torch.testing.assert_close(grown(x), plain(x), atol=0, rtol=0)
    grown.train()
    grown(x).square().mean().backward()
    assert grown.attention.out.weight.grad.abs().max() > 0  # the zero-initialised output learns
    # The layer itself: known cells are left alone; a hidden cell reads the encoder's features at known
    # cells only (changing them changes it, changing the hidden cells' own does not).
    layer = grown.attention.eval()
    with torch.no_grad():
        layer.out.weight.normal_()
    y, enc = torch.rand(1, layer.query.in_channels, 4, 4), torch.rand(1, layer.key.in_channels, 4, 4)
    hidden = torch.zeros(1, 1, 4, 4)
    hidden[..., 1:3, 1:3] = 1
    out = layer(y, enc, hidden)
    torch.testing.assert_close(out * (1 - hidden), y * (1 - hidden))
    assert not torch.allclose(out, y)
    enc_hole = enc.clone()
    enc_hole[..., 1:3, 1:3] += 5
    torch.testing.assert_close(layer(y, enc_hole, hidden), out)
    enc_known = enc.clone()
    enc_known[..., 0, 0] += 5
    assert not torch.allclose(layer(y, enc_known, hidden), out)


def test_a_wider_bottleneck_starts_as_the_net_it_grew_from_and_then_learns(tmp_path) -> None:
    cfg = ModelConfig(image_size=32, full_image=True, skips=True, mask_channel=True, nef=8, ngf=8, bottleneck=16)
    plain, grown, fresh = _grown(tmp_path, cfg, bottleneck=24)
    assert sorted(k for k in fresh if not k.endswith("num_batches_tracked")) == [
        "decoder.0.weight", "to_bottleneck.0.weight", "to_bottleneck.1.bias", "to_bottleneck.1.running_mean",
        "to_bottleneck.1.running_var", "to_bottleneck.1.weight"]
    torch.testing.assert_close(grown.to_bottleneck[0].weight[:16], plain.to_bottleneck[0].weight)
    assert grown.to_bottleneck[0].weight[16:].abs().max() > 0  # the new channels compute something
    assert grown.decoder[0].weight[16:].abs().max() == 0  # which the decoder reads with zero weights
    x = torch.cat([torch.rand(2, 3, 32, 32) * 2 - 1, (torch.rand(2, 1, 32, 32) > 0.5).float()], 1)
    torch.testing.assert_close(grown(x), plain(x), atol=0, rtol=0)
    grown.train()
    grown(x).square().mean().backward()
    assert grown.decoder[0].weight.grad[16:].abs().max() > 0  # the new channels' weights learn
    # a narrower bottleneck, or a wider one whose first up-convolution differs elsewhere, is refused
    save_weights(tmp_path / "wide.safetensors", grown, dataclasses.replace(cfg, bottleneck=24))
    with pytest.raises(CheckpointError, match="to_bottleneck.0.weight is"):
        load_grown(plain, tmp_path / "wide.safetensors")
    other = build_generator(dataclasses.replace(cfg, bottleneck=24, ngf=16))
    with pytest.raises(CheckpointError, match=r"decoder\.0\.weight is \(16, 64, 4, 4\)"):
        load_grown(other, tmp_path / "plain.safetensors")


def test_settings_that_cannot_hold_are_refused() -> None:
    with pytest.raises(ValueError, match="hole-fill must be one of"):
        validate_model(ModelConfig(hole_fill="zeros"))
    with pytest.raises(ValueError, match="skips .* need a whole-image net"):
        validate_model(ModelConfig(skips=True))  # the center net outputs the center only
    with pytest.raises(ValueError, match="skips .* need a whole-image net"):
        validate_model(ModelConfig(arch="alexnet", image_size=227, skips=True))
    with pytest.raises(ValueError, match="res-blocks must be in"):
        validate_model(ModelConfig(arch="alexnet", image_size=227, res_blocks=1))
    with pytest.raises(ValueError, match="res-blocks must be in"):
        validate_model(ModelConfig(res_blocks=5))
    with pytest.raises(ValueError, match="attention must be 0 or a power of two"):
        validate_model(ModelConfig(full_image=True, skips=True, attention=32))  # no mask channel
    with pytest.raises(ValueError, match="attention must be 0 or a power of two"):
        validate_model(ModelConfig(full_image=True, skips=True, mask_channel=True, attention=24))
    with pytest.raises(ValueError, match="attention must be 0 or a power of two"):
        validate_model(ModelConfig(full_image=True, skips=True, mask_channel=True, attention=128))
    validate_model(ModelConfig(full_image=True, skips=True, mask_channel=True, attention=32))
    with pytest.raises(ValueError, match="mask-channel needs --arch center"):
        validate_model(ModelConfig(arch="alexnet", image_size=227, mask_channel=True))
    cfg = train_config_from_dict({**to_dict(TrainConfig()), "data": {"data": ["x"]},
                                  "mask": {"kind": "block"}, "model": {"skips": True, "hole_fill": "harmonic"}})
    assert cfg.model.full_image and cfg.model.skips and cfg.model.hole_fill == "harmonic"


def test_export_refuses_a_harmonic_fill_model(tmp_path) -> None:
    cfg = ModelConfig(image_size=32, full_image=True, nef=8, ngf=8, bottleneck=16, hole_fill="harmonic")
    with pytest.raises(ValueError, match="only mean-fill models export"):
        export_generator(build_generator(cfg), cfg, tmp_path / "g.onnx", fmt="onnx")
    assert not (tmp_path / "g.onnx").exists()


class _Spy(nn.Module):
    """Records what the generator is given and returns it (a whole-image 'net')."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().clone())
        return x[:, :3]


@pytest.mark.parametrize("hole_fill", ["mean", "harmonic"])
def test_inpainter_gives_the_net_the_configured_fill(hole_fill: str) -> None:
    cfg = ModelConfig(image_size=32, full_image=True, nef=8, ngf=8, bottleneck=16, hole_fill=hole_fill)
    spy = _Spy()
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    mask = np.zeros((32, 32), np.uint8)
    mask[10:20, 8:22] = 255
    Inpainter(spy, cfg, config=None).inpaint(photo, mask, blend="hard")
    x = spy.seen[0].float()[0]  # (3, 32, 32)
    inside = x[:, 14, 15]
    mean = mean_fill_value().view(3)
    if hole_fill == "mean":
        assert torch.allclose(inside, mean, atol=1e-3)
    else:
        assert not torch.allclose(inside, mean, atol=0.05)
        image = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 127.5 - 1
        expected = fill_hole(image, torch.from_numpy(mask > 0)[None, None].float(), "harmonic")[0]
        assert torch.allclose(x, expected, atol=1e-3)


def test_the_mask_channel_is_the_fourth_input_channel() -> None:
    torch.manual_seed(0)
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    mask = _hole()
    cfg = ModelConfig(image_size=32, full_image=True, hole_fill="harmonic")
    plain = net_input(images, mask, cfg)
    assert torch.equal(plain, fill_hole(images, mask, "harmonic"))
    both = net_input(images, mask, dataclasses.replace(cfg, mask_channel=True))
    assert both.shape == (2, 4, 32, 32) and torch.equal(both[:, :3], plain) and torch.equal(both[:, 3:], mask)
    gen = build_generator(dataclasses.replace(cfg, nef=8, ngf=8, bottleneck=16, mask_channel=True)).eval()
    assert gen(both).shape == (2, 3, 32, 32)
    with pytest.raises(RuntimeError):  # the net reads 4 channels: RGB alone does not fit
        gen(plain)


def test_inpainter_gives_a_mask_channel_net_the_hole() -> None:
    cfg = ModelConfig(image_size=32, full_image=True, nef=8, ngf=8, bottleneck=16, hole_fill="harmonic",
                      mask_channel=True)
    spy = _Spy()
    photo = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    mask = np.zeros((32, 32), np.uint8)
    mask[10:20, 8:22] = 255
    Inpainter(spy, cfg, config=None).inpaint(photo, mask, blend="hard")
    x = spy.seen[0].float()[0]  # (4, 32, 32)
    assert x.shape[0] == 4
    np.testing.assert_array_equal(x[3].numpy() > 0.5, mask > 0)
