"""End-to-end checks of the leaderboard scripts in ``baselines/`` (run as subprocesses)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from spirograph.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "baselines" / "run.py"
LEADERBOARD = ROOT / "baselines" / "leaderboard.py"

TINY_ENTRY = {
    "entry": "tiny-invclr",
    "title": "Tiny InvCLR",
    "method": "invclr",
    "train": {
        "encoder": "small",
        "representation_dim": 16,
        "projection_dim": 8,
        "batch_size": 16,
        "epochs": 1,
        "warmup_epochs": 0,
        "n_train": 32,
        "size": 16,
        "n_points": 12,
        "penalty_samples": 4,
        "log_every": 1,
    },
    "evaluation": {
        "n_train": 64,
        "n_test": 32,
        "n_draws": [1, 2],
        "probe": "ridge",
        "batch_size": 64,
        "invariance": {"n_examples": 16, "n_draws": 3, "n_projections": 2},
        "penalty": {"n_examples": 16, "batch_size": 8, "n_samples": 4},
    },
}


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _script(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *map(str, args)], capture_output=True, text=True, env=_env(), timeout=120, check=False
    )


@pytest.mark.slow
def test_runner_end_to_end_and_leaderboard(tmp_path: Path) -> None:
    configs, results = tmp_path / "configs", tmp_path / "results"
    configs.mkdir()
    (configs / "tiny-invclr.json").write_text(json.dumps(TINY_ENTRY))
    pending = {**TINY_ENTRY, "entry": "tiny-simclr", "title": "Tiny SimCLR", "method": "simclr"}
    pending["train"] = {**TINY_ENTRY["train"], "penalty_weight": 0.0}
    (configs / "tiny-simclr.json").write_text(json.dumps(pending))

    done = _script(
        RUN,
        configs / "tiny-invclr.json",
        "--results-dir",
        results,
        "--checkpoint-dir",
        tmp_path / "ckpt",
        "--quiet",
    )
    assert done.returncode == 0, done.stderr
    result = json.loads((results / "tiny-invclr.json").read_text())
    for key in (
        "mse_mean",
        "mse",
        "feature_averaging",
        "conditional_variance",
        "conditional_variance_normalized",
        "penalty",
        "seed",
        "device",
        "wall_time",
        "versions",
        "config",
    ):
        assert key in result, key
    assert set(result["mse"]) == {"m", "b", "sigma", "fore_r"}
    assert set(result["feature_averaging"]) == {"1", "2"}
    assert result["mse_mean"] == pytest.approx(sum(result["mse"].values()) / 4)
    assert result["penalty"] >= 0 and result["conditional_variance"] >= 0
    assert result["config"]["train"]["penalty_weight"] == 0.01
    assert result["evaluation"]["size"] == 16  # evaluated on images rendered like the training views
    assert result["training"]["history"][0]["epoch"] == 1
    assert (tmp_path / "ckpt" / "last.pt").exists()
    assert not list(results.glob(".*.tmp"))

    board = tmp_path / "LEADERBOARD.md"
    made = _script(LEADERBOARD, "--configs-dir", configs, "--results-dir", results, "--output", board)
    assert made.returncode == 0, made.stderr
    text = board.read_text()
    assert "Tiny InvCLR" in text and f"{result['mse_mean']:.3g}" in text
    assert "| Tiny SimCLR |" in text and "not run yet" in text
    assert "Paper: InvCLR" in text and "1.95e-03" not in text and "0.00195" in text
    assert (tmp_path / "mse_vs_m.png").exists()


def entry_config(path: Path) -> dict[str, Any]:
    """The ``config`` a result of the entry file at ``path`` records: the entry, its training resolved."""
    from spirograph.baselines import TrainConfig
    from spirograph.leaderboard import load_entry

    entry = load_entry(path)
    return {**entry, "train": TrainConfig.from_dict(entry["train"]).to_dict()}


def full_result(**fields: Any) -> dict[str, Any]:
    """A result file's fields: the given ones, the rest filled with plain values of the right type."""
    filled: dict[str, Any] = {
        "entry": "x",
        "title": "Tiny InvCLR",
        "method": "invclr",
        "seed": 0,
        "device": "cpu",
        "date": "2026-01-01T00:00:00Z",
        "wall_time": {"total": 1.0},
        "versions": {},
        "config": {},
        "mse_mean": 1.0,
        "mse": {"m": 1.0},
        "n_draws_for_mse": 1,
        "feature_averaging": {"1": 1.0},
        "feature_averaging_per_task": {},
        "conditional_variance": 0.25,
        "conditional_variance_normalized": 0.5,
        "nuisance_share": 0.4,
        "nuisance_mse": 0.07,
        "nuisance_mse_prior_mean": 0.08,
        "penalty": 3.5,
        "penalty_note": None,
        "penalty_settings": {},
        "training": None,
        "robustness": None,
        "evaluation": {},
        "invariance": {},
    }
    return {**filled, **fields}


