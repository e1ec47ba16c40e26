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

import functools
import importlib
import io
import os
import re
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spirograph._checks import check_choice, check_instance, check_int, check_number, is_int
from spirograph.dataset import SPLITS
from spirograph.errors import ChecksumError, ConfigError, HubError, ParameterError
from spirograph.files import JSON_MAX_BYTES, read_json
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

__all__ = ["DEFAULT_TIMEOUT", "load_split", "read_rows", "split_layout"]


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
# Headers that would hand the download to hf_xet, outside the HTTP client whose requests are bounded here.
_XET_HEADERS = ("X-Xet-Hash", "X-Xet-Refresh-Route")
_HOOK_LOCK = threading.Lock()

DEFAULT_TIMEOUT = 60.0
"""Seconds the download of one file may take by default, every request and retry for it included."""


@dataclass(frozen=True)
class _Transfer:
    """The file ``load_split`` is downloading: at most ``limit`` bytes, before ``deadline`` (``time.monotonic``)."""

    name: str
    limit: int
    timeout: float
    deadline: float


# Set while load_split downloads, so that the hooks act on its requests only.
_TRANSFER: ContextVar[_Transfer | None] = ContextVar("spirograph_transfer", default=None)


class _RefusedResponse(HubError):
    """A response refused by a hook (raised through ``huggingface_hub``, which must not wrap it)."""


class _UnsafeETagError(_RefusedResponse):
    """A server answered with an ETag or commit that is not a plain file name."""


class _TransferLimitError(_RefusedResponse):
    """A download ran past the bytes the manifest gives the file, or past its time limit."""


def _http_module() -> Any:
    """The HTTP library of ``huggingface_hub``'s client (``httpx`` or its fork), for its error classes."""
    from huggingface_hub import get_session

    return importlib.import_module(type(get_session()).__module__.split(".")[0])


def _out_of_time(transfer: _Transfer) -> _TransferLimitError:
    return _TransferLimitError(
        f"load_split: downloading {transfer.name!r} took longer than `timeout`={transfer.timeout} s; "
        "pass a larger `timeout` on a slow connection"
    )


def _bound_request(request: Any) -> None:
    """Request hook: no request once the file's time is spent, and none that may wait beyond it."""
    transfer = _TRANSFER.get()
    if transfer is None:
        return
    remaining = transfer.deadline - time.monotonic()
    if remaining <= 0:
        raise _out_of_time(transfer)
    request.extensions["timeout"] = {key: remaining for key in ("connect", "read", "write", "pool")}


def _too_long(transfer: _Transfer) -> _TransferLimitError:
    return _TransferLimitError(
        f"load_split: the server sent more than the {transfer.limit} bytes {MANIFEST_NAME} gives "
        f"{transfer.name!r}; download stopped"
    )


# Bytes a compressed body (Content-Encoding) may add to the file it carries: headers, a last block.
_ENCODING_MARGIN = 1 << 16


@functools.cache
def _bounded_stream_class(http: Any) -> type:
    """A byte stream of ``http`` (httpx or its fork) that stops past a transfer's bytes or deadline."""

    class BoundedStream(http.SyncByteStream):
        def __init__(self, stream: Any, transfer: _Transfer) -> None:
            self._stream, self._transfer = stream, transfer

        def __iter__(self) -> Iterator[bytes]:
            received = 0
            for chunk in self._stream:
                received += len(chunk)
                if received > self._transfer.limit + _ENCODING_MARGIN:
                    raise _too_long(self._transfer)
                if time.monotonic() > self._transfer.deadline:
                    raise _out_of_time(self._transfer)
                yield chunk

        def close(self) -> None:
            self._stream.close()

    return BoundedStream


def _bounded_bytes(iter_bytes: Any, transfer: _Transfer) -> Any:
    """``response.iter_bytes`` (the body decoded) that stops past ``transfer.limit`` bytes."""

    def bounded(*args: Any, **kwargs: Any) -> Iterator[bytes]:
        received = 0
        for chunk in iter_bytes(*args, **kwargs):
            received += len(chunk)
            if received > transfer.limit:
                raise _too_long(transfer)
            yield chunk

    return bounded


