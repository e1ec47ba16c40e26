"""Run a study of the CPU track (an entry family) and regenerate its table and figure.

    python baselines/study.py scale            # run what is missing, resume what was cut, then the table
    python baselines/study.py lambda --list    # what it needs, and what is there
    python baselines/study.py scale --tables   # only regenerate the table and figure from the result files

A study is ``studies/<name>.json``: a series of base entries from ``configs/`` and points that
change their training settings (``train``) or name an existing entry (``entry``), each with
its seeds. A point that changes nothing is the base entry itself (its results are the CPU
track's, in ``results/``); the others are entries of their own, written to
``studies/configs/<entry>.json``, with results in ``studies/results/``. Runs go through
``run.py`` one at a time and resume from ``checkpoints/<entry>[-seed<N>]/``. The table goes
into ``docs/baselines.md`` between the study's markers, the figure to ``docs/assets/``; both are
made from the result files only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spirograph.errors import ConfigError
from spirograph.files import atomic_write, atomic_write_text, replace_block
from spirograph.leaderboard import (
    LEADERBOARD_METRICS,
    Estimate,
    LeaderboardResult,
    check_entry_name,
    check_results_match,
    group_seeds,
    load_entry,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
STUDIES = HERE / "studies"
SPEC_KEYS = {"study", "title", "description", "x", "x_label", "series", "name", "row_title", "points"}
POINT_KEYS = {"x", "train", "entry", "seeds"}


class StudyError(Exception):
    """A study that cannot be read, run or tabulated; the script prints it in one line."""


@dataclass(frozen=True)
class Run:
    """One training seed of one point of one series."""

    series: str
    x: float
    entry: dict[str, Any]
    config: Path
    results: Path
    seed: int

    @property
    def name(self) -> str:
        return self.entry["entry"] if self.seed == self.entry["seed"] else f"{self.entry['entry']}-seed{self.seed}"

    @property
    def result_path(self) -> Path:
        return self.results / f"{self.name}.json"


def studies() -> list[str]:
    return sorted(path.stem for path in STUDIES.glob("*.json"))


def load_spec(name: str) -> dict[str, Any]:
    if name not in studies():
        raise StudyError(f"study: unknown study {name!r}; the studies are {studies()}")
    spec = json.loads((STUDIES / f"{name}.json").read_text())
    if not isinstance(spec, dict) or set(spec) != SPEC_KEYS:
        raise StudyError(f"study: {name}.json must hold exactly the keys {sorted(SPEC_KEYS)}")
    for point in spec["points"]:
        if not isinstance(point, dict) or not set(point) <= POINT_KEYS or ("train" in point) == ("entry" in point):
            raise StudyError(
                f"study: each point of {name}.json needs `x`, `seeds` and one of `train`/`entry`, got {point!r:.80}"
            )
        seeds = point.get("seeds")
        if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds):
            raise StudyError(f"study: `seeds` of point x={point.get('x')!r} must be a non-empty list of ints >= 0")
    return spec


def point_entry(spec: dict[str, Any], series: str, point: dict[str, Any]) -> tuple[dict[str, Any], Path, Path]:
    """The entry of one point, its entry file and its results folder."""
    if "entry" in point:
        path = HERE / "configs" / f"{point['entry']}.json"
        return load_entry(path), path, HERE / "results"
    base_path = HERE / "configs" / f"{series}.json"
    base = json.loads(base_path.read_text())
    if not point["train"]:
        return load_entry(base_path), base_path, HERE / "results"
    name = check_entry_name(spec["name"].format(series=series, x=point["x"]), "study")
    entry = {
        **{key: base[key] for key in ("method", "hardware", "evaluation") if key in base},
        "entry": name,
        "title": spec["row_title"].format(title=base["title"], x=point["x"]),
        "description": f"{spec['title']} study: {base['entry']} with {json.dumps(point['train'])}.",
        "train": {**base["train"], **point["train"]},
    }
    path = STUDIES / "configs" / f"{name}.json"
    text = json.dumps(entry, indent=2) + "\n"
    if not path.exists() or path.read_text() != text:
        atomic_write_text(path, text)
    return load_entry(path), path, STUDIES / "results"


def runs(spec: dict[str, Any]) -> list[Run]:
    out = []
    for series in spec["series"]:
        for point in spec["points"]:
            entry, config, results = point_entry(spec, series, point)
            for seed in point["seeds"]:
                out.append(Run(series, point["x"], entry, config, results, seed))
    return out


def run_missing(todo: list[Run], quiet: bool) -> None:
    for run in todo:
        if run.result_path.exists():
            continue
        command = [sys.executable, str(HERE / "run.py"), str(run.config), "--results-dir", str(run.results)]
        if run.seed != run.entry["seed"]:
            command += ["--seed", str(run.seed)]
        if quiet:
            command.append("--quiet")
        print("running:", " ".join(command[1:]), flush=True)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        if subprocess.run(command, env=env, check=False).returncode != 0:
            raise StudyError(f"study: {run.name} failed; rerun the study to resume it from its checkpoint")


METRICS = tuple(
    LEADERBOARD_METRICS[name]
    for name in ("mse_mean", "mse_m30", "conditional_variance", "conditional_variance_normalized", "penalty")
)
# The figure's panels: the metrics each one plots.
PANELS = (("mse_mean", "mse_m30"), ("conditional_variance",), ("penalty",))


def table(spec: dict[str, Any], todo: list[Run]) -> tuple[list[str], dict[tuple[str, float], dict[str, Estimate]]]:
    """The study's Markdown table and its numbers; points without results read "not run yet"."""
    cells: dict[tuple[str, float], dict[str, Estimate]] = {}
    lines = [
        f"| series | {spec['x_label']} | seeds | " + " | ".join(metric.heading() for metric in METRICS) + " |",
        "|---|---|---|" + "---|" * len(METRICS),
    ]
    keys: dict[tuple[str, float], list[Run]] = {}
    for run in todo:
        keys.setdefault((run.series, run.x), []).append(run)
    for (series, x), members in keys.items():
        loaded = [(run, LeaderboardResult.load(run.result_path)) for run in members if run.result_path.exists()]
        for run, result in loaded:
            if result.seed != run.seed or result.entry != run.name:
                raise StudyError(f"study: {run.result_path} holds {result.entry} (seed {result.seed}), not {run.name}")
        found = [result for _, result in loaded]
        if not found:
            lines.append(f"| {series} | {x:g} | 0 of {len(members)} | not run yet |" + " |" * (len(METRICS) - 1))
            continue
        (group,) = group_seeds(found)  # refuses seeds that differ in settings
        check_results_match(members[0].entry, group, members[0].config)  # and results of other settings
        estimates = {metric.name: group.estimate(metric.read) for metric in METRICS}
        cells[(series, x)] = {k: v for k, v in estimates.items() if v is not None}
        shown = [
            "—" if (estimate := estimates[metric.name]) is None else estimate.format(metric.scale) for metric in METRICS
        ]
        lines.append(f"| {series} | {x:g} | {len(found)} of {len(members)} | " + " | ".join(shown) + " |")
    return lines, cells


