"""Tests of spirograph.hub.export: Parquet layout, dataset card, manifest, atomicity, push."""

from __future__ import annotations

import importlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import yaml
from PIL import Image

from spirograph.dataset import SPLITS, Spirograph
from spirograph.errors import ConfigError, ExportError, HubError
from spirograph.hub.export import export, push
from spirograph.hub.schema import MANIFEST_NAME, features, sha256_file
from spirograph.space import PARAMETER_NAMES

# `spirograph.hub.export` is the function (re-exported by the package); the module by its full name:
export_module = importlib.import_module("spirograph.hub.export")

ROWS = 40
SHARD_ROWS = 16


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export(tmp_path_factory.mktemp("export") / "hub", subset=ROWS, shard_rows=SHARD_ROWS, progress=False)


def _manifest(folder: Path) -> dict[str, Any]:
    return json.loads((folder / MANIFEST_NAME).read_text())


def _front_matter(folder: Path) -> dict[str, Any]:
    text = (folder / "README.md").read_text()
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


# ---------------------------------------------------------------- layout and manifest
def test_layout_has_the_hub_shard_names(exported: Path) -> None:
    names = sorted(str(path.relative_to(exported)) for path in exported.rglob("*") if path.is_file())
    shards = [f"data/{split}-{k:05d}-of-00003.parquet" for split in ("test", "train", "validation") for k in range(3)]
    assert names == sorted([*shards, "README.md", MANIFEST_NAME, "samples-v1.png", "traversals.png"])


def test_manifest_checksums_and_rows_match_the_files(exported: Path) -> None:
    manifest = _manifest(exported)
    assert set(manifest["files"]) == {
        str(path.relative_to(exported)) for path in exported.rglob("*") if path.name != MANIFEST_NAME and path.is_file()
    }
    for relative, entry in manifest["files"].items():
        assert entry["sha256"] == sha256_file(exported / relative)
        assert entry["bytes"] == (exported / relative).stat().st_size
        if relative.endswith(".parquet"):
            assert entry["num_rows"] == pq.read_metadata(exported / relative).num_rows
    layout = manifest["configs"]["v1"]
    assert (layout["size"], layout["normalize"], layout["n_points"], layout["extent"]) == (32, "row", 40, 6.0)
    for hub_split, torch_split in (("train", "train"), ("validation", "val"), ("test", "test")):
        info = layout["splits"][hub_split]
        assert info["seed"] == SPLITS[torch_split].seed and info["torch_split"] == torch_split
        assert info["num_rows"] == ROWS == sum(manifest["files"][path]["num_rows"] for path in info["files"])
    assert manifest["parameter_names"] == list(PARAMETER_NAMES)
    assert manifest["targets"] == ["m", "b", "sigma", "fore_r"]
    assert manifest["subset"] == ROWS and manifest["package_version"]


def test_parquet_schema_carries_the_datasets_features(exported: Path) -> None:
    schema = pq.read_schema(exported / "data/train-00000-of-00003.parquet")
    assert b"huggingface" in schema.metadata
    assert datasets.Features.from_arrow_schema(schema) == features()
    table = pq.read_table(exported / "data/train-00000-of-00003.parquet")
    cell = table.column("image")[0].as_py()
    assert cell["path"] is None and cell["bytes"].startswith(b"\x89PNG")


# ---------------------------------------------------------------- dataset card
def test_card_front_matter_maps_configs_and_features(exported: Path) -> None:
    front = _front_matter(exported)
    assert front["license"] == "mit"
    (config,) = front["configs"]
    assert config["config_name"] == "v1" and config["default"] is True
    assert {entry["split"]: entry["path"] for entry in config["data_files"]} == {
        "train": "data/train-*.parquet",
        "validation": "data/validation-*.parquet",
        "test": "data/test-*.parquet",
    }
    (info,) = front["dataset_info"]
    assert datasets.Features._from_yaml_list(info["features"]) == features()
    assert {split["name"]: split["num_examples"] for split in info["splits"]} == dict.fromkeys(
        ("train", "validation", "test"), ROWS
    )


