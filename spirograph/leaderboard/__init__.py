"""The leaderboard as a library: its protocols, the scoring of any encoder, result files and tables.

A benchmark is only comparable if every method is scored the same way, so the whole protocol
lives here, not in scripts:

- [`Protocol`][spirograph.leaderboard.Protocol] and [`PROTOCOLS`][spirograph.leaderboard.PROTOCOLS]:
  the named, frozen settings (``"paper"``: the paper's 50,000 / 10,000 probe sets, L-BFGS and
  M up to 30; ``"cpu"``: the CPU track's 5,000 / 2,000 and the exact ridge solution).
  [`evaluation_protocol_name()`][spirograph.leaderboard.evaluation_protocol_name] names settings
  that come without a name: a built-in protocol's name, else ``custom-`` and 8 hex digits of
  their SHA-256, so different custom settings never share a table.
- [`score()`][spirograph.leaderboard.score]: one encoder scored with a protocol: the probe, the
  feature-averaging curve, the invariance diagnostics, the penalty of the encoder and, if asked,
  the robustness table, with provenance and timings.
- [`LeaderboardResult`][spirograph.leaderboard.LeaderboardResult]: the result file's schema.
- [`group_seeds()`][spirograph.leaderboard.group_seeds]: the seeds of an entry as one row (mean
  and standard error), refusing to average results whose settings differ.
- [`load_rows()`][spirograph.leaderboard.load_rows], [`render_markdown()`][spirograph.leaderboard.render_markdown]
  and [`render_plot()`][spirograph.leaderboard.render_plot]: the tables of ``LEADERBOARD.md``.
- [`LEADERBOARD_METRICS`][spirograph.leaderboard.LEADERBOARD_METRICS]: the numbers those tables,
  the shipped reference rows and the studies' tables show, each read, scaled and labelled once.

``baselines/run.py``, ``baselines/leaderboard.py`` and ``spirograph evaluate`` are thin commands
over these.

Examples:
    >>> import dataclasses, torch
    >>> from spirograph.leaderboard import PROTOCOLS, score
    >>> tiny = dataclasses.replace(PROTOCOLS["cpu"], name="tiny", n_train=64, n_test=32, n_draws=(1, 2))
    >>> tiny = dataclasses.replace(tiny, invariance=dataclasses.replace(tiny.invariance, n_examples=16, n_draws=3))
    >>> penalty = dataclasses.replace(tiny.penalty, n_examples=16, batch_size=8, n_samples=2)
    >>> tiny = dataclasses.replace(tiny, penalty=penalty)
    >>> encoder = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 8))
    >>> result = score(encoder, tiny, progress=False, name="linear")
    >>> sorted(result.feature_averaging), result.protocol
    (['1', '2'], 'tiny')
"""

from __future__ import annotations

# The schema first: spirograph.baselines re-exports it while the rest of this package is loading.
from spirograph.leaderboard._result import LeaderboardResult  # isort: skip
from spirograph.leaderboard._board import (
    ENTRY_KEYS,
    METHODS,
    TRAINED_METHODS,
    check_entry_name,
    check_results_match,
    load_entry,
    load_results,
    load_rows,
)
from spirograph.leaderboard._metrics import LEADERBOARD_METRICS, LeaderboardMetric
from spirograph.leaderboard._protocol import (
    PROTOCOLS,
    InvarianceSettings,
    PenaltySettings,
    Protocol,
    evaluation_protocol_name,
    get_protocol,
    protocol_name,
)
from spirograph.leaderboard._score import resolve_device, score, versions
from spirograph.leaderboard._seeds import Estimate, SeedGroup, group_seeds, result_protocol, settings_of
from spirograph.leaderboard._submission import build_submission, check_encoder_output, file_sha256
from spirograph.leaderboard._tables import (
    PAPER_RESULTS,
    REFERENCE_ROWS,
    LeaderboardRow,
    compare_with_references,
    reference_summary,
    render_headline,
    render_markdown,
    render_plot,
)

__all__ = [
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
