"""baselines/penalty_breakdown.py: the breakdown of checkpoints, as a script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from spirograph.baselines import TrainConfig, train

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "baselines" / "penalty_breakdown.py"


def _run(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *arguments], capture_output=True, text=True, cwd=ROOT)


def test_measures_each_checkpoint_and_writes_json(tmp_path: Path) -> None:
    for name, weight in (("plain", 0.0), ("penalised", 0.01)):
        config = TrainConfig(
            encoder="small", representation_dim=8, projection_dim=4, batch_size=8, epochs=1, warmup_epochs=1,
            n_train=16, penalty_samples=2, penalty_weight=weight, checkpoint_dir=str(tmp_path / name), progress=False,
        )  # fmt: skip
        train(config)
    output = tmp_path / "out" / "breakdown.json"
    done = _run(
        f"{tmp_path / 'plain' / 'last.pt'}",
        f"second={tmp_path / 'penalised' / 'last.pt'}",
        "--output", str(output), "--n-examples", "6", "--n-samples", "2",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    written = json.loads(output.read_text())
    assert list(written["encoders"]) == ["plain", "second"]  # the folder's name, or NAME=
    assert written["settings"] == {"n_examples": 6, "n_samples": 2, "seed": 0, "device": "cpu"}
    assert [e["trained"]["penalty_weight"] for e in written["encoders"].values()] == [0.0, 0.01]
    assert "| h |" in done.stdout and "second: first order / observed" in done.stdout


def test_refuses_missing_files_and_clashing_names(tmp_path: Path) -> None:
    done = _run(str(tmp_path / "none" / "last.pt"), "--output", str(tmp_path / "x.json"))
    assert done.returncode == 1
    assert "penalty_breakdown: load_checkpoint: `path` must be an existing checkpoint file" in done.stderr
    assert not (tmp_path / "x.json").exists()
    done = _run("a=one.pt", "a=two.pt", "--output", str(tmp_path / "x.json"))
    assert done.returncode == 2 and "two checkpoints are both named 'a'" in done.stderr
