"""The leaderboard's tables and plot, made from result files: one section per protocol.

Every number of a row is the mean over the entry's seeds with its standard error
([`group_seeds()`][spirograph.leaderboard.group_seeds]); the per-seed values stay in a detail
table. Results of different protocols never share a table.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spirograph.evaluation import PAPER_N_DRAWS
from spirograph.files import atomic_write
from spirograph.leaderboard._metrics import LEADERBOARD_METRICS
from spirograph.leaderboard._result import LeaderboardResult
from spirograph.leaderboard._seeds import Estimate, SeedGroup, result_protocol

__all__ = [
    "PAPER_RESULTS",
    "REFERENCE_ROWS",
    "LeaderboardRow",
    "compare_with_references",
    "reference_summary",
    "render_headline",
    "render_markdown",
    "render_plot",
]

TASKS = ("m", "b", "sigma", "fore_r")

# SPEC.md section 4: Foster, Pukdee & Rainforth (ICLR 2021), ResNet-18, 3 seeds; scored with the paper's protocol.
PAPER_RESULTS: dict[str, dict[str, Any]] = {
    "simclr": {
        "title": "Paper: SimCLR, ResNet-18 (no penalty)",
        "mse": {"m": 6.77e-4, "b": 1.125e-2, "sigma": 9.14e-5, "fore_r": 2.32e-5},
        "mse_mean": 2.93e-3,
        "feature_averaging": dict(zip(PAPER_N_DRAWS, [2.97, 2.71, 2.59, 2.50, 2.45, 2.33, 2.26, 2.23], strict=True)),
        "conditional_variance": "0.63 (epoch 10) -> 0.79 (epoch 50)",
        "nuisance_mse": "0.075 (prior mean about 0.081)",
    },
    "invclr": {
        "title": "Paper: InvCLR, ResNet-18 (lambda 1e-2)",
        "mse": {"m": 5.07e-4, "b": 7.36e-3, "sigma": 5.27e-5, "fore_r": 2.79e-6},
        "mse_mean": 1.95e-3,
        "feature_averaging": dict(zip(PAPER_N_DRAWS, [1.99, 1.63, 1.46, 1.36, 1.28, 1.11, 1.00, 0.957], strict=True)),
        "conditional_variance": "0.008 (epoch 10) -> 0.0016 (epoch 50)",
        "nuisance_mse": "0.081 (prior mean about 0.081)",
    },
}

_PROTOCOL_TEXT = {
    "paper": "the paper's protocol: probe on 50,000 / 10,000 items, L-BFGS 500 steps, L2 1e-8",
    "cpu": "the CPU protocol: probe on 5,000 / 2,000 items, the exact ridge solution with L2 1e-8",
}
_METHOD_ORDER = {"simclr": 0, "invclr": 1, "external": 2, "pixels": 3, "random": 4, "oracle": 5}


@dataclass(frozen=True)
class LeaderboardRow:
    """One row: an entry (its entry file, if any) and its results over seeds (``None``: not run yet).

    Attributes:
        entry: the entry's name.
        title: the row title.
        method: ``simclr``, ``invclr``, ``external`` or a reference method.
        protocol: the protocol's name.
        hardware: ``"cpu"`` or ``"gpu"`` (from the entry file; ``""`` where unknown).
        train: the entry's training settings (``None`` for references and external encoders).
        group: the results over seeds, or ``None`` if none has been run.
    """

    entry: str
    title: str
    method: str
    protocol: str
    hardware: str
    train: dict[str, Any] | None
    group: SeedGroup | None

    def order(self) -> tuple[int, int, int, str]:
        """Trained and external entries before references, GPU before CPU, SimCLR before InvCLR."""
        reference = int(self.method not in ("simclr", "invclr", "external"))
        return reference, int(self.hardware == "cpu"), _METHOD_ORDER.get(self.method, 6), self.entry


def _sci(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}"


def _cell(estimate: Estimate | None, scale: float = 1.0) -> str:
    return "—" if estimate is None else estimate.format(scale)


def _training_summary(row: LeaderboardRow) -> str:
    config = row.train
    if not config:
        return "external" if row.method == "external" else "none"
    n = config.get("n_train") or 100_000
    partial = 0 if config.get("drop_last") else int(n % config["batch_size"] > 0)  # the last, smaller batch
    steps = (n // config["batch_size"] + partial) * config["epochs"]
    summary = f"{config['encoder']}, {n:,} ex., {config['epochs']} ep., {steps:,} steps of {config['batch_size']}"
    if config.get("precision", "float32") != "float32":
        summary += f", {config['precision']}"
    if row.method == "invclr":
        summary += f", lambda {config['penalty_weight']:g}"
    if row.group is not None and (row.group.first.training or {}).get("stopped_early"):
        training = row.group.first.training or {}
        summary += f" (stopped after {training['steps_done']:,} of {training['steps_total']:,} steps)"
    return summary


def _seeds(row: LeaderboardRow) -> str:
    return "—" if row.group is None else str(len(row.group.results))


def _probe_table(rows: Sequence[LeaderboardRow], protocol: str) -> list[str]:
    lines = [
        "### Linear probe, M = 1",
        "",
        "| entry | seeds | training | mean MSE | m | b | sigma | fore_r | device | wall time |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    if protocol == "paper":
        for paper in PAPER_RESULTS.values():
            tasks = " | ".join(_sci(paper["mse"][t]) for t in TASKS)
            lines.append(
                f"| *{paper['title']}* | 3 | resnet18, 100,000 ex., 50 ep., batch 512 "
                f"| *{_sci(paper['mse_mean'])}* | {tasks} | GPU | — |"
            )
    for row in rows:
        if row.group is None:
            lines.append(f"| {row.title} | — | {_training_summary(row)} | not run yet | | | | | | |")
            continue
        group = row.group
        per_task = group.per_task()
        tasks = " | ".join(_cell(per_task.get(t)) for t in TASKS)
        mean = group.estimate(lambda r: r.mse_mean)
        wall = group.estimate(lambda r: r.wall_time["total"] / 60)
        devices = sorted({r.device for r in group.results})
        lines.append(
            f"| {row.title} | {_seeds(row)} | {_training_summary(row)} | **{_cell(mean)}** | {tasks} "
            f"| {', '.join(devices)} | {_cell(wall)} min |"
        )
    return lines


def _curve_table(rows: Sequence[LeaderboardRow], protocol: str) -> list[str]:
    shown = set(PAPER_N_DRAWS) if protocol == "paper" else {1, 30}
    ms = sorted({m for row in rows if row.group for m in row.group.curve()} | shown)
    lines = [
        "### Feature averaging: mean MSE x 1e-3 against M (nuisance draws averaged per feature)",
        "",
        "| entry | seeds | " + " | ".join(f"M={m}" for m in ms) + " |",
        "|---|---|" + "---|" * len(ms),
    ]
    if protocol == "paper":
        for paper in PAPER_RESULTS.values():
            curve = paper["feature_averaging"]
            cells = [f"{curve[m]:.3g}" if m in curve else "" for m in ms]
            lines.append(f"| *{paper['title']}* | 3 | " + " | ".join(cells) + " |")
    for row in rows:
        if row.group is None:
            lines.append(f"| {row.title} | — | not run yet |" + " |" * (len(ms) - 1))
            continue
        curve = row.group.curve()
        cells = [_cell(curve[m], 1e3) if m in curve else "" for m in ms]
        lines.append(f"| {row.title} | {_seeds(row)} | " + " | ".join(cells) + " |")
    return lines


_DIAGNOSTICS = tuple(
    LEADERBOARD_METRICS[name]
    for name in (
        "conditional_variance",
        "conditional_variance_normalized",
        "nuisance_share",
        "nuisance_mse",
        "nuisance_mse_prior_mean",
        "penalty",
    )
)


def _diagnostics_table(rows: Sequence[LeaderboardRow], protocol: str) -> list[str]:
    lines = [
        "### Invariance diagnostics",
        "",
        "Conditional variance: variance across nuisance draws of a random Rademacher projection of the",
        "normalised representation (raw, and over the projection's total variance). Nuisance MSE:",
        "a linear probe predicting the six nuisance parameters, beside predicting their prior mean.",
        "Penalty: the gradient regularizer (normalised, unclamped) of the final encoder on fixed",
        "test batches, for every entry whether or not it was trained with it.",
        "",
        "| entry | seeds | " + " | ".join(metric.heading() for metric in _DIAGNOSTICS) + " |",
        "|---|---|" + "---|" * len(_DIAGNOSTICS),
    ]
    if protocol == "paper":
        for paper in PAPER_RESULTS.values():
            lines.append(
                f"| *{paper['title']}* | 3 | {paper['conditional_variance']} | | | {paper['nuisance_mse']} | | |"
            )
    for row in rows:
        if row.group is None:
            lines.append(f"| {row.title} | — | not run yet |" + " |" * (len(_DIAGNOSTICS) - 1))
            continue
        group = row.group
        cells = [_cell(group.estimate(metric.read), metric.scale) for metric in _DIAGNOSTICS]
        if group.first.penalty is None:
            cells[_DIAGNOSTICS.index(LEADERBOARD_METRICS["penalty"])] = "n/a"
        lines.append(f"| {row.title} | {_seeds(row)} | " + " | ".join(cells) + " |")
    return lines


def _robustness_lines(rows: Sequence[LeaderboardRow]) -> list[str]:
    lines: list[str] = []
    for row in rows:
        if row.group is None:
            continue
        for result in row.group.results:
            table = result.robustness
            if not table or "mse_mean" not in table:
                continue
            lines += [f"**{result.title}** (seed {result.seed})", ""]
            for family, values in table["mse_mean"].items():
                shifted = ", ".join(f"{v}: {_sci(s)}" for v, s in values.items())
                lines.append(f"- {family}: {shifted}")
            lines.append("")
    return ["### Robustness: mean MSE under shifted nuisance priors", "", *lines] if lines else []


def _detail_table(rows: Sequence[LeaderboardRow]) -> list[str]:
    lines = [
        "## Per-seed results",
        "",
        "Every result file, as measured; the rows above are their means.",
        "",
        "| result | protocol | seed | M = 1 | M = 30 | cond. variance | penalty | steps | device | threads "
        "| wall time |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        for result in row.group.results if row.group else ():
            training = result.training or {}
            steps = f"{training['steps_done']:,}" if "steps_done" in training else "—"
            m30 = result.feature_averaging.get("30")
            lines.append(
                f"| `{result.entry}` | {row.protocol} | {result.seed} | {_sci(result.mse_mean)} | {_sci(m30)} "
                f"| {_sci(result.conditional_variance)} | {_sci(result.penalty)} | {steps} | {result.device} "
                f"| {result.versions.get('threads', '—')} | {result.wall_time['total'] / 60:.1f} min |"
            )
    return lines


def _submission_table(rows: Sequence[LeaderboardRow]) -> list[str]:
    lines = [
        "## Submissions",
        "",
        "Encoders scored from outside the package (`spirograph evaluate`, `spirograph.leaderboard.score`).",
        "",
        "| result | encoder | weights (SHA-256) | package | protocol | device | date |",
        "|---|---|---|---|---|---|---|",
    ]
    found = False
    for row in rows:
        for result in row.group.results if row.group else ():
            if result.submission is None:
                continue
            found = True
            sub = result.submission
            digest = sub.get("weights_sha256")
            lines.append(
                f"| `{result.entry}` | `{sub.get('encoder', '—')}` | {f'`{digest[:16]}…`' if digest else 'none'} "
                f"| {result.versions.get('spirograph', '—')} | {row.protocol} | {result.device} | {result.date} |"
            )
    return lines if found else []


def protocol_sections(rows: Sequence[LeaderboardRow]) -> list[str]:
    """The protocols of ``rows`` in table order: the paper's, the CPU's, then others by name."""
    names = {row.protocol for row in rows} | {"paper"}
    return sorted(names, key=lambda name: ({"paper": 0, "cpu": 1}.get(name, 2), name))


def render_markdown(rows: Sequence[LeaderboardRow], plot: str | None = None, header: Sequence[str] = ()) -> str:
    """The leaderboard as Markdown: a section of tables per protocol, the per-seed detail and the submissions.

    Args:
        rows: the rows, in any order (they are sorted).
        plot: the plot's file name, relative to the Markdown file (``None``: no plot).
        header: lines put under the title.
    """
    ordered = sorted(rows, key=LeaderboardRow.order)
    lines = ["# Spirograph leaderboard", "", *header]
    for protocol in protocol_sections(ordered):
        members = [row for row in ordered if row.protocol == protocol]
        text = _PROTOCOL_TEXT.get(protocol, f"the custom protocol {protocol!r} (see its result files)")
        lines += ["", f"## Protocol `{protocol}`", "", f"Scored with {text}; mean ± standard error over seeds.", ""]
        lines += [*_probe_table(members, protocol), ""]
        lines += [*_curve_table(members, protocol), ""]
        lines += [*_diagnostics_table(members, protocol), ""]
        lines += _robustness_lines(members)
    lines += ["", *_detail_table(ordered), ""]
    lines += _submission_table(ordered)
    if plot:
        lines += ["", f"![mean MSE against M]({plot})", ""]
    return "\n".join(lines).rstrip() + "\n"


def render_plot(rows: Sequence[LeaderboardRow], path: str | os.PathLike[str]) -> bool:
    """The feature-averaging curves with standard-error bars, a panel per protocol; ``False`` without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    protocols = protocol_sections(rows)
    fig, axes = plt.subplots(1, len(protocols), figsize=(6 * len(protocols), 4.5), squeeze=False)
    for ax, protocol in zip(axes[0], protocols, strict=True):
        if protocol == "paper":
            for paper, style in zip(PAPER_RESULTS.values(), ("k--", "k:"), strict=True):
                curve = paper["feature_averaging"]
                ax.plot(list(curve), [1e-3 * v for v in curve.values()], style, label=paper["title"])
        for row in sorted(rows, key=LeaderboardRow.order):
            if row.protocol != protocol or row.group is None or row.method == "oracle":  # ~0 MSE: off a log axis
                continue
            curve = row.group.curve()
            errors = [c.stderr or 0.0 for c in curve.values()]
            label = f"{row.title} ({len(row.group.results)} seed{'s' * (len(row.group.results) > 1)})"
            ax.errorbar(list(curve), [c.mean for c in curve.values()], yerr=errors, fmt="o-", capsize=3, label=label)
        ax.set_title(f"protocol {protocol!r}")
        ax.set_xlabel("M (nuisance draws averaged per feature)")
        ax.set_ylabel("mean test MSE")
        ax.set_yscale("log")
        ax.legend(fontsize=7)
    fig.tight_layout()
    atomic_write(Path(path), lambda stream: fig.savefig(stream, format="png", dpi=120))
    plt.close(fig)
    return True


