"""An exponential moving average of the generator's weights (improved-diffusion, EDM).

Averaging the weights of the last few thousand steps smooths out the noise of the final
iterates; for a regression net such as the L2 context encoder it is a cheap way to a slightly
better held-out loss than any single step. BatchNorm running statistics are averaged with the
same decay; integer buffers (the batch counters) are copied.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class WeightEMA:
    """``shadow = decay * shadow + (1 - decay) * weights``, after every optimizer step."""

    def __init__(self, module: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.shadow = copy.deepcopy(module).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        """Move the shadow weights towards ``module``'s (same architecture)."""
        own = self.shadow.state_dict()
        floats, targets = [], []
        for key, value in module.state_dict().items():
            if value.is_floating_point():
                floats.append(own[key])
                targets.append(value.detach().to(own[key].dtype))
            else:
                own[key].copy_(value)
        torch._foreach_lerp_(floats, targets, 1.0 - self.decay)