def test_result_files_have_one_schema(tmp_path: Path) -> None:
    from spirograph.baselines import LeaderboardResult
    from spirograph.errors import ConfigError
    from spirograph.evaluation import EvaluationResult, InvarianceResult

    for path in sorted((ROOT / "baselines" / "results").glob("*.json")):
        shipped = LeaderboardResult.load(path)
        data = json.loads(path.read_text())
        unset = {key: None for key in ("protocol", "submission") if data.get(key, 0) is None}
        assert {**shipped.to_dict(), **unset} == data  # every shipped file (optional fields unset or null)
        # Its evaluation records are today's records, and the entry copy holds today's keys.
        assert EvaluationResult.from_dict(shipped.evaluation).n_draws == max(map(int, shipped.feature_averaging))
        assert (
            InvarianceResult.from_dict(shipped.invariance).n_draws
            == shipped.config["evaluation"]["invariance"]["n_draws"]
        )
        assert shipped.config["evaluation"]["n_draws"] == sorted(map(int, shipped.feature_averaging))
    result = LeaderboardResult.from_dict(full_result())
    result.save(tmp_path / "r.json")
    assert LeaderboardResult.load(tmp_path / "r.json") == result
    with pytest.raises(ConfigError, match=r"missing fields \['seed'\], unknown fields \['sede'\]"):
        LeaderboardResult.from_dict({**{k: v for k, v in full_result().items() if k != "seed"}, "sede": 0})
    old = {("averaging_for_mse" if key == "n_draws_for_mse" else key): value for key, value in full_result().items()}
    with pytest.raises(
        ConfigError, match=r"missing fields \['n_draws_for_mse'\], unknown fields \['averaging_for_mse'\]"
    ):
        LeaderboardResult.from_dict(old)
    with pytest.raises(ConfigError, match=r"`mse_mean` must be float, got str '0\.1'"):
        LeaderboardResult.from_dict(full_result(mse_mean="0.1"))
    with pytest.raises(ConfigError, match="`mse` must not be None"):
        LeaderboardResult.from_dict(full_result(mse=None))
    (tmp_path / "bad.json").write_text("[]")
    with pytest.raises(ConfigError, match=r"is not a result file: .*must be a dict, got list"):
        LeaderboardResult.load(tmp_path / "bad.json")


def test_leaderboard_renders_from_result_files(tmp_path: Path) -> None:
    configs, results = tmp_path / "configs", tmp_path / "results"
    configs.mkdir()
    results.mkdir()
    (configs / "tiny-invclr.json").write_text(json.dumps(TINY_ENTRY))
    fake = full_result(
        entry="tiny-invclr",
        config=entry_config(configs / "tiny-invclr.json"),
        device="cpu",
        wall_time={"total": 90.0},
        mse_mean=0.0123,
        mse={"m": 0.01, "b": 0.02, "sigma": 0.005, "fore_r": 0.0142},
        feature_averaging={"1": 0.0123, "2": 0.0101},
        conditional_variance=0.25,
        conditional_variance_normalized=0.5,
        nuisance_share=0.4,
        nuisance_mse=0.07,
        nuisance_mse_prior_mean=0.08,
        penalty=3.5,
        robustness={"mse_mean": {"h_shift": {"-0.5": 0.02}}},
    )
    (results / "tiny-invclr.json").write_text(json.dumps(fake))
    board = tmp_path / "LEADERBOARD.md"
    made = _script(LEADERBOARD, "--configs-dir", configs, "--results-dir", results, "--output", board, "--no-plot")
    assert made.returncode == 0, made.stderr
    text = board.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| Tiny InvCLR") and "0.0123" in line)
    assert "0.01 | 0.02 | 0.005 | 0.0142" in row and "1.5 min" in row
    assert "| Tiny InvCLR | 1 | 12.3 | 10.1 |" in text  # x 1e-3 in the averaging table
    assert "| Tiny InvCLR | 1 | 0.25 | 0.5 | 0.4 | 0.07 | 0.08 | 3.5 |" in text
    assert "h_shift: -0.5: 0.02" in text
    assert not (tmp_path / "mse_vs_m.png").exists()


