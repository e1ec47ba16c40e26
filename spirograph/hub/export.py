"""Export Spirograph as Parquet shards with a dataset card and a manifest, and push it to the Hub.

``export(out_dir)`` writes the layout the Hugging Face Hub serves without a loading script:

```text
out_dir/
    README.md                                  dataset card (YAML configs: + dataset_info:)
    manifest.json                              SHA-256, bytes and rows of every file; seeds; renderer
    samples-v1.png                             an 8x8 grid of the first training images
    traversals.png                             each factor swept over its range, values written
    data/train-00000-of-00010.parquet          config v1 (the default)
    data/validation-00000-of-00001.parquet
    data/test-00000-of-00002.parquet
    data/v1-image/train-00000-of-00010.parquet other configs, one folder each
```

Each shard stores ``image`` as the ``datasets`` Image struct ``{bytes: PNG, path: null}`` and
carries the ``datasets`` features in its schema metadata, so ``datasets.load_dataset(out_dir)``
decodes images. The export is atomic: everything is written into a hidden sibling folder,
the manifest last, and the folder is renamed to ``out_dir`` at the very end, so an export
interrupted half-way never leaves a folder that looks complete.

An export holds the lock file ``.NAME.lock`` beside ``out_dir`` (``fcntl.flock``; an
exclusive create where ``fcntl`` is missing) from its first check to its last rename; a
second export of the same folder meanwhile refuses at once with
[`ExportError`][spirograph.errors.ExportError]. Under the lock it first finishes what an export
killed outright left behind: a previous export hidden as ``.NAME.old-*`` goes back to
``out_dir`` if ``out_dir`` is missing (the kill fell between the two renames), and leftover
``.NAME.partial-*`` and ``.NAME.old-*`` folders are removed. Only a folder that is provably a
previous export (a spirograph manifest, and no file or folder the manifest does not account
for) is ever replaced.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from spirograph._checks import is_int
from spirograph._version import __version__
from spirograph.dataset import DATASET_VERSION, SPLITS, Spirograph
from spirograph.errors import ConfigError, ExportError, HubError, SpirographError
from spirograph.files import fsync_directory, fsync_file
from spirograph.hub._extra import require_hub
from spirograph.hub.schema import (
    DEFAULT_SHARD_ROWS,
    HUB_SPLITS,
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    TORCH_SPLITS,
    HubConfig,
    encode_rows,
    features,
    get_config,
    sha256_file,
    shard_bounds,
    to_uint8,
)
from spirograph.hub.verify import read_manifest, unlisted_paths
from spirograph.space import PARAMETER_NAMES, ParameterSpace

__all__ = ["export", "push"]

_ROW_GROUP_ROWS = 1_000
_GRID_SIDE = 8
_GRID_PAD = 2
_GRID_SCALE = 2


def _check_positive_int(value: Any, name: str) -> int:
    if not is_int(value) or value < 1:
        raise ConfigError(f"export: `{name}` must be an int >= 1, got {value!r}")
    return value


def _resolve_splits(splits: str | Sequence[str] | None) -> list[str]:
    """Torch split names, in canonical order, from torch or hub names."""
    if splits is None:
        return list(SPLITS)
    names = [splits] if isinstance(splits, str) else list(splits)
    known = sorted(set(SPLITS) | set(TORCH_SPLITS))
    chosen = set()
    for name in names:
        if not isinstance(name, str) or (name not in SPLITS and name not in TORCH_SPLITS):
            raise ConfigError(f"export: `splits` must name splits among {known}, got {name!r}")
        chosen.add(TORCH_SPLITS.get(name, name))
    if not chosen:
        raise ConfigError(f"export: `splits` must name at least one split among {known}, got {splits!r}")
    return [name for name in SPLITS if name in chosen]


def _resolve_configs(config: str | Sequence[str]) -> list[HubConfig]:
    names = [config] if isinstance(config, str) else list(config)
    if not names or len(set(names)) != len(names):
        raise ConfigError(f"export: `config` must be a config name or distinct names, got {config!r}")
    return [get_config(name, "export") for name in names]


def _shard_name(hub_split: str, shard: int, count: int) -> str:
    return f"{hub_split}-{shard:05d}-of-{count:05d}.parquet"


def _write_shard(job: dict[str, Any]) -> dict[str, Any]:
    """Render rows ``[start, stop)`` of one split into one Parquet file (runs in worker processes)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    config: HubConfig = job["config"]
    schema = features().arrow_schema
    rows = list(encode_rows(job["split"], config, job["start"], job["stop"]))
    table = pa.Table.from_pylist(rows, schema=schema)
    path = Path(job["root"]) / job["path"]
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    pq.write_table(table, partial, row_group_size=_ROW_GROUP_ROWS)
    fsync_file(partial)
    os.replace(partial, path)
    return {
        "path": job["path"],
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
        "num_rows": len(rows),
        "arrow_bytes": table.nbytes,
    }


