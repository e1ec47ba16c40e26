"""Independent reference implementations used by the tests (never imported by the package)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch


def naive_render(
    params: torch.Tensor, *, size: int = 32, n_points: int = 40, extent: float = 6.0, normalize: str = "row"
) -> torch.Tensor:
    """The formula of SPEC.md section 1, written directly with a (T, B, S, S) tensor."""
    p = params.reshape(-1, 10)
    m, b, h, sigma = (p[:, k] for k in range(4))
    fore, back = p[:, 4:7], p[:, 7:10]
    t = torch.linspace(0, 2 * math.pi, n_points, dtype=p.dtype)
    g = torch.linspace(-extent, extent, size, dtype=p.dtype)
    x = (m - h)[None] * torch.cos(t)[:, None] + h[None] * torch.cos(t[:, None] * ((m - h) / b)[None])  # (T, B)
    y = (m - h)[None] * torch.sin(t)[:, None] - h[None] * torch.sin(t[:, None] * ((m - h) / b)[None])
    gi = g[None, None, :, None]
    gj = g[None, None, None, :]
    dist = (gi - x[:, :, None, None]) ** 2 + (gj - y[:, :, None, None]) ** 2  # (T, B, S, S)
    v = torch.exp(-dist / sigma[None, :, None, None]).sum(0) / n_points  # (B, S, S)
    if normalize == "row":
        v = v / (v.max(dim=2, keepdim=True).values + 1e-8)
    else:
        v = v / (v.amax(dim=(1, 2), keepdim=True) + 1e-8)
    image = v[:, None] * fore[:, :, None, None] + (1 - v[:, None]) * back[:, :, None, None]
    return image.reshape(*params.shape[:-1], 3, size, size)


def released_rate(epoch: int, epochs: int, warmup: int, base: float) -> float:
    """The released code's learning rate of epoch ``epoch`` (from 0): a cosine capped by a linear ramp."""
    return min(base * (1 + math.cos(math.pi * epoch / epochs)) / 2, base * (1 + epoch) / warmup)


def torchlars_step(
    params: Iterable[torch.nn.Parameter], sgd: torch.optim.SGD, weight_decay: float, trust: float, eps: float
) -> None:
    """The released code's update, written out: torchlars rescales every gradient, then SGD steps."""
    with torch.no_grad():
        for p in params:
            w_norm, g_norm = p.norm(), p.grad.norm()
            ratio = trust * w_norm / (g_norm + w_norm * weight_decay + eps) if w_norm > 0 and g_norm > 0 else 1.0
            p.grad = (p.grad + weight_decay * p) * ratio
    sgd.step()
