"""Tests of spirograph.hub.local and local_dataset: an export folder opens as a Spirograph, verified first."""

from __future__ import annotations

import hashlib
import io
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


# ---------------------------------------------------------------- a hostile folder
def _edit(folder: Path, change: Any) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    change(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _point_test_split_at(name: str, entry: dict[str, Any]) -> Any:
    def change(manifest: dict[str, Any]) -> None:
        manifest["files"][name] = entry
        manifest["configs"]["v1"]["splits"]["test"].update(files=[name], num_rows=entry["num_rows"])

    return change


@pytest.mark.parametrize("name", ["../secret.parquet", "/SECRET", "data/../../secret.parquet", "data\\x.parquet"])
def test_manifest_names_outside_the_folder_are_refused(exported: Path, tmp_path: Path, name: str) -> None:
    copy = shutil.copytree(exported, tmp_path / "copy")
    secret = tmp_path / "secret.parquet"
    secret.write_bytes(b"private bytes")
    entry = {"sha256": "0" * 64, "bytes": 1, "num_rows": 1}
    _edit(copy, _point_test_split_at(name.replace("/SECRET", str(secret)), entry))
    with pytest.raises(HubError, match=r"not a plain relative path inside the folder") as caught:
        local_dataset(copy, "test", subset=1)
    assert hashlib.sha256(b"private bytes").hexdigest() not in str(caught.value)
    assert str(len(b"private bytes")) + " bytes" not in str(caught.value)


def test_a_shard_linked_out_of_the_folder_is_refused_unread(exported: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(exported, tmp_path / "copy")
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"private bytes")
    shard = copy / "data" / "test-00000-of-00003.parquet"
    shard.unlink()
    shard.symlink_to(secret)
    with pytest.raises(HubError, match=r"is a symbolic link") as caught:
        local_dataset(copy, "test", subset=1)
    # Nothing about the file outside is reported: neither its digest nor its size.
    assert hashlib.sha256(b"private bytes").hexdigest() not in str(caught.value)
    assert "13 bytes" not in str(caught.value)
    # A linked folder on the way is refused the same way, and so is a linked manifest.
    copy2 = shutil.copytree(exported, tmp_path / "copy2")
    shutil.move(copy2 / "data", tmp_path / "elsewhere")
    (copy2 / "data").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(HubError, match=r"'.*data' is a symbolic link"):
        local_dataset(copy2, "test", subset=1)
    (copy / "manifest.json").rename(tmp_path / "manifest.json")
    (copy / "manifest.json").symlink_to(tmp_path / "manifest.json")
    with pytest.raises(HubError, match=r"manifest.json' is a symbolic link"):
        local_dataset(copy, "val", subset=1)


def _crafted_shard(folder: Path, name: str, rows: list[dict[str, Any]], row_group_size: int, compression: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from spirograph.hub.schema import features

    table = pa.Table.from_pylist(rows, schema=features().arrow_schema)
    pq.write_table(table, folder / name, row_group_size=row_group_size, compression=compression)


def _entry(path: Path, rows: int) -> dict[str, Any]:
    return {"sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "bytes": path.stat().st_size, "num_rows": rows}


def _rows(images: list[bytes | None], start: int = 0) -> list[dict[str, Any]]:
    reference = Spirograph("test", subset=start + len(images))
    out = []
    for k, image in enumerate(images):
        values = reference.params[start + k].tolist()
        row: dict[str, Any] = {"index": start + k, "image": None if image is None else {"bytes": image, "path": None}}
        row.update(dict(zip(reference.parameter_names, values, strict=True)))
        row["targets"] = reference.targets[start + k].tolist()
        out.append(row)
    return out


def _png(side: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (side, side)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_only_the_row_groups_holding_the_rows_needed_are_decoded(exported: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(exported, tmp_path / "copy")
    name = "data/test-00000-of-00001.parquet"
    # Four good rows, then 996 whose images are garbage: subset=4 never decodes them.
    _crafted_shard(copy, name, _rows([_png(32)] * 4 + [b"garbage"] * 996), row_group_size=4, compression="zstd")
    _edit(copy, _point_test_split_at(name, _entry(copy / name, 1000)))
    assert len(local_dataset(copy, "test", subset=4)) == 4
    with pytest.raises(HubError, match=r"row 4 is not a readable PNG image"):
        local_dataset(copy, "test", subset=5)


def test_a_shard_decoding_past_its_rows_is_refused_before_decoding(exported: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(exported, tmp_path / "copy")
    name = "data/test-00000-of-00001.parquet"
    # 3 MB of zeros a row compress to a few kB: far more than a 32x32 PNG takes.
    _crafted_shard(copy, name, _rows([bytes(3 * 2**20)] * 4), row_group_size=4, compression="zstd")
    assert (copy / name).stat().st_size < 2**20
    _edit(copy, _point_test_split_at(name, _entry(copy / name, 4)))
    with pytest.raises(HubError, match=r"would decode 4 rows to \d+ bytes, more than 32x32 PNG images take"):
        local_dataset(copy, "test", subset=1)


@pytest.mark.parametrize(
    ("image", "match"),
    [
        (None, r"row 0 has no image"),
        ("garbage", r"row 0 is not a readable PNG image"),
        (b"garbage", r"row 0 is not a readable PNG image: no PNG signature"),
        ("bomb", r"row 0 must be a 32x32 RGB image, got a declared size of \(100000, 100000\)"),
        ("small", r"row 0 must be a 32x32 RGB image, got a declared size of \(8, 8\)"),
    ],
)
def test_bad_images_behind_a_matching_manifest(exported: Path, tmp_path: Path, image: Any, match: str) -> None:
    import struct
    import zlib

    if image in ("bomb", "garbage"):
        # A PNG declaring 100000x100000 pixels in a few bytes (refused by its header), or 32x32 of garbage.
        side = 100_000 if image == "bomb" else 32
        header = b"IHDR" + struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
        chunk = struct.pack(">I", 13) + header + struct.pack(">I", zlib.crc32(header))
        image = b"\x89PNG\r\n\x1a\n" + chunk + b"garbage" * 10
    elif image == "small":
        image = _png(8)
    copy = shutil.copytree(exported, tmp_path / "copy")
    name = "data/test-00000-of-00001.parquet"
    _crafted_shard(copy, name, _rows([image]), row_group_size=1, compression="zstd")
    _edit(copy, _point_test_split_at(name, _entry(copy / name, 1)))
    with pytest.raises(HubError, match=match):
        local_dataset(copy, "test", subset=1)


def test_bad_parquet_behind_a_matching_manifest(exported: Path, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    copy = shutil.copytree(exported, tmp_path / "copy")
    name = "data/test-00000-of-00001.parquet"
    (copy / name).write_bytes(b"not parquet at all")
    _edit(copy, _point_test_split_at(name, _entry(copy / name, 1)))
    with pytest.raises(HubError, match=r"is not a readable Parquet file"):
        local_dataset(copy, "test", subset=1)
    table = pa.Table.from_pylist(_rows([_png(32)]), schema=None).drop_columns(["m"])
    pq.write_table(table, copy / name)
    _edit(copy, _point_test_split_at(name, _entry(copy / name, 1)))
    with pytest.raises(HubError, match=r"must have a column 'm' of type float, got None"):
        local_dataset(copy, "test", subset=1)
    rows = _rows([_png(32)])
    rows[0]["m"] = "3.0"
    pq.write_table(pa.Table.from_pylist(rows), copy / name)
    _edit(copy, _point_test_split_at(name, _entry(copy / name, 1)))
    with pytest.raises(HubError, match=r"must have a column 'm' of type float, got string"):
        local_dataset(copy, "test", subset=1)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda m: m.update(configs=[]), r"`configs` must be a dict, got list"),
        (lambda m: m["configs"]["v1"].pop("splits"), r"`configs\['v1'\]\['splits'\]` is missing"),
        (lambda m: m["configs"]["v1"]["splits"]["test"].update(num_rows="12"), r"must be a int, got str '12'"),
        (lambda m: m["configs"]["v1"]["splits"]["test"].update(num_rows=10**7), r"must be an int in \[0, 20000\]"),
        (lambda m: m.update(files=[]), r"`files` must be a dict, got list"),
        (lambda m: m["files"]["README.md"].update(bytes=-3), r"\['bytes'\]` must be an int >= 0, got -3"),
    ],
)
def test_malformed_manifest_fields_are_a_hub_error(exported: Path, tmp_path: Path, change: Any, match: str) -> None:
    copy = shutil.copytree(exported, tmp_path / "copy")
    _edit(copy, change)
    with pytest.raises(HubError, match=r"load_local: manifest.json of .*" + match):
        local_dataset(copy, "test")


@pytest.mark.parametrize(
    "text", ["[" * 100_000 + "]" * 100_000, '{"format": 1' + "0" * 5000 + "}", "[" * 80 + "]" * 80, "\xff"]
)
def test_a_deep_huge_or_undecodable_manifest_is_a_hub_error(exported: Path, tmp_path: Path, text: str) -> None:
    copy = shutil.copytree(exported, tmp_path / "copy")
    (copy / "manifest.json").write_bytes(text.encode("latin-1"))
    with pytest.raises(HubError, match=r"load_local: manifest.json of .*(deeper than 64|not valid JSON)"):
        local_dataset(copy, "test")