REFERENCE_ROWS = Path(__file__).with_name("reference_rows.json")
"""The reference rows shipped with the package (written by ``baselines/leaderboard.py``)."""
_SUMMARY = tuple(
    LEADERBOARD_METRICS[name] for name in ("mse_mean", "mse_m30", "conditional_variance_normalized", "penalty")
)


def reference_summary(rows: Sequence[LeaderboardRow]) -> dict[str, Any]:
    """The rows with results, in short (mean, standard error, seeds), per protocol: what the package ships."""
    protocols: dict[str, list[dict[str, Any]]] = {}
    for row in sorted(rows, key=LeaderboardRow.order):
        if row.group is None:
            continue
        summary: dict[str, Any] = {"entry": row.entry, "title": row.title, "seeds": len(row.group.results)}
        for metric in _SUMMARY:
            estimate = row.group.estimate(metric.read)
            summary[metric.name] = None if estimate is None else [estimate.mean, estimate.stderr]
        protocols.setdefault(row.protocol, []).append(summary)
    return {"protocols": protocols}


def _summary_cell(value: list[float | None] | None, scale: float = 1.0) -> str:
    if value is None or value[0] is None:
        return "—"
    return Estimate(mean=value[0], stderr=value[1], n=2 if value[1] is not None else 1).format(scale)


