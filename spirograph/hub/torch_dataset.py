"""The hub copy and export folders as a torch dataset, [`Spirograph`][spirograph.dataset.Spirograph].

[`hub_dataset()`][spirograph.hub.torch_dataset.hub_dataset] downloads a split with
[`load_split()`][spirograph.hub.download.load_split] and
[`local_dataset()`][spirograph.hub.torch_dataset.local_dataset] reads one from a folder with
[`load_local()`][spirograph.hub.local.load_local], each verified file by file against its
manifest; both hand the rows to
[`Spirograph.from_rows()`][spirograph.dataset.Spirograph.from_rows]. Items are then served
from the stored images (float32 ``(3, size, size)`` in ``[0, 1]``, as when rendered), never
rendered again.

A copy holds the canonical data only: the split's own seed, the paper's bounds, 40 curve
points and extent 6.0. The image side and normalization choose the config (``v1``,
``v1-image``, ``v1-64``, ``v1-64-image``). This module builds on the dataset; the dataset
knows nothing of the hub.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, get_args

import torch

from spirograph._checks import check_callable, check_choice, check_subset
from spirograph.dataset import SPLIT_ALIASES, SPLITS, Mode, Spirograph
from spirograph.errors import ParameterError
from spirograph.hub._extra import require_hub
from spirograph.hub.download import DEFAULT_TIMEOUT, load_split
from spirograph.hub.local import load_local
from spirograph.render import Normalize, RenderSettings, resolve_settings
from spirograph.space import ParameterSpace, check_space

__all__ = ["hub_dataset", "local_dataset"]

# The renderer settings every config of a copy shares; size and normalize choose the config.
_COPY_POINTS = 40
_COPY_EXTENT = 6.0


def _copy_options(
    split: Any,
    subset: Any,
    space: Any,
    settings: Any,
    size: Any,
    normalize: Any,
    options: dict[str, Any],
    where: str,
) -> tuple[str, int, ParameterSpace, RenderSettings]:
    """Check the arguments before anything is read: the split, its row count, the space and settings.

    ``options`` holds ``mode``, ``transform`` and ``target_transform``.
    """
    split = SPLIT_ALIASES.get(split, split) if isinstance(split, str) else split
    check_choice(split, "split", [*SPLITS, *SPLIT_ALIASES], where=where)
    check_choice(options["mode"], "mode", get_args(Mode), where=where)
    for name in ("transform", "target_transform"):
        if options[name] is not None:
            check_callable(options[name], name, where=where, expected="callable or None")
    space = check_space(space, where=where)
    if space.bounds != ParameterSpace().bounds:
        raise ParameterError(
            f"{where}: `space` must have the paper's bounds: a copy holds the canonical data; "
            "render other bounds with Spirograph(split, space=...)"
        )
    settings = resolve_settings(settings, size, None, None, normalize, where=where)
    if (settings.n_points, settings.extent) != (_COPY_POINTS, _COPY_EXTENT):
        raise ParameterError(
            f"{where}: copies use n_points={_COPY_POINTS} and extent={_COPY_EXTENT}, got "
            f"n_points={settings.n_points}, extent={settings.extent}; render other settings with "
            "Spirograph(split, settings=...)"
        )
    length = check_subset(subset, SPLITS[split].num_examples, where=where)
    return split, length, space, settings


def hub_dataset(
    split: str,
    repo_id: str,
    *,
    revision: str | None = None,
    subset: int | float | None = None,
    space: ParameterSpace | None = None,
    settings: RenderSettings | None = None,
    size: int | None = None,
    normalize: Normalize | None = None,
    mode: Mode = "images",
    transform: Callable[[torch.Tensor], Any] | None = None,
    target_transform: Callable[[torch.Tensor], Any] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Spirograph:
    """Download a split of a hub copy, verified, as a [`Spirograph`][spirograph.dataset.Spirograph].

    Only the shards holding the first ``subset`` rows are downloaded, through the
    ``huggingface_hub`` cache (``HF_HUB_OFFLINE=1`` reads a warm cache without a request);
    see [`load_split()`][spirograph.hub.download.load_split] for the checks made.

    Args:
        split: ``"train"``, ``"val"`` (or ``"validation"``) or ``"test"``.
        repo_id: the dataset repository, ``"owner/name"``; there is no default copy.
        revision: a branch, tag or commit hash to pin; the repository's ``main`` by default.
        subset: the first rows only: an int count or a float fraction of the split.
        space: the parameter space; its target/nuisance split chooses the targets. Its bounds
            must be the paper's.
        settings: the renderer settings of the config to read; ``n_points`` 40 and ``extent``
            6.0, as every copy.
        size: image side of the config to read (32 by default).
        normalize: normalization of the config to read, ``"row"`` (default) or ``"image"``.
        mode: ``"images"`` or ``"targets"``, as in [`Spirograph`][spirograph.dataset.Spirograph].
        transform: called on each image tensor (torchvision style).
        target_transform: called on each target tensor.
        timeout: seconds the download of one file may take, every request and retry for it
            included (60 by default); a slower file raises `HubError`.

    Returns:
        The dataset, with ``source`` ``"hub"``.

    Raises:
        ParameterTypeError: an argument of the wrong type.
        ParameterError: a bad argument, or settings or bounds a copy does not hold.
        MissingDependencyError: the ``hub`` extra is not installed.
        HubError: the hub or a file cannot be reached, or the copy lacks the config, split or rows.
        ChecksumError: a file does not match the SHA-256 in the manifest (its cached copy is removed).

    Examples:
        >>> from spirograph.hub import hub_dataset
        >>> test = hub_dataset("test", "you/spirograph", subset=1000)  # doctest: +SKIP
    """
    where = "hub_dataset"
    options: dict[str, Any] = {"mode": mode, "transform": transform, "target_transform": target_transform}
    split, length, space, settings = _copy_options(split, subset, space, settings, size, normalize, options, where)
    require_hub(where)
    params, images = load_split(
        split,
        repo_id=repo_id,
        revision=revision,
        size=settings.size,
        normalize=settings.normalize,
        limit=length,
        timeout=timeout,
    )
    return Spirograph.from_rows(split, params, images, source="hub", space=space, settings=settings, **options)


def local_dataset(
    path: str | os.PathLike[str],
    split: str,
    *,
    subset: int | float | None = None,
    space: ParameterSpace | None = None,
    settings: RenderSettings | None = None,
    size: int | None = None,
    normalize: Normalize | None = None,
    mode: Mode = "images",
    transform: Callable[[torch.Tensor], Any] | None = None,
    target_transform: Callable[[torch.Tensor], Any] | None = None,
) -> Spirograph:
    """Read a split of an export folder, verified, as a [`Spirograph`][spirograph.dataset.Spirograph].

    Each shard read is checked against the folder's manifest first; see
    [`load_local()`][spirograph.hub.local.load_local]. Nothing is downloaded.

    Args:
        path: the folder written by [`export()`][spirograph.hub.export.export].
        split: ``"train"``, ``"val"`` (or ``"validation"``) or ``"test"``.
        subset: the first rows only: an int count or a float fraction of the split; by
            default every row the folder holds (an export may hold only the first rows).
        space: the parameter space; its target/nuisance split chooses the targets. Its bounds
            must be the paper's.
        settings: the renderer settings of the config to read; ``n_points`` 40 and ``extent``
            6.0, as every copy.
        size: image side of the config to read (32 by default).
        normalize: normalization of the config to read, ``"row"`` (default) or ``"image"``.
        mode: ``"images"`` or ``"targets"``, as in [`Spirograph`][spirograph.dataset.Spirograph].
        transform: called on each image tensor (torchvision style).
        target_transform: called on each target tensor.

    Returns:
        The dataset, with ``source`` ``"local"``.

    Raises:
        ParameterTypeError: an argument of the wrong type.
        ParameterError: a bad argument, or settings or bounds a copy does not hold.
        MissingDependencyError: the ``hub`` extra is not installed.
        HubError: the folder is not an export, or lacks the config, split, rows or a file.
        ChecksumError: a file does not match the SHA-256 recorded in the manifest.

    Examples:
        >>> from spirograph.hub import local_dataset
        >>> validation = local_dataset("hub-v1", "validation")  # doctest: +SKIP
    """
    where = "local_dataset"
    options: dict[str, Any] = {"mode": mode, "transform": transform, "target_transform": target_transform}
    split, length, space, settings = _copy_options(split, subset, space, settings, size, normalize, options, where)
    require_hub(where)
    limit = None if subset is None else length
    params, images = load_local(path, split, size=settings.size, normalize=settings.normalize, limit=limit)
    return Spirograph.from_rows(split, params, images, source="local", space=space, settings=settings, **options)
