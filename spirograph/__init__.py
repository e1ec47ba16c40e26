"""Spirograph: a differentiable synthetic image dataset for transformation-invariant learning.

Foster, Pukdee & Rainforth, "Improving Transformation Invariance in Contrastive
Representation Learning", ICLR 2021.
"""

from __future__ import annotations

from spirograph._version import __version__
from spirograph.dataset import SPLITS, VERSION, Spirograph, SpirographViews, SplitInfo
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
from spirograph.transform import SpirographTransform

__all__ = [
    "DEFAULT_BOUNDS",
    "DEFAULT_TARGETS",
    "PARAMETER_NAMES",
    "SPLITS",
    "VERSION",
    "CheckpointError",
    "ChecksumError",
    "ConfigError",
    "HubError",
    "ParameterError",
    "ParameterSpace",
    "Renderer",
    "Spirograph",
    "SpirographError",
    "SpirographTransform",
    "SpirographViews",
    "SplitInfo",
    "__version__",
    "render",
]
