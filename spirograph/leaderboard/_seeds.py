"""Seeds of one entry as one row: mean and standard error of every number, over seeds.

Results are grouped by their entry name less a ``-seed<N>`` suffix (``run.py --seed N`` and
``spirograph evaluate --name NAME-seed<N>`` write such names). A group must agree in every
setting but the seed; otherwise it is refused, with the differing keys named, because averaging
runs of different settings would report a number that no setting produced.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from spirograph.errors import ConfigError
from spirograph.leaderboard._protocol import evaluation_protocol_name
from spirograph.leaderboard._result import LeaderboardResult

__all__ = ["Estimate", "SeedGroup", "group_seeds", "result_protocol", "settings_of"]

_SEED_SUFFIX = re.compile(r"-seed(\d+)$")
# Training settings that say where and how verbosely a run went, not what it trained.
_NOT_SETTINGS = ("seed", "checkpoint_dir", "device", "progress", "time_limit")


@dataclass(frozen=True)
class Estimate:
    """A number over seeds: the mean, its standard error (``None`` for one seed) and the seed count.

    Examples:
        >>> Estimate.of([1.0, 2.0, 3.0]).format()
        '2 ± 0.58'
        >>> Estimate.of([0.0123]).format()
        '0.0123'
    """

    mean: float
    stderr: float | None
    n: int

    @classmethod
    def of(cls, values: Iterable[float]) -> Estimate:
        """The mean and standard error (sample standard deviation over the square root of ``n``)."""
        numbers = [float(v) for v in values]
        if not numbers:
            raise ConfigError("Estimate.of: `values` must hold at least one number, got none")
        n = len(numbers)
        stderr = statistics.stdev(numbers) / math.sqrt(n) if n > 1 else None
        return cls(mean=statistics.fmean(numbers), stderr=stderr, n=n)

    def format(self, scale: float = 1.0, digits: int = 3) -> str:
        """``mean ± stderr`` with ``digits`` significant digits, both times ``scale``."""
        text = f"{scale * self.mean:.{digits}g}"
        if self.stderr is None:
            return text
        return f"{text} ± {scale * self.stderr:.2g}"


@dataclass(frozen=True)
class SeedGroup:
    """The results of one entry over seeds, in seed order.

    Attributes:
        entry: the entry's name, without the ``-seed<N>`` suffix.
        results: its results, one per seed.
    """

    entry: str
    results: tuple[LeaderboardResult, ...]

    @property
    def first(self) -> LeaderboardResult:
        """The result of the smallest seed (its title, method and settings stand for the group)."""
        return self.results[0]

    @property
    def seeds(self) -> list[int]:
        """The seeds, in order."""
        return [result.seed for result in self.results]

    @property
    def title(self) -> str:
        """The row title: the first result's, less its ``(seed N)`` suffix."""
        return re.sub(r" \(seed \d+\)$", "", self.first.title)

    @property
    def protocol(self) -> str:
        """The protocol's name (see [`result_protocol()`][spirograph.leaderboard.result_protocol])."""
        return result_protocol(self.first)

    def estimate(self, value: Callable[[LeaderboardResult], float | None]) -> Estimate | None:
        """The estimate of one number over the seeds; ``None`` where a seed lacks it."""
        values = [value(result) for result in self.results]
        if any(v is None for v in values):
            return None
        return Estimate.of(v for v in values if v is not None)

    def curve(self) -> dict[int, Estimate]:
        """M -> the mean MSE's estimate, for the M values every seed evaluated."""
        shared = set.intersection(*({int(m) for m in r.feature_averaging} for r in self.results))
        return {m: Estimate.of(r.feature_averaging[str(m)] for r in self.results) for m in sorted(shared)}

    def per_task(self, m: int | None = None) -> dict[str, Estimate]:
        """Task -> the MSE's estimate at ``M = m`` (default: the headline M)."""
        key = str(m if m is not None else self.first.n_draws_for_mse)
        tasks = self.first.feature_averaging_per_task.get(key, self.first.mse)
        return {
            task: Estimate.of(r.feature_averaging_per_task.get(key, r.mse)[task] for r in self.results)
            for task in tasks
        }


def result_protocol(result: LeaderboardResult) -> str:
    """The protocol a result was scored with: its recorded name, else the name its settings give
    (see [`evaluation_protocol_name()`][spirograph.leaderboard.evaluation_protocol_name])."""
    if result.protocol is not None:
        return result.protocol
    return evaluation_protocol_name(result.config.get("evaluation", {}))


def settings_of(result: LeaderboardResult) -> dict[str, Any]:
    """Everything that must agree for two results to be seeds of one row, flattened to dotted keys."""
    config = result.config
    train = {k: v for k, v in (config.get("train") or {}).items() if k not in _NOT_SETTINGS}
    evaluation = dict(config.get("evaluation") or {})
    evaluation.pop("robustness", None)  # the table is extra; the scores it shares with others are the same
    training = result.training or {}
    settings = {
        "method": result.method,
        "protocol": result_protocol(result),
        "train": train,
        "evaluation": evaluation,
        "steps_done": training.get("steps_done"),
        "submission.encoder": (result.submission or {}).get("encoder"),
    }
    return _flatten(settings)


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def base_entry(name: str) -> str:
    """An entry name less its ``-seed<N>`` suffix."""
    return _SEED_SUFFIX.sub("", name)


def group_seeds(results: Iterable[LeaderboardResult]) -> list[SeedGroup]:
    """Group results into one row per entry (name less ``-seed<N>``), seeds in order.

    Raises:
        ConfigError: two results of one entry differ in a setting other than the seed (the
            message names the keys and both values), or two have the same seed.
    """
    groups: dict[str, list[LeaderboardResult]] = {}
    for result in results:
        groups.setdefault(base_entry(result.entry), []).append(result)
    out = []
    for entry, members in groups.items():
        members.sort(key=lambda r: r.seed)
        seeds = [member.seed for member in members]
        repeated = sorted({seed for seed in seeds if seeds.count(seed) > 1})
        if repeated:
            names = [member.entry for member in members if member.seed in repeated]
            raise ConfigError(f"group_seeds: entry {entry!r} has several results with seed {repeated[0]}: {names}")
        reference = settings_of(members[0])
        for other in members[1:]:
            _check_same_settings(entry, members[0], reference, other)
        out.append(SeedGroup(entry=entry, results=tuple(members)))
    return out


def _check_same_settings(
    entry: str, first: LeaderboardResult, reference: dict[str, Any], other: LeaderboardResult
) -> None:
    settings = settings_of(other)
    differing = sorted(key for key in set(reference) | set(settings) if reference.get(key) != settings.get(key))
    if differing:
        shown = "; ".join(f"{key}: {reference.get(key)!r} vs {settings.get(key)!r}" for key in differing[:6])
        raise ConfigError(
            f"group_seeds: {first.entry!r} and {other.entry!r} are seeds of entry {entry!r} but differ in "
            f"{differing} ({shown}); results of different settings are never averaged: rename one"
        )
