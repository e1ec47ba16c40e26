"""Tests of spirograph.hub.builder: the datasets builder renders the torch dataset's rows."""

from __future__ import annotations

from pathlib import Path

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest

from spirograph.dataset import Spirograph
from spirograph.errors import ConfigError
from spirograph.hub import SpirographBuilder, SpirographBuilderConfig
from spirograph.hub.export import export
from spirograph.hub.schema import CONFIGS, features
from spirograph.space import PARAMETER_NAMES

ROWS = 40
SHARD_ROWS = 16


def _prepared(cache: Path, config: str = "v1", num_proc: int | None = None, **kwargs: int) -> SpirographBuilder:
    builder = SpirographBuilder(config_name=config, subset=ROWS, shard_rows=SHARD_ROWS, cache_dir=str(cache), **kwargs)
    builder.download_and_prepare(num_proc=num_proc)
    return builder


@pytest.fixture(scope="module")
def builder(tmp_path_factory: pytest.TempPathFactory) -> SpirographBuilder:
    return _prepared(tmp_path_factory.mktemp("builder"))


def _raw(dataset: datasets.Dataset) -> datasets.Dataset:
    return dataset.cast_column("image", datasets.Image(decode=False))


def test_configs_and_info(builder: SpirographBuilder) -> None:
    names = [config.name for config in SpirographBuilder.BUILDER_CONFIGS]
    assert names == list(CONFIGS) and SpirographBuilder.DEFAULT_CONFIG_NAME == "v1"
    assert builder.info.features == features()
    assert "foster2021improving" in builder.info.citation and builder.info.license == "mit"
    assert {name: split.num_examples for name, split in builder.info.splits.items()} == {
        "train": ROWS,
        "validation": ROWS,
        "test": ROWS,
    }


@pytest.mark.parametrize("hub_split,torch_split", [("train", "train"), ("validation", "val"), ("test", "test")])
def test_rows_equal_the_torch_dataset(builder: SpirographBuilder, hub_split: str, torch_split: str) -> None:
    dataset = builder.as_dataset(split=hub_split)
    reference = Spirograph(torch_split, subset=ROWS)
    table = dataset.with_format("numpy")
    np.testing.assert_array_equal(table["index"], np.arange(ROWS))
    params = np.stack([table[name] for name in PARAMETER_NAMES], axis=1)
    np.testing.assert_array_equal(params, reference.params.numpy())
    np.testing.assert_array_equal(np.stack(table["targets"]), reference.targets.numpy())
    images = np.stack([np.asarray(image, dtype=np.float32) for image in dataset["image"]]).transpose(0, 3, 1, 2)
    assert images.shape == (ROWS, 3, 32, 32)
    assert np.abs(images / 255 - reference.images().numpy()).max() <= 0.5 / 255 + 1e-6


def test_image_config_renders_with_image_normalisation(tmp_path: Path) -> None:
    builder = _prepared(tmp_path, config="v1-image")
    dataset = builder.as_dataset(split="test")
    images = np.stack([np.asarray(image, dtype=np.float32) for image in dataset["image"]]).transpose(0, 3, 1, 2) / 255
    assert (
        np.abs(images - Spirograph("test", subset=ROWS, normalize="image").images().numpy()).max() <= 0.5 / 255 + 1e-6
    )
    assert np.abs(images - Spirograph("test", subset=ROWS).images().numpy()).max() > 0.05


def test_num_proc_two_gives_identical_rows(builder: SpirographBuilder, tmp_path: Path) -> None:
    parallel = _prepared(tmp_path, num_proc=2)
    for split in ("train", "validation", "test"):
        assert (
            _raw(parallel.as_dataset(split=split)).to_pandas().equals(_raw(builder.as_dataset(split=split)).to_pandas())
        )


def test_builder_and_export_store_the_same_png_bytes(builder: SpirographBuilder, tmp_path: Path) -> None:
    out = export(tmp_path / "hub", splits="test", subset=ROWS, shard_rows=ROWS, progress=False)
    exported = pq.read_table(out / "data/test-00000-of-00001.parquet").to_pylist()
    built = _raw(builder.as_dataset(split="test")).to_list()
    assert [row["image"]["bytes"] for row in exported] == [row["image"]["bytes"] for row in built]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"subset": 0}, r"`subset` must be an int >= 1, got 0"),
        ({"shard_rows": -3}, r"`shard_rows` must be an int >= 1, got -3"),
        ({"normalize": "max"}, r"`normalize` must be one of \['row', 'image'\], got 'max'"),
        ({"size": 1}, r"`size` must be an int in \[2, 4096\], got 1"),
        ({"n_points": 1}, r"`n_points` must be an int in \[2, 65536\], got 1"),
        ({"extent": -1.0}, r"`extent` must be a finite number > 0, got -1.0"),
    ],
)
def test_bad_config_values(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        SpirographBuilderConfig(name="custom", **kwargs)  # type: ignore[arg-type]


def test_unknown_config_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="v2"):
        SpirographBuilder(config_name="v2", cache_dir=str(tmp_path))