def figure(spec: dict[str, Any], cells: dict[tuple[str, float], dict[str, Estimate]], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, axes = plt.subplots(1, len(PANELS), figsize=(14, 4))
    colors = {series: f"C{i}" for i, series in enumerate(spec["series"])}
    xs_all = sorted({x for _, x in cells})
    for ax, names in zip(axes, PANELS, strict=True):
        labels = [LEADERBOARD_METRICS[name].label for name in names]
        for series in spec["series"]:
            for name, label, style in zip(names, labels, ("o-", "s--"), strict=False):
                points = sorted((x, c[name]) for (s, x), c in cells.items() if s == series and name in c)
                if not points:
                    continue
                xs = [x for x, _ in points]
                ax.errorbar(
                    xs,
                    [e.mean for _, e in points],
                    yerr=[e.stderr or 0.0 for _, e in points],
                    fmt=style,
                    color=colors[series],
                    capsize=3,
                    label=f"{series}" + (f", {label}" if len(labels) > 1 else ""),
                )
        ax.set_xlabel(spec["x_label"])
        ax.set_ylabel("mean test MSE" if len(labels) > 1 else labels[0])
        ax.set_xscale("symlog", linthresh=1e-3) if spec["x"] == "penalty_weight" else ax.set_xscale("log")
        ax.set_xticks(xs_all, [f"{x:g}" for x in xs_all])
        ax.minorticks_off()
        ax.set_yscale("log")
        ax.legend(fontsize=7)
    fig.suptitle(f"{spec['title']} study (mean ± standard error over seeds)")
    fig.tight_layout()
    atomic_write(path, lambda stream: fig.savefig(stream, format="png", dpi=110))
    plt.close(fig)
    return True


def write_docs(docs: Path, name: str, lines: list[str], figure_name: str | None) -> Path:
    block = [*lines, "", f"![{name} study](assets/{figure_name})"] if figure_name else lines
    return replace_block(docs, f"study:{name}", block, f"python baselines/study.py {name} --tables")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a study (an entry family) and regenerate its table and figure.")
    parser.add_argument("study", help="the study's name: " + ", ".join(studies()))
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--list", action="store_true", help="list the study's runs and which are missing")
    mode.add_argument("--tables", action="store_true", help="only regenerate the table and the figure")
    parser.add_argument("--quiet", action="store_true", help="hide progress bars")
    parser.add_argument(
        "--docs", type=Path, default=ROOT / "docs" / "baselines.md", help="the page that holds the table"
    )
    parser.add_argument("--no-figure", action="store_true", help="leave the figure as it is")
    args = parser.parse_args(argv)
    if args.study not in studies():
        parser.error(f"unknown study {args.study!r}; the studies are {studies()}")
    try:
        spec = load_spec(args.study)
        todo = runs(spec)
        if args.list:
            for run in todo:
                print(f"{'done   ' if run.result_path.exists() else 'missing'} {run.result_path.relative_to(ROOT)}")
            return 0
        if not args.tables:
            run_missing(todo, args.quiet)
        lines, cells = table(spec, todo)
        figure_name = f"study-{args.study}.png"
        drawn = args.no_figure or figure(spec, cells, ROOT / "docs" / "assets" / figure_name)
        print(f"wrote {write_docs(args.docs, args.study, lines, figure_name if drawn else None)}")
    except (StudyError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
