"""Tests of the ``spirograph`` command line (spirograph/cli.py, spirograph/__main__.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from spirograph._version import __version__
from spirograph.cli import _parameter_spec, build_parser, main
from spirograph.dataset import SPLITS, Spirograph
from spirograph.errors import HubError, MissingDependencyError, ParameterError
from spirograph.render import render
from spirograph.space import DEFAULT_BOUNDS, PARAMETER_NAMES, ParameterSpace
from spirograph.viz import image_grid, nuisance_variations, traversal

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m spirograph ARGS`` in a fresh interpreter, importing the package from this checkout."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "spirograph", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def run_cli_together(*argvs: list[str], cwd: Path) -> list[subprocess.CompletedProcess[str]]:
    """Several ``python -m spirograph`` runs at once (each pays the interpreter start-up)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    processes = [
        (argv, subprocess.Popen([sys.executable, "-m", "spirograph", *argv], cwd=cwd, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        for argv in argvs
    ]  # fmt: skip
    results = []
    for argv, process in processes:
        out, err = process.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(argv, process.returncode, out, err))
    return results


def assert_one_line_error(stderr: str, *fragments: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert lines[0].startswith("spirograph"), lines[0]
    assert "error:" in lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def grid_size(n: int, nrow: int, side: int, padding: int) -> tuple[int, int]:
    columns, rows = min(n, nrow), -(-n // nrow)
    return columns * side + (columns + 1) * padding, rows * side + (rows + 1) * padding


# ------------------------------------------------------------------ subprocess: every command end to end
def test_info_text_in_a_subprocess(tmp_path: Path) -> None:
    result = run_cli("info", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert __version__ in out
    for info in SPLITS.values():
        assert re.search(rf"{info.name}\s+{info.num_examples:,}\s+{info.seed}", out), out
    assert re.search(r"m\s+curve size\s+U\(2, 5\)\s+target", out)
    assert re.search(r"h\s+pen distance\s+U\(0.5, 2.5\)\s+nuisance", out)
    assert "Renderer: 32x32 RGB, 40 curve points, grid [-6, 6], normalize='row'" in out
    # Every row of the parameter table lines up with its header, the long `sigma` meaning included.
    lines = out.splitlines()
    header = next(line for line in lines if line.split()[:2] == ["name", "meaning"])
    rows = [line for line in lines if line.split() and line.split()[0] in PARAMETER_NAMES]
    assert len(rows) == len(PARAMETER_NAMES)
    for row in rows:
        assert len(row) - len(row.split()[-1]) == header.index("role"), (header, row)
        assert row[header.index("prior") :].startswith("U("), (header, row)


def test_info_json_matches_the_library(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    space = ParameterSpace()
    assert data["version"] == __version__
    assert [p["name"] for p in data["parameters"]] == list(PARAMETER_NAMES)
    for row in data["parameters"]:
        assert (row["low"], row["high"]) == DEFAULT_BOUNDS[row["name"]]
        assert row["role"] == ("target" if row["name"] in space.targets else "nuisance")
    assert data["splits"] == [{"name": i.name, "size": i.num_examples, "seed": i.seed} for i in SPLITS.values()]
    assert data["targets"] == list(space.targets)
    assert data["renderer"] == {"size": 32, "n_points": 40, "extent": 6.0, "normalize": "row"}


def test_preview_split_in_a_subprocess(tmp_path: Path) -> None:
    result = run_cli(
        "preview", "--split", "val", "--rows", "2", "--cols", "3", "--offset", "5", "--size", "8", "--scale", "2",
        "--padding", "1", "--out", "grid.png", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stdout
    with Image.open(tmp_path / "grid.png") as picture:
        assert picture.format == "PNG"
        assert picture.size == grid_size(6, 3, 16, 1)
        pixels = np.asarray(picture.convert("RGB"))
    expected = image_grid(Spirograph("val", subset=11, size=8).images(5, 11), nrow=3, scale=2, padding=1)
    np.testing.assert_array_equal(pixels, np.asarray(expected))


def test_preview_nuisance_draws_in_a_subprocess(tmp_path: Path) -> None:
    result = run_cli(
        "preview", "--nuisance-draws", "4", "--rows", "2", "--size", "6", "--scale", "1", "--padding", "0",
        "--normalize", "image", "--seed", "3", "--out", "out/draws.png", "--quiet", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # --quiet
    with Image.open(tmp_path / "out" / "draws.png") as picture:
        assert picture.size == (4 * 6, 2 * 6)
        pixels = np.asarray(picture.convert("RGB"))
    params = Spirograph("train", subset=2).params
    images = render(nuisance_variations(params, 4, seed=3), size=6, normalize="image").flatten(0, 1)
    np.testing.assert_array_equal(pixels, np.asarray(image_grid(images, nrow=4, padding=0)))
    # Each grid row is one item: the same target parameters, different nuisance, so different pictures.
    assert not np.array_equal(pixels[:6, :6], pixels[:6, 6:12])


def test_traverse_png_and_gif_in_a_subprocess(tmp_path: Path) -> None:
    result = run_cli(
        "traverse", "--parameter", "h", "--steps", "5", "--size", "8", "--scale", "3", "--base", "m=4,b=0.4",
        "--out", "h.png", "--gif", "h.gif", "--duration", "70", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "h.png") as picture:
        assert picture.size == grid_size(5, 5, 24, 2)
        pixels = np.asarray(picture.convert("RGB"))
    expected = image_grid(traversal("h", 5, {"m": 4.0, "b": 0.4}, size=8), nrow=5, scale=3)
    np.testing.assert_array_equal(pixels, np.asarray(expected))
    with Image.open(tmp_path / "h.gif") as gif:
        assert gif.format == "GIF"
        assert gif.n_frames == 5
        assert gif.size == grid_size(1, 1, 24, 2)
        assert gif.info["duration"] == 70


def test_hub_and_bench_help_in_subprocesses(tmp_path: Path) -> None:
    expected = {
        "export": ["--format", "--out", "--split", "--subset", "--config", "--num-proc", "--quiet"],
        "push": ["--repo-id", "--revision", "--private", "--message"],
        "bench": ["--batch-sizes", "--threads", "--json"],
    }
    results = run_cli_together(*([command, "--help"] for command in expected), cwd=tmp_path)
    for (command, options), result in zip(expected.items(), results, strict=True):
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"usage: spirograph {command}")
        for option in options:
            assert option in result.stdout, (command, option)


def test_bad_arguments_in_a_subprocess_are_one_line(tmp_path: Path) -> None:
    bad_format, bad_value = run_cli_together(
        ["export", "--format", "csv", "--out", "x"],
        ["preview", "--params", "b=-1", "--out", "x.png"],  # a library ParameterError from a bad value
        cwd=tmp_path,
    )
    assert bad_format.returncode == 2
    assert_one_line_error(bad_format.stderr, "spirograph export", "--format", "'csv'")
    assert bad_value.returncode == 2
    assert_one_line_error(bad_value.stderr, "spirograph preview", "b (index 1) must be > 0")
    assert not (tmp_path / "x.png").exists()
    assert not (tmp_path / "x").exists()


# ------------------------------------------------------------------ in process: options and files
def test_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("info", "preview", "traverse", "export", "verify", "push", "bench"):
        assert command in out
    for command in ("info", "preview", "traverse"):
        assert main([command, "--help"]) == 0
        assert capsys.readouterr().out.startswith(f"usage: spirograph {command}")
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"spirograph {__version__}"


def test_preview_params_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "p.png"
    code = main(["preview", "--params", "m=3,b=0.5", "--params", "sigma=0.3, back_r=0.2", "--size", "6",
                 "--scale", "1", "--padding", "0", "--out", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    space = ParameterSpace()
    rows = torch.tensor(space.prior_mean()).repeat(2, 1)
    rows[0, 0], rows[0, 1], rows[1, 3], rows[1, 7] = 3.0, 0.5, 0.3, 0.2
    with Image.open(out) as picture:
        np.testing.assert_array_equal(
            np.asarray(picture.convert("RGB")), np.asarray(image_grid(render(rows, size=6), nrow=2, padding=0))
        )


@pytest.mark.parametrize("kind", ["json-objects", "json-lists", "csv-header", "csv-plain"])
def test_preview_params_file(tmp_path: Path, kind: str) -> None:
    params = ParameterSpace().sample(3, seed=4).double()
    path = tmp_path / ("params.json" if kind.startswith("json") else "params.csv")
    values = params.tolist()
    if kind == "json-objects":
        path.write_text(json.dumps([dict(zip(PARAMETER_NAMES, row, strict=True)) for row in values]))
    elif kind == "json-lists":
        path.write_text(json.dumps(values))
    elif kind == "csv-header":
        path.write_text(",".join(PARAMETER_NAMES) + "\n" + "\n".join(",".join(map(repr, r)) for r in values) + "\n")
    else:
        path.write_text("\n".join(",".join(map(repr, r)) for r in values) + "\n")
    out = tmp_path / "f.png"
    args = ["preview", "--params-file", str(path), "--cols", "2", "--size", "6", "--scale", "1", "--out", str(out)]
    assert main([*args, "--quiet"]) == 0
    expected = image_grid(render(params.float(), size=6), nrow=2)
    with Image.open(out) as picture:
        np.testing.assert_array_equal(np.asarray(picture.convert("RGB")), np.asarray(expected))


def test_traverse_all_with_bouncing_gif(tmp_path: Path) -> None:
    files = ["--out", str(tmp_path / "all.png"), "--gif", str(tmp_path / "all.gif")]
    code = main(["traverse", "--all", "--steps", "3", "--size", "4", "--scale", "1", "--padding", "1", *files,
                 "--bounce", "--quiet"])  # fmt: skip
    assert code == 0
    strips = torch.cat([traversal(name, 3, size=4) for name in PARAMETER_NAMES])
    plain = np.asarray(image_grid(strips, nrow=3, padding=1))  # one row of 3 steps per parameter
    with Image.open(tmp_path / "all.png") as picture:
        pixels = np.asarray(picture.convert("RGB"))
    assert pixels.shape[0] == plain.shape[0]
    assert pixels.shape[1] > plain.shape[1] + 20  # the parameter names in a margin on the left
    np.testing.assert_array_equal(pixels[:, -plain.shape[1] :], plain)
    assert (pixels[:, : -plain.shape[1]] < 128).any()
    with Image.open(tmp_path / "all.gif") as gif:
        assert gif.n_frames == 2 * 3 - 2
        assert gif.size == grid_size(10, 10, 4, 1)  # every parameter side by side


def test_export_push_and_bench_call_the_library(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: dict[str, tuple] = {}

    def export(out_dir: Path, **kwargs: object) -> Path:
        calls["export"] = (out_dir, kwargs)
        return Path(out_dir)

    def push(folder: Path, repo_id: str, **kwargs: object) -> str:
        calls["push"] = (folder, repo_id, kwargs)
        return "https://huggingface.co/datasets/user/spirograph/tree/main"

    def benchmark_render(batch_sizes: tuple[int, ...], **kwargs: object) -> list[dict]:
        calls["bench"] = (batch_sizes, kwargs)
        return [{"batch": b, "median_s": 0.5} for b in batch_sizes]

    monkeypatch.setitem(sys.modules, "spirograph.hub", types.SimpleNamespace(export=export, push=push))
    monkeypatch.setitem(
        sys.modules,
        "spirograph.bench",
        types.SimpleNamespace(benchmark_render=benchmark_render, format_table=lambda rows: f"TABLE {len(rows)}"),
    )
    out = tmp_path / "hf"
    assert main(["export", "--out", str(out), "--split", "train", "--split", "validation", "--subset", "40",
                 "--config", "v1-image", "--config", "v1", "--repo-id", "you/spiro", "--num-proc", "2",
                 "--quiet"]) == 0  # fmt: skip
    assert calls["export"] == (
        out,
        {"splits": ["train", "val"], "subset": 40, "config": ["v1-image", "v1"], "repo_id": "you/spiro",
         "progress": False, "num_proc": 2},
    )  # fmt: skip
    assert main(["export", "--out", str(out), "--quiet"]) == 0
    assert calls["export"][1]["config"] == "v1" and calls["export"][1]["repo_id"] is None
    out.mkdir()
    assert main(["push", str(out), "--repo-id", "user/spirograph", "--private", "--message", "v1"]) == 0
    assert calls["push"] == (out, "user/spirograph", {"revision": None, "private": True, "commit_message": "v1"})
    assert "huggingface.co" in capsys.readouterr().out

    report = tmp_path / "bench.json"
    assert main(["bench", "--batch-sizes", "8,16", "32", "--threads", "1", "--json", str(report)]) == 0
    assert calls["bench"] == ((8, 16, 32), {"threads": 1})
    assert "TABLE 3" in capsys.readouterr().out
    assert json.loads(report.read_text())["rows"][2] == {"batch": 32, "median_s": 0.5}


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        ([], ["spirograph", "required: COMMAND"]),
        (["colour"], ["invalid choice: 'colour'"]),
        (["preview", "--rows", "0"], ["--rows", "expected a positive integer, got 0"]),
        (["preview", "--cols", "two"], ["--cols", "expected a positive integer, got 'two'"]),
        (["preview", "--split", "dev"], ["--split", "invalid choice: 'dev'"]),
        (["preview", "--normalize", "column"], ["--normalize", "invalid choice: 'column'"]),
        (["preview", "--params", "q=1"], ["--params", "unknown parameter 'q'"]),
        (["preview", "--params", "m"], ["--params", "expected NAME=VALUE pairs"]),
        (["preview", "--params", "m=x"], ["--params", "value of 'm' must be a finite number"]),
        (["preview", "--params", "m=1,m=2"], ["--params", "'m' is given twice"]),
        (["preview", "--params", "m=3", "--split", "val"], ["do not combine them with --split"]),
        (["preview", "--offset", "99999"], ["--offset 99999 plus 32 images runs past the 100,000 items"]),
        (["preview", "--size", "1"], ["`size` must be an int in [2, 4096], got 1"]),
        (["preview", "--params", "sigma=0"], ["sigma (index 3) must be > 0"]),
        (["preview", "--params-file", "missing.json"], ["--params-file: cannot read"]),
        (["preview", "--params-file", ""], ["--params-file", "expected the name of a file to read, got ''"]),
        (["traverse"], ["one of the arguments --parameter/-p --all is required"]),
        (["traverse", "-p", "m", "--all"], ["not allowed with argument"]),
        (["traverse", "-p", "q"], ["--parameter/-p", "invalid choice: 'q'"]),
        (["traverse", "-p", "m", "--steps", "1"], ["--steps", "expected an integer >= 2, got 1"]),
        (["traverse", "-p", "m", "--low", "4", "--high", "3"], ["the sweep of `m` needs low < high"]),
        (["traverse", "-p", "m", "--high", "nan"], ["--high", "expected a finite number"]),
        (["traverse", "--all", "--low", "1"], ["do not combine them with --all"]),
        (["export"], ["the following arguments are required: --out"]),
        (["export", "--out", "x", "--format", "csv"], ["--format", "invalid choice: 'csv'"]),
        (["export", "--out", "x", "--config", "v2"], ["--config", "invalid choice: 'v2'"]),
        (["export", "--out", "x", "--subset", "-3"], ["--subset", "expected a positive integer"]),
        (["push", "nowhere"], ["the following arguments are required: --repo-id"]),
        (["push", "nowhere", "--repo-id", "u/s"], ["DIR must be a folder written by `spirograph export`"]),
        (["bench", "--batch-sizes", "8,x"], ["--batch-sizes", "expected a positive integer, got 'x'"]),
        (["bench", "--threads", "0"], ["--threads", "expected a positive integer, got 0"]),
        (["bench", "--batch-sizes", "100000000"], ["--batch-sizes", "at most 16,384, got 100,000,000"]),
        (["export", "--out", "x", "--split", "dev"], ["--split", "invalid choice: 'dev'"]),
        (["export", "--out", "x", "--repo-id", "nobody"], ["`repo_id` must look like 'owner/name'"]),
        (["preview", "--scale", "400"], ["the picture would be 102418x51210 pixels", "lower --scale"]),
        (["traverse", "--all", "--steps", "2000"], ["the picture would be", "more than 100,000,000"]),
        (["bench", "--threads", "100000"], [r"`threads` must be an int in [1, 1024], got 100000"]),
        (["preview", "--out", ""], ["--out", "expected the name of a file to write, got ''"]),
        (["preview", "--out", "."], ["--out", "expected a file, got the folder '.'"]),
        (["traverse", "-p", "m", "--gif", ""], ["--gif", "expected the name of a file to write, got ''"]),
        (["bench", "--json", ""], ["--json", "expected the name of a file to write, got ''"]),
        (["preview", "--params-file", " "], ["--params-file", "expected the name of a file to read, got ' '"]),
        (["export", "--out", ""], ["--out", "expected the name of a folder to write, got ''"]),
        (["export", "--out", " "], ["--out", "expected the name of a folder to write, got ' '"]),
        (["verify", ""], ["argument DIR", "expected the name of a folder to read, got ''"]),
        (["verify", "  "], ["argument DIR", "expected the name of a folder to read, got '  '"]),
        (["push", "", "--repo-id", "u/s"], ["argument DIR", "expected the name of a folder to read, got ''"]),
        (["evaluate", "x:y", "--weights", ""], ["--weights", "expected the name of a file to read, got ''"]),
        (["evaluate", ""], ["argument ENCODER", "expected package.module:callable or path/to/file.py:callable"]),
        (
            ["traverse", "-p", "m", "--steps", "10001", "--scale", "1", "--bounce", "--gif", "m.gif"],
            ["--gif would hold 20,000 frames, more than 4,096; lower --steps or drop --bounce"],
        ),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    fragments: list[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert_one_line_error(captured.err, *fragments)
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.parametrize(
    ("content", "suffix", "fragment"),
    [
        ("{", ".json", "is not valid JSON"),
        ("{}", ".json", "expected a non-empty JSON list of rows, got dict"),
        ('[{"q": 1}]', ".json", "row 0 has unknown names ['q']"),
        ('[{"m": "big"}]', ".json", "row 0 `m` must be a number, got 'big'"),
        ("[[1, 2]]", ".json", "row 0 must hold 10 values"),
        ("[3]", ".json", "row 0 must be an object or a list, got int"),
        ("m,b\n3\n", ".csv", "line 2 has 1 values, expected 2"),
        ("m,b\n", ".csv", "has a header but no rows"),
        ("", ".csv", "holds no rows"),
        ("1,2,3\n", ".csv", "line 1 must hold 10 values"),
    ],
)
def test_bad_params_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    content: str,
    suffix: str,
    fragment: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / f"p{suffix}").write_text(content)
    assert main(["preview", "--params-file", f"p{suffix}"]) == 2
    assert_one_line_error(capsys.readouterr().err, "spirograph preview", fragment)
    assert not (tmp_path / "preview.png").exists()


def test_missing_optional_part_is_one_line_status_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "spirograph.bench", None)  # makes the import fail
    assert main(["bench"]) == 1
    assert_one_line_error(capsys.readouterr().err, "spirograph bench", "not installed")


def test_unwritable_output_is_one_line_status_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["traverse", "-p", "m", "--size", "4", "--steps", "2", "--out", str(blocker / "x.png")]) == 1
    assert_one_line_error(capsys.readouterr().err, "spirograph traverse")


def test_non_utf8_params_file_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.csv").write_bytes(b"m,b\n\xff\xfe,1\n")
    assert main(["preview", "--params-file", "p.csv"]) == 2
    assert_one_line_error(capsys.readouterr().err, "spirograph preview", "is not UTF-8 text")


def test_export_into_the_current_export_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "manifest.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    assert main(["export", "--out", ".", "--subset", "2", "--quiet"]) == 2
    assert_one_line_error(capsys.readouterr().err, "spirograph export", "must not be the current folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (OSError("disk full"), 1),
        (MemoryError(), 1),
        (RuntimeError("DefaultCPUAllocator: can't allocate memory"), 1),
        (KeyError("surprise"), 1),
        (ParameterError("bad value"), 2),
        (HubError("no network"), 1),
        (MissingDependencyError("needs datasets"), 1),
    ],
)
def test_every_failure_is_one_line_with_the_right_status(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], error: Exception, status: int
) -> None:
    def fail(args: object) -> int:
        raise error

    monkeypatch.setattr("spirograph.cli._run_info", fail)
    assert main(["info"]) == status
    assert_one_line_error(capsys.readouterr().err, "spirograph info")


def test_push_to_an_unreachable_hub_is_one_line_status_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import huggingface_hub

    def refuse(*args: object, **kwargs: object) -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    class Api:
        def __init__(self, token: object = None) -> None:
            pass

        create_repo = create_branch = upload_folder = staticmethod(refuse)

    monkeypatch.setattr(huggingface_hub, "HfApi", Api)
    (tmp_path / "manifest.json").write_text("{}")
    assert main(["push", str(tmp_path), "--repo-id", "you/spirograph", "--quiet"]) == 1
    assert_one_line_error(capsys.readouterr().err, "spirograph push", "you/spirograph", "Connection refused")


def test_push_network_layer_errors_become_hub_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    class TransportError(Exception):  # what an HTTP client raises for a refused connection
        pass

    class Api:
        def __init__(self, token: object = None) -> None:
            pass

        def create_repo(self, *args: object, **kwargs: object) -> None:
            raise TransportError("[Errno 111] Connection refused")

    monkeypatch.setattr(huggingface_hub, "HfApi", Api)
    (tmp_path / "manifest.json").write_text("{}")
    from spirograph.hub import push

    with pytest.raises(HubError, match=r"push: uploading .* failed: TransportError: \[Errno 111\]"):
        push(tmp_path, "you/spirograph")


def test_every_command_takes_quiet_and_has_help_text() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    for name, sub in commands.choices.items():
        assert any("--quiet" in action.option_strings for action in sub._actions), name
        assert sub.description and len(sub.description) > 40, name
        assert sub.epilog and sub.epilog.startswith("examples:"), name
    summaries = {action.dest: action.help for action in commands._choices_actions}
    assert all(summaries.values()), summaries


def test_build_parser_is_short() -> None:
    import inspect

    from spirograph import cli

    lines = [line for line in inspect.getsource(cli.build_parser).splitlines() if line.strip()]
    assert len(lines) < 60


def test_cli_literals_match_the_library() -> None:
    from spirograph import cli
    from spirograph.hub.schema import CONFIGS, DEFAULT_CONFIG
    from spirograph.render import NORMALIZE_MODES

    assert cli._PARAMETER_NAMES == PARAMETER_NAMES
    assert tuple(SPLITS) == cli._SPLIT_NAMES
    assert cli._NORMALIZE_MODES == NORMALIZE_MODES
    assert {name: config.description for name, config in CONFIGS.items()} == cli._HUB_CONFIGS
    assert cli._DEFAULT_CONFIG == DEFAULT_CONFIG


def test_help_imports_no_torch(tmp_path: Path) -> None:
    code = "import sys\nfrom spirograph.cli import main\nmain(['--help'])\nprint('torch' in sys.modules)"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("False")


def test_parser_lists_every_command() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    assert sorted(commands.choices) == ["bench", "evaluate", "export", "info", "preview", "push", "traverse", "verify"]


@settings(max_examples=50, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(PARAMETER_NAMES),
        st.floats(allow_nan=False, allow_infinity=False, width=64),
        min_size=1,
    ),
    st.sampled_from([",", ", ", " ,"]),
)
def test_parameter_spec_round_trip(values: dict[str, float], separator: str) -> None:
    text = separator.join(f"{name}={value!r}" for name, value in values.items())
    assert _parameter_spec(text) == values


# ------------------------------------------------------------------ the README example
def _readme_example() -> str:
    match = re.search(r"```python\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), flags=re.DOTALL)
    if match is None:
        pytest.fail("README.md has no ```python block")
    return match.group(1)


def test_readme_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = _readme_example()
    assert len(code.strip().splitlines()) <= 15
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    exec(compile(code, "README example", "exec"), {"__name__": "__readme__"})


# ------------------------------------------------------------------ export for real
def test_export_writes_a_loadable_hub_folder_in_a_subprocess(tmp_path: Path) -> None:
    import datasets

    out = tmp_path / "hf"
    argv = ["export", "--format", "parquet", "--out", str(out), "--split", "test", "--subset", "12", "--quiet"]
    result = run_cli(*argv, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # --quiet
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["configs"]["v1"]["splits"]["test"]["num_rows"] == 12
    assert list(manifest["configs"]["v1"]["splits"]) == ["test"]
    loaded = datasets.load_dataset(str(out), split="test")
    assert len(loaded) == 12
    expected = Spirograph("test", subset=12).params.numpy()
    for column, name in enumerate(PARAMETER_NAMES):
        assert np.array_equal(np.asarray(loaded[name], dtype=np.float32), expected[:, column])


def test_export_and_preview_end_with_one_summary_style(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "hf"
    assert main(["export", "--out", str(out), "--split", "test", "--subset", "3"]) == 0
    files = len(json.loads((out / "manifest.json").read_text())["files"])
    assert capsys.readouterr().out == f"wrote {out} (config v1: test 3 rows; {files} files)\n"
    assert (
        main(["preview", "--rows", "1", "--cols", "2", "--size", "4", "--scale", "1", "--out", str(tmp_path / "p.png")])
        == 0
    )
    assert capsys.readouterr().out == f"wrote {tmp_path / 'p.png'} (14x8, 2 images)\n"
