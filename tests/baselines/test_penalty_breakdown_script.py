"""baselines/penalty_breakdown.py: the breakdown of checkpoints, as a script."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

from spirograph.baselines import TrainConfig, train

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "baselines" / "penalty_breakdown.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("penalty_breakdown_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _one_line_error(stderr: str, *fragments: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("penalty_breakdown: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


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
    _one_line_error(done.stderr, "load_checkpoint: `path` must be an existing checkpoint file")
    assert not (tmp_path / "x.json").exists()
    done = _run("a=one.pt", "a=two.pt", "--output", str(tmp_path / "x.json"))
    assert done.returncode == 2
    _one_line_error(done.stderr, "two checkpoints are both named 'a'")


@pytest.mark.parametrize(
    ("arguments", "fragments"),
    [
        (["a=one.pt", "--device", "gpu0"], ["--device", "must name a torch device", "got 'gpu0'"]),
        (["a=one.pt", "--device", "meta"], ["--device", "is 'meta', a device that holds no data"]),
        (["a=one.pt", "--device", "cuda:99"], ["--device", "'cuda:99'"]),
        (["a=one.pt", "--output", "."], ["--output", "expected a file, got the folder '.'"]),
        (["a=one.pt", "--output", ""], ["--output", "expected the name of a file to write, got ''"]),
        (["a=", "--output", "x.json"], ["with a checkpoint file after '=', got 'a='"]),
        (["=one.pt", "--output", "x.json"], ["with a NAME of letters, digits", "got '=one.pt'"]),
        (["runs/lr=0.1/last.pt", "--output", "x.json"], ["a path that holds '=' needs a NAME="]),
        (["a=one.pt", "--output", "x.json", "--n-examples", "0"], ["--n-examples", "expected an integer >= 1, got 0"]),
        (["a=one.pt", "--output", "x.json", "--seed", "-1"], ["--seed", "expected an integer >= 0, got -1"]),
        (["--output", "x.json"], ["the following arguments are required: [NAME=]CHECKPOINT"]),
    ],
)
def test_usage_errors_exit_2_with_one_line_before_loading_anything(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    fragments: list[str],
) -> None:
    # An unknown device, an output folder and a malformed NAME=CHECKPOINT printed tracebacks or exit 1.
    monkeypatch.chdir(tmp_path)
    if "--output" not in arguments:
        arguments = [*arguments, "--output", "x.json"]
    with pytest.raises(SystemExit) as stop:
        _script().main(arguments)
    assert stop.value.code == 2
    _one_line_error(capsys.readouterr().err, *fragments)
    assert list(tmp_path.iterdir()) == []


def test_a_checkpoint_that_cannot_be_read_is_a_failure_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken" / "last.pt"
    broken.parent.mkdir()
    broken.write_bytes(b"not a checkpoint")
    assert _script().main([f"a={broken}", "--output", str(tmp_path / "x.json")]) == 1
    _one_line_error(capsys.readouterr().err, "load_checkpoint: ", "is not an intact checkpoint file")
    assert not (tmp_path / "x.json").exists()


def test_an_unexpected_error_is_one_line_with_its_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    script = _script()

    def out_of_memory(path: Path, args: object) -> dict[str, object]:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory.\nTried to allocate 2 GiB")

    monkeypatch.setattr(script, "measure", out_of_memory)
    assert script.main(["a=one.pt", "--output", str(tmp_path / "x.json")]) == 1
    _one_line_error(capsys.readouterr().err, "OutOfMemoryError: CUDA out of memory. Tried to allocate 2 GiB")