def _init_worker() -> None:
    # Each process renders its own shards; more threads per process only contend.
    torch.set_num_threads(1)


def _sample_grid(split: str, config: HubConfig, path: Path, rows: int) -> None:
    """An 8x8 grid of the first images of ``split``, upscaled 2x, as a PNG."""
    import numpy as np
    from PIL import Image

    count = min(rows, _GRID_SIDE * _GRID_SIDE)
    images = to_uint8(Spirograph(split, subset=count, settings=config.settings).images()).permute(0, 2, 3, 1).numpy()
    side, cell = config.size, config.size + _GRID_PAD
    canvas = np.full((_GRID_SIDE * cell + _GRID_PAD, _GRID_SIDE * cell + _GRID_PAD, 3), 255, dtype=np.uint8)
    for k in range(count):
        top, left = _GRID_PAD + (k // _GRID_SIDE) * cell, _GRID_PAD + (k % _GRID_SIDE) * cell
        canvas[top : top + side, left : left + side] = images[k]
    picture = Image.fromarray(canvas, mode="RGB")
    picture = picture.resize((picture.width * _GRID_SCALE, picture.height * _GRID_SCALE), Image.Resampling.NEAREST)
    partial = path.with_name(path.name + ".part")
    picture.save(partial, format="PNG", compress_level=9)
    fsync_file(partial)
    os.replace(partial, path)


def _traversal_picture(config: HubConfig, path: Path) -> None:
    """Each factor swept over its prior range (one labelled row each, values under the images), as a PNG."""
    from spirograph.viz import traversal_grid

    picture = traversal_grid(size=config.size, normalize=config.normalize, scale=max(1, 96 // config.size))
    partial = path.with_name(path.name + ".part")
    picture.save(partial, format="PNG", compress_level=9)
    os.replace(partial, path)


def _file_entry(root: Path, relative: str) -> dict[str, Any]:
    path = root / relative
    return {"sha256": sha256_file(path), "bytes": path.stat().st_size}


def _write_text(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".part")
    partial.write_text(text, encoding="utf-8")
    fsync_file(partial)
    os.replace(partial, path)


def _install(staging: Path, out_dir: Path) -> None:
    """Move the finished ``staging`` folder to ``out_dir``, replacing a previous export there."""
    for folder in {path for path in staging.rglob("*") if path.is_dir()} | {staging}:
        fsync_directory(folder)
    if out_dir.is_dir() and not any(out_dir.iterdir()):
        out_dir.rmdir()
    if not out_dir.exists():
        os.replace(staging, out_dir)
        fsync_directory(out_dir.parent)
        return
    # Only a previous export gets here (_check_replaceable); it is retired, then the new one installed.
    retired = out_dir.with_name(f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}")
    os.replace(out_dir, retired)
    try:
        os.replace(staging, out_dir)
    except BaseException:
        # Interrupted between the two renames: the previous export goes back.
        if not out_dir.exists():
            os.replace(retired, out_dir)
        raise
    fsync_directory(out_dir.parent)
    shutil.rmtree(retired, ignore_errors=True)


def _busy(out_dir: Path, lock: Path, hint: str = "wait for it to finish") -> ExportError:
    return ExportError(f"export: another export into {str(out_dir)!r} is running (it holds {str(lock)!r}); {hint}")


def _flock(lock: Path, out_dir: Path) -> int:
    """Open and ``flock`` the lock file; the system releases it when its holder dies."""
    import fcntl

    while True:
        try:
            # O_NOFOLLOW: a link planted at the lock's name never makes us create or lock its target.
            handle = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as error:
            raise ExportError(
                f"export: cannot create the lock file {str(lock)!r} (a symbolic link is never followed): "
                f"{error.strerror or error}"
            ) from error
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(handle)
            raise _busy(out_dir, lock) from None
        # The holder before us removes the file as it finishes: lock the file that is still there.
        try:
            current = os.stat(lock)
        except FileNotFoundError:
            os.close(handle)
            continue
        if os.path.samestat(os.fstat(handle), current):
            return handle
        os.close(handle)


def _create_lock(lock: Path, out_dir: Path) -> int:
    """Create the lock file exclusively (where ``flock`` is missing); a killed export leaves it behind."""
    try:
        return os.open(lock, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise _busy(out_dir, lock, "if none is, one was killed: remove the lock file and export again") from None


@contextmanager
def _locked(out_dir: Path) -> Iterator[None]:
    """Hold ``.NAME.lock`` beside ``out_dir`` for the block; refuse if another export holds it."""
    lock = out_dir.with_name(f".{out_dir.name}.lock")
    try:
        import fcntl  # noqa: F401
    except ImportError:  # Windows
        handle = _create_lock(lock, out_dir)
    else:
        handle = _flock(lock, out_dir)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)
        os.close(handle)


def _recover(out_dir: Path) -> None:
    """Finish what an export of ``out_dir`` killed outright left behind (runs under the lock)."""
    pattern = re.compile(rf"\.{re.escape(out_dir.name)}\.(partial|old)-[0-9a-f]{{8}}")
    staged: list[Path] = []
    retired: list[Path] = []
    for path in out_dir.parent.iterdir():
        match = pattern.fullmatch(path.name)
        if match is not None and path.is_dir() and not path.is_symlink():
            (staged if match[1] == "partial" else retired).append(path)
    if retired and not out_dir.exists() and not out_dir.is_symlink():
        # Killed between the two renames of _install: the previous export goes back.
        newest = max(retired, key=lambda path: path.stat().st_mtime)
        os.replace(newest, out_dir)
        retired.remove(newest)
    for path in staged + retired:
        shutil.rmtree(path, ignore_errors=True)


def _check_replaceable(out_dir: Path) -> None:
    """Refuse an ``out_dir`` that is neither absent, nor empty, nor exactly a previous export."""
    if out_dir.is_symlink():
        raise ConfigError(f"export: `out_dir` must be a folder, got the symbolic link {str(out_dir)!r}")
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise ConfigError(f"export: `out_dir` must be a folder, got the file {str(out_dir)!r}")
    if not any(out_dir.iterdir()):
        return
    expected = f"export: `out_dir` must be absent, empty or a previous export (with {MANIFEST_NAME})"
    try:
        manifest = read_manifest(out_dir, "export")
    except ExportError as error:
        raise ConfigError(f"{expected}, got the non-empty folder {str(out_dir)!r}: {error}") from None
    extra = unlisted_paths(out_dir, manifest)
    if extra:
        shown = ", ".join(repr(name) for name in extra[:5]) + (", ..." if len(extra) > 5 else "")
        raise ConfigError(
            f"{expected}, got {str(out_dir)!r}, which also holds what no export writes: {shown}; "
            "refusing to replace it (move those out, or export elsewhere)"
        )


def export(
    out_dir: str | os.PathLike[str],
    *,
    splits: str | Sequence[str] | None = None,
    subset: int | None = None,
    config: str | Sequence[str] = "v1",
    repo_id: str | None = None,
    progress: bool = True,
    num_proc: int = 1,
    shard_rows: int = DEFAULT_SHARD_ROWS,
) -> Path:
    """Write the hub copy of Spirograph (Parquet shards, dataset card, sample grid, manifest).

    Args:
        out_dir: the folder to create. It must not exist, be empty, or hold exactly a previous
            export (its manifest's files and nothing else), which is replaced whole once the new
            one is complete.
        splits: torch (``"train"``, ``"val"``, ``"test"``) or hub (``"validation"``) split names;
            all three by default.
        subset: keep the first ``subset`` rows of each split (the card says so); every row by default.
        config: a config name of [`spirograph.hub.schema.CONFIGS`][spirograph.hub.schema.CONFIGS] (``"v1"``,
            ``"v1-image"``,
            ``"v1-64"``, ``"v1-64-image"``) or a sequence of them for a multi-config copy.
        repo_id: the dataset repository the copy is meant for (``"owner/name"``), named by the
            card's loading snippets; ``None`` writes a placeholder to replace.
        progress: show a progress bar.
        num_proc: processes rendering shards in parallel; the output is byte-identical for any value.
        shard_rows: rows per Parquet shard.

    Returns:
        ``out_dir`` as a `Path`.

    Raises:
        ConfigError: a bad argument, or ``out_dir`` is a non-empty folder that is not exactly a
            previous export (no spirograph manifest, or files and folders it does not list).
        ExportError: another export into ``out_dir`` is running, its lock file's name is taken by
            a symbolic link, or the folder cannot be written (read-only, full, no permission).

    Examples:
        >>> from spirograph.hub import export
        >>> export("spirograph-hub", subset=64, progress=False)  # doctest: +SKIP
        PosixPath('spirograph-hub')
    """
    from tqdm.auto import tqdm

    require_hub("export")
    configs = _resolve_configs(config)
    torch_splits = _resolve_splits(splits)
    if subset is not None:
        _check_positive_int(subset, "subset")
    _check_positive_int(num_proc, "num_proc")
    _check_positive_int(shard_rows, "shard_rows")
    if not isinstance(progress, bool):
        raise ConfigError(f"export: `progress` must be a bool, got {progress!r}")
    if not isinstance(out_dir, (str, os.PathLike)):
        raise ConfigError(f"export: `out_dir` must be a path, got {type(out_dir).__name__}")
    if repo_id is not None and (not isinstance(repo_id, str) or repo_id.count("/") != 1 or not all(repo_id.split("/"))):
        raise ConfigError(f"export: `repo_id` must look like 'owner/name' or be None, got {repo_id!r}")
    out = Path(os.path.abspath(out_dir))
    if Path.cwd().resolve().is_relative_to(out.resolve()):
        raise ConfigError(
            f"export: `out_dir` must not be the current folder or hold it (it is replaced whole), got {str(out_dir)!r}"
        )
    if out.exists() and not out.is_dir():
        raise ConfigError(f"export: `out_dir` must be a folder, got the file {str(out)!r}")

    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with _locked(out):
            _recover(out)
            _check_replaceable(out)
            staging = out.parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}"
            staging.mkdir()
            try:
                _export_into(staging, configs, torch_splits, subset, progress, num_proc, shard_rows, tqdm, repo_id)
                _install(staging, out)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
    except SpirographError:
        raise
    except OSError as error:
        # A read-only or full disk, a folder without permission: the library's error, naming the path.
        where = f" {str(error.filename)!r}" if error.filename else ""
        raise ExportError(f"export: cannot write into {str(out)!r}:{where} {error.strerror or error}") from error
    return Path(out_dir)


def _export_into(
    root: Path,
    configs: list[HubConfig],
    torch_splits: list[str],
    subset: int | None,
    progress: bool,
    num_proc: int,
    shard_rows: int,
    tqdm: Any,
    repo_id: str | None = None,
) -> None:
    """Write every shard, the pictures, the card and, last, the manifest into ``root``."""
    from spirograph.hub.card import TRAVERSAL_PICTURE, dataset_card

    layout, jobs = _plan(root, configs, torch_splits, subset, shard_rows)
    files = _write_shards(jobs, progress, num_proc, tqdm)
    for config_layout in layout.values():
        for info in config_layout["splits"].values():
            # In-memory (Arrow) size, the `num_bytes` of the card's `dataset_info`.
            info["num_bytes"] = sum(files[path].pop("arrow_bytes") for path in info["files"])

    grids: dict[str, str] = {}
    for config in configs:
        name = f"samples-{config.name}.png"
        first = torch_splits[0]
        _sample_grid(first, config, root / name, layout[config.name]["splits"][HUB_SPLITS[first]]["num_rows"])
        grids[config.name] = name
        files[name] = _file_entry(root, name)
    _traversal_picture(configs[0], root / TRAVERSAL_PICTURE)
    files[TRAVERSAL_PICTURE] = _file_entry(root, TRAVERSAL_PICTURE)

    manifest = _manifest(layout, files, subset, shard_rows)
    _write_text(root / "README.md", dataset_card(manifest, grids, repo_id=repo_id))
    files["README.md"] = _file_entry(root, "README.md")
    manifest["files"] = dict(sorted(files.items()))
    # The manifest is written last: a folder with a manifest is a complete export.
    _write_text(root / MANIFEST_NAME, json.dumps(manifest, indent=2) + "\n")


def _plan(
    root: Path, configs: list[HubConfig], torch_splits: list[str], subset: int | None, shard_rows: int
) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """The manifest's ``configs`` layout and one job per shard to write."""
    jobs: list[dict[str, Any]] = []
    layout: dict[str, dict[str, Any]] = {}
    for config in configs:
        splits_info: dict[str, Any] = {}
        for split in torch_splits:
            info = SPLITS[split]
            rows = info.num_examples if subset is None else min(subset, info.num_examples)
            bounds = shard_bounds(rows, shard_rows)
            hub_split = HUB_SPLITS[split]
            paths = [f"{config.directory}/{_shard_name(hub_split, k, len(bounds))}" for k in range(len(bounds))]
            splits_info[hub_split] = {"torch_split": split, "seed": info.seed, "num_rows": rows, "files": paths}
            jobs += [
                {"root": str(root), "path": path, "config": config, "split": split, "start": start, "stop": stop}
                for path, (start, stop) in zip(paths, bounds, strict=True)
            ]
        layout[config.name] = {
            "size": config.size,
            "normalize": config.normalize,
            "n_points": config.n_points,
            "extent": config.extent,
            "directory": config.directory,
            "splits": splits_info,
        }
    return layout, jobs


def _write_shards(jobs: list[dict[str, Any]], progress: bool, num_proc: int, tqdm: Any) -> dict[str, dict[str, Any]]:
    """Write every shard (in worker processes when ``num_proc > 1``); their manifest entries by path."""
    files: dict[str, dict[str, Any]] = {}
    total = sum(job["stop"] - job["start"] for job in jobs)
    with tqdm(total=total, unit=" rows", desc="Exporting Spirograph", disable=not progress) as bar:
        if num_proc == 1:
            results: Iterable[dict[str, Any]] = (_write_shard(job) for job in jobs)
            for result in results:
                files[result["path"]] = result
                bar.update(result["num_rows"])
        else:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # "spawn": workers never inherit a forked torch thread pool.
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(min(num_proc, len(jobs)), mp_context=context, initializer=_init_worker) as pool:
                for result in pool.map(_write_shard, jobs):
                    files[result["path"]] = result
                    bar.update(result["num_rows"])
    for entry in files.values():
        del entry["path"]
    return files


def _manifest(
    layout: dict[str, dict[str, Any]], files: dict[str, dict[str, Any]], subset: int | None, shard_rows: int
) -> dict[str, Any]:
    space = ParameterSpace()
    return {
        "format": MANIFEST_FORMAT,
        "package": "spirograph",
        "package_version": __version__,
        "dataset_version": DATASET_VERSION,
        "subset": subset,
        "shard_rows": shard_rows,
        "parameter_names": list(PARAMETER_NAMES),
        "targets": list(space.targets),
        "nuisance": list(space.nuisance_names),
        "bounds": {name: list(space.bounds[name]) for name in PARAMETER_NAMES},
        "columns": list(features()),
        "configs": layout,
        "files": files,
    }


def push(
    folder: str | os.PathLike[str],
    repo_id: str,
    *,
    revision: str | None = None,
    token: str | None = None,
    private: bool = False,
    commit_message: str | None = None,
) -> str:
    """Upload an export to a Hugging Face Hub dataset repository.

    A thin wrapper of ``huggingface_hub.HfApi().upload_folder(repo_type="dataset")``: the
    repository is created if needed (``exist_ok``), and so is the branch ``revision``.
    The token comes from ``token``, else the ``HF_TOKEN`` environment variable or
    ``huggingface-cli login``, as everywhere in ``huggingface_hub``. Tag the commit
    afterwards (``HfApi().create_tag``) to give users a revision to pin.

    Args:
        folder: an export written by [`export()`][spirograph.hub.export.export] (it must hold ``manifest.json``).
        repo_id: ``"owner/name"`` of the dataset repository.
        revision: the branch to commit to (``main`` by default).
        token: a Hub token with write access; ``None`` uses the stored login.
        private: create the repository private (only if it does not exist yet).
        commit_message: the commit message; a default names the package version.

    Returns:
        The URL of the commit.

    Raises:
        ConfigError: ``folder`` is not an export or ``repo_id`` is malformed.
        HubError: the Hub refused the upload or could not be reached.
    """
    path = Path(folder)
    if not (path / MANIFEST_NAME).is_file():
        raise ConfigError(f"push: `folder` must be an export holding {MANIFEST_NAME}, got {str(path)!r}")
    if not isinstance(repo_id, str) or repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ConfigError(f"push: `repo_id` must look like 'owner/name', got {repo_id!r}")
    require_hub("push")
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(token=token)
    message = commit_message or f"Spirograph {DATASET_VERSION} export (spirograph {__version__})"
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        if revision is not None:
            api.create_branch(repo_id, repo_type="dataset", branch=revision, exist_ok=True)
        info = api.upload_folder(
            folder_path=str(path), repo_id=repo_id, repo_type="dataset", revision=revision, commit_message=message
        )
    except HfHubHTTPError as error:
        raise HubError(f"push: uploading {str(path)!r} to dataset {repo_id!r} failed: {error}") from error
    except Exception as error:  # the network layer's own errors (connection refused, timeouts, TLS) and the like
        raise HubError(
            f"push: uploading {str(path)!r} to dataset {repo_id!r} failed: {type(error).__name__}: {error}"
        ) from error
    return str(info.commit_url)
