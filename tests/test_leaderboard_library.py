"""The leaderboard in the library: protocols, score(), seed aggregation, tables and `spirograph evaluate`."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from spirograph import Spirograph
from spirograph.errors import ConfigError, EncoderError, ParameterError, ParameterTypeError
from spirograph.evaluation import evaluate
from spirograph.leaderboard import (
    LEADERBOARD_METRICS,
    PROTOCOLS,
    Estimate,
    LeaderboardResult,
    Protocol,
    build_submission,
    compare_with_references,
    evaluation_protocol_name,
    get_protocol,
    group_seeds,
    load_entry,
    load_rows,
    reference_summary,
    render_markdown,
    score,
)

ROOT = Path(__file__).resolve().parents[1]
ENCODERS = Path(__file__).resolve().parent / "submission_encoders.py"

TINY: dict[str, Any] = {
    "n_train": 64,
    "n_test": 32,
    "n_draws": [1, 2],
    "probe": "ridge",
    "batch_size": 64,
    "invariance": {"n_examples": 16, "n_draws": 3, "n_projections": 2},
    "penalty": {"n_examples": 16, "batch_size": 8, "n_samples": 2},
}


def tiny_protocol(name: str = "tiny") -> Protocol:
    return Protocol.from_dict(TINY, name=name)


def linear_encoder(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 16))


# --- protocols ----------------------------------------------------------------------------------


def test_the_cpu_protocol_is_what_the_shipped_cpu_entries_hold() -> None:
    for name in ("simclr-cpu", "invclr-cpu", "random", "pixels", "oracle"):
        entry = load_entry(ROOT / "baselines" / "configs" / f"{name}.json")
        assert entry["evaluation"] == PROTOCOLS["cpu"].to_dict(), name
    for name in ("simclr", "invclr"):
        entry = load_entry(ROOT / "baselines" / "configs" / f"{name}.json")
        assert {**entry["evaluation"], "robustness": False} == PROTOCOLS["paper"].to_dict(), name


def test_paper_protocol_is_the_papers() -> None:
    paper = get_protocol("paper")
    assert (paper.n_train, paper.n_test, paper.probe, paper.steps, paper.l2) == (None, None, "lbfgs", 500, 1e-8)
    assert paper.n_draws == (1, 2, 3, 4, 5, 10, 20, 30)
    assert Protocol.from_dict(paper.to_dict(), name="paper") == paper


@pytest.mark.parametrize(
    ("data", "error", "match"),
    [
        ({"n_trian": 5}, ConfigError, r"unknown keys \['n_trian'\]"),
        ({"probe": "sgd"}, ConfigError, r"`probe` must be one of \['lbfgs', 'ridge'\], got 'sgd'"),
        ({"n_draws": []}, ConfigError, "at least one M value"),
        ({"n_draws": [1, 1]}, ConfigError, "increasing without repeats"),
        ({"n_train": 1}, ConfigError, r"`n_train` must be"),
        ({"invariance": {"n_draw": 3}}, ConfigError, r"`invariance` has unknown keys \['n_draw'\]"),
        ({"penalty": [1]}, ConfigError, "`penalty` must be an object"),
        ({"robustness": "yes"}, ConfigError, "`robustness` must be a bool or a non-empty tuple"),
    ],
)
def test_protocol_refuses_bad_settings(data: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        Protocol.from_dict(data, name="bad")


def test_get_protocol_names_the_known_ones() -> None:
    with pytest.raises(ParameterError, match=r"`protocol` must be one of \['cpu', 'paper'\], got 'gpu'"):
        get_protocol("gpu")
    with pytest.raises(ParameterTypeError, match="must be a name or a Protocol"):
        get_protocol(3)  # type: ignore[arg-type]


def test_an_unnamed_protocol_is_named_by_its_settings() -> None:
    cpu = PROTOCOLS["cpu"].to_dict()
    assert evaluation_protocol_name(cpu) == "cpu"
    assert evaluation_protocol_name({**PROTOCOLS["paper"].to_dict(), "robustness": True}) == "paper"
    mine = cpu | {"n_train": 2000}
    settings = {key: value for key, value in mine.items() if key != "robustness"}
    canonical = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    expected = "custom-" + hashlib.sha256(canonical.encode()).hexdigest()[:8]
    assert evaluation_protocol_name(mine) == expected
    assert evaluation_protocol_name(dict(reversed(list(mine.items())))) == expected  # key order aside
    assert evaluation_protocol_name(mine | {"robustness": ["rotation"]}) == expected  # as for the built-in ones
    assert evaluation_protocol_name(cpu | {"n_train": 3000}) != expected


# --- score --------------------------------------------------------------------------------------


def test_score_equals_evaluate_with_the_same_settings() -> None:
    result = score(linear_encoder(), tiny_protocol(), progress=False, name="linear")
    direct = evaluate(
        linear_encoder(),
        train=Spirograph("train", subset=64),
        test=Spirograph("test", subset=32),
        n_draws=[1, 2],
        probe="ridge",
        batch_size=64,
        progress=False,
    )
    assert direct.feature_averaging is not None
    assert result.feature_averaging == {str(m): v for m, v in direct.feature_averaging.items()}
    assert result.mse_mean == direct.feature_averaging[1]
    assert result.protocol == "tiny" and result.method == "external" and result.submission is None
    assert result.config["evaluation"] == tiny_protocol().to_dict()
    assert result.penalty is not None and result.penalty > 0
    assert set(result.wall_time) == {"evaluate", "invariance", "penalty", "total"}


def test_score_results_save_and_load(tmp_path: Path) -> None:
    result = score(linear_encoder(), tiny_protocol(), progress=False, name="linear")
    path = result.save(tmp_path / "linear.json")
    assert LeaderboardResult.load(path).to_dict() == json.loads(path.read_text())
    assert LeaderboardResult.load(path).feature_averaging == result.feature_averaging


def test_score_checks_its_arguments() -> None:
    with pytest.raises(ParameterTypeError, match=r"`encoder` must be an nn\.Module"):
        score(lambda x: x, tiny_protocol(), progress=False)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="`seed` must be"):
        score(linear_encoder(), tiny_protocol(), seed=-1, progress=False)
    with pytest.raises(ParameterTypeError, match="`name` must be a non-empty string"):
        score(linear_encoder(), tiny_protocol(), name="", progress=False)


# --- seeds --------------------------------------------------------------------------------------


def fake_result(entry: str, seed: int, value: float, **changes: Any) -> LeaderboardResult:
    """A result with plain numbers (no run needed), settings as the CPU protocol's."""
    config = {"entry": entry, "title": "Tiny", "method": "random", "evaluation": PROTOCOLS["cpu"].to_dict()}
    data: dict[str, Any] = {
        "entry": entry,
        "title": "Tiny" + (f" (seed {seed})" if "-seed" in entry else ""),
        "method": "random",
        "seed": seed,
        "device": "cpu",
        "date": "2026-01-01T00:00:00Z",
        "wall_time": {"total": 60.0},
        "versions": {"threads": 2},
        "config": config,
        "mse_mean": value,
        "mse": {"m": value, "b": 2 * value},
        "n_draws_for_mse": 1,
        "feature_averaging": {"1": value, "30": value / 2},
        "feature_averaging_per_task": {"1": {"m": value, "b": 2 * value}, "30": {"m": value / 2, "b": value}},
        "conditional_variance": 0.1 * (seed + 1),
        "conditional_variance_normalized": 0.5,
        "nuisance_share": 0.4,
        "nuisance_mse": 0.07,
        "nuisance_mse_prior_mean": 0.08,
        "penalty": 3.0 + seed,
        "penalty_note": None,
        "penalty_settings": {},
        "training": None,
        "robustness": None,
        "evaluation": {},
        "invariance": {},
    }
    data.update(changes)
    return LeaderboardResult.from_dict(data)


