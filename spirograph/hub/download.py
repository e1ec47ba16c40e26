"""Download a split of the hub copy, verified file by file against its manifest.

``load_split(split)`` is what ``Spirograph(split, source="hub")`` calls. It fetches
``manifest.json`` from the dataset repository (through the ``huggingface_hub`` cache, so a
second call, or a call with ``HF_HUB_OFFLINE=1``, reads the cache), pins every later
download to the commit the manifest came from, downloads only the Parquet shards that
hold the requested rows, and checks each one's SHA-256 against the manifest before
reading a byte of it. Any problem (a missing file, a checksum mismatch, an unreachable
or offline hub with a cold cache, a repository without the requested config) raises
:class:`~spirograph.errors.HubError` naming the file and repository; no partial data is
ever returned.

The default repository is :data:`spirograph.hub.schema.DEFAULT_REPO_ID`
(``"spirograph/spirograph"``); pass ``repo_id`` for a mirror and ``revision`` (a tag, a
branch or a commit hash) to pin a published version.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spirograph.dataset import SPLITS
from spirograph.errors import ChecksumError, ConfigError, HubError, ParameterError
from spirograph.hub.schema import (
    DEFAULT_REPO_ID,
    HUB_SPLITS,
    MANIFEST_NAME,
    TORCH_SPLITS,
    check_manifest,
    config_for,
    sha256_file,
)
from spirograph.render import NORMALIZE_MODES
from spirograph.space import PARAMETER_NAMES

__all__ = ["load_split"]


def _check_arguments(split: Any, repo_id: Any, revision: Any, size: Any, normalize: Any, limit: Any) -> tuple[str, str]:
    if not isinstance(split, str) or (split not in SPLITS and split not in TORCH_SPLITS):
        known = sorted(set(SPLITS) | set(TORCH_SPLITS))
        raise ParameterError(f"load_split: `split` must be one of {known}, got {split!r}")
    if repo_id is not None and (not isinstance(repo_id, str) or repo_id.count("/") != 1 or not all(repo_id.split("/"))):
        raise ParameterError(f"load_split: `repo_id` must look like 'owner/name' or be None, got {repo_id!r}")
    if revision is not None and (not isinstance(revision, str) or not revision):
        raise ParameterError(f"load_split: `revision` must be a non-empty string or None, got {revision!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 2:
        raise ParameterError(f"load_split: `size` must be an int >= 2, got {size!r}")
    if normalize not in NORMALIZE_MODES:
        raise ParameterError(f"load_split: `normalize` must be one of {list(NORMALIZE_MODES)}, got {normalize!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ParameterError(f"load_split: `limit` must be an int >= 1 or None, got {limit!r}")
    hub_split = HUB_SPLITS.get(split, split)
    return hub_split, repo_id or DEFAULT_REPO_ID


def _fetch(repo_id: str, filename: str, revision: str | None) -> Path:
    """Download one file of the dataset repository into the hub cache; every failure is a HubError."""
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"{filename!r} of dataset {repo_id!r} at revision {revision or constants.DEFAULT_REVISION!r}"
    try:
        return Path(hf_hub_download(repo_id, filename, repo_type="dataset", revision=revision))
    except LocalEntryNotFoundError as error:
        # Raised when the Hub cannot be reached (or HF_HUB_OFFLINE=1) and the file is not cached.
        mode = "offline mode is on (HF_HUB_OFFLINE=1)" if constants.is_offline_mode() else "the Hub is unreachable"
        raise HubError(f"load_split: cannot get {where}: {mode} and the file is not in the local cache") from error
    except RepositoryNotFoundError as error:
        raise HubError(f"load_split: dataset repository {repo_id!r} not found (or private without a token)") from error
    except RevisionNotFoundError as error:
        raise HubError(f"load_split: revision {revision!r} not found in dataset {repo_id!r}") from error
    except EntryNotFoundError as error:
        raise HubError(f"load_split: file {where} is missing from the repository") from error
    except (HfHubHTTPError, OSError) as error:
        raise HubError(f"load_split: downloading {where} failed: {error}") from error


def _pinned_revision(manifest_path: Path, revision: str | None) -> str | None:
    """The commit hash the manifest was served from (``.../snapshots/<commit>/manifest.json``)."""
    if manifest_path.parent.parent.name == "snapshots":
        return manifest_path.parent.name
    return revision


def _discard(path: Path) -> None:
    """Remove a corrupt file from the hub cache (the snapshot link and the blob it points to)."""
    try:
        target = path.resolve()
        path.unlink(missing_ok=True)
        if target != path:
            target.unlink(missing_ok=True)
    except OSError:
        pass


def _verify(path: Path, relative: str, entry: dict[str, Any], repo_id: str) -> None:
    actual = sha256_file(path)
    size = path.stat().st_size
    if actual != entry["sha256"] or size != entry["bytes"]:
        _discard(path)
        raise ChecksumError(
            f"load_split: file {relative!r} of dataset {repo_id!r} does not match the manifest: expected "
            f"SHA-256 {entry['sha256']} ({entry['bytes']} bytes), got {actual} ({size} bytes); "
            "the corrupt copy was removed from the cache"
        )


def _read_manifest(path: Path, repo_id: str) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise HubError(f"load_split: {MANIFEST_NAME} of dataset {repo_id!r} is not valid JSON: {error}") from error
    return check_manifest(manifest, f"load_split: {MANIFEST_NAME} of dataset {repo_id!r}")


def _decode(path: Path, relative: str, size: int, start: int) -> tuple[np.ndarray, np.ndarray]:
    """Parameters ``(n, 10)`` float32 and images ``(n, 3, size, size)`` uint8 of one verified shard."""
    import pyarrow.parquet as pq
    from PIL import Image

    table = pq.read_table(path, columns=["index", "image", *PARAMETER_NAMES])
    index = table.column("index").to_numpy()
    if not np.array_equal(index, np.arange(start, start + len(index))):
        raise HubError(f"load_split: file {relative!r} must hold rows {start}.. in order, got indices {index[:4]}...")
    params = np.stack([table.column(name).to_numpy() for name in PARAMETER_NAMES], axis=1).astype(np.float32)
    images = np.empty((len(index), 3, size, size), dtype=np.uint8)
    for k, cell in enumerate(table.column("image").to_pylist()):
        with Image.open(io.BytesIO(cell["bytes"])) as picture:
            pixels = np.asarray(picture.convert("RGB"))
        if pixels.shape != (size, size, 3):
            raise HubError(
                f"load_split: file {relative!r} row {start + k} must be a {size}x{size} RGB image, got {pixels.shape}"
            )
        images[k] = pixels.transpose(2, 0, 1)
    return params, images


def load_split(
    split: str,
    *,
    repo_id: str | None = None,
    revision: str | None = None,
    size: int = 32,
    normalize: str = "row",
    limit: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Download, verify and decode one split of the hub copy.

    Args:
        split: ``"train"``, ``"val"`` (or ``"validation"``) or ``"test"``.
        repo_id: the dataset repository; :data:`DEFAULT_REPO_ID` (``"spirograph/spirograph"``) by default.
        revision: a branch, tag or commit hash to pin; the repository's ``main`` by default.
        size, normalize: the renderer settings, which choose the config (``32, "row"`` is ``v1``,
            ``32, "image"`` is ``v1-image``, ``64, ...`` the 64x64 configs).
        limit: the first ``limit`` rows only (only the shards holding them are downloaded).

    Returns:
        ``(params, images)``: params float32 in canonical order (:data:`spirograph.PARAMETER_NAMES`)
        and images uint8 (``round(255 * pixel)`` of the rendered float image).

    Shape:
        params ``(n, 10)``, images ``(n, 3, size, size)``.

    Raises:
        ParameterError: a bad argument.
        HubError: the hub or a file cannot be reached (``HF_HUB_OFFLINE=1`` with a cold cache
            included), a file is missing, or the repository lacks the config, split or rows.
        ChecksumError: a file does not match the SHA-256 in the manifest (its cached copy is removed).
    """
    hub_split, repo = _check_arguments(split, repo_id, revision, size, normalize, limit)
    try:
        config = config_for(size, normalize, "load_split")
    except ConfigError as error:
        raise ParameterError(str(error)) from error

    manifest_path = _fetch(repo, MANIFEST_NAME, revision)
    manifest = _read_manifest(manifest_path, repo)
    pinned = _pinned_revision(manifest_path, revision)
    configs = manifest.get("configs", {})
    if config.name not in configs:
        raise HubError(
            f"load_split: dataset {repo!r} has configs {sorted(configs)}, not {config.name!r} "
            f"(size={size}, normalize={normalize!r})"
        )
    layout = configs[config.name]
    if (layout.get("size"), layout.get("normalize")) != (size, normalize):
        raise HubError(
            f"load_split: config {config.name!r} of dataset {repo!r} must have size={size}, normalize={normalize!r}, "
            f"got size={layout.get('size')}, normalize={layout.get('normalize')!r}"
        )
    if hub_split not in layout.get("splits", {}):
        raise HubError(
            f"load_split: config {config.name!r} of dataset {repo!r} has splits {sorted(layout['splits'])}, "
            f"not {hub_split!r}"
        )
    info = layout["splits"][hub_split]
    wanted = info["num_rows"] if limit is None else limit
    if wanted > info["num_rows"]:
        raise HubError(
            f"load_split: `limit` asks for {wanted} rows of {hub_split!r} but dataset {repo!r} "
            f"(config {config.name!r}) holds {info['num_rows']}"
        )

    # The shards that hold rows [0, wanted), all downloaded and verified before any is read.
    chosen: list[tuple[str, Path, int]] = []
    start = 0
    for relative in info["files"]:
        if start >= wanted:
            break
        entry = manifest["files"].get(relative)
        if entry is None:
            raise HubError(f"load_split: file {relative!r} of dataset {repo!r} has no entry in {MANIFEST_NAME}")
        path = _fetch(repo, relative, pinned)
        _verify(path, relative, entry, repo)
        chosen.append((relative, path, start))
        start += int(entry["num_rows"])
    if start < wanted:
        raise HubError(f"load_split: the files of {hub_split!r} in dataset {repo!r} hold {start} rows, not {wanted}")

    params_parts, image_parts = [], []
    for relative, path, first in chosen:
        params, images = _decode(path, relative, size, first)
        params_parts.append(params)
        image_parts.append(images)
    params_all = torch.from_numpy(np.concatenate(params_parts)[:wanted])
    images_all = torch.from_numpy(np.concatenate(image_parts)[:wanted])
    return params_all.contiguous(), images_all.contiguous()