def _check_response(response: Any) -> None:
    """Response hook of ``huggingface_hub``'s HTTP client, while ``load_split`` downloads.

    Refuses a header that would name a path outside the cache, keeps the download in this
    client (no hand-over to hf_xet), and bounds the body to the file's size and time.
    """
    transfer = _TRANSFER.get()
    if transfer is None:
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
    for header in _XET_HEADERS:
        response.headers.pop(header, None)
    if response.request.method != "GET":
        return
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > transfer.limit:
        response.close()
        raise _TransferLimitError(
            f"load_split: the server announced {declared} bytes for {transfer.name!r}, more than the "
            f"{transfer.limit} bytes {MANIFEST_NAME} gives it"
        )
    # The raw stream, read as the bytes arrive, bounds the time and the bytes received; the decoded
    # body (after any Content-Encoding) is bounded too.
    response.stream = _bounded_stream_class(_http_module())(response.stream, transfer)
    response.iter_bytes = _bounded_bytes(response.iter_bytes, transfer)


@contextmanager
def _bounded_transfer(name: str, limit: int, timeout: float) -> Iterator[None]:
    """Check and bound every request and response ``huggingface_hub`` makes inside the block."""
    from huggingface_hub import get_session

    hooks = get_session().event_hooks
    with _HOOK_LOCK:
        if _bound_request not in hooks["request"]:
            hooks["request"].append(_bound_request)
        if _check_response not in hooks["response"]:
            hooks["response"].append(_check_response)
    token = _TRANSFER.set(_Transfer(name, limit, timeout, time.monotonic() + timeout))
    try:
        yield
    finally:
        _TRANSFER.reset(token)


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


def _fetch(repo_id: str, filename: str, revision: str | None, limit: int, timeout: float) -> Path:
    """Download one file (at most ``limit`` bytes, in ``timeout`` s) to the hub cache; every failure a HubError."""
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    http = _http_module()
    where = f"{filename!r} of dataset {repo_id!r} at revision {revision or constants.DEFAULT_REVISION!r}"
    try:
        with _bounded_transfer(filename, limit, timeout):
            path = Path(
                hf_hub_download(repo_id, filename, repo_type="dataset", revision=revision, etag_timeout=timeout)
            )
    except _RefusedResponse:
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
    except (HfHubHTTPError, OSError, ValueError, http.HTTPError, http.StreamError) as error:
        # ValueError: huggingface_hub refused a commit hash that would put the file outside its snapshots.
        # HTTPError: a timeout, a broken or endless redirect, a protocol error of the server.
        raise HubError(f"load_split: downloading {where} failed: {type(error).__name__}: {error}") from error
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
    what = f"{MANIFEST_NAME} of dataset {repo_id!r}"
    manifest = read_json(path, where="load_split", what=what, error=HubError)
    return check_manifest(manifest, f"load_split: {what}")


def _shard_rows(entry: dict[str, Any], relative: str, where: str) -> int:
    """The row count a manifest entry gives a shard (a shard holds at least one row)."""
    rows = entry.get("num_rows")
    if not is_int(rows) or rows < 1:
        raise HubError(f"{where}: {MANIFEST_NAME} gives file {relative!r} {rows!r} rows, not an int >= 1")
    return rows


# The bytes a row of a shard may decode to, for images of side S: a PNG holds at most the raw
# pixels (3 S^2 bytes, plus a filter byte a line) with zlib's and PNG's overhead, which twice the
# pixels and a margin bound; the index, the ten parameters and the targets are a few dozen bytes.
_ROW_MARGIN = 8192


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_limit(size: int) -> int:
    return 2 * 3 * size * (size + 1) + _ROW_MARGIN


def _column_types() -> dict[str, Any]:
    import pyarrow as pa

    return {"index": pa.int64(), **{name: pa.float32() for name in PARAMETER_NAMES}}


