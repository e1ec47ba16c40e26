"""A ``datasets`` builder for Spirograph: ``SpirographBuilder(config_name="v1").download_and_prepare()``.

The builder renders every row locally with [`spirograph.Spirograph`][spirograph.dataset.Spirograph] (nothing is
downloaded), so it works offline and gives the same parameters as the torch dataset.
Generation is sharded: each split is cut into row ranges of ``shard_rows`` rows passed
as a list in ``gen_kwargs``, so ``download_and_prepare(num_proc=k)`` renders the ranges
in ``k`` processes with identical results (row ``i`` is a pure function of the split's
seed and ``i``).

Examples:
    >>> from spirograph.hub.builder import SpirographBuilder
    >>> builder = SpirographBuilder(config_name="v1", subset=64, cache_dir="/tmp/spirograph-cache")
    >>> builder.download_and_prepare()
    >>> test = builder.as_dataset(split="test")
    >>> test[0]["image"].size, test[0]["targets"]  # doctest: +SKIP
    ((32, 32), [...])
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import torch

from spirograph.hub._extra import require_hub

try:
    import datasets
    from datasets.builder import Key
except ImportError:  # say how to install the extra instead of a bare ModuleNotFoundError
    require_hub("spirograph.hub.builder")
    raise

from spirograph._checks import is_int
from spirograph._version import __version__
from spirograph.dataset import SPLITS
from spirograph.errors import ConfigError
from spirograph.hub.card import CITATION, DESCRIPTION, HOMEPAGE, LICENSE
from spirograph.hub.schema import (
    CONFIGS,
    DEFAULT_CONFIG,
    DEFAULT_SHARD_ROWS,
    HUB_SPLITS,
    HubConfig,
    encode_rows,
    features,
    shard_bounds,
)
from spirograph.render import Normalize, check_settings

__all__ = ["SpirographBuilder", "SpirographBuilderConfig"]


@dataclass
class SpirographBuilderConfig(datasets.BuilderConfig):
    """Builder config: renderer settings plus how much to generate.

    Args:
        size: renderer settings (see [`render()`][spirograph.render.render]).
        normalize: renderer settings (see [`render()`][spirograph.render.render]).
        n_points: renderer settings (see [`render()`][spirograph.render.render]).
        extent: renderer settings (see [`render()`][spirograph.render.render]).
        subset: keep the first ``subset`` rows of each split (``None``: every row).
        shard_rows: rows per generation shard; shards are the unit of ``num_proc`` parallelism.
    """

    size: int = 32
    normalize: str = "row"
    n_points: int = 40
    extent: float = 6.0
    subset: int | None = None
    shard_rows: int = DEFAULT_SHARD_ROWS

    def __post_init__(self) -> None:
        super().__post_init__()
        check_settings(
            self.size, self.n_points, self.extent, self.normalize, where="SpirographBuilderConfig", error=ConfigError
        )
        for name in ("subset", "shard_rows"):
            value = getattr(self, name)
            if value is None and name == "subset":
                continue
            if not is_int(value) or value < 1:
                raise ConfigError(f"SpirographBuilderConfig: `{name}` must be an int >= 1, got {value!r}")

    @property
    def hub_config(self) -> HubConfig:
        """The renderer settings as a [`HubConfig`][spirograph.hub.schema.HubConfig]."""
        normalize = cast(Normalize, self.normalize)
        return HubConfig(self.name, self.size, normalize, self.n_points, self.extent, self.description or "")


def _builder_config(config: HubConfig) -> SpirographBuilderConfig:
    return SpirographBuilderConfig(
        name=config.name,
        version=datasets.Version(__version__),
        description=config.description,
        size=config.size,
        normalize=config.normalize,
        n_points=config.n_points,
        extent=config.extent,
    )


class SpirographBuilder(datasets.GeneratorBasedBuilder):
    """The Spirograph dataset (Foster, Pukdee & Rainforth, ICLR 2021) as a ``datasets`` builder.

    Configs: ``"v1"`` (32x32, row normalisation, the default), ``"v1-image"`` (32x32, image
    normalisation), ``"v1-64"`` and ``"v1-64-image"`` (64x64). Splits: ``train`` (100,000),
    ``validation`` (10,000, the torch dataset's ``"val"``) and ``test`` (20,000). Pass
    ``subset=N`` or ``shard_rows=R`` as builder keyword arguments to change a config.

    Columns: ``index`` (int64), ``image`` (PNG), the ten parameters (float32) and
    ``targets`` (4 float32: m, b, sigma, fore_r), see [`spirograph.hub.schema`][spirograph.hub.schema].
    """

    BUILDER_CONFIG_CLASS = SpirographBuilderConfig
    BUILDER_CONFIGS = [_builder_config(config) for config in CONFIGS.values()]  # noqa: RUF012 (datasets API)
    DEFAULT_CONFIG_NAME = DEFAULT_CONFIG
    VERSION = datasets.Version(__version__)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("dataset_name", "spirograph")
        super().__init__(*args, **kwargs)
        self._parent_pid = os.getpid()

    @property
    def _config(self) -> SpirographBuilderConfig:
        return cast(SpirographBuilderConfig, self.config)  # BUILDER_CONFIG_CLASS makes it one

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(
            description=DESCRIPTION,
            features=features(),
            homepage=HOMEPAGE,
            citation=CITATION,
            license=LICENSE,
            version=datasets.Version(__version__),
        )

    def _split_generators(self, dl_manager: Any) -> list[datasets.SplitGenerator]:
        del dl_manager  # nothing to download: every row is rendered here
        config = self._config
        generators = []
        for torch_split, hub_split in HUB_SPLITS.items():
            rows = (
                SPLITS[torch_split].num_examples
                if config.subset is None
                else min(config.subset, SPLITS[torch_split].num_examples)
            )
            generators.append(
                datasets.SplitGenerator(
                    name=hub_split,
                    gen_kwargs={"split": torch_split, "shards": shard_bounds(rows, config.shard_rows)},
                )
            )
        return generators

    def _generate_examples(self, split: str, shards: list[tuple[int, int]]) -> Iterator[tuple[Key, dict[str, Any]]]:
        if os.getpid() != self._parent_pid:
            # A worker forked by `num_proc`: an OpenMP thread pool used by the parent before the
            # fork hangs in the child, so render on this process's thread only.
            torch.set_num_threads(1)
        config = self._config.hub_config
        for shard_id, (start, stop) in enumerate(shards):
            for row in encode_rows(split, config, start, stop):
                yield Key(shard_id, row["index"]), row