def test_estimate_is_the_mean_and_standard_error() -> None:
    values = [0.031, 0.029, 0.036]
    estimate = Estimate.of(values)
    assert estimate.mean == pytest.approx(np.mean(values))
    assert estimate.stderr == pytest.approx(np.std(values, ddof=1) / math.sqrt(3))
    assert estimate.n == 3 and Estimate.of([2.0]).stderr is None
    assert Estimate.of([0.0203, 0.0211]).format(1e3) == "20.7 ± 0.4"
    with pytest.raises(ConfigError, match="at least one number"):
        Estimate.of([])


def test_seeds_of_an_entry_are_one_group() -> None:
    results = [fake_result("r", 0, 0.03), fake_result("r-seed2", 2, 0.036), fake_result("r-seed1", 1, 0.029)]
    (group,) = group_seeds(results)
    assert group.entry == "r" and group.seeds == [0, 1, 2] and group.title == "Tiny"
    mean = group.estimate(lambda r: r.mse_mean)
    assert mean is not None and mean.mean == pytest.approx((0.03 + 0.029 + 0.036) / 3) and mean.n == 3
    assert group.curve()[30].mean == pytest.approx(mean.mean / 2)
    assert group.per_task()["b"].mean == pytest.approx(2 * mean.mean)
    penalty = group.estimate(lambda r: r.penalty)
    assert penalty is not None and penalty.mean == 4.0 and penalty.stderr == pytest.approx(1 / math.sqrt(3))


