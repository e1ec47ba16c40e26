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
    IndexOutOfRangeError,
    ParameterError,
    ParameterTypeError,
    SpirographError,
)
from spirograph.evaluation import EvaluationResult, InvarianceResult, evaluate, feature_averaging, invariance
from spirograph.probes import LinearProbe
from spirograph.references import OracleEncoder, PixelEncoder, RandomEncoder
from spirograph.render import Renderer, render
from spirograph.robustness import SHIFT_FAMILIES, RobustnessResult, ShiftFamily, robustness
from spirograph.space import DEFAULT_BOUNDS, DEFAULT_TARGETS, PARAMETER_NAMES, ParameterSpace
from spirograph.tasks import Task, TaskSet, nuisance_tasks, target_tasks, tasks_from_names
from spirograph.transform import SpirographTransform

__all__ = [
    "DEFAULT_BOUNDS",
    "DEFAULT_TARGETS",
    "PARAMETER_NAMES",
    "SHIFT_FAMILIES",
    "SPLITS",
    "VERSION",
    "CheckpointError",
    "ChecksumError",
    "ConfigError",
    "EvaluationResult",
    "HubError",
    "IndexOutOfRangeError",
    "InvarianceResult",
    "LinearProbe",
    "OracleEncoder",
    "ParameterError",
    "ParameterSpace",
    "ParameterTypeError",
    "PixelEncoder",
    "RandomEncoder",
    "Renderer",
    "RobustnessResult",
    "ShiftFamily",
    "Spirograph",
    "SpirographError",
    "SpirographTransform",
    "SpirographViews",
    "SplitInfo",
    "Task",
    "TaskSet",
    "__version__",
    "evaluate",
    "feature_averaging",
    "invariance",
    "nuisance_tasks",
    "render",
    "robustness",
    "target_tasks",
    "tasks_from_names",
]
