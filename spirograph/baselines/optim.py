r"""LARS around SGD with momentum, parameter groups, and the warm-up + cosine schedule.

LARS (You, Gitman & Ginsburg, 2017, "Large Batch Training of Convolutional Networks")
scales each parameter tensor's step by a trust ratio. The update implemented here is
the SGD-wrapping form used by SimCLR and by the paper's training code (the
``torchlars`` convention), for a tensor $w$ with gradient $g$:

$$
r = \begin{cases} \dfrac{\eta \lVert w \rVert}{\lVert g \rVert + \omega \lVert w \rVert + \epsilon}
& \text{if } \lVert w \rVert > 0 \text{ and } \lVert g \rVert > 0, \\ 1 & \text{otherwise,} \end{cases}
\qquad
v \leftarrow \mu v + r (g + \omega w), \qquad w \leftarrow w - \mathrm{lr}\, v,
$$

with $v$ starting at 0, $\eta$ the trust coefficient (1e-3), $\omega$ the weight decay (1e-6)
and $\mu$ the momentum (0.9). Parameter groups with ``exclude=True`` skip both the weight decay and
the trust ratio (plain SGD with momentum).
[`parameter_groups()`][spirograph.baselines.optim.parameter_groups] puts every one-dimensional
tensor (biases and BatchNorm scales and shifts) in such a group: the
usual convention of SimCLR and BYOL, whose trust ratios on these small tensors are
unstable. Pass ``exclude_bias_and_norm=False`` to adapt every tensor, as ``torchlars``
does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from spirograph.errors import ConfigError

__all__ = ["LARS", "parameter_groups", "scaled_learning_rate", "warmup_cosine"]


def _check_number(value: Any, where: str, argument: str, *, low: float = 0.0, strict: bool = False) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if not ok or (value <= low if strict else value < low):
        bound = f"> {low}" if strict else f">= {low}"
        raise ConfigError(f"{where}: `{argument}` must be a finite number {bound}, got {value!r}")
    return float(value)


class LARS(torch.optim.Optimizer):
    """SGD with momentum and weight decay, wrapped in layer-wise adaptive rate scaling.

    Args:
        params: parameters or parameter groups; a group may set ``exclude=True`` to skip
            the weight decay and the trust ratio (see
            [`parameter_groups()`][spirograph.baselines.optim.parameter_groups]).
        lr: the global learning rate (the schedule sets it per step).
        momentum: momentum of the velocity.
        weight_decay: L2 weight decay, added to the gradient before scaling.
        trust_coefficient: ``eta`` of the trust ratio.
        eps: added to the ratio's denominator.

    Examples:
        >>> model = torch.nn.Linear(4, 2)
        >>> optimizer = LARS(parameter_groups(model), lr=0.1)
        >>> model(torch.ones(3, 4)).sum().backward()
        >>> optimizer.step()
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float,
        *,
        momentum: float = 0.9,
        weight_decay: float = 1e-6,
        trust_coefficient: float = 1e-3,
        eps: float = 1e-8,
    ) -> None:
        _check_number(lr, "LARS", "lr")
        _check_number(momentum, "LARS", "momentum")
        _check_number(weight_decay, "LARS", "weight_decay")
        _check_number(trust_coefficient, "LARS", "trust_coefficient", strict=True)
        _check_number(eps, "LARS", "eps")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "weight_decay": weight_decay,
            "trust_coefficient": trust_coefficient,
            "eps": eps,
            "exclude": False,
        }
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """Take one step; ``closure`` re-evaluates the loss if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                d = p.grad
                if not group["exclude"]:
                    wd = group["weight_decay"]
                    w_norm = torch.linalg.vector_norm(p)
                    g_norm = torch.linalg.vector_norm(d)
                    ratio = torch.where(
                        (w_norm > 0) & (g_norm > 0),
                        group["trust_coefficient"] * w_norm / (g_norm + wd * w_norm + group["eps"]),
                        torch.ones_like(w_norm),
                    )
                    d = (d + wd * p) * ratio
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                velocity = state["momentum_buffer"]
                velocity.mul_(group["momentum"]).add_(d)
                p.add_(velocity, alpha=-group["lr"])
        return loss


def parameter_groups(
    *modules: nn.Module, weight_decay: float = 1e-6, exclude_bias_and_norm: bool = True
) -> list[dict[str, Any]]:
    """Split the parameters of ``modules`` into adapted and excluded groups for
    [`LARS`][spirograph.baselines.optim.LARS].

    Args:
        modules: the modules being trained (their parameters are listed once each).
        weight_decay: weight decay of the adapted group.
        exclude_bias_and_norm: put every tensor with fewer than two dimensions (biases,
            BatchNorm weights and biases) in a group without weight decay or trust ratio.

    Returns:
        One or two parameter groups (empty groups are left out).
    """
    _check_number(weight_decay, "parameter_groups", "weight_decay")
    seen: set[int] = set()
    adapted: list[nn.Parameter] = []
    excluded: list[nn.Parameter] = []
    for module in modules:
        if not isinstance(module, nn.Module):
            raise ConfigError(f"parameter_groups: `modules` must be nn.Module instances, got {type(module).__name__}")
        for p in module.parameters():
            if id(p) in seen or not p.requires_grad:
                continue
            seen.add(id(p))
            (excluded if exclude_bias_and_norm and p.ndim < 2 else adapted).append(p)
    groups: list[dict[str, Any]] = []
    if adapted:
        groups.append({"params": adapted, "weight_decay": weight_decay, "exclude": False})
    if excluded:
        groups.append({"params": excluded, "weight_decay": 0.0, "exclude": True})
    return groups


def scaled_learning_rate(batch_size: int, base: float = 1.5) -> float:
    """The linear scaling rule ``lr = base * batch_size / 256`` (3.0 at batch 512 in the paper)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"scaled_learning_rate: `batch_size` must be an int >= 1, got {batch_size!r}")
    return _check_number(base, "scaled_learning_rate", "base") * batch_size / 256


def warmup_cosine(step: int, *, total_steps: int, warmup_steps: int, base_lr: float, final_lr: float = 0.0) -> float:
    """Learning rate at ``step``: linear warm-up to ``base_lr`` then cosine decay to ``final_lr``.

    Steps count from 0. During warm-up ``lr = base_lr * (step + 1) / warmup_steps``; after
    it ``lr = final + (base - final) * (1 + cos(pi * t)) / 2`` with
    ``t = (step - warmup_steps) / (total_steps - warmup_steps)``.

    Args:
        step: the optimisation step, ``0 <= step``; steps past the end give ``final_lr``.
        total_steps: steps in the whole run.
        warmup_steps: steps of linear warm-up (``0 <= warmup_steps <= total_steps``).
        base_lr: the peak learning rate.
        final_lr: the learning rate at the end.

    Returns:
        The learning rate.
    """
    for name, value in (("step", step), ("total_steps", total_steps), ("warmup_steps", warmup_steps)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"warmup_cosine: `{name}` must be an int >= 0, got {value!r}")
    if warmup_steps > total_steps:
        raise ConfigError(f"warmup_cosine: `warmup_steps` must be <= `total_steps` ({total_steps}), got {warmup_steps}")
    base_lr = _check_number(base_lr, "warmup_cosine", "base_lr")
    final_lr = _check_number(final_lr, "warmup_cosine", "final_lr")
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    if step >= total_steps or total_steps == warmup_steps:
        return final_lr
    t = (step - warmup_steps) / (total_steps - warmup_steps)
    return final_lr + (base_lr - final_lr) * 0.5 * (1.0 + math.cos(math.pi * t))