def test_card_text_cites_the_paper_and_shows_the_grid(exported: Path) -> None:
    text = (exported / "README.md").read_text()
    assert "@inproceedings{foster2021improving" in text and "Improving Transformation Invariance" in text
    assert "![Samples of config v1](samples-v1.png)" in text
    assert "first 40 rows" in text and 'normalize="row"' in text
    with Image.open(exported / "samples-v1.png") as grid:
        assert grid.format == "PNG" and grid.size == ((8 * 34 + 2) * 2, (8 * 34 + 2) * 2)
        pixels = np.asarray(grid.convert("RGB"))
    first = torch.round(Spirograph("train", subset=1).images()[0] * 255).to(torch.uint8).permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(pixels[4 : 4 + 64 : 2, 4 : 4 + 64 : 2], first)


def test_card_metadata_factors_protocol_and_sources(exported: Path) -> None:
    front = _front_matter(exported)
    assert front["source_datasets"] == ["original"] and front["annotations_creators"] == ["machine-generated"]
    text = (exported / "README.md").read_text()
    for name, (low, high) in (("m", (2, 5)), ("b", (0.1, 1.1)), ("h", (0.5, 2.5)), ("back_b", (0, 0.6))):
        role = "nuisance" if name in ("h", "back_b") else "target"
        assert f"| `{name}` |" in text and f"U({low:g}, {high:g}) | {role} |" in text, name
    assert "![Each factor swept over its range" in text and "(traversals.png)" in text
    with Image.open(exported / "traversals.png") as picture:
        assert picture.format == "PNG" and picture.height > picture.width  # ten labelled rows of nine
    for number in ("1.95e-3 ± 0.03e-3", "2.93e-3 ± 0.07e-3", "0.957"):  # the paper's (SPEC section 4)
        assert number in text
    assert "baselines/LEADERBOARD.md" in text
    assert "8-bit rounding" in text and "stems" in text
    for source in ("https://arxiv.org/abs/2010.09515", "https://github.com/spirograph-dataset/spirograph",
                   "https://spirograph-dataset.github.io/spirograph/"):  # fmt: skip
        assert source in text
    assert "$$x_k = (m - h)" in text


def test_card_describes_only_the_exported_configs_and_names_the_repo(tmp_path: Path) -> None:
    out = export(tmp_path / "one", splits="test", subset=4, repo_id="alice/spiro", progress=False)
    text = (out / "README.md").read_text()
    assert 'load_dataset("alice/spiro", "v1", split="test")' in text
    assert 'data = hub_dataset("test", "alice/spiro")' in text
    assert "spirograph/spirograph" not in text and "YOUR-NAME" not in text
    assert "config `v1` (32x32)" in text and "config `v1-image` (32x32)" not in text
    assert [config["config_name"] for config in _front_matter(out)["configs"]] == ["v1"]

    other = export(tmp_path / "image", splits="val", subset=4, config="v1-image", progress=False)
    text = (other / "README.md").read_text()
    assert 'load_dataset("YOUR-NAME/spirograph", "v1-image", split="validation")' in text
    assert "Replace `YOUR-NAME/spirograph`" in text
    assert "config `v1` (32x32)" not in text and "Row-normalisation stems" not in text
    assert 'hub_dataset("val", "YOUR-NAME/spirograph", size=32, normalize=\'image\')' in text
    assert "Spirograph(\"val\", size=32, normalize='image')" in text
    with pytest.raises(ConfigError, match=r"`repo_id` must look like 'owner/name' or be None, got 'alice'"):
        export(tmp_path / "bad", subset=4, repo_id="alice", progress=False)


