"""Tests of spirograph.hub.schema and the public surface of spirograph.hub."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import spirograph.hub
from spirograph.errors import ConfigError
from spirograph.hub.schema import CONFIGS, config_for, encode_rows, get_config, sha256_file, shard_bounds, to_uint8


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
        "load_local",
        "load_split",
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
