"""The public surface: no name disappears silently, and ``import spirograph`` stays light."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import spirograph

ROOT = Path(__file__).resolve().parents[1]

PUBLIC = [
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


def test_public_names_are_pinned() -> None:
    assert spirograph.__all__ == PUBLIC
    for name in PUBLIC:
        assert hasattr(spirograph, name), name


LEADERBOARD_PUBLIC = [
    "ENTRY_KEYS",
    "LEADERBOARD_METRICS",
    "METHODS",
    "PAPER_RESULTS",
    "PROTOCOLS",
    "REFERENCE_ROWS",
    "TRAINED_METHODS",
    "Estimate",
    "InvarianceSettings",
    "LeaderboardMetric",
    "LeaderboardResult",
    "LeaderboardRow",
    "PenaltySettings",
    "Protocol",
    "SeedGroup",
    "build_submission",
    "check_encoder_output",
    "check_entry_name",
    "check_results_match",
    "compare_with_references",
    "evaluation_protocol_name",
    "file_sha256",
    "get_protocol",
    "group_seeds",
    "load_entry",
    "load_results",
    "load_rows",
    "protocol_name",
    "reference_summary",
    "render_headline",
    "render_markdown",
    "render_plot",
    "resolve_device",
    "result_protocol",
    "score",
    "settings_of",
    "versions",
]


def test_leaderboard_names_are_pinned() -> None:
    import spirograph.baselines
    import spirograph.leaderboard

    assert spirograph.leaderboard.__all__ == LEADERBOARD_PUBLIC
    for name in LEADERBOARD_PUBLIC:
        assert hasattr(spirograph.leaderboard, name), name
    # The schema's former home still answers, with the same class.
    assert spirograph.baselines.LeaderboardResult is spirograph.leaderboard.LeaderboardResult


def test_leaderboard_imports_in_either_order() -> None:
    for first in ("spirograph.leaderboard", "spirograph.baselines"):
        code = f"import {first}; from spirograph.leaderboard import score; from spirograph.baselines import train"
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120)
        assert done.returncode == 0, done.stderr


def test_errors_subclass_builtins() -> None:
    assert issubclass(spirograph.ParameterError, ValueError)
    assert issubclass(spirograph.ConfigError, ValueError)
    assert issubclass(spirograph.CheckpointError, ValueError)
    assert issubclass(spirograph.HubError, OSError)
    assert issubclass(spirograph.ChecksumError, spirograph.HubError)
    assert issubclass(spirograph.ExportError, spirograph.HubError)
    assert issubclass(spirograph.ParameterTypeError, TypeError)
    assert not issubclass(spirograph.ParameterTypeError, ValueError)
    assert issubclass(spirograph.IndexOutOfRangeError, IndexError)
    assert issubclass(spirograph.TrainingError, FloatingPointError)
    assert issubclass(spirograph.EncoderError, RuntimeError)
    # A bad field of a configuration object is a kind of bad parameter value.
    assert issubclass(spirograph.ConfigError, spirograph.ParameterError)
    errors = (spirograph.ParameterError, spirograph.ParameterTypeError, spirograph.IndexOutOfRangeError)
    for error in (*errors, spirograph.ConfigError, spirograph.HubError, spirograph.CheckpointError):
        assert issubclass(error, spirograph.SpirographError)


def test_import_stays_light() -> None:
    code = (
        "import sys, spirograph;"
        "heavy = [m for m in ('datasets', 'pyarrow', 'huggingface_hub', 'matplotlib', 'spirograph.baselines')"
        " if m in sys.modules];"
        "print(','.join(heavy))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert result.stdout.strip() == ""