def test_leaderboard_marks_runs_cut_short_and_their_precision(tmp_path: Path) -> None:
    configs, results = tmp_path / "configs", tmp_path / "results"
    configs.mkdir()
    results.mkdir()
    entry = {**TINY_ENTRY, "train": {**TINY_ENTRY["train"], "precision": "bfloat16"}}
    (configs / "tiny-invclr.json").write_text(json.dumps(entry))
    result = full_result(
        entry="tiny-invclr",
        config=entry_config(configs / "tiny-invclr.json"),
        device="cuda",
        wall_time={"total": 500.0},
        mse_mean=0.01,
        mse={"m": 0.01, "b": 0.01, "sigma": 0.01, "fore_r": 0.01},
        feature_averaging={"1": 0.01},
        training={"stopped_early": True, "steps_done": 4321, "steps_total": 9800},
    )
    (results / "tiny-invclr.json").write_text(json.dumps(result))
    board = tmp_path / "LEADERBOARD.md"
    made = _script(LEADERBOARD, "--configs-dir", configs, "--results-dir", results, "--output", board, "--no-plot")
    assert made.returncode == 0, made.stderr
    row = next(line for line in board.read_text().splitlines() if line.startswith("| Tiny InvCLR") and "0.01" in line)
    assert "bfloat16, lambda 0.01 (stopped after 4,321 of 9,800 steps)" in row


def _load_runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_baselines_run", RUN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        (
            {"method": "byol"},
            r"`method` must be one of \['simclr', 'invclr', 'pixels', 'random', 'oracle'\], got 'byol'",
        ),
        ({"method": "simclr"}, r"method 'simclr' does not match penalty_weight=0.01"),
        ({"evaluation": {"n_trian": 5}}, r"unknown keys \['n_trian'\]"),
        ({"evaluation": {"n_draws": [2, 1]}}, r"`n_draws` must be increasing"),
        ({"entry": "../outside"}, r"`entry` must be a plain name .*got '\.\./outside'"),
        ({"entry": "/abs/path"}, r"`entry` must be a plain name"),
        ({"evaluation": {"averaging": [1]}}, r"unknown keys \['averaging'\]; valid keys are \[.*'n_draws'"),
        ({"title": ""}, "needs a non-empty string `title`, got ''"),
        ({"method": "pixels"}, "the reference method 'pixels' is not trained; remove `train`"),
        ({"epochs": 3}, r"unknown keys \['epochs'\]"),
        ({"train": {"encoder": "vit"}}, r"`encoder` must be one of \['resnet18', 'small'\], got 'vit'"),
    ],
)
def test_runner_rejects_bad_entries(tmp_path: Path, changes: dict[str, object], match: str) -> None:
    runner = _load_runner()
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({**TINY_ENTRY, **changes}))
    with pytest.raises(ConfigError, match=match):
        runner.load_entry(path)


def test_runner_fills_evaluation_defaults(tmp_path: Path) -> None:
    runner = _load_runner()
    path = tmp_path / "entry.json"
    path.write_text(json.dumps({"entry": "px", "title": "Pixels", "method": "pixels"}))
    entry = runner.load_entry(path)
    assert entry["evaluation"]["n_draws"] == [1, 2, 3, 4, 5, 10, 20, 30]
    assert entry["evaluation"]["n_train"] is None and entry["evaluation"]["probe"] == "lbfgs"
    assert entry["evaluation"]["invariance"]["n_draws"] == 10


