"""Spirograph: a differentiable synthetic image dataset for transformation-invariant learning.

Foster, Pukdee & Rainforth, "Improving Transformation Invariance in Contrastive
Representation Learning", ICLR 2021.

The names below load on first use (PEP 562), so ``import spirograph`` and the
``spirograph --help`` command do not import torch until something needs it.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from spirograph._version import __version__
from spirograph.errors import (
    CheckpointError,
    ChecksumError,
    ConfigError,
    EncoderError,
    ExportError,
    HubError,
    IndexOutOfRangeError,
    MissingDependencyError,
    ParameterError,
    ParameterTypeError,
    SpirographError,
    TrainingError,
)

if TYPE_CHECKING:
    from spirograph.dataset import DATASET_VERSION, SPLITS, Spirograph, SpirographViews, SplitInfo
    from spirograph.evaluation import EvaluationResult, InvarianceResult, evaluate, feature_averaging, invariance
    from spirograph.probes import LinearProbe
    from spirograph.references import OracleEncoder, PixelEncoder, RandomEncoder
    from spirograph.render import Renderer, RenderSettings, render
    from spirograph.robustness import SHIFT_FAMILIES, RobustnessResult, ShiftFamily, robustness
    from spirograph.space import DEFAULT_BOUNDS, DEFAULT_TARGETS, PARAMETER_NAMES, ParameterSpace
    from spirograph.tasks import Task, TaskSet, nuisance_tasks, target_tasks, tasks_from_names
    from spirograph.transform import SpirographTransform

__all__ = [
    "DATASET_VERSION",
    "DEFAULT_BOUNDS",
    "DEFAULT_TARGETS",
    "PARAMETER_NAMES",
    "SHIFT_FAMILIES",
    "SPLITS",
    "CheckpointError",
    "ChecksumError",
    "ConfigError",
    "EncoderError",
    "EvaluationResult",
    "ExportError",
    "HubError",
    "IndexOutOfRangeError",
    "InvarianceResult",
    "LinearProbe",
    "MissingDependencyError",
    "OracleEncoder",
    "ParameterError",
    "ParameterSpace",
    "ParameterTypeError",
    "PixelEncoder",
    "RandomEncoder",
    "RenderSettings",
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
    "TrainingError",
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

# Public name -> the module that defines it.
_LAZY: dict[str, str] = {
    **dict.fromkeys(("SPLITS", "DATASET_VERSION", "Spirograph", "SpirographViews", "SplitInfo"), "dataset"),
    **dict.fromkeys(
        ("EvaluationResult", "InvarianceResult", "evaluate", "feature_averaging", "invariance"), "evaluation"
    ),
    "LinearProbe": "probes",
    **dict.fromkeys(("OracleEncoder", "PixelEncoder", "RandomEncoder"), "references"),
    **dict.fromkeys(("RenderSettings", "Renderer", "render"), "render"),
    **dict.fromkeys(("SHIFT_FAMILIES", "RobustnessResult", "ShiftFamily", "robustness"), "robustness"),
    **dict.fromkeys(("DEFAULT_BOUNDS", "DEFAULT_TARGETS", "PARAMETER_NAMES", "ParameterSpace"), "space"),
    **dict.fromkeys(("Task", "TaskSet", "nuisance_tasks", "target_tasks", "tasks_from_names"), "tasks"),
    "SpirographTransform": "transform",
}


# Functions that share their module's name: `spirograph.render` is the function, as it was when
# these names were imported eagerly, even after `import spirograph.render` has run somewhere.
_SHADOWED = frozenset({"render", "robustness"})


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SHADOWED and isinstance(value, types.ModuleType):
            return  # the import system binding the submodule; `__getattr__` serves the function
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'spirograph' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"spirograph.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
