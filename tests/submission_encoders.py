"""Encoders as a user would hand them to ``spirograph evaluate`` (``tests/submission_encoders.py:NAME``)."""

from __future__ import annotations

import torch
from torch import nn

NOT_CALLABLE = 3


def small() -> nn.Module:
    """A small CNN: (B, 3, 32, 32) -> (B, 8)."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 8)
    )


def raises() -> nn.Module:
    raise RuntimeError("broken on purpose")


def not_a_module() -> object:
    return lambda images: images


class _Output(nn.Module):
    def __init__(self, make: object) -> None:
        super().__init__()
        self.make = make

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.make(images)  # type: ignore[operator]


def wrong_shape() -> nn.Module:
    return _Output(lambda images: torch.zeros(len(images), 4, 3))


def not_finite() -> nn.Module:
    return _Output(lambda images: torch.full((len(images), 4), float("nan")))


def integer_features() -> nn.Module:
    return _Output(lambda images: torch.zeros(len(images), 4, dtype=torch.long))
