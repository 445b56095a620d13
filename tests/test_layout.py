"""The package's layout rule, checked from the source so it cannot rot: imports flow one way.

``commands`` -> anything; ``evaluation`` -> ``inpainting`` -> core; ``server`` -> ``inpainting`` ->
core; ``training`` and ``representation`` -> core only; core -> core; ``models`` -> ``config``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "context_encoder"
CORE = "core"
# layer -> the layers it may import from (besides itself)
ALLOWED = {
    "models": {"config"},
    CORE: {"models", "config"},
    "config": set(),
    "training": {CORE, "models", "config"},
    "inpainting": {CORE, "models", "config"},
    "representation": {CORE, "models", "config"},
    "evaluation": {"inpainting", CORE, "models", "config"},
    "server": {"inpainting", CORE, "models", "config"},
    "commands": {"commands", "server", "evaluation", "inpainting", "training", "representation", CORE, "models",
                 "config"},
    "cli": {"commands"},
}
SUBPACKAGES = ("models", "training", "inpainting", "representation", "evaluation", "server", "commands")


def layer(module: str) -> str:
    """The layer of a dotted module name inside the package, e.g. ``context_encoder.training.loop``."""
    parts = module.split(".")[1:]
    if not parts:
        return "package"
    if parts[0] in SUBPACKAGES:
        return parts[0]
    return {"config": "config", "cli": "cli"}.get(parts[0], CORE)


def module_name(path: Path) -> str:
    return "context_encoder." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)


def imports_of(module: str, source: str) -> list[tuple[int, str]]:
    """(line, module) of every ``context_encoder`` import in ``source``, function-level ones included."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = module.split(".")[: -node.level]
                found.append((node.lineno, ".".join(base + ([node.module] if node.module else []))))
            elif node.module:
                found.append((node.lineno, node.module))
                if node.module == "context_encoder":  # from context_encoder import X: X may be a module
                    found += [(node.lineno, f"context_encoder.{a.name}") for a in node.names]
    return [(line, name) for line, name in found if name.split(".")[0] == "context_encoder"]


def violations(module: str, source: str) -> list[str]:
    """The imports of ``source`` (the text of ``module``) that break the rule."""
    here = layer(module)
    return [f"line {line}: {name}" for line, name in imports_of(module, source)
            if layer(name) != here and layer(name) not in ALLOWED[here] and name != "context_encoder"]


def sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


def test_every_module_is_placed() -> None:
    assert len(sources()) > 30
    assert {layer(module_name(p)) for p in sources()} <= set(ALLOWED)


@pytest.mark.parametrize("path", sources(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_imports_flow_one_way(path: Path) -> None:
    wrong = violations(module_name(path), path.read_text())
    assert not wrong, f"{layer(module_name(path))} may import only {sorted(ALLOWED[layer(module_name(path))])}: {wrong}"


@pytest.mark.parametrize(("module", "source"), [
    ("context_encoder.training.loop", "from context_encoder.inpainting.inpainter import Inpainter"),
    ("context_encoder.masks", "def f():\n    from context_encoder.evaluation import metrics"),
    ("context_encoder.inpainting.windows", "from ..evaluation import methods"),
    ("context_encoder.models.center", "import context_encoder.data"),
    ("context_encoder.data", "from context_encoder import training"),
])
def test_the_rule_catches_upward_imports(module: str, source: str) -> None:
    assert violations(module, source)
    assert not violations(module, "from context_encoder.config import ModelConfig")
