r"""LARS around SGD with momentum, parameter groups, and the two learning-rate schedules.

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
unstable. ``exclude_bias_and_norm=False`` (the default, and what the paper's released code
does with ``torchlars``) adapts and decays every tensor.

Schedules: [`capped_cosine()`][spirograph.baselines.optim.capped_cosine] is the released code's rate, set once per
epoch; [`warmup_cosine()`][spirograph.baselines.optim.warmup_cosine] is SimCLR's per-step linear warm-up
followed by a cosine decay.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, cast

import torch
from torch import nn

from spirograph._checks import is_int, is_number
from spirograph.errors import ConfigError

__all__ = ["LARS", "capped_cosine", "parameter_groups", "scaled_learning_rate", "warmup_cosine"]


def _check_number(value: Any, where: str, argument: str, *, low: float = 0.0, strict: bool = False) -> float:
    ok = is_number(value, finite=True)
    if not ok or (value <= low if strict else value < low):
        bound = f"> {low}" if strict else f">= {low}"
        raise ConfigError(f"{where}: `{argument}` must be a finite number {bound}, got {value!r}")
    return float(value)


def _check_counts(where: str, **counts: Any) -> None:
    for argument, value in counts.items():
        if not is_int(value) or value < 0:
            raise ConfigError(f"{where}: `{argument}` must be an int >= 0, got {value!r}")


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
        foreach: update each group's tensors with multi-tensor (``torch._foreach_*``)
            kernels, a few launches per group instead of several per tensor. ``None``
            chooses them when the parameters are on a CUDA device. Both ways compute the
            same update (to float rounding).

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
        foreach: bool | None = None,
    ) -> None:
        _check_number(lr, "LARS", "lr")
        _check_number(momentum, "LARS", "momentum")
        _check_number(weight_decay, "LARS", "weight_decay")
        _check_number(trust_coefficient, "LARS", "trust_coefficient", strict=True)
        _check_number(eps, "LARS", "eps")
        if foreach is not None and not isinstance(foreach, bool):
            raise ConfigError(f"LARS: `foreach` must be a bool or None, got {foreach!r}")
        self.foreach = foreach
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
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            for p in params:
                if "momentum_buffer" not in self.state[p]:
                    self.state[p]["momentum_buffer"] = torch.zeros_like(p)
            foreach = self.foreach if self.foreach is not None else params[0].is_cuda
            velocities = [self.state[p]["momentum_buffer"] for p in params]
            (_step_foreach if foreach else _step_loop)(params, velocities, group)
        return loss


def _trust_ratio(w_norm: torch.Tensor, g_norm: torch.Tensor, group: dict[str, Any]) -> torch.Tensor:
    # 1 where either norm is 0 (fresh zero-initialised tensors, unused parameters).
    ratio = group["trust_coefficient"] * w_norm / (g_norm + group["weight_decay"] * w_norm + group["eps"])
    return torch.where((w_norm > 0) & (g_norm > 0), ratio, torch.ones_like(w_norm))


def _step_loop(params: list[torch.Tensor], velocities: list[torch.Tensor], group: dict[str, Any]) -> None:
    for p, velocity in zip(params, velocities, strict=True):
        d = cast(torch.Tensor, p.grad)
        if not group["exclude"]:
            ratio = _trust_ratio(torch.linalg.vector_norm(p), torch.linalg.vector_norm(d), group)
            d = (d + group["weight_decay"] * p) * ratio
        velocity.mul_(group["momentum"]).add_(d)
        p.add_(velocity, alpha=-group["lr"])


def _step_foreach(params: list[torch.Tensor], velocities: list[torch.Tensor], group: dict[str, Any]) -> None:
    grads = [cast(torch.Tensor, p.grad) for p in params]
    directions: list[torch.Tensor] = grads
    if not group["exclude"]:
        # One vector of norms per group: (n_tensors,); the ratios stay on the device.
        w_norms = torch.stack(torch._foreach_norm(params))
        g_norms = torch.stack(torch._foreach_norm(grads))
        ratios = list(_trust_ratio(w_norms, g_norms, group).unbind())
        directions = list(torch._foreach_add(grads, params, alpha=group["weight_decay"]))
        torch._foreach_mul_(directions, ratios)
    torch._foreach_mul_(velocities, group["momentum"])
    torch._foreach_add_(velocities, directions)
    torch._foreach_add_(params, velocities, alpha=-group["lr"])


def parameter_groups(
    *modules: nn.Module, weight_decay: float = 1e-6, exclude_bias_and_norm: bool = False
) -> list[dict[str, Any]]:
    """Split the parameters of ``modules`` into adapted and excluded groups for
    [`LARS`][spirograph.baselines.optim.LARS].

    Args:
        modules: the modules being trained (their parameters are listed once each).
        weight_decay: weight decay of the adapted group.
        exclude_bias_and_norm: put every tensor with fewer than two dimensions (biases,
            BatchNorm weights and biases) in a group without weight decay or trust ratio
            (SimCLR's convention). The default, ``False``, adapts and decays every tensor,
            as the paper's released code does.

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
    if not is_int(batch_size) or batch_size < 1:
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
    _check_counts("warmup_cosine", step=step, total_steps=total_steps, warmup_steps=warmup_steps)
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


def capped_cosine(epoch: int, *, epochs: int, warmup_epochs: int, base_lr: float) -> float:
    """The released code's learning rate for ``epoch``, set once per epoch.

    ``lr = min(base_lr * (1 + cos(pi * epoch / epochs)) / 2, base_lr * (1 + epoch) / warmup_epochs)``
    with epochs counted from 0: a cosine over the whole run, capped by a linear ramp.
    At the paper's settings (``base_lr`` 3.0, 50 epochs, 10 warm-up epochs) the rate rises
    to 2.77 in epoch 9 and never reaches ``base_lr``. ``warmup_epochs=0`` leaves the cosine
    uncapped.

    Args:
        epoch: the epoch, ``0 <= epoch``; epochs past the end give 0.
        epochs: epochs in the whole run (>= 1).
        warmup_epochs: epochs of the ramp that caps the rate (>= 0).
        base_lr: the rate the schedule is scaled by.

    Returns:
        The learning rate.

    Examples:
        >>> round(capped_cosine(9, epochs=50, warmup_epochs=10, base_lr=3.0), 3)
        2.766
    """
    _check_counts("capped_cosine", epoch=epoch, epochs=epochs, warmup_epochs=warmup_epochs)
    if epochs < 1:
        raise ConfigError(f"capped_cosine: `epochs` must be an int >= 1, got {epochs!r}")
    base_lr = _check_number(base_lr, "capped_cosine", "base_lr")
    if epoch >= epochs:
        return 0.0
    rate = base_lr * (1.0 + math.cos(math.pi * epoch / epochs)) / 2.0
    if warmup_epochs > 0:
        rate = min(rate, base_lr * (1 + epoch) / warmup_epochs)
    return rate
