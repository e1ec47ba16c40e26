"""Tests of spirograph.hub.local and local_dataset: an export folder opens as a Spirograph, verified first."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from spirograph import ParameterSpace, RenderSettings, Spirograph
from spirograph.errors import ChecksumError, HubError, ParameterError, ParameterTypeError
from spirograph.hub import export, hub_dataset, load_local, local_dataset

ROWS = 12


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export(tmp_path_factory.mktemp("local") / "hub", subset=ROWS, shard_rows=5, progress=False)


@pytest.mark.parametrize("split", ["train", "val", "validation", "test"])
def test_local_copy_matches_the_rendered_split(exported: Path, split: str) -> None:
    local = local_dataset(exported, split)
    rendered = Spirograph(split, subset=ROWS)
    assert len(local) == ROWS and local.split == rendered.split and local.source == "local"
    assert torch.equal(local.params, rendered.params) and torch.equal(local.targets, rendered.targets)
    images, _ = zip(*[local[i] for i in range(ROWS)], strict=True)
    assert torch.stack(images).dtype == torch.float32
    assert (torch.stack(images) - rendered.images()).abs().max() <= 0.5 / 255 + 1e-6


def test_subset_reads_only_the_first_shards(exported: Path) -> None:
    params, images = load_local(exported, "train", limit=3)
    assert params.shape == (3, 10) and images.shape == (3, 3, 32, 32) and images.dtype == torch.uint8
    assert len(local_dataset(exported, "test", subset=7)) == 7
    assert len(local_dataset(exported, "test", subset=0.0001)) == 2  # a fraction of the full split, 20,000


def test_a_changed_file_is_refused_and_left_in_place(exported: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(exported, tmp_path / "copy")
    shard = copy / "data" / "test-00000-of-00003.parquet"
    shard.write_bytes(shard.read_bytes()[:-1] + b"\0")
    with pytest.raises(ChecksumError, match=r"file 'data/test-00000-of-00003.parquet' .* does not match"):
        local_dataset(copy, "test")
    assert shard.is_file()


def test_missing_pieces(exported: Path, tmp_path: Path) -> None:
    with pytest.raises(HubError, match="must be a folder written by `spirograph export`"):
        load_local(tmp_path / "nowhere", "test")
    with pytest.raises(HubError, match=r"holds no manifest\.json"):
        load_local(tmp_path, "test")
    with pytest.raises(HubError, match=r"has configs \['v1'\], not 'v1-image'"):
        local_dataset(exported, "test", normalize="image")
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
    with pytest.raises(ParameterError, match="load_local: `split` must be one of"):
        load_local(exported, "dev")
    with pytest.raises(ParameterError, match="load_local: `path` must be a folder path, got int"):
        load_local(3, "test")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="load_local: `path` must be a folder path, got int"):
        local_dataset(3, "test")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"local_dataset: `split` must be one of \['train', 'val', 'test'"):
        local_dataset(exported, "dev")
    with pytest.raises(ParameterError, match=r"local_dataset: `subset` as a count must be in \[1, 20000\], got 0"):
        local_dataset(exported, "test", subset=0)
    with pytest.raises(HubError, match=rf"asks for {ROWS + 1} rows"):
        local_dataset(exported, "test", subset=ROWS + 1)


@pytest.mark.parametrize("load", [local_dataset, hub_dataset])
def test_copies_hold_only_the_canonical_data(exported: Path, load: Any) -> None:
    # Refused before anything is read, with the name of the function called.
    where = load.__name__
    first, second = (exported, "test") if load is local_dataset else ("test", "a/b")
    with pytest.raises(ParameterError, match=rf"^{where}: copies use n_points=40 and extent=6.0, got n_points=30"):
        load(first, second, settings=RenderSettings(n_points=30))
    with pytest.raises(ParameterError, match=rf"^{where}: `space` must have the paper's bounds"):
        load(first, second, space=ParameterSpace(bounds={"m": (1.0, 2.0)}))
    with pytest.raises(ParameterError, match=rf"^{where}: `mode` must be one of \['images', 'targets'\]"):
        load(first, second, mode="pixels")
    with pytest.raises(ParameterTypeError, match=rf"^{where}: `transform` must be callable or None, got int 3"):
        load(first, second, transform=3)
    with pytest.raises(ParameterTypeError, match=rf"^{where}: `subset` must be an int count or a float fraction"):
        load(first, second, subset="all")


def test_local_copy_applies_transforms_modes_and_other_targets(exported: Path) -> None:
    local = local_dataset(exported, "val", subset=5)
    doubled = local_dataset(exported, "val", subset=5, transform=lambda image: image * 2, target_transform=torch.neg)
    image, target = doubled[2]
    assert torch.equal(image, local[2][0] * 2) and torch.equal(target, -local[2][1])
    targets = local_dataset(exported, "val", subset=5, mode="targets")
    assert torch.equal(targets[4], local.targets[4])
    other = local_dataset(exported, "val", subset=5, space=ParameterSpace(targets=("m", "h")))
    assert torch.equal(other.targets, local.params[:, [0, 2]])
    assert torch.equal(
        local_dataset(exported, "val", settings=RenderSettings()).params, local_dataset(exported, "val").params
    )


def test_hub_dataset_needs_a_repo_id() -> None:
    with pytest.raises(ParameterError, match=r"`repo_id` is required: no official copy is published yet"):
        hub_dataset("test", None)  # type: ignore[arg-type]
