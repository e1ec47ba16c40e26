"""What the hub copy of Spirograph holds: its configurations, columns, rows and manifest format.

The builder ([`spirograph.hub.builder`][spirograph.hub.builder]) and the Parquet export
([`spirograph.hub.export`][spirograph.hub.export]) both take their rows from
[`encode_rows()`][spirograph.hub.schema.encode_rows], which
renders them with [`spirograph.Spirograph`][spirograph.dataset.Spirograph]: the hub copy and the torch dataset
come from the same code and hold the same parameters, bit for bit.

Columns, in order:

- ``index`` (int64): the row's index in its split (row ``i`` of the torch dataset);
- ``image`` (``datasets.Image``, PNG, RGB, ``size x size``): the rendered image,
  ``round(255 * pixel)`` so within ``0.5 / 255`` of the float image;
- ``m``, ``b``, ``h``, ``sigma``, ``fore_r``, ``fore_g``, ``fore_b``, ``back_r``, ``back_g``,
  ``back_b`` (float32): the ten generative parameters;
- ``targets`` (list of 4 float32): the downstream regression targets ``(m, b, sigma, fore_r)``.

``datasets`` and Pillow are imported inside the functions that need them, so importing this
module costs no more than importing `spirograph`.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from spirograph.dataset import SPLITS, Spirograph
from spirograph.errors import ConfigError, HubError
from spirograph.files import check_member_name
from spirograph.hub._extra import require_hub
from spirograph.render import Normalize, RenderSettings, check_settings
from spirograph.space import DEFAULT_TARGETS, PARAMETER_NAMES

if TYPE_CHECKING:
    import datasets

__all__ = [
    "CONFIGS",
    "DEFAULT_CONFIG",
    "DEFAULT_SHARD_ROWS",
    "HUB_SPLITS",
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "TORCH_SPLITS",
    "HubConfig",
    "check_manifest",
    "config_for",
    "encode_rows",
    "features",
    "get_config",
    "sha256_file",
    "shard_bounds",
    "to_uint8",
]

DEFAULT_SHARD_ROWS = 10_000
"""Rows per Parquet shard: about 13 MB of 32x32 PNGs, well under the Hub's 500 MB advice."""

MANIFEST_NAME = "manifest.json"
"""The name of the manifest file at the root of an export."""

MANIFEST_FORMAT = 1
"""The version of the manifest's layout; readers refuse a format they do not know."""

HUB_SPLITS: dict[str, str] = {"train": "train", "val": "validation", "test": "test"}
"""Torch split name -> hub split name (the hub uses ``validation``, as ``datasets`` does)."""

TORCH_SPLITS: dict[str, str] = {hub: torch_name for torch_name, hub in HUB_SPLITS.items()}
"""Hub split name -> torch split name."""

TARGET_COLUMN = "targets"


@dataclass(frozen=True)
class HubConfig:
    """One configuration of the hub copy: the renderer settings its images were made with.

    Attributes:
        name: the config name on the hub (``"v1"``, ``"v1-image"``, ...).
        size: image side in pixels.
        normalize: ``"row"`` (the paper's released generator) or ``"image"`` (the equation as printed).
        n_points: points on each curve.
        extent: half-width of the canvas.
        description: one line for the dataset card.

    Raises:
        ConfigError: a renderer setting out of its range ([`RenderSettings`][spirograph.render.RenderSettings]).

    Examples:
        >>> HubConfig("v1-64", 64, "row").settings
        RenderSettings(size=64, n_points=40, extent=6.0, normalize='row')
    """

    name: str
    size: int
    normalize: Normalize
    n_points: int = 40
    extent: float = 6.0
    description: str = ""

    def __post_init__(self) -> None:
        settings = check_settings(
            self.size, self.n_points, self.extent, self.normalize, where="HubConfig", error=ConfigError
        )
        object.__setattr__(self, "_settings", settings)  # frozen: set once, here

    @property
    def settings(self) -> RenderSettings:
        """The renderer settings of the config's images, checked when the config was made."""
        settings: RenderSettings = self.__dict__["_settings"]
        return settings

    @property
    def directory(self) -> str:
        """Folder of the config's Parquet shards inside an export (``data`` for ``v1``)."""
        return "data" if self.name == DEFAULT_CONFIG else f"data/{self.name}"

    def renderer(self) -> dict[str, Any]:
        """The renderer settings as keyword arguments of [`spirograph.Spirograph`][spirograph.dataset.Spirograph]."""
        return {"size": self.size, "normalize": self.normalize, "n_points": self.n_points, "extent": self.extent}