# ---------------------------------------------------------------- round trip through datasets
@pytest.mark.parametrize("hub_split,torch_split", [("train", "train"), ("validation", "val")])
def test_load_dataset_round_trip(exported: Path, tmp_path: Path, hub_split: str, torch_split: str) -> None:
    loaded = datasets.load_dataset(str(exported), split=hub_split, cache_dir=str(tmp_path))
    assert loaded.features == features() and len(loaded) == ROWS
    reference = Spirograph(torch_split, subset=ROWS)
    table = loaded.with_format("numpy")
    params = np.stack([table[name] for name in PARAMETER_NAMES], axis=1)
    np.testing.assert_array_equal(params, reference.params.numpy())
    np.testing.assert_array_equal(np.stack(table["targets"]), reference.targets.numpy())
    np.testing.assert_array_equal(table["index"], np.arange(ROWS))
    images = np.stack([np.asarray(image, dtype=np.float32) for image in loaded["image"]]).transpose(0, 3, 1, 2) / 255
    assert np.abs(images - reference.images().numpy()).max() <= 0.5 / 255 + 1e-6


def test_other_config_and_split_selection(tmp_path: Path) -> None:
    out = export(
        tmp_path / "hub", splits=["validation"], subset=8, config=["v1", "v1-image"], shard_rows=8, progress=False
    )
    manifest = _manifest(out)
    assert manifest["configs"]["v1-image"]["directory"] == "data/v1-image"
    assert manifest["configs"]["v1-image"]["splits"]["validation"]["files"] == [
        "data/v1-image/validation-00000-of-00001.parquet"
    ]
    assert set(manifest["configs"]["v1"]["splits"]) == {"validation"}
    front = _front_matter(out)
    assert [config["config_name"] for config in front["configs"]] == ["v1", "v1-image"]
    loaded = datasets.load_dataset(str(out), "v1-image", split="validation", cache_dir=str(tmp_path / "cache"))
    reference = Spirograph("val", subset=8, normalize="image").images()
    images = np.stack([np.asarray(image, dtype=np.float32) for image in loaded["image"]]).transpose(0, 3, 1, 2) / 255
    assert np.abs(images - reference.numpy()).max() <= 0.5 / 255 + 1e-6
    row_normalised = Spirograph("val", subset=8).images().numpy()
    assert np.abs(images - row_normalised).max() > 0.05  # the two configs really differ


@pytest.mark.slow  # two spawned workers import torch
def test_num_proc_gives_identical_files(exported: Path, tmp_path: Path) -> None:
    parallel = export(tmp_path / "hub", subset=ROWS, shard_rows=SHARD_ROWS, progress=False, num_proc=2)
    assert _manifest(parallel) == _manifest(exported)


