"""The distributed set-up of a training run: the process group, the device, an all-gather with gradients.

Under ``torchrun`` (``WORLD_SIZE > 1``) a run joins or creates the process group, trains on
its ``LOCAL_RANK`` device and gathers every process's projections for NT-Xent.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.distributed as dist

from spirograph.baselines.config import TrainConfig
from spirograph.errors import ConfigError

__all__: list[str] = []


@dataclass
class _Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def _setup_distributed(config: TrainConfig) -> _Dist:
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if dist.is_available() and dist.is_initialized():
        return _Dist(dist.get_rank(), dist.get_world_size(), local_rank, False)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        if not dist.is_available():
            raise ConfigError("train: WORLD_SIZE > 1 but torch.distributed is not available in this build")
        backend = "nccl" if config.device != "cpu" and torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
        return _Dist(dist.get_rank(), dist.get_world_size(), local_rank, True)
    return _Dist()


def _resolve_device(config: TrainConfig, ctx: _Dist) -> torch.device:
    name = config.device
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"train: `device` {config.device!r} needs CUDA, which is not available")
        if device.index is None:
            device = torch.device("cuda", ctx.local_rank if ctx.enabled else torch.cuda.current_device())
        torch.cuda.set_device(device)
    return device


class _GatherWithGradient(torch.autograd.Function):
    """All-gather along dim 0 whose backward sums the gradients of every process's copy."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        ctx.rank, ctx.world_size = dist.get_rank(), dist.get_world_size()
        parts = [torch.empty_like(tensor) for _ in range(ctx.world_size)]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        # Every process computes the same global loss; DDP later averages the weight
        # gradients, so the sum here makes the result the single-process gradient.
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad.chunk(ctx.world_size)[ctx.rank]


def _gather(tensor: torch.Tensor, ctx: _Dist) -> torch.Tensor:
    if not ctx.enabled:
        return tensor
    return cast(torch.Tensor, _GatherWithGradient.apply(tensor))
