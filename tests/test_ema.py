"""The moving average of the generator weights: the update rule, buffers, and bad decays."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from context_encoder.training.ema import WeightEMA


def _net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))


def test_update_moves_shadow_by_one_minus_decay() -> None:
    net = _net()
    ema = WeightEMA(net, decay=0.75)
    before = {k: v.clone() for k, v in ema.shadow.state_dict().items()}
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    net.train()(torch.randn(2, 3, 8, 8))  # moves the BatchNorm running stats and counter
    ema.update(net)
    now = net.state_dict()
    for key, value in ema.shadow.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(value, 0.75 * before[key] + 0.25 * now[key])
        else:
            assert torch.equal(value, now[key]), key  # num_batches_tracked is copied
    weight = ema.shadow.state_dict()["0.weight"]
    torch.testing.assert_close(weight, before["0.weight"] + 0.25)


def test_shadow_is_a_frozen_copy_in_eval_mode() -> None:
    net = _net()
    ema = WeightEMA(net, decay=0.9)
    assert not ema.shadow.training
    assert all(not p.requires_grad for p in ema.shadow.parameters())
    with torch.no_grad():
        net[0].weight.zero_()
    assert ema.shadow[0].weight.abs().sum() > 0  # not the same tensors


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5])
def test_decay_outside_open_unit_interval_is_refused(decay: float) -> None:
    with pytest.raises(ValueError, match="decay"):
        WeightEMA(_net(), decay)
