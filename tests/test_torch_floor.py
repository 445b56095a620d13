"""The torch / torchvision range of pyproject.toml admits no release that lacks an API the code
uses (docs/fidelity.md#torch-floor), and still admits the versions this project is tested on."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import torch

ROOT = Path(__file__).parents[1]
SRC = ROOT / "src" / "context_encoder"

# API the code uses -> (the first torch release that has it, the file that uses it, a string of that use)
FEATURES = {
    "torch.amp.GradScaler(device_type): the device-generic scaler": ((2, 3), "device.py", "torch.amp.GradScaler("),
    "torch.optim.Adam(fused=True) on the CPU": ((2, 4), "training/loop.py", '{"fused": True}'),
    "torch._functorch.config.donated_buffer (--compile)": ((2, 5), "training/loop.py", "donated_buffer = False"),
    "torch.onnx.export(dynamo=True) (export --format onnx)": ((2, 5), "inpainting/export.py", "dynamo=True"),
}
TESTED = ((2, 14, 1), (0, 29, 1))  # torch, torchvision as installed here


def _range(name: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    text = (ROOT / "pyproject.toml").read_text()
    m = re.search(rf'"{name}>=([\d.]+),<([\d.]+)"', text)
    assert m, f"{name} needs a >=X,<Y range in pyproject.toml"
    return tuple(map(int, m[1].split("."))), tuple(map(int, m[2].split(".")))


def test_the_torch_floor_has_every_api_the_code_uses() -> None:
    floor, _ = _range("torch")
    for feature, (since, path, use) in FEATURES.items():
        assert use in (SRC / path).read_text(), f"{path} no longer uses {feature}: update FEATURES"
        assert floor >= since, f"torch>={'.'.join(map(str, floor))} admits releases without {feature} (new in {since})"


def test_the_torchvision_floor_is_the_torch_floors_pair_and_the_tested_versions_are_in() -> None:
    (t_floor, t_cap), (v_floor, v_cap) = _range("torch"), _range("torchvision")
    assert t_floor[0] == 2 and v_floor == (0, t_floor[1] + 15)  # torch 2.N pairs with torchvision 0.(N+15)
    assert t_floor <= TESTED[0] < t_cap and v_floor <= TESTED[1] < v_cap


def test_the_installed_torch_has_the_features() -> None:
    """What FEATURES names exists here (the floor test reads strings; this runs them)."""
    torch.amp.GradScaler("cpu", enabled=False)
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))], fused=True)
    import torch._functorch.config as functorch_config

    assert hasattr(functorch_config, "donated_buffer")
    assert "dynamo" in inspect.signature(torch.onnx.export).parameters
