"""Open a folder written by [`spirograph.hub.export()`][spirograph.hub.export] as the data of a split.

``load_local(path, split)`` is what [`local_dataset()`][spirograph.hub.torch_dataset.local_dataset]
calls: it reads the folder's ``manifest.json``, picks the config with the requested renderer
settings, checks the SHA-256 of every Parquet shard it needs against the manifest and only then
decodes them. Nothing is downloaded; a file that does not match raises
[`ChecksumError`][spirograph.errors.ChecksumError] and is left where it is.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from spirograph._checks import is_int
from spirograph.errors import ChecksumError, HubError, ParameterError
from spirograph.files import read_json, resolve_member
from spirograph.hub._extra import require_hub
from spirograph.hub.download import read_rows, split_layout
from spirograph.hub.schema import HUB_SPLITS, MANIFEST_NAME, check_manifest, config_for, sha256_file

__all__ = ["load_local"]


def _manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST_NAME
    if not path.exists() and not path.is_symlink():
        raise HubError(
            f"load_local: {str(folder)!r} holds no {MANIFEST_NAME}; pass a folder written by `spirograph export`"
        )
    path = resolve_member(folder, MANIFEST_NAME, where="load_local", what=repr(str(folder)), error=HubError)
    what = f"{MANIFEST_NAME} of {str(folder)!r}"
    return check_manifest(read_json(path, where="load_local", what=what, error=HubError), f"load_local: {what}")


def _verified(folder: Path, relative: str, entry: dict[str, Any]) -> Path:
    what = f"{MANIFEST_NAME} of {str(folder)!r}"
    path = resolve_member(folder, relative, where="load_local", what=what, error=HubError)
    if not path.is_file():
        raise HubError(f"load_local: file {relative!r} listed in {MANIFEST_NAME} is missing from {str(folder)!r}")
    size = path.stat().st_size
    if size != entry["bytes"]:
        raise ChecksumError(
            f"load_local: file {relative!r} of {str(folder)!r} does not match {MANIFEST_NAME}: expected "
            f"{entry['bytes']} bytes, got {size} bytes"
        )
    actual = sha256_file(path)
    if actual != entry["sha256"]:
        raise ChecksumError(
            f"load_local: file {relative!r} of {str(folder)!r} does not match {MANIFEST_NAME}: expected SHA-256 "
            f"{entry['sha256']} ({entry['bytes']} bytes), got {actual}"
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
    copy = repr(str(folder))
    info = split_layout(manifest, config, HUB_SPLITS[split], "load_local", copy)
    wanted = info["num_rows"] if limit is None else limit

    def get(relative: str, entry: dict[str, Any]) -> Path:
        return _verified(folder, relative, entry)

    params, images = read_rows(manifest, info, wanted, size, "load_local", split, copy, get)
    return params.contiguous(), images.contiguous()