def _decode(
    path: Path, relative: str, size: int, start: int, rows: int, wanted: int, where: str = "load_split"
) -> tuple[np.ndarray, np.ndarray]:
    """Parameters ``(wanted, 10)`` float32 and images ``(wanted, 3, size, size)`` uint8 of one verified shard.

    The shard must hold exactly ``rows`` rows, indexed from ``start`` on; only the row groups
    holding its first ``wanted`` rows are read, and only once their decoded size (from the
    Parquet metadata) is within what ``wanted`` rows of ``size x size`` images may take.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
        metadata = parquet.metadata
        schema = parquet.schema_arrow
    except (pa.ArrowException, OSError) as error:
        raise HubError(f"{where}: file {relative!r} is not a readable Parquet file: {error}") from error
    if metadata.num_rows != rows:
        raise HubError(f"{where}: file {relative!r} holds {metadata.num_rows} rows but {MANIFEST_NAME} says {rows}")
    for name, kind in {**_column_types(), "image": None}.items():
        found = schema.field(name).type if name in schema.names else None
        good = (
            found == kind
            if kind is not None
            else isinstance(found, pa.StructType)
            and found.get_field_index("bytes") >= 0
            and found.field("bytes").type == pa.binary()
        )
        if not good:
            expected = kind if kind is not None else "struct<bytes: binary, ...>"
            raise HubError(f"{where}: file {relative!r} must have a column {name!r} of type {expected}, got {found}")
    groups, covered, decoded = [], 0, 0
    for group in range(metadata.num_row_groups):
        if covered >= wanted:
            break
        info = metadata.row_group(group)
        groups.append(group)
        covered += info.num_rows
        decoded += sum(info.column(k).total_uncompressed_size for k in range(info.num_columns))
    if decoded > covered * _png_limit(size):
        raise HubError(
            f"{where}: file {relative!r} would decode {covered} rows to {decoded} bytes, more than "
            f"{size}x{size} PNG images take; refusing to decode it"
        )
    try:
        table = parquet.read_row_groups(groups, columns=["index", "image", *PARAMETER_NAMES]).slice(0, wanted)
    except (pa.ArrowException, OSError) as error:
        raise HubError(f"{where}: file {relative!r} cannot be decoded: {error}") from error
    if table.num_rows != wanted:
        raise HubError(f"{where}: file {relative!r} holds {table.num_rows} rows where {wanted} were needed")
    index = table.column("index").to_numpy(zero_copy_only=False)
    if table.column("index").null_count or not np.array_equal(index, np.arange(start, start + wanted)):
        raise HubError(f"{where}: file {relative!r} must hold rows {start}.. in order, got indices {index[:4]}...")
    for name in PARAMETER_NAMES:
        if table.column(name).null_count:
            raise HubError(f"{where}: file {relative!r} has a missing value in column {name!r}")
    params = np.stack([table.column(name).to_numpy() for name in PARAMETER_NAMES], axis=1).astype(np.float32)
    if not np.isfinite(params).all():
        raise HubError(f"{where}: file {relative!r} holds parameters that are NaN or infinite")
    cells = table.column("image").combine_chunks()
    pngs = cells.field("bytes").to_pylist() if cells.null_count == 0 else [None] * wanted
    images = np.empty((wanted, 3, size, size), dtype=np.uint8)
    for k, data in enumerate(pngs):
        images[k] = _decode_png(data, size, f"{where}: file {relative!r} row {start + k}")
    return params, images


def _decode_png(data: bytes | None, size: int, what: str) -> np.ndarray:
    """The ``(3, size, size)`` pixels of a PNG, refused by its length and declared size before decoding."""
    from PIL import Image

    if data is None:
        raise HubError(f"{what} has no image")
    if len(data) > _png_limit(size):
        raise HubError(f"{what} holds {len(data)} bytes, more than a {size}x{size} PNG takes")
    # The size a PNG declares is in its first chunk, IHDR: read it before any pixel is decoded.
    if len(data) < 24 or data[:8] != _PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise HubError(f"{what} is not a readable PNG image: no PNG signature and header")
    declared = struct.unpack(">II", data[16:24])
    if declared != (size, size):
        raise HubError(f"{what} must be a {size}x{size} RGB image, got a declared size of {declared}")
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as picture:
            pixels = np.asarray(picture.convert("RGB"))
    except (OSError, ValueError, EOFError, SyntaxError, Image.DecompressionBombError) as error:
        raise HubError(f"{what} is not a readable PNG image: {error}") from error
    if pixels.shape != (size, size, 3):
        raise HubError(f"{what} must be a {size}x{size} RGB image, got {pixels.shape}")
    return pixels.transpose(2, 0, 1)


def split_layout(manifest: dict[str, Any], config: HubConfig, hub_split: str, where: str, copy: str) -> dict[str, Any]:
    """The manifest's entry of ``hub_split`` in ``config``, checked to be the config asked for.

    Args:
        manifest: a manifest checked by [`check_manifest()`][spirograph.hub.schema.check_manifest].
        config: the config asked for.
        hub_split: the hub split name.
        where: the caller's name, for the message.
        copy: the copy, for the message (``"dataset 'a/b'"``, a folder).

    Returns:
        The split's entry: ``num_rows`` and ``files``.

    Raises:
        HubError: the copy lacks the config or the split, or its config has other settings.
    """
    configs = manifest["configs"]
    if config.name not in configs:
        raise HubError(
            f"{where}: {copy} has configs {sorted(configs)}, not {config.name!r} "
            f"(size={config.size}, normalize={config.normalize!r})"
        )
    layout = configs[config.name]
    if (layout["size"], layout["normalize"]) != (config.size, config.normalize):
        raise HubError(
            f"{where}: config {config.name!r} of {copy} must have size={config.size}, "
            f"normalize={config.normalize!r}, got size={layout['size']}, normalize={layout['normalize']!r:.40}"
        )
    if hub_split not in layout["splits"]:
        raise HubError(
            f"{where}: config {config.name!r} of {copy} has splits {sorted(layout['splits'])}, not {hub_split!r}"
        )
    return dict(layout["splits"][hub_split])


def read_rows(
    manifest: dict[str, Any],
    info: dict[str, Any],
    wanted: int,
    size: int,
    where: str,
    split: str,
    copy: str,
    get: Callable[[str, dict[str, Any]], Path],
) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``wanted`` rows of a split: each shard holding them got (verified) by ``get``, then decoded.

    Every shard is got before any is decoded, and every count is checked against what was
    decoded: no shorter split is ever returned.
    """
    if wanted > info["num_rows"]:
        raise HubError(f"{where}: `limit` asks for {wanted} rows of {split!r} but {copy} holds {info['num_rows']}")
    chosen: list[tuple[str, Path, int, int]] = []
    start = 0
    for relative in info["files"]:
        if start >= wanted:
            break
        entry = manifest["files"][relative]
        rows = _shard_rows(entry, relative, where)
        chosen.append((relative, get(relative, entry), start, rows))
        start += rows
    if start < wanted:
        raise HubError(f"{where}: the files of {split!r} in {copy} hold {start} rows, not {wanted}")
    params_parts, image_parts = [], []
    for relative, path, first, rows in chosen:
        params, images = _decode(path, relative, size, first, rows, min(rows, wanted - first), where)
        params_parts.append(params)
        image_parts.append(images)
    return torch.from_numpy(np.concatenate(params_parts)), torch.from_numpy(np.concatenate(image_parts))


