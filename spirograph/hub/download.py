"""Download a split of the hub copy, verified file by file against its manifest.

``load_split(split, repo_id=...)`` is what
[`hub_dataset()`][spirograph.hub.torch_dataset.hub_dataset] calls. It fetches ``manifest.json`` from
the dataset repository (through the ``huggingface_hub`` cache, so a second call, or a call with
``HF_HUB_OFFLINE=1``, reads the cache), pins every later download to the commit the manifest came
from, downloads only the Parquet shards that hold the requested rows, and checks each one's SHA-256
against the manifest before reading a byte of it. Any problem (a missing file, a checksum mismatch,
an unreachable or offline hub with a cold cache, a repository without the requested config) raises
[`HubError`][spirograph.errors.HubError] naming the file and repository; no partial data is ever
returned.

There is no default repository: no official copy is published yet, so ``repo_id`` names
the copy you (or someone you trust) exported and pushed; pass ``revision`` (a tag, a
branch or a commit hash) to pin a published version.

An endpoint is not trusted with the file system. ``huggingface_hub`` names a cached blob
after the ``ETag`` (or ``X-Linked-Etag``) the server answers, and folders after its
``X-Repo-Commit``, so an answer such as ``"../../victim"`` would place the blob, its lock and
the snapshot link outside the cache. While
[`load_split()`][spirograph.hub.download.load_split] downloads, every response of
``huggingface_hub``'s HTTP client is checked and one where these are not plain file names is
refused before anything is written;
the file returned must then lie in the repository's own ``snapshots/`` folder and link into
its own ``blobs/`` folder. Removing a corrupt copy touches only those two places and never
follows a link out of them.
"""

from __future__ import annotations

import io
import json
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spirograph._checks import check_choice, check_instance, check_int, is_int
from spirograph.dataset import SPLITS
from spirograph.errors import ChecksumError, ConfigError, HubError, ParameterError
from spirograph.hub._extra import require_hub
from spirograph.hub.schema import (
    HUB_SPLITS,
    MANIFEST_NAME,
    TORCH_SPLITS,
    HubConfig,
    check_manifest,
    config_for,
    sha256_file,
)
from spirograph.render import NORMALIZE_MODES
from spirograph.space import PARAMETER_NAMES

__all__ = ["load_split"]


def _check_arguments(split: Any, repo_id: Any, revision: Any, size: Any, normalize: Any, limit: Any) -> tuple[str, str]:
    where = "load_split"
    check_choice(split, "split", sorted(set(SPLITS) | set(TORCH_SPLITS)), where=where)
    if repo_id is None:
        raise ParameterError(
            "load_split: `repo_id` is required: no official copy is published yet; export and push your own "
            "(`spirograph export --repo-id you/spirograph`, then `spirograph push`) and pass its 'owner/name'"
        )
    check_instance(repo_id, "repo_id", str, where=where, expected="a string 'owner/name'")
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ParameterError(f"load_split: `repo_id` must look like 'owner/name', got {repo_id!r}")
    if revision is not None:
        check_instance(revision, "revision", str, where=where, expected="a non-empty string or None")
        if not revision:
            raise ParameterError("load_split: `revision` must be a non-empty string or None, got ''")
    check_int(size, "size", where=where, minimum=2)
    check_choice(normalize, "normalize", NORMALIZE_MODES, where=where)
    if limit is not None:
        check_int(limit, "limit", where=where, minimum=1)
    return HUB_SPLITS.get(split, split), repo_id


# An ETag names a file in the cache, and X-Repo-Commit a folder (snapshots/<commit>,
# .no_exist/<commit>): each must be a single path component of safe characters (the Hub sends
# hex SHA-1 or SHA-256 digests), never "." or "..", never a separator.
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_NAMING_HEADERS = ("X-Linked-Etag", "ETag", "X-Repo-Commit")
# Set while load_split downloads, so that the response hook acts on its requests only.
_CHECKING_ETAGS: ContextVar[bool] = ContextVar("spirograph_checking_etags", default=False)
_HOOK_LOCK = threading.Lock()


class _UnsafeETagError(HubError):
    """A server answered with an ETag or commit that is not a plain file name."""


def _check_etag(response: Any) -> None:
    """Response hook of ``huggingface_hub``'s HTTP client: refuse a header that would name a path outside the cache."""
    if not _CHECKING_ETAGS.get():
        return
    for header in _NAMING_HEADERS:
        value = response.headers.get(header)
        if value is None:
            continue
        # huggingface_hub's own normalisation of an ETag (file_download._normalize_etag).
        name = value.lstrip("W/").strip('"') if header != "X-Repo-Commit" else value
        if not _SAFE_NAME.fullmatch(name):
            response.close()
            raise _UnsafeETagError(
                f"load_split: the server at {response.request.url} answered the header {header}: {value!r}, "
                "which is not a plain file name; refusing to use it as a cache path"
            )


