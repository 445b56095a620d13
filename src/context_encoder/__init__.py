"""Context Encoders: Feature Learning by Inpainting (Pathak et al., CVPR 2016) in PyTorch.

``from context_encoder import Inpainter`` is the Python API for inpainting; it is imported on
first use, so ``import context_encoder.<module>`` (and the CLI) does not pay for torch up front.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from context_encoder.inpainting.inpainter import Inpainter

__all__ = ["Inpainter"]


def __getattr__(name: str) -> Any:
    if name == "Inpainter":
        from context_encoder.inpainting.inpainter import Inpainter

        return Inpainter
    raise AttributeError(f"module 'context_encoder' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])  # the lazy names too, for dir() and tab completion
