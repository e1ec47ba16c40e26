"""Tests of spirograph.hub.local: an export folder opens as a Spirograph, verified against its manifest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from spirograph import Spirograph
from spirograph.errors import ChecksumError, HubError, ParameterError
from spirograph.hub import export, load_local

ROWS = 12


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export(tmp_path_factory.mktemp("local") / "hub", subset=ROWS, shard_rows=5, progress=False)


@pytest.mark.parametrize("split", ["train", "val", "validation", "test"])
def test_local_copy_matches_the_rendered_split(exported: Path, split: str) -> None:
    local = Spirograph(split, source="local", path=exported)
    rendered = Spirograph(split, subset=ROWS)
    assert len(local) == ROWS and local.split == rendered.split
    assert torch.equal(local.params, rendered.params) and torch.equal(local.targets, rendered.targets)
    images, _ = zip(*[local[i] for i in range(ROWS)], strict=True)
    assert torch.stack(images).dtype == torch.float32
    assert (torch.stack(images) - rendered.images()).abs().max() <= 0.5 / 255 + 1e-6


def test_subset_reads_only_the_first_shards(exported: Path) -> None:
    params, images = load_local(exported, "train", limit=3)
    assert params.shape == (3, 10) and images.shape == (3, 3, 32, 32) and images.dtype == torch.uint8
    assert len(Spirograph("test", source="local", path=exported, subset=7)) == 7


def test_a_changed_file_is_refused_and_left_in_place(exported: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(exported, tmp_path / "copy")
    shard = copy / "data" / "test-00000-of-00003.parquet"
    shard.write_bytes(shard.read_bytes()[:-1] + b"\0")
    with pytest.raises(ChecksumError, match=r"file 'data/test-00000-of-00003.parquet' .* does not match"):
        Spirograph("test", source="local", path=copy)
    assert shard.is_file()


def test_missing_pieces(exported: Path, tmp_path: Path) -> None:
    with pytest.raises(HubError, match="must be a folder written by `spirograph export`"):
        load_local(tmp_path / "nowhere", "test")
    with pytest.raises(HubError, match=r"holds no manifest\.json"):
        load_local(tmp_path, "test")
    with pytest.raises(HubError, match=r"has configs \['v1'\], not 'v1-image'"):
        Spirograph("test", source="local", path=exported, normalize="image")
    with pytest.raises(HubError, match=rf"asks for {ROWS + 1} rows"):
        load_local(exported, "test", limit=ROWS + 1)
    copy = shutil.copytree(exported, tmp_path / "copy")
    (copy / "data" / "test-00002-of-00003.parquet").unlink()
    with pytest.raises(HubError, match="is missing from"):
        load_local(copy, "test")
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["format"] = 99
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(HubError, match="must have format 1, got 99"):
        load_local(copy, "test")


def test_bad_arguments(exported: Path) -> None:
    with pytest.raises(ParameterError, match="`source='local'` needs `path`"):
        Spirograph("test", source="local")
    with pytest.raises(ParameterError, match="`path` needs `source='local'`"):
        Spirograph("test", path=exported)
    with pytest.raises(ParameterError, match="`repo_id` and `revision` need `source='hub'`"):
        Spirograph("test", source="local", path=exported, repo_id="a/b")
    with pytest.raises(ParameterError, match="load_local: `split` must be one of"):
        load_local(exported, "dev")
    with pytest.raises(ParameterError, match="load_local: `path` must be a folder path, got int"):
        load_local(3, "test")  # type: ignore[arg-type]


def test_hub_source_needs_a_repo_id() -> None:
    with pytest.raises(ParameterError, match=r"`repo_id` is required: no official copy is published yet"):
        Spirograph("test", source="hub")


def test_dataset_module_imports_no_hub_module() -> None:
    import ast

    import spirograph.dataset

    tree = ast.parse(Path(spirograph.dataset.__file__).read_text())
    top_level = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    names = [alias.name for node in top_level for alias in node.names] + [
        node.module or "" for node in top_level if isinstance(node, ast.ImportFrom)
    ]
    assert not any(name.startswith("spirograph.hub") for name in names)