@contextmanager
def _etags_checked() -> Iterator[None]:
    """Check the ETag and commit of every response ``huggingface_hub`` receives inside the block."""
    from huggingface_hub import get_session

    hooks = get_session().event_hooks["response"]
    with _HOOK_LOCK:
        if _check_etag not in hooks:
            hooks.append(_check_etag)
    token = _CHECKING_ETAGS.set(True)
    try:
        yield
    finally:
        _CHECKING_ETAGS.reset(token)


def _storage_folder(repo_id: str) -> Path:
    """The repository's folder in the hub cache (``<cache>/datasets--owner--name``)."""
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name

    return Path(constants.HF_HUB_CACHE) / repo_folder_name(repo_id=repo_id, repo_type="dataset")


def _inside(path: Path, folder: Path) -> bool:
    return path != folder and folder in path.parents


def _check_cached(path: Path, relative: str, repo_id: str) -> None:
    """Refuse a downloaded path outside the repository's ``snapshots/`` or linking outside its ``blobs/``."""
    storage = _storage_folder(repo_id)
    snapshots = Path(os.path.abspath(storage / "snapshots"))
    pointer = Path(os.path.abspath(path))
    if not _inside(pointer, snapshots):
        raise HubError(f"load_split: file {relative!r} of dataset {repo_id!r} was cached outside {str(snapshots)!r}")
    if pointer.is_symlink() and pointer.resolve().parent != (storage / "blobs").resolve():
        raise HubError(
            f"load_split: the cached {relative!r} of dataset {repo_id!r} links to {str(pointer.resolve())!r}, "
            f"outside the cache's blobs folder; remove {str(pointer)!r} by hand"
        )


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
        with _etags_checked():
            path = Path(hf_hub_download(repo_id, filename, repo_type="dataset", revision=revision))
    except _UnsafeETagError:
        raise
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
    except (HfHubHTTPError, OSError, ValueError) as error:
        # ValueError: huggingface_hub refused a commit hash that would put the file outside its snapshots.
        raise HubError(f"load_split: downloading {where} failed: {error}") from error
    _check_cached(path, filename, repo_id)
    return path


def _pinned_revision(manifest_path: Path, revision: str | None) -> str | None:
    """The commit hash the manifest was served from (``.../snapshots/<commit>/manifest.json``)."""
    if manifest_path.parent.parent.name == "snapshots":
        return manifest_path.parent.name
    return revision


def _discard(path: Path, repo_id: str) -> None:
    """Remove a corrupt file from the hub cache: its snapshot entry and the blob that entry links to.

    Only a path inside the repository's ``snapshots/`` folder is unlinked (the link itself, never
    what it points to), and only a blob whose real location is a file directly in the
    repository's ``blobs/`` folder; anything else is left where it is.
    """
    storage = _storage_folder(repo_id)
    pointer = Path(os.path.abspath(path))
    if not _inside(pointer, Path(os.path.abspath(storage / "snapshots"))):
        return
    blob: Path | None = None
    if pointer.is_symlink():
        target = pointer.resolve()
        if target.parent == (storage / "blobs").resolve() and not target.is_symlink() and target.is_file():
            blob = target
    try:
        pointer.unlink(missing_ok=True)
        if blob is not None:
            blob.unlink(missing_ok=True)
    except OSError:
        pass


def _verify(path: Path, relative: str, entry: dict[str, Any], repo_id: str) -> None:
    actual = sha256_file(path)
    size = path.stat().st_size
    if actual != entry["sha256"] or size != entry["bytes"]:
        _discard(path, repo_id)
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


def _shard_rows(entry: dict[str, Any], relative: str, where: str) -> int:
    """The row count a manifest entry gives a shard (a shard holds at least one row)."""
    rows = entry.get("num_rows")
    if not is_int(rows) or rows < 1:
        raise HubError(f"{where}: {MANIFEST_NAME} gives file {relative!r} {rows!r} rows, not an int >= 1")
    return rows


