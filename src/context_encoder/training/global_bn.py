"""BatchNorm over the global batch of a distributed run: the statistics of every rank's samples.

A ``torchrun`` job of W ranks with ``--batch-size B`` trains on one global batch of W·B images a
step (``data.StepBatchSampler`` splits it across the ranks), and is meant to be the single-process
run with batch W·B. Plain BatchNorm would break that: each rank would normalise its B samples by
their own mean and variance (another function of the batch, other gradients) and track running
statistics that differ from rank to rank, so the weight average and the saved statistics would be
rank 0's. Here every BatchNorm layer of a distributed run all-reduces its per-channel sums: the
forward pass, its gradient and the running statistics are those of the global batch and are the
same on every rank (``tests/test_ddp.py``). torch's ``SyncBatchNorm`` does the same on GPUs only;
this one also runs on gloo, so the CPU tests run the code a GPU job runs. docs/fidelity.md says
why the statistics are global rather than per rank.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks, differentiable: every rank's output is the sum, so the gradient of an input
    is the sum of the gradients of the output on all ranks."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor) -> torch.Tensor:
        out = x.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        out = grad.clone()
        dist.all_reduce(out)
        return out


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` whose training statistics span all ranks; in eval mode, or outside a
    process group of two or more ranks, it is plain BatchNorm (same parameters and buffers)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, C, H, W) -> (N, C, H, W), normalised by the mean and (biased) variance of the
        global batch; the running statistics move towards them (unbiased variance, as BatchNorm)."""
        if not (self.training and _distributed()):
            return super().forward(x)
        c = x.shape[1]
        # Sums of x - shift, with a shift that is the same on every rank (the running mean: identical
        # across ranks, since every update below is): E[x²] - E[x]² then loses no precision to a
        # large mean. The shift is a constant, so the gradient is exact.
        shift = self.running_mean.detach().clone() if self.running_mean is not None else x.new_zeros(c)
        centred = x.float() - shift.view(1, c, 1, 1)
        count = centred.new_full((1,), float(x.numel() // c))
        local = torch.cat([centred.sum((0, 2, 3)), centred.square().sum((0, 2, 3)), count])  # (2C + 1,)
        total = _AllReduceSum.apply(local)  # summed over ranks; its backward sums the gradient likewise
        n = total[-1]
        mean = total[:c] / n  # of x - shift
        var = (total[c : 2 * c] / n - mean.square()).clamp_min(0)  # biased, as the forward uses
        y = (centred - mean.view(1, c, 1, 1)) * torch.rsqrt(var + self.eps).view(1, c, 1, 1)
        if self.affine:
            y = y * self.weight.view(1, c, 1, 1) + self.bias.view(1, c, 1, 1)
        if self.track_running_stats:
            self._track(mean.detach() + shift, var.detach() * n / (n - 1).clamp_min(1))
        return y.to(x.dtype)

    @torch.no_grad()
    def _track(self, mean: torch.Tensor, unbiased_var: torch.Tensor) -> None:
        self.num_batches_tracked.add_(1)
        momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
        self.running_mean.lerp_(mean.to(self.running_mean.dtype), momentum)
        self.running_var.lerp_(unbiased_var.to(self.running_var.dtype), momentum)


def global_batchnorm(module: nn.Module) -> nn.Module:
    """``module`` with every ``nn.BatchNorm2d`` replaced, in place, by a :class:`GlobalBatchNorm2d`
    holding the same parameters and buffers (the state dict keeps its keys and values)."""
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm2d:
            setattr(module, name, _convert(child))
        else:
            global_batchnorm(child)
    return module


def _convert(bn: nn.BatchNorm2d) -> GlobalBatchNorm2d:
    out = GlobalBatchNorm2d(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats,
                            device=bn.running_mean.device if bn.running_mean is not None else None)
    out.load_state_dict(bn.state_dict())
    if bn.affine:
        out.weight, out.bias = bn.weight, bn.bias  # the same Parameters: an optimizer built on them still works
    out.train(bn.training)
    return out
