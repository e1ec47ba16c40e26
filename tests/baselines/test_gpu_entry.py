"""The one-command GPU job, run on the CPU with a tiny entry (the same script, DEVICE=cpu)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "baselines" / "gpu_entry.sh"

TINY_ENTRY = {
    "entry": "tiny-gpu-job",
    "title": "tiny",
    "method": "invclr",
    "train": {
        "encoder": "small",
        "representation_dim": 16,
        "projection_dim": 8,
        "batch_size": 16,
        "epochs": 2,
        "warmup_epochs": 1,
        "n_train": 48,
        "size": 32,
        "penalty_samples": 4,
        "log_every": 1,
        "penalty_weight": 0.01,
    },
    "evaluation": {
        "n_train": 64,
        "n_test": 32,
        "n_draws": [1, 2],
        "probe": "ridge",
        "batch_size": 64,
        "invariance": {"n_examples": 16, "n_draws": 2, "n_projections": 2, "nuisance_probe": False},
        "penalty": {"n_examples": 16, "batch_size": 16, "n_samples": 4},
        "robustness": ["h_shift"],
    },
}


def run_job(tmp_path: Path, *extra: str, budget: str = "300") -> tuple[subprocess.CompletedProcess[str], Path]:
    entry = tmp_path / "entry.json"
    entry.write_text(json.dumps(TINY_ENTRY))
    out = tmp_path / "out"
    environment = {
        **os.environ,
        "PYTHON": sys.executable,
        "DEVICE": "cpu",
        "TMPDIR": str(tmp_path),
        "BREAKDOWN_EXAMPLES": "8",
    }
    command = ["bash", str(SCRIPT), str(entry), str(out), budget, "--evaluation-reserve", "60", *extra]
    done = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=600)
    return done, out


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_job_trains_evaluates_and_writes_results(tmp_path: Path) -> None:
    done, out = run_job(tmp_path)
    assert done.returncode == 0, done.stderr + (out / "run.log").read_text()
    result = json.loads((out / "tiny-gpu-job.json").read_text())
    training = result["training"]
    assert training["stopped_early"] is False and training["steps_done"] == training["steps_total"] == 6
    base = 1.5 * 16 / 256
    assert [h["lr"] for h in training["history"]] == [base, base / 2]  # the capped cosine of 2 epochs
    assert len(training["steps"]) == 6 and all("lr" in s for s in training["steps"])
    assert result["config"]["train"]["lr_schedule"] == "capped-cosine"
    assert set(result["robustness"]) == {"mse_mean", "mse"}  # it fitted in the budget
    assert "finished with status 0" in (out / "run.log").read_text()
    breakdown = json.loads((out / "penalty-breakdown.json").read_text())
    assert breakdown["settings"]["n_examples"] == 8
    measured = breakdown["encoders"]["entry"]  # labelled by the entry file's name
    assert measured["trained"]["penalty_weight"] == 0.01 and measured["trained"]["epochs_done"] == 2
    assert set(measured["observed"]) == {"h", "fore_g", "fore_b", "back_r", "back_g", "back_b", "all"}
    assert measured["first_order"]["all"] > 0
    # no checkpoint in OUT
    assert sorted(p.name for p in out.iterdir()) == ["penalty-breakdown.json", "run.log", "tiny-gpu-job.json"]
    assert not list(tmp_path.glob("spirograph-checkpoints.*"))  # the temporary checkpoints are gone


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_job_time_limit_records_how_far_training_got(tmp_path: Path) -> None:
    done, out = run_job(tmp_path, "--time-limit", "0.001")
    assert done.returncode == 0, done.stderr + (out / "run.log").read_text()
    training = json.loads((out / "tiny-gpu-job.json").read_text())["training"]
    assert training["stopped_early"] is True and training["steps_done"] == 1 and training["steps_total"] == 6
    assert "training stopped at the time limit after 1 of 6 steps" in (out / "run.log").read_text()


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_job_refuses_bad_arguments(tmp_path: Path) -> None:
    done = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True)
    assert done.returncode == 2 and "usage:" in done.stderr
    done = subprocess.run(["bash", str(SCRIPT), "no-such-entry", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 2 and "no entry file baselines/configs/no-such-entry.json" in done.stderr
    done = subprocess.run(["bash", str(SCRIPT), "simclr", str(tmp_path), "abc"], capture_output=True, text=True)
    assert done.returncode == 2 and "BUDGET_SECONDS must be a whole number >= 60, got abc" in done.stderr
