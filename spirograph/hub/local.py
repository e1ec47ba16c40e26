"""Open a folder written by [`spirograph.hub.export()`][spirograph.hub.export] as the data of a split.

``load_local(path, split)`` is what [`local_dataset()`][spirograph.hub.torch_dataset.local_dataset]
calls: it reads the folder's ``manifest.json``, picks the config with the requested renderer
settings, checks the SHA-256 of every Parquet shard it needs against the manifest and only then
decodes them. Nothing is downloaded; a file that does not match raises
[`ChecksumError`][spirograph.errors.ChecksumError] and is left where it is.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spirograph._checks import is_int
from spirograph.errors import ChecksumError, HubError, ParameterError
from spirograph.hub._extra import require_hub
from spirograph.hub.download import _decode, _shard_rows
from spirograph.hub.schema import HUB_SPLITS, MANIFEST_FORMAT, MANIFEST_NAME, config_for, sha256_file

__all__ = ["load_local"]


def _manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HubError(
            f"load_local: {str(folder)!r} holds no {MANIFEST_NAME}; pass a folder written by `spirograph export`"
        ) from None
    except (OSError, ValueError) as error:
        raise HubError(f"load_local: {str(path)!r} cannot be read as JSON: {error}") from error
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise HubError(f"load_local: {str(path)!r} must have format {MANIFEST_FORMAT}, got {found!r}")
    return manifest


def _verified(folder: Path, relative: str, manifest: dict[str, Any]) -> Path:
    entry = manifest.get("files", {}).get(relative)
    if not isinstance(entry, dict):
        raise HubError(f"load_local: file {relative!r} of {str(folder)!r} has no entry in {MANIFEST_NAME}")
    path = folder / relative
    if not path.is_file():
        raise HubError(f"load_local: file {relative!r} listed in {MANIFEST_NAME} is missing from {str(folder)!r}")
    actual, size = sha256_file(path), path.stat().st_size
    if actual != entry.get("sha256") or size != entry.get("bytes"):
        raise ChecksumError(
            f"load_local: file {relative!r} of {str(folder)!r} does not match {MANIFEST_NAME}: expected SHA-256 "
            f"{entry.get('sha256')} ({entry.get('bytes')} bytes), got {actual} ({size} bytes)"
        )
    return path


def load_local(
    path: str | os.PathLike[str],
    split: str,
    *,
    size: int = 32,
    normalize: str = "row",
    limit: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Read, verify and decode one split of an exported folder.

    Args:
        path: the folder written by [`export`][spirograph.hub.export.export].
        split: ``"train"``, ``"val"`` or ``"test"``.
        size: image side of the config to read.
        normalize: normalisation of the config to read (``"row"`` or ``"image"``).
        limit: the first ``limit`` rows only (only the shards holding them are read).

    Returns:
        ``(params, images)``: params float32 in canonical order and images uint8
        (``round(255 * pixel)``), as [`load_split`][spirograph.hub.download.load_split] returns them.

    Shape:
        params ``(n, 10)``, images ``(n, 3, size, size)``.

    Raises:
        ParameterError: a bad argument.
        HubError: the folder is not an export, or lacks the config, split, rows or a file.
        ChecksumError: a file does not match the SHA-256 recorded in the manifest.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ParameterError(f"load_local: `path` must be a folder path, got {type(path).__name__}")
    if split not in HUB_SPLITS:
        raise ParameterError(f"load_local: `split` must be one of {list(HUB_SPLITS)}, got {split!r}")
    if limit is not None and (not is_int(limit) or limit < 1):
        raise ParameterError(f"load_local: `limit` must be an int >= 1 or None, got {limit!r}")
    folder = Path(path)
    if not folder.is_dir():
        raise HubError(f"load_local: `path` must be a folder written by `spirograph export`, got {str(folder)!r}")
    require_hub("load_local")
    config = config_for(size, normalize, "load_local")
    manifest = _manifest(folder)
    layout = manifest.get("configs", {}).get(config.name)
    if not isinstance(layout, dict):
        raise HubError(
            f"load_local: {str(folder)!r} has configs {sorted(manifest.get('configs', {}))}, not {config.name!r} "
            f"(size={size}, normalize={normalize!r})"
        )
    info = layout.get("splits", {}).get(HUB_SPLITS[split])
    if not isinstance(info, dict):
        raise HubError(
            f"load_local: config {config.name!r} of {str(folder)!r} has splits {sorted(layout.get('splits', {}))}, "
            f"not {HUB_SPLITS[split]!r}"
        )
    wanted = info["num_rows"] if limit is None else limit
    if wanted > info["num_rows"]:
        raise HubError(
            f"load_local: `limit` asks for {wanted} rows of {split!r} but {str(folder)!r} holds {info['num_rows']}"
        )
    params_parts, image_parts, start = [], [], 0
    for relative in info["files"]:
        if start >= wanted:
            break
        shard = _verified(folder, relative, manifest)
        rows = _shard_rows(manifest["files"][relative], relative, "load_local")
        params, images = _decode(shard, relative, size, start, rows, where="load_local")
        params_parts.append(params)
        image_parts.append(images)
        start += len(params)
    if start < wanted:
        raise HubError(f"load_local: the files of {split!r} in {str(folder)!r} hold {start} rows, not {wanted}")
    params_all = torch.from_numpy(np.concatenate(params_parts)[:wanted]).contiguous()
    return params_all, torch.from_numpy(np.concatenate(image_parts)[:wanted]).contiguous()