def test_progress_bar_on_and_off(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export(tmp_path / "loud", splits="test", subset=4, progress=True)
    assert "Exporting Spirograph" in capsys.readouterr().err
    export(tmp_path / "quiet", splits="test", subset=4, progress=False)
    captured = capsys.readouterr()
    assert "Exporting" not in captured.err + captured.out


# ---------------------------------------------------------------- atomicity
def test_interrupted_export_leaves_nothing_loadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = export_module._write_shard

    def failing(job: dict[str, Any]) -> dict[str, Any]:
        calls.append(job["path"])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(job)

    monkeypatch.setattr(export_module, "_write_shard", failing)
    with pytest.raises(KeyboardInterrupt):
        export(tmp_path / "hub", subset=8, shard_rows=4, progress=False)
    assert len(calls) == 2
    assert list(tmp_path.iterdir()) == []  # neither the target nor the staging folder is left


def test_interrupted_replacement_keeps_the_previous_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = export(tmp_path / "hub", splits="test", subset=4, progress=False)
    before = _manifest(out)

    def failing(manifest: dict[str, Any], grids: dict[str, str], **options: Any) -> str:
        raise RuntimeError("disk full")

    monkeypatch.setattr("spirograph.hub.card.dataset_card", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        export(out, splits="test", subset=6, progress=False)
    assert _manifest(out) == before
    assert [path.name for path in tmp_path.iterdir()] == ["hub"]


def test_export_replaces_a_previous_export(tmp_path: Path) -> None:
    out = export(tmp_path / "hub", splits="test", subset=4, progress=False)
    export(out, splits="test", subset=6, progress=False)
    assert _manifest(out)["configs"]["v1"]["splits"]["test"]["num_rows"] == 6
    assert [path.name for path in tmp_path.iterdir()] == ["hub"]


# ---------------------------------------------------------------- only our own export is replaced
def test_refuses_a_foreign_folder_with_a_manifest(tmp_path: Path) -> None:
    app = tmp_path / "webapp"
    (app / "src").mkdir(parents=True)
    (app / MANIFEST_NAME).write_text(json.dumps({"name": "app", "icons": [], "files": {"index.html": {}}}))
    (app / "important.txt").write_text("precious")
    (app / "src" / "main.js").write_text("console.log(1)")
    with pytest.raises(
        ConfigError, match=r"must be absent, empty or a previous export .*must be a spirograph manifest"
    ):
        export(app, splits="test", subset=4, progress=False)
    assert (app / "important.txt").read_text() == "precious" and (app / "src" / "main.js").is_file()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["webapp"]


@pytest.mark.parametrize("extra", [".git/HEAD", "important.txt", "data/notes/todo.txt", "data/extra.parquet"])
def test_refuses_a_previous_export_holding_anything_else(tmp_path: Path, extra: str) -> None:
    out = export(tmp_path / "hub", splits="test", subset=4, progress=False)
    before = _manifest(out)
    (out / extra).parent.mkdir(parents=True, exist_ok=True)
    (out / extra).write_text("precious")
    top = extra.split("/")[0] if extra.startswith(".git") else extra.rsplit("/", 1)[0] if "notes" in extra else extra
    with pytest.raises(
        ConfigError, match=rf"also holds what no export writes: '{re.escape(top)}'.*refusing to replace"
    ):
        export(out, splits="test", subset=6, progress=False)
    assert (out / extra).read_text() == "precious" and _manifest(out) == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["hub"]


def test_refuses_a_previous_export_holding_a_link(tmp_path: Path) -> None:
    out = export(tmp_path / "hub", splits="test", subset=4, progress=False)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious")
    (out / "data" / "more").symlink_to(victim)
    with pytest.raises(ConfigError, match=r"also holds what no export writes: 'data/more'"):
        export(out, splits="test", subset=6, progress=False)
    assert (victim / "keep.txt").read_text() == "precious"


# ---------------------------------------------------------------- interrupted and concurrent exports
def _break_second_rename(monkeypatch: pytest.MonkeyPatch, action: Callable[[], None]) -> None:
    """Run ``action`` instead of the rename that installs the staging folder over the target."""
    real = os.replace

    def replace(source: Any, target: Any) -> None:
        if Path(source).name.startswith(".hub.partial-") and Path(target).name == "hub":
            action()
        real(source, target)

    monkeypatch.setattr(os, "replace", replace)


def test_interruption_between_the_two_renames_restores_the_previous_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = export(tmp_path / "hub", splits="test", subset=4, progress=False)
    before = _manifest(out)

    def interrupt() -> None:
        assert not out.exists()  # the previous export is retired at this point
        raise KeyboardInterrupt

    _break_second_rename(monkeypatch, interrupt)
    with pytest.raises(KeyboardInterrupt):
        export(out, splits="test", subset=6, progress=False)
    assert _manifest(out) == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["hub"]


_KILLED_BETWEEN_RENAMES = """
import os, signal, sys
from pathlib import Path
from spirograph.hub import export
real = os.replace
def replace(source, target):
    if Path(source).name.startswith(".hub.partial-") and Path(target).name == "hub":
        os.kill(os.getpid(), signal.SIGKILL)
    real(source, target)
os.replace = replace
export(sys.argv[1], splits="test", subset=6, progress=False)
"""


@pytest.mark.slow  # a fresh interpreter imports torch
def test_export_killed_between_the_renames_is_recovered_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = export(tmp_path / "hub", splits="test", subset=4, progress=False)
    before = _manifest(out)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    killed = subprocess.run([sys.executable, "-c", _KILLED_BETWEEN_RENAMES, str(out)], env=env, capture_output=True)
    assert killed.returncode == -signal.SIGKILL
    left = sorted(path.name for path in tmp_path.iterdir())
    assert "hub" not in left and any(name.startswith(".hub.old-") for name in left)
    assert any(name.startswith(".hub.partial-") for name in left)

    # The next export puts the previous one back before anything else, even if it fails itself.
    def failing(*args: Any) -> None:
        assert _manifest(out) == before
        raise RuntimeError("disk full")

    monkeypatch.setattr(export_module, "_export_into", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        export(out, splits="test", subset=6, progress=False)
    assert _manifest(out) == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["hub"]


def test_leftovers_of_killed_exports_are_removed(tmp_path: Path) -> None:
    out = export(tmp_path / "hub", splits="test", subset=4, progress=False)
    for name in (".hub.partial-0123abcd", ".hub.old-89abcdef"):
        (tmp_path / name / "data").mkdir(parents=True)
        (tmp_path / name / "data" / "test-00000-of-00001.parquet").write_bytes(bytes(1000))
    (tmp_path / ".hub.partial-mine").mkdir()  # not a name export makes: left alone
    (tmp_path / ".other.partial-0123abcd").mkdir()  # another target's: left alone
    export(out, splits="test", subset=6, progress=False)
    assert sorted(path.name for path in tmp_path.iterdir()) == [".hub.partial-mine", ".other.partial-0123abcd", "hub"]
    assert _manifest(out)["configs"]["v1"]["splits"]["test"]["num_rows"] == 6


def test_a_concurrent_export_of_the_same_folder_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "hub"
    started, release = threading.Event(), threading.Event()
    real = export_module._export_into

    def held(*args: Any) -> None:
        if started.is_set():
            raise RuntimeError("a second export reached rendering while the first one was running")
        started.set()
        release.wait(30)
        real(*args)

    monkeypatch.setattr(export_module, "_export_into", held)
    errors: list[BaseException] = []

    def first() -> None:
        try:
            export(out, splits="test", subset=4, progress=False)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    worker = threading.Thread(target=first)
    worker.start()
    try:
        assert started.wait(30)
        with pytest.raises(ExportError, match=r"another export into .*hub' is running \(it holds .*\.hub\.lock'\)"):
            export(out, splits="test", subset=6, progress=False)
    finally:
        release.set()
        worker.join(60)
    assert errors == []
    assert _manifest(out)["configs"]["v1"]["splits"]["test"]["num_rows"] == 4
    assert sorted(path.name for path in tmp_path.iterdir()) == ["hub"]  # the lock file is gone too
    monkeypatch.setattr(export_module, "_export_into", real)
    export(out, splits="test", subset=6, progress=False)  # and the folder can be exported again
    assert _manifest(out)["configs"]["v1"]["splits"]["test"]["num_rows"] == 6


def test_without_flock_an_exclusive_lock_file_guards_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "fcntl", None)  # as on Windows: `import fcntl` fails
    out = export(tmp_path / "hub", splits="test", subset=4, progress=False)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["hub"]
    (tmp_path / ".hub.lock").write_text("")  # held by a running export, or left by a killed one
    with pytest.raises(ExportError, match=r"another export into .* is running .*remove the lock file"):
        export(out, splits="test", subset=6, progress=False)
    assert _manifest(out)["configs"]["v1"]["splits"]["test"]["num_rows"] == 4
    (tmp_path / ".hub.lock").unlink()
    export(out, splits="test", subset=6, progress=False)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["hub"]


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"config": "v2"}, r"`config` must be one of .*got 'v2'"),
        ({"config": []}, r"`config` must be a config name"),
        ({"splits": "dev"}, r"`splits` must name splits among .*got 'dev'"),
        ({"splits": []}, r"`splits` must name at least one split"),
        ({"subset": 0}, r"`subset` must be an int >= 1, got 0"),
        ({"subset": 2.5}, r"`subset` must be an int >= 1, got 2.5"),
        ({"num_proc": 0}, r"`num_proc` must be an int >= 1, got 0"),
        ({"shard_rows": True}, r"`shard_rows` must be an int >= 1, got True"),
        ({"progress": "yes"}, r"`progress` must be a bool, got 'yes'"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        export(tmp_path / "hub", **kwargs)
    assert not (tmp_path / "hub").exists()


def test_refuses_to_overwrite_a_foreign_folder_or_file(tmp_path: Path) -> None:
    (tmp_path / "thesis").mkdir()
    (tmp_path / "thesis" / "chapter1.tex").write_text("precious")
    with pytest.raises(ConfigError, match=r"`out_dir` must be absent, empty or a previous export"):
        export(tmp_path / "thesis", subset=4)
    assert (tmp_path / "thesis" / "chapter1.tex").read_text() == "precious"
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match=r"`out_dir` must be a folder, got the file"):
        export(tmp_path / "file", subset=4)
    with pytest.raises(ConfigError, match=r"`out_dir` must be a path, got int"):
        export(3, subset=4)  # type: ignore[arg-type]


