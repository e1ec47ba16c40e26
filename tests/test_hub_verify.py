"""Tests of spirograph.hub.verify_export and `spirograph verify`: every file checked against the manifest."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from spirograph.cli import main
from spirograph.errors import ExportError, HubError
from spirograph.hub import export, verify_export
from spirograph.hub.schema import MANIFEST_NAME

ROWS = 20
SHARD_ROWS = 8
SHARD = "data/test-00001-of-00003.parquet"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export(
        tmp_path_factory.mktemp("verify") / "hub", splits="test", subset=ROWS, shard_rows=SHARD_ROWS, progress=False
    )


@pytest.fixture
def copy(pristine: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(pristine, tmp_path / "hub"))


def _edit_manifest(folder: Path, change: Callable[[dict[str, Any]], object]) -> None:
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    change(manifest)
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest))


def test_an_intact_export_verifies(copy: Path) -> None:
    manifest = verify_export(copy)
    assert SHARD in manifest["files"] and "README.md" in manifest["files"]
    # Files that are not data (a git clone of the repository) are not the manifest's business.
    (copy / ".git").mkdir()
    (copy / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (copy / ".gitattributes").write_text("*.parquet filter=lfs\n")
    assert verify_export(str(copy)) == manifest


def test_a_flipped_byte_is_named(copy: Path) -> None:
    data = bytearray((copy / SHARD).read_bytes())
    data[len(data) // 2] ^= 0x01
    (copy / SHARD).write_bytes(bytes(data))
    with pytest.raises(ExportError, match=rf"verify_export: file '{SHARD}' of .* has SHA-256 [0-9a-f]{{64}}, manifest"):
        verify_export(copy)


def test_a_flipped_byte_in_the_card_is_named(copy: Path) -> None:
    text = (copy / "README.md").read_text()
    (copy / "README.md").write_text(text.replace("Spirograph", "Spirographs", 1)[:-1])
    with pytest.raises(ExportError, match=r"file 'README.md' .* has SHA-256"):
        verify_export(copy)


def test_a_truncated_file_is_named(copy: Path) -> None:
    data = (copy / SHARD).read_bytes()
    (copy / SHARD).write_bytes(data[:-1])
    with pytest.raises(
        ExportError, match=rf"file '{SHARD}' .* has {len(data) - 1} bytes, manifest.json says {len(data)}"
    ):
        verify_export(copy)


def test_a_missing_file_is_named(copy: Path) -> None:
    (copy / "samples-v1.png").unlink()
    with pytest.raises(ExportError, match=r"file 'samples-v1.png' .* is missing"):
        verify_export(copy)


def test_an_unlisted_data_file_is_named(copy: Path) -> None:
    shutil.copy(copy / SHARD, copy / "data" / "test-00003-of-00003.parquet")
    with pytest.raises(ExportError, match=r"holds data files manifest.json does not list: \['data/test-00003-of-00003"):
        verify_export(copy)


def test_a_manifest_miscounting_rows_is_refused(copy: Path) -> None:
    _edit_manifest(copy, lambda manifest: manifest["files"][SHARD].update(num_rows=SHARD_ROWS + 1))
    with pytest.raises(
        ExportError, match=rf"file '{SHARD}' .* holds {SHARD_ROWS} rows, manifest.json says {SHARD_ROWS + 1}"
    ):
        verify_export(copy)


def test_a_split_miscounting_rows_is_refused(copy: Path) -> None:
    _edit_manifest(copy, lambda manifest: manifest["configs"]["v1"]["splits"]["test"].update(num_rows=ROWS + 5))
    with pytest.raises(
        ExportError, match=rf"split 'test' of config 'v1' .* holding {ROWS} rows, manifest.json says {ROWS + 5}"
    ):
        verify_export(copy)


@pytest.mark.parametrize(
    "change,match",
    [
        (lambda manifest: manifest.update(format=2), r"must be a spirograph manifest of format 1"),
        (lambda manifest: manifest.update(package="webapp"), r"must be a spirograph manifest"),
        (lambda manifest: manifest.update(files={}), r"must list its files"),
        (
            lambda manifest: manifest["files"].update({"../victim": {"sha256": "0", "bytes": 1}}),
            r"not a plain relative path inside the folder",
        ),
        (
            lambda manifest: manifest["files"].update({"/etc/passwd": {"sha256": "0", "bytes": 1}}),
            r"not a plain relative path inside the folder",
        ),
    ],
)
def test_a_foreign_or_malformed_manifest_is_refused(
    copy: Path, change: Callable[[dict[str, Any]], object], match: str
) -> None:
    _edit_manifest(copy, change)
    with pytest.raises(ExportError, match=match):
        verify_export(copy)


def test_not_an_export(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"must be an export folder, got .*not a folder"):
        verify_export(tmp_path / "nowhere")
    with pytest.raises(ExportError, match=r"has no manifest.json"):
        verify_export(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(ExportError, match=r"is not valid JSON"):
        verify_export(tmp_path)
    with pytest.raises(ExportError, match=r"`path` must be a path, got int"):
        verify_export(3)  # type: ignore[arg-type]
    assert issubclass(ExportError, HubError)


def test_cli_verify(copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(copy)]) == 0
    files = len(json.loads((copy / MANIFEST_NAME).read_text())["files"])
    assert capsys.readouterr().out.strip() == f"{copy}: all {files} files match manifest.json"
    (copy / SHARD).write_bytes((copy / SHARD).read_bytes()[:-1])
    assert main(["verify", str(copy)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("spirograph verify: error: file ") and SHARD in err


def test_cli_verify_of_a_missing_folder_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(tmp_path / "MISSING")]) == 2
    err = capsys.readouterr().err
    missing = str(tmp_path / "MISSING")
    assert err == f"spirograph verify: error: DIR must be a folder written by `spirograph export`, got {missing!r}\n"
    assert main(["verify", str(tmp_path)]) == 1  # a folder, but no export: its files do not match
    err = capsys.readouterr().err
    assert err.startswith("spirograph verify: error: ") and "has no manifest.json" in err and "verify_export" not in err
