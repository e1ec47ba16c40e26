"""Check a local export against its manifest, file by file.

``verify_export(path)`` is what ``spirograph verify DIR`` runs: it reads ``manifest.json``,
then checks that every file the manifest lists is present, a regular file, of the recorded
size and SHA-256, that every shard holds the recorded number of rows, that every split's rows
add up, and that no data file the manifest does not list lies in the export (``datasets``
would load it). The first problem raises [`ExportError`][spirograph.errors.ExportError] naming the
file. Files outside the data (``.git/``, ``.gitattributes``) are not the manifest's business
and are left unchecked.

[`read_manifest()`][spirograph.hub.verify.read_manifest] and
[`unlisted_paths()`][spirograph.hub.verify.unlisted_paths] are shared with
[`spirograph.hub.export`][spirograph.hub.export], which replaces a folder only when it is
provably a previous export.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any

from spirograph.errors import ExportError
from spirograph.files import read_json, resolve_member
from spirograph.hub._extra import require_hub
from spirograph.hub.schema import MANIFEST_FORMAT, MANIFEST_NAME, check_manifest, sha256_file

__all__ = ["read_manifest", "unlisted_paths", "verify_export"]

_DATA_FOLDER = "data"


def read_manifest(folder: Path, where: str) -> dict[str, Any]:
    """The manifest of the export in ``folder``, checked to be ours (format, package, file entries).

    Args:
        folder: the export's root.
        where: the caller's name, for the error message.

    Returns:
        The parsed manifest.

    Raises:
        ExportError: no readable manifest, another format, or a malformed file list.
    """
    path = folder / MANIFEST_NAME
    if path.is_symlink() or not path.is_file():
        raise ExportError(f"{where}: {str(folder)!r} has no {MANIFEST_NAME} (a regular file), so it is not an export")
    what = f"{MANIFEST_NAME} of {str(folder)!r}"
    manifest = read_json(path, where=where, what=what, error=ExportError)
    if (
        not isinstance(manifest, dict)
        or manifest.get("format") != MANIFEST_FORMAT
        or manifest.get("package") != ("spirograph")
    ):
        found = {key: manifest.get(key) for key in ("format", "package")} if isinstance(manifest, dict) else manifest
        raise ExportError(
            f"{where}: {what} must be a spirograph manifest of format {MANIFEST_FORMAT}, got {found!r:.80}"
        )
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise ExportError(f"{where}: {what} must list its files, got {files!r:.80}")
    if MANIFEST_NAME in files:
        raise ExportError(f"{where}: {what} lists itself among its files")
    check_manifest(manifest, f"{where}: {what}", error=ExportError)
    return manifest


def unlisted_paths(folder: Path, manifest: dict[str, Any]) -> list[str]:
    """Paths under ``folder`` that an export does not write: files the manifest does not list,
    folders holding none of its files, and symbolic links.

    Args:
        folder: the export's root.
        manifest: its manifest ([`read_manifest()`][spirograph.hub.verify.read_manifest]).

    Returns:
        Relative POSIX paths, sorted; empty for a folder that holds exactly an export.
    """
    listed = set(manifest["files"]) | {MANIFEST_NAME}
    parents = {str(parent) for name in listed for parent in PurePosixPath(name).parents if str(parent) != "."}
    extra: list[str] = []
    for root, directories, names in os.walk(folder):
        base = Path(root).relative_to(folder)
        for name in [*directories, *names]:
            relative = (base / name).as_posix()
            path = Path(root) / name
            if path.is_symlink():
                extra.append(relative)
            elif name in directories:
                if relative not in parents:
                    extra.append(relative)
            elif relative not in listed:
                extra.append(relative)
        # Do not descend into folders that are already reported (or into linked folders).
        directories[:] = [name for name in directories if (base / name).as_posix() in parents]
    return sorted(extra)


def _is_data(relative: str) -> bool:
    return relative.endswith(".parquet") or PurePosixPath(relative).parts[0] == _DATA_FOLDER


def verify_export(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Check every file of a local export against its manifest.

    Checks, in order: ``manifest.json`` is a spirograph manifest; every file it lists exists as a
    regular file with the recorded size and SHA-256; every Parquet shard holds the recorded rows
    and every split's shards add up to the split's row count; and no unlisted data file
    (``*.parquet`` anywhere, anything under ``data/``) lies in the export.

    Args:
        path: the export's folder (written by [`export()`][spirograph.hub.export.export]).

    Returns:
        The manifest, parsed.

    Raises:
        ExportError: the first problem found, naming the file.
        MissingDependencyError: ``pyarrow`` (of the ``hub`` extra) is not installed.

    Examples:
        >>> from spirograph.hub import verify_export
        >>> manifest = verify_export("spirograph-hub")  # doctest: +SKIP
    """
    where = "verify_export"
    if not isinstance(path, (str, os.PathLike)):
        raise ExportError(f"{where}: `path` must be a path, got {type(path).__name__}")
    folder = Path(path)
    if not folder.is_dir():
        raise ExportError(f"{where}: `path` must be an export folder, got {str(folder)!r} (not a folder)")
    require_hub(where, ("pyarrow",))  # reads the shards' row counts
    manifest = read_manifest(folder, where)
    files: dict[str, dict[str, Any]] = manifest["files"]
    for name, entry in files.items():
        file = resolve_member(folder, name, where=where, what=f"{MANIFEST_NAME} of {str(folder)!r}", error=ExportError)
        if file.is_symlink() or not file.is_file():
            raise ExportError(
                f"{where}: file {name!r} of {str(folder)!r} is missing or not a regular file "
                f"(listed in {MANIFEST_NAME})"
            )
        size = file.stat().st_size
        if size != entry.get("bytes"):
            raise ExportError(
                f"{where}: file {name!r} of {str(folder)!r} has {size} bytes, {MANIFEST_NAME} says {entry.get('bytes')}"
            )
        digest = sha256_file(file)
        if digest != entry.get("sha256"):
            raise ExportError(
                f"{where}: file {name!r} of {str(folder)!r} has SHA-256 {digest}, "
                f"{MANIFEST_NAME} says {entry.get('sha256')}"
            )
        if name.endswith(".parquet"):
            import pyarrow.parquet as pq

            rows = pq.read_metadata(file).num_rows
            if rows != entry.get("num_rows"):
                raise ExportError(
                    f"{where}: file {name!r} of {str(folder)!r} holds {rows} rows, "
                    f"{MANIFEST_NAME} says {entry.get('num_rows')}"
                )
    for config, layout in manifest.get("configs", {}).items():
        for split, info in layout.get("splits", {}).items():
            shards = info.get("files", [])
            missing = [name for name in shards if name not in files]
            if missing:
                raise ExportError(
                    f"{where}: split {split!r} of config {config!r} in {str(folder)!r} names {missing[0]!r}, "
                    f"which {MANIFEST_NAME} does not list"
                )
            total = sum(files[name].get("num_rows", 0) for name in shards)
            if total != info.get("num_rows"):
                raise ExportError(
                    f"{where}: split {split!r} of config {config!r} in {str(folder)!r} has shards holding "
                    f"{total} rows, {MANIFEST_NAME} says {info.get('num_rows')}"
                )
    extra = [name for name in unlisted_paths(folder, manifest) if _is_data(name)]
    if extra:
        raise ExportError(f"{where}: {str(folder)!r} holds data files {MANIFEST_NAME} does not list: {extra}")
    return manifest