def load_split(
    split: str,
    *,
    repo_id: str | None = None,
    revision: str | None = None,
    size: int = 32,
    normalize: str = "row",
    limit: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
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
        timeout: seconds the download of one file may take, every request and retry for it
            included ([`DEFAULT_TIMEOUT`][spirograph.hub.download.DEFAULT_TIMEOUT] by default); a
            slower file raises `HubError`.

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
    timeout = check_number(timeout, "timeout", where="load_split", above=0)
    require_hub("load_split")
    try:
        config = config_for(size, normalize, "load_split")
    except ConfigError as error:
        raise ParameterError(str(error)) from error

    manifest_path = _fetch(repo, MANIFEST_NAME, revision, JSON_MAX_BYTES, timeout)
    manifest = _read_manifest(manifest_path, repo)
    pinned = _pinned_revision(manifest_path, revision)
    copy = f"dataset {repo!r} (config {config.name!r})"
    info = split_layout(manifest, config, hub_split, "load_split", f"dataset {repo!r}")
    wanted = info["num_rows"] if limit is None else limit

    def get(relative: str, entry: dict[str, Any]) -> Path:
        path = _fetch(repo, relative, pinned, entry["bytes"], timeout)
        _verify(path, relative, entry, repo)
        return path

    params, images = read_rows(manifest, info, wanted, size, "load_split", hub_split, copy, get)
    return params.contiguous(), images.contiguous()
