"""The optional parts of the package: which pyproject.toml extra brings which modules, and the one
line a command says when it needs one that is not installed.

The core (``train``, ``inpaint``, ``export --format torchscript``, ``features``, ``probe``) needs
none of them. ``pip install -e ".[dev]"`` (the README's command) installs every extra.
"""

from __future__ import annotations

import importlib

# extra -> (importable module, the pip package that brings it), as pyproject.toml lists them
EXTRAS: dict[str, tuple[tuple[str, str], ...]] = {
    "serve": (("fastapi", "fastapi"), ("uvicorn", "uvicorn"), ("python_multipart", "python-multipart")),
    "eval": (("skimage", "scikit-image"),),  # SSIM and the baselines of `evaluate`
    "viz": (("tensorboard", "tensorboard"), ("matplotlib", "matplotlib")),  # train's TensorBoard logs, `plot`
    "export": (("onnx", "onnx"), ("onnxscript", "onnxscript"), ("onnxruntime", "onnxruntime")),
}


class MissingExtra(ValueError):
    """A command needs an optional dependency that is not installed: one line naming the extra
    (a ValueError, so the CLI reports it as a bad setup, exit 2, not as a crash)."""


def missing(extra: str, modules: tuple[str, ...] | None = None) -> list[str]:
    """The pip packages of ``extra`` (only those of ``modules``, if given) that do not import."""
    gone = []
    for module, package in EXTRAS[extra]:
        if modules is not None and module not in modules:
            continue
        try:
            importlib.import_module(module)
        except ImportError:
            gone.append(package)
    return gone


def install_hint(extra: str, packages: list[str]) -> str:
    """'tensorboard is not installed: pip install 'context-encoder[viz]''."""
    verb = "is" if len(packages) == 1 else "are"
    return f"{', '.join(packages)} {verb} not installed: pip install 'context-encoder[{extra}]'"


def require(extra: str, what: str, modules: tuple[str, ...] | None = None) -> None:
    """Raise :class:`MissingExtra` naming ``what`` (e.g. "context-encoder serve") and the extra
    to install unless every module of ``extra`` (or of ``modules``) imports."""
    gone = missing(extra, modules)
    if gone:
        raise MissingExtra(f"{what} needs the '{extra}' extra: {install_hint(extra, gone)}")
