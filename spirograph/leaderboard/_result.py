"""The result file of a leaderboard entry: one schema, written and read through one definition.

[`score()`][spirograph.leaderboard.score] (and through it ``baselines/run.py`` and
``spirograph evaluate``) writes one JSON file per run, and the leaderboard reads them all; both
go through [`LeaderboardResult`][spirograph.leaderboard.LeaderboardResult], so a file that lacks
a field, or holds one of the wrong type, is refused with the field's name instead of breaking
the table half-way.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spirograph._checks import is_int, is_number
from spirograph.errors import ConfigError
from spirograph.files import atomic_write_text, read_json

__all__ = ["LeaderboardResult"]


@dataclass
class LeaderboardResult:
    """One entry's result: what was trained, how it was scored, and the scores.

    Attributes:
        entry: the entry's name (the file is ``<entry>.json``).
        title: the row title of the leaderboard.
        method: ``simclr``, ``invclr`` or a reference (``pixels``, ``random``, ``oracle``).
        seed: the training (or initialisation) seed.
        device: where it ran.
        date: when it finished (UTC, ISO 8601).
        wall_time: seconds per stage (``train``, ``evaluate``, ..., ``total``).
        versions: package, torch, numpy and Python versions and the platform.
        config: the entry file, with the full training configuration under ``train``.
        mse_mean: mean test MSE over the targets at ``n_draws_for_mse`` draws.
        mse: test MSE per target.
        n_draws_for_mse: ``M``, the nuisance draws per item of ``mse`` and ``mse_mean`` (the smallest evaluated).
        feature_averaging: ``M`` (as a string) -> mean test MSE.
        feature_averaging_per_task: ``M`` -> target -> test MSE.
        conditional_variance: variance of a random projection across nuisance draws.
        conditional_variance_normalized: the same over the projection's total variance.
        nuisance_share: share of the feature variance explained by the nuisance.
        nuisance_mse: MSE of a linear probe predicting the nuisance parameters.
        nuisance_mse_prior_mean: MSE of predicting their prior means (no information).
        penalty: the gradient penalty of the final encoder on fixed batches (``None`` where undefined).
        penalty_note: why ``penalty`` is ``None``, if it is.
        penalty_settings: how ``penalty`` was measured.
        training: history, step records and how far training got (``None`` for references).
        robustness: the robustness table (``None`` when not computed).
        evaluation: the full evaluation record.
        invariance: the full invariance record.
        protocol: the name of the protocol it was scored with (``"cpu"``, ``"paper"``, or a
            custom protocol's name: its user's, or ``custom-`` and 8 hex digits of its settings'
            SHA-256); ``None`` in files written before protocols had names.
        submission: provenance of an encoder scored from outside the package (its spec,
            the SHA-256 of its weights, its title); ``None`` for the built-in entries.
    """

    entry: str
    title: str
    method: str
    seed: int
    device: str
    date: str
    wall_time: dict[str, Any]
    versions: dict[str, Any]
    config: dict[str, Any]
    mse_mean: float
    mse: dict[str, Any]
    n_draws_for_mse: int
    feature_averaging: dict[str, Any]
    feature_averaging_per_task: dict[str, Any]
    conditional_variance: float | None
    conditional_variance_normalized: float | None
    nuisance_share: float | None
    nuisance_mse: float | None
    nuisance_mse_prior_mean: float | None
    penalty: float | None
    penalty_note: str | None
    penalty_settings: dict[str, Any]
    training: dict[str, Any] | None
    robustness: dict[str, Any] | None
    evaluation: dict[str, Any]
    invariance: dict[str, Any]
    protocol: str | None = None
    submission: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            _check_field(field.name, str(field.type), getattr(self, field.name))
        _check_scores(self)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dictionary, in the schema's order (optional fields only when set)."""
        return {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if field.default is dataclasses.MISSING or getattr(self, field.name) is not None
        }

    @classmethod
    def from_dict(cls, data: Any) -> LeaderboardResult:
        """Build from a dictionary holding exactly the schema's fields."""
        if not isinstance(data, dict):
            raise ConfigError(f"LeaderboardResult.from_dict: `data` must be a dict, got {type(data).__name__}")
        names = [field.name for field in dataclasses.fields(cls)]
        optional = {field.name for field in dataclasses.fields(cls) if field.default is not dataclasses.MISSING}
        missing = [name for name in names if name not in data and name not in optional]
        unknown = sorted(set(data) - set(names))
        if missing or unknown:
            raise ConfigError(f"LeaderboardResult.from_dict: missing fields {missing}, unknown fields {unknown}")
        return cls(**data)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the result as JSON to ``path``, atomically."""
        return atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LeaderboardResult:
        """Read a result file written by [`save()`][spirograph.leaderboard.LeaderboardResult.save]."""
        data = read_json(path, where="LeaderboardResult.load", error=ConfigError)
        try:
            return cls.from_dict(data)
        except ConfigError as error:
            raise ConfigError(f"LeaderboardResult.load: {os.fspath(path)!r} is not a result file: {error}") from None


def _check_field(name: str, annotation: str, value: Any) -> None:
    optional = annotation.endswith("| None")
    if value is None:
        if optional:
            return
        raise ConfigError(f"LeaderboardResult: `{name}` must not be None")
    kind = annotation.removesuffix(" | None")
    if kind == "str":
        ok = isinstance(value, str)
    elif kind == "int":
        ok = is_int(value)
    elif kind == "float":
        ok = is_number(value, finite=True)
    else:  # dict[str, Any]
        ok = isinstance(value, dict)
    if not ok:
        raise ConfigError(f"LeaderboardResult: `{name}` must be {annotation}, got {type(value).__name__} {value!r:.60}")


def _check_number(name: str, value: Any) -> None:
    if not is_number(value, finite=True):
        raise ConfigError(
            f"LeaderboardResult: `{name}` must be a finite number, got {type(value).__name__} {value!r:.60}"
        )


def _check_task_scores(name: str, scores: Any) -> None:
    if not isinstance(scores, dict) or not scores:
        raise ConfigError(f"LeaderboardResult: `{name}` must map task names to MSEs, got {scores!r:.60}")
    for task, value in scores.items():
        _check_number(f"{name}.{task}", value)


def _check_curve_key(name: str, key: Any) -> int:
    if not isinstance(key, str) or not key.isdigit() or int(key) < 1:
        raise ConfigError(
            f"LeaderboardResult: `{name}` keys must be M values written as positive integers, got {key!r:.60}"
        )
    return int(key)


def _check_scores(result: LeaderboardResult) -> None:
    """The nested numbers the tables read: MSEs, the curves, the wall time."""
    _check_task_scores("mse", result.mse)
    for key, value in result.feature_averaging.items():
        _check_curve_key("feature_averaging", key)
        _check_number(f"feature_averaging.{key}", value)
    for key, value in result.feature_averaging_per_task.items():
        _check_curve_key("feature_averaging_per_task", key)
        _check_task_scores(f"feature_averaging_per_task.{key}", value)
    if str(result.n_draws_for_mse) not in result.feature_averaging:
        raise ConfigError(
            f"LeaderboardResult: `n_draws_for_mse` ({result.n_draws_for_mse}) must be one of the M values of "
            f"`feature_averaging` ({sorted(result.feature_averaging)})"
        )
    if "total" not in result.wall_time:
        raise ConfigError("LeaderboardResult: `wall_time` must hold the `total` seconds")
    for stage, seconds in result.wall_time.items():
        _check_number(f"wall_time.{stage}", seconds)
