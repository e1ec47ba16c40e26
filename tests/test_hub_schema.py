"""Tests of spirograph.hub.schema and the public surface of spirograph.hub."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import spirograph.hub
from spirograph.errors import ConfigError, HubError
from spirograph.hub.schema import (
    CONFIGS,
    MANIFEST_FORMAT,
    HubConfig,
    check_manifest,
    config_for,
    encode_rows,
    get_config,
    sha256_file,
    shard_bounds,
    to_uint8,
)


def test_public_names() -> None:
    assert spirograph.hub.__all__ == [
        "CONFIGS",
        "DEFAULT_CONFIG",
        "HUB_SPLITS",
        "MANIFEST_NAME",
        "HubConfig",
        "SpirographBuilder",
        "SpirographBuilderConfig",
        "export",
        "hub_dataset",
        "load_local",
        "load_split",
        "local_dataset",
        "push",
        "verify_export",
    ]
    for name in spirograph.hub.__all__:
        assert getattr(spirograph.hub, name) is not None
    with pytest.raises(AttributeError, match="has no attribute 'Builder'"):
        spirograph.hub.Builder  # noqa: B018


@given(num_rows=st.integers(0, 10_000), shard_rows=st.integers(1, 3_000))
def test_shard_bounds_cover_the_rows_in_order(num_rows: int, shard_rows: int) -> None:
    bounds = shard_bounds(num_rows, shard_rows)
    assert bounds[0][0] == 0 and bounds[-1][1] == num_rows
    assert all(stop == start for (_, stop), (start, _) in itertools.pairwise(bounds))
    assert all(0 < stop - start <= shard_rows for start, stop in bounds) or num_rows == 0
    assert len(bounds) == max(1, -(-num_rows // shard_rows))


@given(st.lists(st.floats(0, 1), min_size=1, max_size=64))
def test_to_uint8_rounds_to_nearest(values: list[float]) -> None:
    tensor = torch.tensor(values, dtype=torch.float32)
    quantised = to_uint8(tensor)
    assert quantised.dtype == torch.uint8
    assert (quantised.float() / 255 - tensor).abs().max().item() <= 0.5 / 255 + 1e-7


def test_configs_lookup() -> None:
    assert config_for(32, "row", "t") is CONFIGS["v1"] and config_for(32, "image", "t") is CONFIGS["v1-image"]
    assert config_for(64, "image", "t").name == "v1-64-image"
    assert get_config("v1", "t").directory == "data" and get_config("v1-64", "t").directory == "data/v1-64"
    with pytest.raises(ConfigError, match=r"t: no hub config has \(size, normalize\) = \(16, 'row'\)"):
        config_for(16, "row", "t")
    with pytest.raises(ConfigError, match=r"t: `config` must be one of .*got 'v0'"):
        get_config("v0", "t")


def test_encode_rows_range() -> None:
    rows = list(encode_rows("test", CONFIGS["v1"], 3, 5))
    assert [row["index"] for row in rows] == [3, 4]
    assert rows[0]["image"]["bytes"].startswith(b"\x89PNG") and len(rows[0]["targets"]) == 4
    assert list(encode_rows("test", CONFIGS["v1"], 2, 2)) == []
    with pytest.raises(ConfigError, match=r"need 0 <= start <= stop, got \[5, 3\)"):
        list(encode_rows("test", CONFIGS["v1"], 5, 3))


def test_sha256_file(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000
    (tmp_path / "blob").write_bytes(data)
    assert sha256_file(tmp_path / "blob", chunk=4096) == hashlib.sha256(data).hexdigest()


def _manifest() -> dict[str, Any]:
    entry = {"sha256": "ab" * 32, "bytes": 10, "num_rows": 5}
    split = {"num_rows": 5, "files": ["data/test-00000.parquet"]}
    return {
        "format": MANIFEST_FORMAT,
        "configs": {"v1": {"size": 32, "normalize": "row", "splits": {"test": split}}},
        "files": {"data/test-00000.parquet": entry},
    }


def test_check_manifest_accepts_a_well_formed_manifest() -> None:
    manifest = _manifest()
    assert check_manifest(manifest, "t") is manifest


@pytest.mark.parametrize(
    ("path", "value", "match"),
    [
        (("format",), 2, r"t must have format 1, got 2"),
        (("configs",), [], r"t: `configs` must be a dict, got list"),
        (("configs", "v1", "normalize"), 1, r"`configs\['v1'\]\['normalize'\]` must be a str, got int 1"),
        (("configs", "v1", "size"), True, r"`configs\['v1'\]\['size'\]` must be a int, got bool True"),
        (("configs", "v1", "splits", "test", "num_rows"), 2.5, r"\['num_rows'\]` must be a int, got float 2.5"),
        (("configs", "v1", "splits", "test", "files"), [3], r"\['files'\]\[0\]` must be a str, got 3"),
        (("files",), {}, r"t: `files\['data/test-00000.parquet'\]` is missing"),
        (("files", "data/test-00000.parquet", "sha256"), "XYZ", r"\['sha256'\]` must be 64 lowercase hex digits"),
        (("files", "data/test-00000.parquet", "bytes"), -1, r"\['bytes'\]` must be an int >= 0, got -1"),
    ],
)
def test_check_manifest_names_the_bad_field(path: tuple[str, ...], value: object, match: str) -> None:
    manifest = _manifest()
    container: Any = manifest
    for key in path[:-1]:
        container = container[key]
    container[path[-1]] = value
    with pytest.raises(HubError, match=match):
        check_manifest(manifest, "t")


def test_check_manifest_refuses_a_missing_field() -> None:
    manifest = _manifest()
    del manifest["configs"]["v1"]["splits"]["test"]["num_rows"]
    with pytest.raises(HubError, match=r"t: `configs\['v1'\]\['splits'\]\['test'\]\['num_rows'\]` is missing"):
        check_manifest(manifest, "t")
    with pytest.raises(HubError, match=r"t must have format 1, got 'list'"):
        check_manifest([], "t")


def test_each_hub_config_holds_its_render_settings() -> None:
    from spirograph.render import RenderSettings

    for config in CONFIGS.values():
        assert config.settings == RenderSettings(config.size, config.n_points, config.extent, config.normalize)
        assert config.settings.to_dict() == {key: config.renderer()[key] for key in config.settings.to_dict()}
    assert CONFIGS["v1"].settings is CONFIGS["v1"].settings  # built once, in the constructor
    with pytest.raises(ConfigError, match=r"^HubConfig: `size` must be an int in \[2, 4096\], got 1$"):
        HubConfig("bad", 1, "row")
    with pytest.raises(ConfigError, match=r"^HubConfig: `normalize` must be one of \['row', 'image'\], got 'max'$"):
        HubConfig("bad", 32, "max")  # type: ignore[arg-type]