def test_seeds_with_other_settings_are_never_averaged() -> None:
    other = PROTOCOLS["cpu"].to_dict() | {"n_train": 4000}
    changed = fake_result("r-seed1", 1, 0.03, config={"entry": "r-seed1", "method": "random", "evaluation": other})
    with pytest.raises(
        ConfigError, match=r"differ in \['evaluation.n_train', 'protocol'\] \(evaluation.n_train: 5000 vs 4000;"
    ):
        group_seeds([fake_result("r", 0, 0.03), changed])
    with pytest.raises(ConfigError, match="several results with seed 1"):
        group_seeds([fake_result("r-seed1", 1, 0.03), fake_result("r", 1, 0.03)])


def test_tables_show_mean_and_error_per_protocol_and_every_seed(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    for seed, mse in ((0, 0.03), (1, 0.029), (2, 0.036)):
        name = "r" if seed == 0 else f"r-seed{seed}"
        fake_result(name, seed, mse).save(results / f"{name}.json")
    custom = fake_result("mine", 0, 0.5, protocol="tiny")
    custom.save(results / "mine.json")
    text = render_markdown(load_rows(None, [results]))
    mean = Estimate.of([0.03, 0.029, 0.036])
    cpu = text.split("## Protocol `cpu`")[1].split("## Protocol `tiny`")[0]
    tiny = text.split("## Protocol `tiny`")[1].split("## Per-seed results")[0]
    assert f"| Tiny | 3 | none | **{mean.format()}** |" in cpu and "mine" not in cpu.lower()
    assert "| Tiny | 1 | none | **0.5** |" in tiny and "| Tiny | 3 |" not in tiny
    detail = text.split("## Per-seed results")[1]
    for name in ("`r`", "`r-seed1`", "`r-seed2`", "`mine`"):
        assert f"| {name} |" in detail
    assert "## Protocol `paper`" in text and "Paper: InvCLR" in text


def test_different_custom_protocols_never_share_a_table(tmp_path: Path) -> None:
    configs, results = tmp_path / "configs", tmp_path / "results"
    configs.mkdir()
    results.mkdir()
    sections = []
    for name, n_train in (("a", 2000), ("b", 3000)):
        evaluation = PROTOCOLS["cpu"].to_dict() | {"n_train": n_train}
        config = {"entry": name, "title": "Tiny", "method": "random", "evaluation": evaluation}
        fake_result(name, 0, 0.5, config=config).save(results / f"{name}.json")
        sections.append(evaluation_protocol_name(evaluation))
    pending = {"entry": "c", "title": "Pending", "method": "random", "evaluation": TINY}
    (configs / "c.json").write_text(json.dumps(pending))
    sections.append(evaluation_protocol_name(load_entry(configs / "c.json")["evaluation"]))
    rows = {row.entry: row.protocol for row in load_rows(configs, [results])}
    assert rows == dict(zip("abc", sections, strict=True)) and len(set(sections)) == 3
    text = render_markdown(list(load_rows(configs, [results])))
    assert "## Protocol `custom`" not in text
    for section in sections:
        assert text.count(f"## Protocol `{section}`") == 1, section


def test_stale_results_of_an_entry_are_refused(tmp_path: Path) -> None:
    configs, results = tmp_path / "configs", tmp_path / "results"
    configs.mkdir()
    results.mkdir()
    entry = {"entry": "r", "title": "Tiny", "method": "random", "evaluation": TINY}
    (configs / "r.json").write_text(json.dumps(entry))
    fake_result("r", 0, 0.03).save(results / "r.json")  # scored with the CPU protocol, not the entry's
    with pytest.raises(
        ConfigError,
        match=r"results of 'r' were made with other settings .*evaluation\.batch_size: entry 64, result 500",
    ):
        load_rows(configs, [results])
    fake_result("r", 0, 0.03).save(results / "other.json")
    (results / "r.json").unlink()
    with pytest.raises(ConfigError, match=r"holds the result of 'r'; rename it r\.json"):
        load_rows(configs, [results])


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"mse": {"m": "0.1"}}, r"`mse\.m` must be a finite number, got str"),
        ({"wall_time": {"train": 1.0}}, "`wall_time` must hold the `total` seconds"),
        ({"feature_averaging": {"1": 0.1, "x": 0.2}}, r"`feature_averaging` keys must be M values .*got 'x'"),
        ({"feature_averaging": {"2": 0.1}}, r"`n_draws_for_mse` \(1\) must be one of the M values"),
        ({"feature_averaging_per_task": {"1": {"m": None}}}, r"`feature_averaging_per_task\.1\.m` must be a finite"),
        ({"protocol": 3}, "`protocol` must be str | None, got int"),
    ],
)
def test_result_schema_checks_nested_types(changes: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        fake_result("r", 0, 0.1, **changes)


def test_comparison_puts_the_result_beside_references_of_its_protocol() -> None:
    references = {
        "protocols": {
            "cpu": [
                {
                    "entry": "random",
                    "title": "Reference: random CNN",
                    "seeds": 3,
                    "mse_mean": [0.05, 0.001],
                    "mse_m30": [0.02, None],
                    "conditional_variance_normalized": [0.3, 0.01],
                    "penalty": [1.0, 0.1],
                }
            ],
            "paper": [{"entry": "p", "title": "Paper row", "seeds": 1, "mse_mean": [1, None], "mse_m30": None,
                       "conditional_variance_normalized": None, "penalty": None}],
        }
    }  # fmt: skip
    text = compare_with_references(fake_result("mine", 0, 0.04), references)
    assert "| **Tiny** (this result) | 1 | 40 | 20 |" in text
    assert "| Reference: random CNN | 3 | 50 ± 1 | 20 | 0.3 ± 0.01 | 1 ± 0.1 |" in text
    assert "Paper row" not in text


def test_leaderboard_metrics_read_scale_and_label_each_number() -> None:
    result = fake_result("r", 0, 0.04, penalty=None)
    for name, metric in LEADERBOARD_METRICS.items():
        expected = result.feature_averaging["30"] if name == "mse_m30" else getattr(result, name)
        assert metric.name == name and metric.read(result) == expected
    assert [metric.heading() for metric in LEADERBOARD_METRICS.values()] == [
        "M = 1 (MSE x 1e-3)",
        "M = 30 (MSE x 1e-3)",
        "cond. variance",
        "normalised",
        "nuisance share",
        "nuisance MSE",
        "prior-mean MSE",
        "penalty",
    ]
    assert [metric.scale for metric in LEADERBOARD_METRICS.values()] == [1e3, 1e3, 1, 1, 1, 1, 1, 1]


def test_every_table_takes_its_columns_from_the_leaderboard_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = tmp_path / "results"
    results.mkdir()
    fake_result("r", 0, 0.03).save(results / "r.json")
    rows = load_rows(None, [results])
    headings = {metric.heading() for metric in LEADERBOARD_METRICS.values()}
    text = render_markdown(rows)
    diagnostics = text.split("### Invariance diagnostics")[1]
    header = next(line for line in diagnostics.splitlines() if line.startswith("| entry | seeds |"))
    assert set(header.strip("| ").split(" | ")[2:]) <= headings
    (summary,) = reference_summary(rows)["protocols"]["cpu"]
    assert set(summary) - {"entry", "title", "seeds"} <= set(LEADERBOARD_METRICS)
    spec = importlib.util.spec_from_file_location("_baselines_study", ROOT / "baselines" / "study.py")
    assert spec is not None and spec.loader is not None
    study = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, study)  # its dataclasses look their module up there
    spec.loader.exec_module(study)
    assert all(LEADERBOARD_METRICS[metric.name] is metric for metric in study.METRICS)
    assert {name for panel in study.PANELS for name in panel} <= {metric.name for metric in study.METRICS}


