"""Spirograph: a differentiable synthetic image dataset for transformation-invariant learning.

Foster, Pukdee & Rainforth, "Improving Transformation Invariance in Contrastive
Representation Learning", ICLR 2021.
"""

from __future__ import annotations

from spirograph._version import __version__
from spirograph.errors import (
    CheckpointError,
    ChecksumError,
    ConfigError,
    HubError,
    ParameterError,
    SpirographError,
)
from spirograph.render import Renderer, render
from spirograph.space import DEFAULT_BOUNDS, DEFAULT_TARGETS, PARAMETER_NAMES, ParameterSpace

__all__ = [
    "DEFAULT_BOUNDS",
    "DEFAULT_TARGETS",
    "PARAMETER_NAMES",
    "CheckpointError",
    "ChecksumError",
    "ConfigError",
    "HubError",
    "ParameterError",
    "ParameterSpace",
    "Renderer",
    "SpirographError",
    "__version__",
    "render",
]