DEFAULT_CONFIG = "v1"
"""The canonical config: 32x32 images with row normalisation, as in the paper."""

CONFIGS: dict[str, HubConfig] = {
    config.name: config
    for config in (
        HubConfig("v1", 32, "row", description="32x32, row normalisation (the paper's released generator)"),
        HubConfig("v1-image", 32, "image", description="32x32, image normalisation (the equation as printed)"),
        HubConfig("v1-64", 64, "row", description="64x64, row normalisation"),
        HubConfig("v1-64-image", 64, "image", description="64x64, image normalisation"),
    )
}
"""The configurations the builder and the export know, by name."""


def get_config(name: str, where: str) -> HubConfig:
    """The config called ``name``.

    Args:
        name: a key of [`CONFIGS`][spirograph.hub.schema.CONFIGS].
        where: the caller's name, for the error message.

    Returns:
        The config.

    Raises:
        ConfigError: ``name`` is not a known config.
    """
    if not isinstance(name, str) or name not in CONFIGS:
        raise ConfigError(f"{where}: `config` must be one of {list(CONFIGS)}, got {name!r}")
    return CONFIGS[name]


def config_for(size: int, normalize: str, where: str) -> HubConfig:
    """The config whose images have side ``size`` and normalisation ``normalize``.

    Args:
        size: image side in pixels.
        normalize: ``"row"`` or ``"image"``.
        where: the caller's name, for the error message.

    Returns:
        The config.

    Raises:
        ConfigError: no config has these settings.
    """
    for config in CONFIGS.values():
        if config.size == size and config.normalize == normalize:
            return config
    known = sorted({(c.size, c.normalize) for c in CONFIGS.values()})
    raise ConfigError(f"{where}: no hub config has (size, normalize) = {(size, normalize)!r}; known: {known}")


_SHA256 = re.compile(r"[0-9a-f]{64}")