def test_runner_names_a_custom_protocol_by_its_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from spirograph.baselines import LeaderboardResult
    from spirograph.leaderboard import Protocol, evaluation_protocol_name

    runner = _load_runner()
    scored: list[Protocol] = []

    def fake_score(encoder: object, protocol: Protocol, **options: Any) -> LeaderboardResult:
        scored.append(protocol)
        return LeaderboardResult.from_dict(full_result(entry=options["name"], protocol=protocol.name))

    monkeypatch.setattr(runner, "score", fake_score)
    path = tmp_path / "px.json"
    path.write_text(
        json.dumps({"entry": "px", "title": "Pixels", "method": "pixels", "evaluation": TINY_ENTRY["evaluation"]})
    )
    entry = runner.load_entry(path)
    written = runner.run(entry, device="cpu", results_dir=tmp_path, checkpoint_dir=tmp_path / "ckpt", progress=False)
    name = evaluation_protocol_name(entry["evaluation"])
    assert name.startswith("custom-") and [protocol.name for protocol in scored] == [name]
    assert json.loads(written.read_text())["protocol"] == name


def test_shipped_entries_are_valid() -> None:
    runner = _load_runner()
    paths = sorted((ROOT / "baselines" / "configs").glob("*.json"))
    assert {p.stem for p in paths} >= {"pixels", "random", "oracle", "simclr", "invclr", "simclr-cpu", "invclr-cpu"}
    for path in paths:
        entry = runner.load_entry(path)
        assert entry["entry"] == path.stem


@pytest.mark.parametrize(
    ("arguments", "status", "fragment"),
    [
        (["--device", "gpu"], 2, "must name a torch device such as 'cpu' or 'cuda', got 'gpu'"),
        (["--device", "meta"], 2, "a device that holds no data"),
        (["--results-dir", "FILE"], 2, "--results-dir must be a folder, got the file"),
        (["--seed", "-1"], 2, "--seed must be in [0, 2**63), got -1"),
    ],
)
def test_runner_refuses_bad_arguments_in_one_line(
    tmp_path: Path, arguments: list[str], status: int, fragment: str
) -> None:
    entry = tmp_path / "tiny.json"
    entry.write_text(
        json.dumps({"entry": "px", "title": "Pixels", "method": "pixels", "evaluation": TINY_ENTRY["evaluation"]})
    )
    (tmp_path / "FILE").write_text("")
    arguments = [str(tmp_path / "FILE") if a == "FILE" else a for a in arguments]
    done = _script(RUN, entry, "--quiet", *arguments)
    assert done.returncode == status, done.stderr
    assert fragment in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "px.json").exists()


def test_runner_refuses_a_malformed_entry_in_one_line(tmp_path: Path) -> None:
    entry = tmp_path / "bad.json"
    entry.write_text(json.dumps({**TINY_ENTRY, "entry": "../escape"}))
    done = _script(RUN, entry, "--results-dir", tmp_path, "--quiet")
    assert done.returncode == 2 and "`entry` must be a plain name" in done.stderr
    assert "Traceback" not in done.stderr and list(tmp_path.iterdir()) == [entry]


def test_leaderboard_script_errors_are_one_line(tmp_path: Path) -> None:
    configs, results = tmp_path / "configs", tmp_path / "results"
    configs.mkdir()
    results.mkdir()
    (results / "broken.json").write_text(json.dumps(full_result(entry="broken", mse={"m": "0.1"})))
    done = _script(LEADERBOARD, "--configs-dir", configs, "--results-dir", results, "--output", tmp_path / "L.md")
    assert done.returncode == 1 and "`mse.m` must be a finite number" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "L.md").exists()
    done = _script(LEADERBOARD, "--configs-dir", configs, "--results-dir", results, "--output", tmp_path)
    assert done.returncode == 2 and "--output must be a file" in done.stderr
    done = _script(LEADERBOARD, "--configs-dir", configs, "--results-dir", results / "broken.json")
    assert done.returncode == 2 and "--results-dir must be a folder" in done.stderr
