"""The numbers of a result that the leaderboard's tables show: one list, read by every table.

``LEADERBOARD.md``'s diagnostics table, the reference rows shipped with the package
(``reference_rows.json``) and the studies' tables (``baselines/study.py``) each pick their
columns from [`LEADERBOARD_METRICS`][spirograph.leaderboard.LEADERBOARD_METRICS], so a number is
read, scaled and labelled the same way wherever it appears.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from spirograph.leaderboard._result import LeaderboardResult

__all__ = ["LEADERBOARD_METRICS", "LeaderboardMetric"]


@dataclass(frozen=True)
class LeaderboardMetric:
    """One number of a [`LeaderboardResult`][spirograph.leaderboard.LeaderboardResult] that a table shows.

    Attributes:
        name: the metric's key (in ``reference_rows.json`` and in
            [`LEADERBOARD_METRICS`][spirograph.leaderboard.LEADERBOARD_METRICS]).
        label: the column heading, without the unit.
        read: how to read it from a result; ``None`` where the result has none.
        scale: the factor a table multiplies it by before printing it.
        unit: what the scaled number is, for the heading (``""``: a plain number).

    Examples:
        >>> from spirograph.leaderboard import LEADERBOARD_METRICS
        >>> metric = LEADERBOARD_METRICS["mse_m30"]
        >>> metric.heading(), metric.scale
        ('M = 30 (MSE x 1e-3)', 1000.0)
    """

    name: str
    label: str
    read: Callable[[LeaderboardResult], float | None]
    scale: float = 1.0
    unit: str = ""

    def heading(self) -> str:
        """The column heading: the label, and the unit in brackets if there is one."""
        return f"{self.label} ({self.unit})" if self.unit else self.label


LEADERBOARD_METRICS: dict[str, LeaderboardMetric] = {
    metric.name: metric
    for metric in (
        LeaderboardMetric("mse_mean", "M = 1", lambda r: r.mse_mean, 1e3, "MSE x 1e-3"),
        LeaderboardMetric("mse_m30", "M = 30", lambda r: r.feature_averaging.get("30"), 1e3, "MSE x 1e-3"),
        LeaderboardMetric("conditional_variance", "cond. variance", lambda r: r.conditional_variance),
        LeaderboardMetric("conditional_variance_normalized", "normalised", lambda r: r.conditional_variance_normalized),
        LeaderboardMetric("nuisance_share", "nuisance share", lambda r: r.nuisance_share),
        LeaderboardMetric("nuisance_mse", "nuisance MSE", lambda r: r.nuisance_mse),
        LeaderboardMetric("nuisance_mse_prior_mean", "prior-mean MSE", lambda r: r.nuisance_mse_prior_mean),
        LeaderboardMetric("penalty", "penalty", lambda r: r.penalty),
    )
}
"""The metrics a leaderboard table may show, by name: the mean test MSE at M = 1 (``mse_mean``,
at the protocol's smallest M, which is 1 for the built-in protocols) and at M = 30 (``mse_m30``),
the conditional variance (raw and normalised), the nuisance share, the nuisance probe's MSE beside
that of the prior mean, and the penalty."""
