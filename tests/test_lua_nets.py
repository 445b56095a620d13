"""Both nets layer by layer against the Lua definitions of the original code (pathak22/context-encoder).

The tables below transcribe ``train.lua`` (center: netG, netD on the 64-px center) and
``train_random.lua`` (whole image at fineSize 128) with nef = ngf = ndf = 64 and nBottleneck =
4000 (the README's training command). Each row is one weight tensor as Torch stores it
(SpatialConvolution: out, in, kH, kW; SpatialFullConvolution: in, out, kH, kW, as PyTorch) or a
BatchNormalization's width. Lua's convolutions carry biases that ``fDx`` / ``fGx`` zero before every
step; ours are built without them, so the parameter counts compare Lua's minus those biases.
"""

from __future__ import annotations

import pytest
from torch import nn

from context_encoder.config import ModelConfig
from context_encoder.models import build_discriminator, build_generator

B, E = 4000, 64  # nBottleneck, nef = ngf = ndf


def conv(c_in: int, c_out: int) -> tuple:
    return ("conv", (c_out, c_in, 4, 4))


def up(c_in: int, c_out: int) -> tuple:
    return ("up", (c_in, c_out, 4, 4))


def bn(c: int) -> tuple:
    return ("bn", (c,))


# train.lua netE + netG (no noiseGen): 128 px in, the 64-px center out.
LUA_NETG_CENTER = [
    conv(3, E), conv(E, E), bn(E), conv(E, 2 * E), bn(2 * E), conv(2 * E, 4 * E), bn(4 * E),
    conv(4 * E, 8 * E), bn(8 * E), conv(8 * E, B), bn(B),
    up(B, 8 * E), bn(8 * E), up(8 * E, 4 * E), bn(4 * E), up(4 * E, 2 * E), bn(2 * E), up(2 * E, E), bn(E),
    up(E, 3),
]
# train.lua netD (no conditionAdv): the 64-px center in, one logit out.
LUA_NETD_CENTER = [
    conv(3, E), conv(E, 2 * E), bn(2 * E), conv(2 * E, 4 * E), bn(4 * E), conv(4 * E, 8 * E), bn(8 * E),
    ("conv", (1, 8 * E, 4, 4)),
]
# train_random.lua at fineSize 128: the same encoder, one more up-conv (ngf -> ngf) to 128 px.
LUA_NETG_WHOLE = LUA_NETG_CENTER[:-1] + [up(E, E), bn(E), up(E, 3)]
# train_random.lua netD on the whole 128-px image: an extra ndf -> ndf layer in front.
LUA_NETD_WHOLE = [conv(3, E), conv(E, E), bn(E), *LUA_NETD_CENTER[1:]]


def layers(net: nn.Module) -> list[tuple]:
    out = []
    for m in net.modules():
        if isinstance(m, nn.ConvTranspose2d):
            out.append(("up", tuple(m.weight.shape)))
        elif isinstance(m, nn.Conv2d):
            out.append(("conv", tuple(m.weight.shape)))
        elif isinstance(m, nn.BatchNorm2d):
            out.append(("bn", (m.num_features,)))
    return out


def lua_params(table: list[tuple]) -> int:
    """Learned parameters of a Lua table, conv biases (zeroed every step) left out."""
    total = 0
    for kind, shape in table:
        n = 1
        for d in shape:
            n *= d
        total += 2 * n if kind == "bn" else n
    return total


def n_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


CENTER = ModelConfig(arch="center", image_size=128, bottleneck=B)
WHOLE = ModelConfig(arch="center", image_size=128, bottleneck=B, full_image=True)


@pytest.mark.parametrize(("cfg", "table"), [(CENTER, LUA_NETG_CENTER), (WHOLE, LUA_NETG_WHOLE)],
                         ids=["train.lua", "train_random.lua"])
def test_generator_matches_the_lua_netG(cfg: ModelConfig, table: list[tuple]) -> None:
    gen = build_generator(cfg)
    assert layers(gen) == table
    assert n_params(gen) == lua_params(table)


def test_center_generator_parameter_count() -> None:
    # Worked by hand from train.lua: convs 3,072 + 65,536 + 131,072 + 524,288 + 2,097,152 +
    # 32,768,000 (to the bottleneck), up-convs 32,768,000 + 2,097,152 + 524,288 + 131,072 + 3,072,
    # BatchNorm weights and biases 2 x (64 + 128 + 256 + 512 + 4000 + 512 + 256 + 128 + 64).
    assert n_params(build_generator(CENTER)) == 71_124_544


def test_center_discriminator_matches_the_lua_netD() -> None:
    disc = build_discriminator(CENTER, 64)
    assert layers(disc) == LUA_NETD_CENTER
    assert n_params(disc) == lua_params(LUA_NETD_CENTER) == 2_765_568  # by hand, as above


def test_whole_image_discriminator_lua_widths_match_train_random() -> None:
    """``disc_widths: lua`` is train_random.lua's netD; the default (doubling) is a documented
    deviation (docs/fidelity.md) with 64, 128, 256, 512, 512 channels."""
    lua = build_discriminator(ModelConfig(**{**WHOLE.__dict__, "disc_widths": "lua"}), 128)
    assert layers(lua) == LUA_NETD_WHOLE
    assert n_params(lua) == lua_params(LUA_NETD_WHOLE)
    ours = build_discriminator(WHOLE, 128)
    assert [s[0] for k, s in layers(ours) if k == "conv"] == [64, 128, 256, 512, 512, 1]