# --- submissions: build_submission and `spirograph evaluate` -------------------------------------


def _spec(name: str) -> str:
    return f"{ENCODERS}:{name}"


@pytest.mark.parametrize(
    ("spec", "error", "match"),
    [
        ("no_colon", ParameterError, "must be 'package.module:callable'"),
        (
            "spirograph_no_such_module:make",
            ParameterError,
            "names the module 'spirograph_no_such_module', which cannot",
        ),
        ("/no/such/file.py:make", ParameterError, "names the file '/no/such/file.py', which does not exist"),
        (f"{ENCODERS}:missing", ParameterError, "has no attribute 'missing'"),
        (f"{ENCODERS}:raises", EncoderError, r"calling .*raises' raised RuntimeError: broken on purpose"),
        (f"{ENCODERS}:not_a_module", EncoderError, "must return an nn.Module, got function"),
        (f"{ENCODERS}:wrong_shape", EncoderError, r"must map \(2, 3, 32, 32\) to \(2, d\), got \(2, 4, 3\)"),
        (f"{ENCODERS}:not_finite", EncoderError, "features must be finite"),
        (f"{ENCODERS}:integer_features", EncoderError, "must be floating point, got torch.int64"),
        (f"{ENCODERS}:NOT_CALLABLE", EncoderError, "is not callable"),
    ],
)
def test_build_submission_refuses_bad_encoders(spec: str, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        build_submission(spec)


@pytest.mark.parametrize(
    ("body", "error", "match"),
    [
        ("raise RuntimeError('broken on import')", EncoderError, "raised RuntimeError: broken on import"),
        ("raise SystemExit(3)", SystemExit, "3"),
    ],
)
def test_a_file_that_fails_to_import_leaves_no_module_behind(
    tmp_path: Path, body: str, error: type[BaseException], match: str
) -> None:
    path = tmp_path / "broken.py"
    path.write_text(f"{body}\n\ndef make():\n    return None\n")

    def loaded() -> list[str]:
        return [name for name, module in sys.modules.items() if getattr(module, "__file__", None) == str(path)]

    with pytest.raises(error, match=match):
        build_submission(f"{path}:make")
    assert loaded() == []
    path.write_text("import torch\n\ndef make():\n    return torch.nn.Flatten()\n")
    build_submission(f"{path}:make")  # the same file, fixed, imports
    assert len(loaded()) == 1


def test_build_submission_loads_weights_and_records_their_digest(tmp_path: Path) -> None:
    model, _ = build_submission(_spec("small"))
    for parameter in model.parameters():
        torch.nn.init.constant_(parameter, 0.5)
    torch.save(model.state_dict(), tmp_path / "w.pt")
    loaded, provenance = build_submission(_spec("small"), tmp_path / "w.pt")
    assert all(torch.equal(p, torch.full_like(p, 0.5)) for p in loaded.parameters())
    assert provenance["weights_sha256"] == hashlib.sha256((tmp_path / "w.pt").read_bytes()).hexdigest()
    assert provenance["encoder"] == _spec("small") and provenance["features"] == 8
    torch.save({"other.weight": torch.zeros(2)}, tmp_path / "bad.pt")
    with pytest.raises(EncoderError, match="`weights` do not fit the module"):
        build_submission(_spec("small"), tmp_path / "bad.pt")


class _RunsCode:
    """A pickle payload: unpickling it would create a file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def test_weights_holding_code_are_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    torch.save({"weight": _RunsCode(marker)}, tmp_path / "evil.pt")
    with pytest.raises(EncoderError, match="weights_only=True \\(nothing in it was run\\)"):
        build_submission(_spec("small"), tmp_path / "evil.pt")
    assert not marker.exists()


def _cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, "-m", "spirograph", *map(str, args)],
        capture_output=True, text=True, env=env, timeout=300, check=False, cwd=cwd,
    )  # fmt: skip


@pytest.mark.slow
def test_evaluate_command_end_to_end_and_on_the_leaderboard(tmp_path: Path) -> None:
    protocol = tmp_path / "tiny.json"
    protocol.write_text(json.dumps(TINY))
    model, _ = build_submission(_spec("small"))
    torch.save(model.state_dict(), tmp_path / "w.pt")
    results = tmp_path / "results"
    results.mkdir()
    done = _cli(
        "evaluate", _spec("small"), "--weights", tmp_path / "w.pt", "--protocol", protocol, "--name", "mine",
        "--out", results / "mine.json", "--quiet", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "| **mine** (this result) | 1 |" in done.stdout and done.stderr == ""
    result = LeaderboardResult.load(results / "mine.json")
    assert result.protocol == "tiny" and result.method == "external"
    assert result.submission is not None and result.submission["encoder"] == _spec("small")
    assert len(result.submission["weights_sha256"]) == 64
    # The same numbers as score() in Python, and evaluate() under it.
    again = score(model, tiny_protocol(), progress=False, name="mine")
    assert result.feature_averaging == again.feature_averaging and result.penalty == again.penalty
    text = render_markdown(load_rows(None, [results]))
    assert "## Protocol `tiny`" in text and "| `mine` |" in text.split("## Submissions")[1]


@pytest.mark.parametrize(
    ("args", "status", "match"),
    [
        (["spirograph_no_such_module:make"], 2, "cannot be found"),
        ([_spec("raises")], 1, "broken on purpose"),
        ([_spec("small"), "--protocol", "gpu"], 2, r"must be one of \['cpu', 'paper'\] or a \.json file"),
        ([_spec("small"), "--out", "missing/r.json"], 2, "--out must be in a folder that exists"),
        ([_spec("small"), "--name", "../up"], 2, "--name: .*must be a plain name"),
        ([_spec("small"), "--weights", "nothing.pt"], 2, "`weights` must be a file"),
    ],
)
def test_evaluate_command_errors_are_one_line(tmp_path: Path, args: list[str], status: int, match: str) -> None:
    done = _cli("evaluate", *args, "--quiet", cwd=tmp_path)
    assert done.returncode == status, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert re.search(match, done.stderr), done.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_shipped_reference_rows_are_the_leaderboards() -> None:
    from spirograph.leaderboard import REFERENCE_ROWS, reference_summary

    rows = load_rows(ROOT / "baselines" / "configs", [ROOT / "baselines" / "results"])
    assert json.loads(REFERENCE_ROWS.read_text()) == json.loads(json.dumps(reference_summary(rows)))


def test_protocol_replace_keeps_checks() -> None:
    with pytest.raises(ParameterError, match="`n_draws` must be increasing"):
        dataclasses.replace(PROTOCOLS["cpu"], n_draws=(3, 1))


# --- generated files are up to date with the result files -----------------------------------------


def _run_script(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, *map(str, args)], capture_output=True, text=True, env=env, timeout=300, check=False
    )


def test_the_shipped_leaderboard_is_made_from_the_result_files(tmp_path: Path) -> None:
    out = tmp_path / "LEADERBOARD.md"
    done = _run_script(ROOT / "baselines" / "leaderboard.py", "--output", out, "--no-plot")
    assert done.returncode == 0, done.stderr
    shipped = (ROOT / "baselines" / "LEADERBOARD.md").read_text()
    plot = "![mean MSE against M](mse_vs_m.png)"
    assert plot in shipped
    assert out.read_text().rstrip() == shipped.replace(plot, "").rstrip()


@pytest.mark.parametrize("study", ["scale", "lambda"])
def test_the_study_tables_in_the_docs_are_made_from_the_result_files(tmp_path: Path, study: str) -> None:
    docs = tmp_path / "baselines.md"
    shipped = (ROOT / "docs" / "baselines.md").read_text()
    docs.write_text(shipped)
    done = _run_script(ROOT / "baselines" / "study.py", study, "--tables", "--no-figure", "--docs", docs)
    assert done.returncode == 0, done.stderr
    assert docs.read_text() == shipped


def test_study_refuses_an_unknown_study() -> None:
    done = _run_script(ROOT / "baselines" / "study.py", "sizes", "--list")
    assert done.returncode == 2 and "unknown study 'sizes'; the studies are ['lambda', 'scale']" in done.stderr


def test_study_lists_its_runs() -> None:
    done = _run_script(ROOT / "baselines" / "study.py", "lambda", "--list")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.endswith("baselines/results/simclr-cpu.json") for line in lines)  # lambda 0 is SimCLR
    assert any("studies/results/invclr-cpu-lambda0.1.json" in line for line in lines)