def _field(
    container: Any, key: str, kind: type | tuple[type, ...], path: str, where: str, error: type[HubError] = HubError
) -> Any:
    # container[key], refused with HubError (a malformed copy, not a user mistake) if absent or of another type.
    if not isinstance(container, dict) or key not in container:
        raise error(f"{where}: `{path}` is missing")
    value = container[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise error(f"{where}: `{path}` must be a {names}, got {type(value).__name__} {value!r:.60}")
    return value


def _count(
    container: Any, key: str, path: str, where: str, error: type[HubError] = HubError, maximum: int | None = None
) -> int:
    value = _field(container, key, int, path, where, error)
    if value < 0 or (maximum is not None and value > maximum):
        expected = "an int >= 0" if maximum is None else f"an int in [0, {maximum}]"
        raise error(f"{where}: `{path}` must be {expected}, got {value}")
    return int(value)


def check_manifest(manifest: Any, where: str, error: type[HubError] = HubError) -> dict[str, Any]:
    """Check the fields of a manifest that a reader relies on, before any is used.

    Args:
        manifest: the parsed ``manifest.json``.
        where: the start of an error message, e.g. ``"load_split: manifest.json of dataset 'a/b'"``.
        error: the class raised (``HubError``; ``ExportError`` for `verify_export`).

    Returns:
        ``manifest``, whose ``format`` is
        [`MANIFEST_FORMAT`][spirograph.hub.schema.MANIFEST_FORMAT]; every file of ``files`` has a
        plain relative name ([`check_member_name()`][spirograph.files.check_member_name]) and an
        entry with a 64-digit lowercase hex ``sha256``, ``bytes`` and, if present, ``num_rows``
        (ints >= 0); every config has an int ``size``, a str ``normalize`` and ``splits``, each
        a known hub split holding an int ``num_rows`` within the canonical split's size and a
        list of file names listed in ``files``, each with ``num_rows`` at most the split's.

    Raises:
        HubError: a missing field, a field of the wrong type or a bad value, named by its path.
    """
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise error(f"{where} must have format {MANIFEST_FORMAT}, got {found!r:.60}")
    files = _field(manifest, "files", dict, "files", where, error)
    for relative in files:
        check_member_name(relative, where=where, what="`files`", error=error)
        _check_file_entry(files, relative, where, error)
    for name, config in _field(manifest, "configs", dict, "configs", where, error).items():
        path = f"configs[{name!r}]"
        _field(config, "size", int, f"{path}['size']", where, error)
        _field(config, "normalize", str, f"{path}['normalize']", where, error)
        for split, info in _field(config, "splits", dict, f"{path}['splits']", where, error).items():
            split_path = f"{path}['splits'][{split!r}]"
            if split not in TORCH_SPLITS:
                raise error(f"{where}: `{path}['splits']` must name splits among {list(TORCH_SPLITS)}, got {split!r}")
            full = SPLITS[TORCH_SPLITS[split]].num_examples
            rows = _count(info, "num_rows", f"{split_path}['num_rows']", where, error, maximum=full)
            for k, relative in enumerate(_field(info, "files", list, f"{split_path}['files']", where, error)):
                if not isinstance(relative, str):
                    raise error(f"{where}: `{split_path}['files'][{k}]` must be a str, got {relative!r:.60}")
                entry = _field(files, relative, dict, f"files[{relative!r}]", where, error)
                # A shard holds at most its split's rows: the bound on what decoding it may allocate.
                _count(entry, "num_rows", f"files[{relative!r}]['num_rows']", where, error, maximum=rows)
    return manifest


def _check_file_entry(files: dict[str, Any], relative: str, where: str, error: type[HubError]) -> None:
    path = f"files[{relative!r}]"
    entry = _field(files, relative, dict, path, where, error)
    digest = _field(entry, "sha256", str, f"{path}['sha256']", where, error)
    if not _SHA256.fullmatch(digest):
        raise error(f"{where}: `{path}['sha256']` must be 64 lowercase hex digits, got {digest!r:.70}")
    _count(entry, "bytes", f"{path}['bytes']", where, error)
    if "num_rows" in entry:
        _count(entry, "num_rows", f"{path}['num_rows']", where, error)


def features() -> datasets.Features:
    """The ``datasets.Features`` of the hub copy; every config has the same columns.

    Returns:
        ``index`` int64, ``image`` Image, the ten parameters float32, ``targets`` list of 4 float32.
    """
    require_hub("features")
    import datasets

    columns: dict[str, Any] = {"index": datasets.Value("int64"), "image": datasets.Image()}
    columns.update({name: datasets.Value("float32") for name in PARAMETER_NAMES})
    columns[TARGET_COLUMN] = datasets.List(datasets.Value("float32"), length=len(DEFAULT_TARGETS))
    return datasets.Features(columns)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Quantise ``[0, 1]`` float images to uint8 by rounding (error at most ``0.5 / 255``).

    Shape:
        any; same shape out.
    """
    return images.mul(255).round_().clamp_(0, 255).to(torch.uint8)


def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    # Fixed settings so that the bytes, and so the shards' SHA-256, are reproducible.
    Image.fromarray(image, mode="RGB").save(buffer, format="PNG", compress_level=3, optimize=False)
    return buffer.getvalue()


def shard_bounds(num_rows: int, shard_rows: int) -> list[tuple[int, int]]:
    """Half-open row ranges ``[start, stop)`` of the shards of a split.

    Args:
        num_rows: rows in the split.
        shard_rows: rows per shard (the last shard may hold fewer).

    Returns:
        ``ceil(num_rows / shard_rows)`` ranges (at least one) covering ``[0, num_rows)`` in order.
    """
    count = max(1, math.ceil(num_rows / shard_rows))
    return [(k * shard_rows, min((k + 1) * shard_rows, num_rows)) for k in range(count)]


def encode_rows(split: str, config: HubConfig, start: int, stop: int) -> Iterator[dict[str, Any]]:
    """Rows ``[start, stop)`` of a split, ready for ``datasets`` or pyarrow.

    Args:
        split: the torch split name (``"train"``, ``"val"``, ``"test"``).
        config: the renderer settings.
        start: the first row.
        stop: the end of the range (excluded).

    Returns:
        An iterator of dicts with the columns of [`features()`][spirograph.hub.schema.features]; ``image`` is
        ``{"bytes": <PNG>, "path": None}``.
    """
    if not 0 <= start <= stop:
        raise ConfigError(f"encode_rows: need 0 <= start <= stop, got [{start}, {stop})")
    if start == stop:
        return
    dataset = Spirograph(split, subset=stop, settings=config.settings)
    params = dataset.params[start:stop].numpy()
    targets = dataset.targets[start:stop].numpy()
    images = to_uint8(dataset.images(start, stop)).permute(0, 2, 3, 1).contiguous().numpy()  # (n, S, S, 3)
    for offset in range(stop - start):
        row: dict[str, Any] = {"index": start + offset, "image": {"bytes": _png(images[offset]), "path": None}}
        row.update({name: params[offset, k] for k, name in enumerate(PARAMETER_NAMES)})
        row[TARGET_COLUMN] = targets[offset]
        yield row


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file.

    Args:
        path: the file.
        chunk: bytes read at a time.

    Returns:
        The 64-character lowercase hex digest.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