def compare_with_references(result: LeaderboardResult, references: Mapping[str, Any] | None = None) -> str:
    """A short Markdown table: ``result`` beside the reference rows scored with the same protocol.

    Args:
        result: a scored result.
        references: a [`reference_summary()`][spirograph.leaderboard.reference_summary] (default:
            the one shipped with the package, made from the leaderboard's result files).
    """
    if references is None:
        references = json.loads(REFERENCE_ROWS.read_text()) if REFERENCE_ROWS.exists() else {"protocols": {}}
    own = {"entry": result.entry, "title": f"**{result.title}** (this result)", "seeds": 1}
    own.update({metric.name: [metric.read(result), None] for metric in _SUMMARY})
    lines = [
        f"protocol {result_protocol(result)!r}: mean test MSE x 1e-3 (M = 1 and M = 30), normalised conditional "
        "variance and penalty; references are mean ± standard error over their seeds",
        "",
        "| entry | seeds | M = 1 | M = 30 | cond. variance (normalised) | penalty |",
        "|---|---|---|---|---|---|",
    ]
    for row in [own, *references.get("protocols", {}).get(result_protocol(result), [])]:
        cells = [_summary_cell(row[metric.name], metric.scale) for metric in _SUMMARY]
        lines.append(f"| {row['title']} | {row['seeds']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_headline(rows: Sequence[LeaderboardRow]) -> list[str]:
    """A short table of every row with results: mean MSE at M = 1, 10 and 30, conditional variance, penalty."""
    lines = [
        "| entry | protocol | seeds | MSE x 1e-3, M = 1 | M = 10 | M = 30 | cond. variance (normalised) | penalty |",
        "|---|---|---|---|---|---|---|---|",
    ]
    sections = protocol_sections(rows)
    for row in sorted(rows, key=lambda r: (sections.index(r.protocol), r.order())):
        if row.group is None:
            lines.append(f"| {row.title} | {row.protocol} | — | not run yet | | | | |")
            continue
        curve = row.group.curve()
        cells = [_cell(curve.get(m), 1e3) for m in (1, 10, 30)]
        normalised = _cell(row.group.estimate(lambda r: r.conditional_variance_normalized))
        penalty = _cell(row.group.estimate(lambda r: r.penalty)) if row.group.first.penalty is not None else "n/a"
        lines.append(
            f"| {row.title} | {row.protocol} | {len(row.group.results)} | "
            + " | ".join(cells)
            + f" | {normalised} | {penalty} |"
        )
    return lines