def _decode(
    path: Path, relative: str, size: int, start: int, rows: int, where: str = "load_split"
) -> tuple[np.ndarray, np.ndarray]:
    """Parameters ``(rows, 10)`` float32 and images ``(rows, 3, size, size)`` uint8 of one verified shard.

    The shard must hold exactly ``rows`` rows, indexed from ``start`` on.
    """
    import pyarrow.parquet as pq
    from PIL import Image

    table = pq.read_table(path, columns=["index", "image", *PARAMETER_NAMES])
    if table.num_rows != rows:
        raise HubError(f"{where}: file {relative!r} holds {table.num_rows} rows but {MANIFEST_NAME} says {rows}")
    index = table.column("index").to_numpy()
    if not np.array_equal(index, np.arange(start, start + len(index))):
        raise HubError(f"{where}: file {relative!r} must hold rows {start}.. in order, got indices {index[:4]}...")
    params = np.stack([table.column(name).to_numpy() for name in PARAMETER_NAMES], axis=1).astype(np.float32)
    images = np.empty((len(index), 3, size, size), dtype=np.uint8)
    for k, cell in enumerate(table.column("image").to_pylist()):
        with Image.open(io.BytesIO(cell["bytes"])) as picture:
            pixels = np.asarray(picture.convert("RGB"))
        if pixels.shape != (size, size, 3):
            raise HubError(
                f"{where}: file {relative!r} row {start + k} must be a {size}x{size} RGB image, got {pixels.shape}"
            )
        images[k] = pixels.transpose(2, 0, 1)
    return params, images


def _split_layout(manifest: dict[str, Any], config: HubConfig, hub_split: str, repo: str) -> dict[str, Any]:
    """The manifest's entry of ``hub_split`` in ``config``, checked to be the config asked for."""
    configs = manifest.get("configs", {})
    if config.name not in configs:
        raise HubError(
            f"load_split: dataset {repo!r} has configs {sorted(configs)}, not {config.name!r} "
            f"(size={config.size}, normalize={config.normalize!r})"
        )
    layout = configs[config.name]
    if (layout.get("size"), layout.get("normalize")) != (config.size, config.normalize):
        raise HubError(
            f"load_split: config {config.name!r} of dataset {repo!r} must have size={config.size}, "
            f"normalize={config.normalize!r}, got size={layout.get('size')}, normalize={layout.get('normalize')!r}"
        )
    if hub_split not in layout.get("splits", {}):
        raise HubError(
            f"load_split: config {config.name!r} of dataset {repo!r} has splits {sorted(layout['splits'])}, "
            f"not {hub_split!r}"
        )
    return dict(layout["splits"][hub_split])


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
        repo_id: the dataset repository, ``"owner/name"`` (required: there is no default copy).
        revision: a branch, tag or commit hash to pin; the repository's ``main`` by default.
        size: the image side; with ``normalize`` it chooses the config (``32, "row"`` is ``v1``,
            ``32, "image"`` is ``v1-image``, ``64, ...`` the 64x64 configs).
        normalize: ``"row"`` or ``"image"``; with ``size`` it chooses the config.
        limit: the first ``limit`` rows only (only the shards holding them are downloaded).

    Returns:
        ``(params, images)``: params float32 in canonical order
        ([`spirograph.PARAMETER_NAMES`][spirograph.space.PARAMETER_NAMES])
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
    require_hub("load_split")
    try:
        config = config_for(size, normalize, "load_split")
    except ConfigError as error:
        raise ParameterError(str(error)) from error

    manifest_path = _fetch(repo, MANIFEST_NAME, revision)
    manifest = _read_manifest(manifest_path, repo)
    pinned = _pinned_revision(manifest_path, revision)
    info = _split_layout(manifest, config, hub_split, repo)
    wanted = info["num_rows"] if limit is None else limit
    if wanted > info["num_rows"]:
        raise HubError(
            f"load_split: `limit` asks for {wanted} rows of {hub_split!r} but dataset {repo!r} "
            f"(config {config.name!r}) holds {info['num_rows']}"
        )

    # The shards that hold rows [0, wanted), all downloaded and verified before any is read.
    chosen: list[tuple[str, Path, int, int]] = []
    start = 0
    for relative in info["files"]:
        if start >= wanted:
            break
        entry = manifest["files"].get(relative)
        if entry is None:
            raise HubError(f"load_split: file {relative!r} of dataset {repo!r} has no entry in {MANIFEST_NAME}")
        path = _fetch(repo, relative, pinned)
        _verify(path, relative, entry, repo)
        rows = _shard_rows(entry, relative, "load_split")
        chosen.append((relative, path, start, rows))
        start += rows
    if start < wanted:
        raise HubError(f"load_split: the files of {hub_split!r} in dataset {repo!r} hold {start} rows, not {wanted}")

    # Every count is checked against what was decoded: no shorter split is ever returned.
    params_parts, image_parts = [], []
    for relative, path, first, rows in chosen:
        params, images = _decode(path, relative, size, first, rows)
        params_parts.append(params)
        image_parts.append(images)
    params_all = torch.from_numpy(np.concatenate(params_parts)[:wanted])
    images_all = torch.from_numpy(np.concatenate(image_parts)[:wanted])
    if len(params_all) != wanted:
        raise HubError(
            f"load_split: decoded {len(params_all)} rows of {hub_split!r} from dataset {repo!r}, not {wanted}"
        )
    return params_all.contiguous(), images_all.contiguous()