# ---------------------------------------------------------------- push
class _RecordingApi:
    calls: ClassVar[list[tuple[str, dict[str, Any]]]] = []
    fail = False

    def __init__(self, token: str | None = None) -> None:
        self.calls.append(("init", {"token": token}))

    def create_repo(self, repo_id: str, **kwargs: Any) -> None:
        self.calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))

    def create_branch(self, repo_id: str, **kwargs: Any) -> None:
        self.calls.append(("create_branch", {"repo_id": repo_id, **kwargs}))

    def upload_folder(self, **kwargs: Any) -> Any:
        self.calls.append(("upload_folder", kwargs))
        if self.fail:
            import httpx2
            from huggingface_hub.errors import HfHubHTTPError

            response = httpx2.Response(403, request=httpx2.Request("POST", "http://hub.invalid"))
            raise HfHubHTTPError("403 Forbidden", response=response)

        class Info:
            commit_url = "http://hub.invalid/datasets/me/spirograph/commit/abc"

        return Info()


def test_push_uploads_the_folder_as_a_dataset(exported: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("huggingface_hub.HfApi", _RecordingApi)
    _RecordingApi.calls = []
    url = push(exported, "me/spirograph", revision="v1.0", token="secret", private=True)
    assert url.endswith("/commit/abc")
    names = [name for name, _ in _RecordingApi.calls]
    assert names == ["init", "create_repo", "create_branch", "upload_folder"]
    assert _RecordingApi.calls[0][1] == {"token": "secret"}
    assert _RecordingApi.calls[1][1] == {
        "repo_id": "me/spirograph",
        "repo_type": "dataset",
        "private": True,
        "exist_ok": True,
    }
    upload = _RecordingApi.calls[3][1]
    assert upload["repo_type"] == "dataset" and upload["revision"] == "v1.0" and upload["folder_path"] == str(exported)
    assert "spirograph" in upload["commit_message"]


def test_push_errors(exported: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"`folder` must be an export holding manifest.json"):
        push(tmp_path, "me/spirograph")
    with pytest.raises(ConfigError, match=r"`repo_id` must look like 'owner/name', got 'spirograph'"):
        push(exported, "spirograph")
    monkeypatch.setattr("huggingface_hub.HfApi", _RecordingApi)
    monkeypatch.setattr(_RecordingApi, "fail", True)
    with pytest.raises(HubError, match=r"uploading .* to dataset 'me/spirograph' failed"):
        push(exported, "me/spirograph")


# ---------------------------------------------------------------- import cost
def test_import_stays_light() -> None:
    code = (
        "import sys, spirograph, spirograph.hub; "
        "print(sorted(m for m in ('datasets', 'pyarrow', 'huggingface_hub') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_lock_file_never_follows_a_link(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "planted"
    target.parent.mkdir()
    (tmp_path / ".hub.lock").symlink_to(target)
    with pytest.raises(ExportError, match=r"cannot create the lock file .*\.hub\.lock' \(a symbolic link is never"):
        export(tmp_path / "hub", splits="test", subset=4, progress=False)
    assert not target.exists() and not (tmp_path / "hub").exists()
    assert (tmp_path / ".hub.lock").is_symlink()  # left as it was


def test_an_unwritable_destination_is_an_export_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(ExportError, match=r"export: cannot write into .*file/hub'"):
        export(tmp_path / "file" / "hub", splits="test", subset=4, progress=False)
