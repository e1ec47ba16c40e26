"""``Spirograph(split=...)``: the canonical splits as a torch dataset, rendered on demand.

Each split is a table of ten parameters per item drawn from the split's fixed seed
with the counter-based sampler of [`spirograph.space`][spirograph.space]: row ``i`` is a pure function
of ``(seed, i)``, the same bytes in every process, worker, rank and machine. Images
are rendered from the table when asked for, whole batches at a time through
``__getitems__`` (which `torch.utils.data.DataLoader` calls with a batch size).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import torch
from torch.utils.data import Dataset

from spirograph._checks import check_callable, check_choice, check_int, check_space, describe
from spirograph.errors import IndexOutOfRangeError, ParameterError, ParameterTypeError
from spirograph.render import Normalize, RenderSettings, SettingsView, render, resolve_settings
from spirograph.space import PARAMETER_NAMES, ParameterSpace

__all__ = [
    "SPLITS",
    "SPLIT_ALIASES",
    "VERSION",
    "Spirograph",
    "SpirographViews",
    "SplitInfo",
]

VERSION = "v1"
"""The canonical dataset version; its seeds and sizes never change."""


@dataclass(frozen=True)
class SplitInfo:
    """Number of examples and seed of one canonical split."""

    name: str
    num_examples: int
    seed: int


SPLITS: dict[str, SplitInfo] = {
    "train": SplitInfo("train", 100_000, 2021_10_01),
    "val": SplitInfo("val", 10_000, 2021_10_02),
    "test": SplitInfo("test", 20_000, 2021_10_03),
}
"""The canonical v1 splits: train and test have the paper's sizes."""

SPLIT_ALIASES: dict[str, str] = {"validation": "val"}
"""Other names accepted for a split: ``"validation"`` is the Hub's (and HF ``datasets``') name of ``"val"``."""

Mode = Literal["images", "targets"]
Source = Literal["render", "hub", "local"]
_MODES: tuple[str, ...] = get_args(Mode)
_SOURCES: tuple[str, ...] = get_args(Source)

# Streams of the counter-based sampler: the static table, and fresh nuisance for views.
_TABLE_STREAM = 0
_VIEW_STREAM = 1
# Items per render call in `images()`: the renderer's own CPU chunk. Bigger calls only add a
# large temporary result and were slower (benchmarks/README.md).
_RENDER_CHUNK = 512


def _resolve_subset(subset: int | float | None, full: int) -> int:
    if subset is None:
        return full
    if isinstance(subset, (bool, np.bool_)):
        raise ParameterTypeError(
            f"Spirograph: `subset` must be an int count or a float fraction, got {describe(subset)}"
        )
    if isinstance(subset, (int, np.integer)):
        if not 0 < subset <= full:
            raise ParameterError(f"Spirograph: `subset` as a count must be in [1, {full}], got {subset}")
        return int(subset)
    if isinstance(subset, float):
        if not (math.isfinite(subset) and 0 < subset <= 1):
            raise ParameterError(f"Spirograph: `subset` as a fraction must be in (0, 1], got {subset}")
        return max(1, round(subset * full))
    raise ParameterTypeError(f"Spirograph: `subset` must be an int count or a float fraction, got {describe(subset)}")


def _check_indices(indices: Sequence[int] | torch.Tensor, length: int, where: str) -> torch.Tensor:
    """Validate a batch of indices at once; returns them as a non-negative int64 tensor."""
    if isinstance(indices, torch.Tensor):
        index = indices.detach().cpu()
        if index.dtype.is_floating_point or index.dtype.is_complex or index.dtype == torch.bool:
            raise ParameterTypeError(f"{where}: indices must be ints, got dtype {index.dtype}")
    else:
        # Through NumPy: a list of ints converts faster than with torch (benchmarks/README.md).
        try:
            array = np.asarray(indices)
        except (TypeError, ValueError):
            raise ParameterTypeError(f"{where}: indices must be ints, got {indices!r}") from None
        if array.size == 0:
            array = array.astype(np.int64)
        if array.dtype.kind not in "iu":
            raise ParameterTypeError(f"{where}: indices must be ints, got dtype {array.dtype}")
        if array.dtype == np.uint64 and array.size and array.max() > np.iinfo(np.int64).max:
            raise IndexOutOfRangeError(f"{where}: index {array.max()} is out of range for {length} items")
        index = torch.from_numpy(np.ascontiguousarray(array, dtype=np.int64))
    index = index.reshape(-1).to(torch.int64)
    if index.numel():
        low, high = torch.aminmax(index)
        if int(low) < -length or int(high) >= length:
            bad = index[(index < -length) | (index >= length)][0].item()
            raise IndexOutOfRangeError(f"{where}: index {bad} is out of range for {length} items")
        if int(low) < 0:
            index = index.remainder(length)
    return index


def _check_index(index: Any, length: int, where: str) -> int:
    if isinstance(index, torch.Tensor) and index.ndim == 0:
        # A 0-d tensor is read as its value, under the rule for Python values: True is no index.
        index = index.item() if not index.dtype.is_floating_point else index
    if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
        raise ParameterTypeError(f"{where}: index must be an int, got {describe(index)}")
    index = int(index)
    if not -length <= index < length:
        raise IndexOutOfRangeError(f"{where}: index {index} is out of range for {length} items")
    return index % length


def _check_optionals(transform: Any, target_transform: Any, seed: Any) -> None:
    for name, value in (("transform", transform), ("target_transform", target_transform)):
        if value is not None:
            check_callable(value, name, where="Spirograph", expected="callable or None")
    if seed is not None:
        check_int(seed, "seed", where="Spirograph")


def _check_copy_options(source: str, settings: RenderSettings, seed: int | None, space: ParameterSpace) -> None:
    n_points, extent = settings.n_points, settings.extent
    if n_points != 40 or extent != 6.0:
        raise ParameterError(
            f"Spirograph: `source={source!r}` copies use n_points=40 and extent=6.0, got n_points={n_points}, "
            f"extent={extent}; render them instead with source='render'"
        )
    if seed is not None or space.bounds != ParameterSpace().bounds:
        raise ParameterError(f"Spirograph: `source={source!r}` serves the canonical data; do not pass `seed` or bounds")


def _source_rows(
    source: str,
    split: str,
    length: int,
    *,
    subset: int | float | None,
    space: ParameterSpace,
    table_seed: int,
    seed: int | None,
    settings: RenderSettings,
    repo_id: str | None,
    revision: str | None,
    path: str | os.PathLike[str] | None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The split's parameters ``(length, 10)`` and, for copies, their uint8 images."""
    if (repo_id is not None or revision is not None) and source != "hub":
        raise ParameterError("Spirograph: `repo_id` and `revision` need `source='hub'`")
    if path is not None and source != "local":
        raise ParameterError("Spirograph: `path` needs `source='local'`")
    if source == "render":
        return space.sample(length, seed=table_seed, stream=_TABLE_STREAM, dtype=torch.float32), None
    _check_copy_options(source, settings, seed, space)
    # The hub package builds on this module: imported here, at first use, never at module level.
    if source == "hub":
        from spirograph.hub.download import load_split

        return load_split(
            split, repo_id=repo_id, revision=revision, size=settings.size, normalize=settings.normalize, limit=length
        )
    if path is None:
        raise ParameterError("Spirograph: `source='local'` needs `path`, the folder `spirograph export` wrote")
    from spirograph.hub.local import load_local

    # Without `subset`, every row the export holds (an export may hold only the first rows).
    limit = None if subset is None else length
    return load_local(path, split, size=settings.size, normalize=settings.normalize, limit=limit)


class Spirograph(SettingsView, Dataset):
    """The Spirograph dataset (Foster, Pukdee & Rainforth, ICLR 2021) as a torch dataset.

    Items are ``(image, target)``: ``image`` float32 ``(3, size, size)`` in ``[0, 1]``
    rendered from the item's ten parameters (one fixed nuisance draw per item, so the
    dataset is static), ``target`` float32 ``(len(space.targets),)`` in target order.
    Nothing is downloaded: the parameters come from the split's seed.

    Args:
        split: ``"train"`` (100,000), ``"val"`` (10,000; ``"validation"`` is accepted too) or
            ``"test"`` (20,000).
        transform: called on each image tensor (torchvision style).
        target_transform: called on each target tensor.
        space: the parameter space (priors and the target/nuisance split); the paper's by
            default. Changing a bound changes the values drawn, never the random stream.
        settings: the renderer settings, a [`RenderSettings`][spirograph.render.RenderSettings];
            kept in `settings`. ``None`` takes the defaults or the four keywords below.
        size: renderer setting, see [`render()`][spirograph.render.render] (32 by default).
        n_points: renderer setting, see [`render()`][spirograph.render.render] (40 by default).
        extent: renderer setting, see [`render()`][spirograph.render.render] (6 by default).
        normalize: renderer setting, see [`render()`][spirograph.render.render]:
            ``"row"`` (default) is the paper's released generator, ``"image"`` the
            equation as printed. A keyword given beside ``settings`` must agree with it.
        subset: keep the first items only: an int count or a float fraction (``0.5`` gives
            the paper's 50,000 / 10,000 evaluation sets). Items are i.i.d., so the first
            ``n`` are a uniform random subset, identical everywhere.
        mode: ``"images"`` yields ``(image, target)``; ``"targets"`` yields only the target
            vector, for training loops that render on the device with
            [`spirograph.SpirographTransform`][spirograph.transform.SpirographTransform].
        seed: override the split's canonical seed (a new, non-canonical dataset).
        source: ``"render"`` (default, no network), ``"hub"`` (download a Parquet copy from
            the Hugging Face Hub, verified against its manifest; needs ``repo_id``) or
            ``"local"`` (read a folder written by ``spirograph export``, verified against its
            manifest; needs ``path``; without ``subset``, every row the folder holds). Both
            need the ``hub`` extra.
        repo_id: the Hub dataset repository, ``"owner/name"`` (``source="hub"`` only; there is
            no default copy).
        revision: a branch, tag or commit of ``repo_id`` to pin (``source="hub"`` only).
        path: the exported folder (``source="local"`` only).

    Examples:
        >>> from torch.utils.data import DataLoader
        >>> dataset = Spirograph("test", subset=64)
        >>> images, targets = next(iter(DataLoader(dataset, batch_size=32)))
        >>> images.shape, targets.shape
        (torch.Size([32, 3, 32, 32]), torch.Size([32, 4]))
    """

    def __init__(
        self,
        split: str = "train",
        *,
        transform: Callable[[torch.Tensor], Any] | None = None,
        target_transform: Callable[[torch.Tensor], Any] | None = None,
        space: ParameterSpace | None = None,
        settings: RenderSettings | None = None,
        size: int | None = None,
        n_points: int | None = None,
        extent: float | None = None,
        normalize: Normalize | None = None,
        subset: int | float | None = None,
        mode: Mode = "images",
        seed: int | None = None,
        source: Source = "render",
        repo_id: str | None = None,
        revision: str | None = None,
        path: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__()
        where = "Spirograph"
        split = SPLIT_ALIASES.get(split, split) if isinstance(split, str) else split
        check_choice(split, "split", [*SPLITS, *SPLIT_ALIASES], where=where)
        check_choice(mode, "mode", _MODES, where=where)
        check_choice(source, "source", _SOURCES, where=where)
        space = check_space(space, where=where)
        _check_optionals(transform, target_transform, seed)
        self.settings = resolve_settings(settings, size, n_points, extent, normalize, where=where)

        info = SPLITS[split]
        self.split = split
        self.space = space
        self.mode: Mode = mode
        self.source: Source = source
        self.seed = info.seed if seed is None else int(seed)
        self.transform = transform
        self.target_transform = target_transform
        self._images: torch.Tensor | None = None

        length = _resolve_subset(subset, info.num_examples)
        self.params, self._images = _source_rows(
            source,
            split,
            length,
            subset=subset,
            space=space,
            table_seed=self.seed,
            seed=seed,
            settings=self.settings,
            repo_id=repo_id,
            revision=revision,
            path=path,
        )
        self.targets = self.params[:, list(space.target_index)].contiguous()

    # ------------------------------------------------------------------ names
    @property
    def target_names(self) -> tuple[str, ...]:
        """Names of the target columns, in target order."""
        return self.space.targets

    @property
    def nuisance_names(self) -> tuple[str, ...]:
        """Names of the nuisance parameters, in nuisance order."""
        return self.space.nuisance_names

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """Names of the columns of `params` (the canonical order)."""
        return PARAMETER_NAMES

    # ------------------------------------------------------------------ rendering
    def render_params(self, params: torch.Tensor) -> torch.Tensor:
        """Render ``(n, 10)`` parameters with this dataset's renderer settings."""
        return render(params, self.settings, validate=False)

    def images(self, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Images of items ``[start, stop)`` as one ``(n, 3, size, size)`` float32 tensor."""
        start = check_int(start, "start", where="Spirograph.images")
        stop = len(self) if stop is None else check_int(stop, "stop", where="Spirograph.images")
        if not 0 <= start <= stop <= len(self):
            raise ParameterError(f"Spirograph.images: need 0 <= start <= stop <= {len(self)}, got [{start}, {stop})")
        if self._images is not None:
            return self._as_float(self._images[start:stop])
        out = torch.empty(stop - start, 3, self.size, self.size)
        for low in range(start, stop, _RENDER_CHUNK):
            high = min(low + _RENDER_CHUNK, stop)
            out[low - start : high - start] = self.render_params(self.params[low:high])
        return out

    def materialize(self) -> Spirograph:
        """Render the whole split once and keep it in memory (``N * 3 * size**2 * 4`` bytes).

        Returns:
            ``self``, so ``Spirograph("test").materialize()`` reads well.
        """
        if self._images is None:
            self._images = self.images()
        return self

    @staticmethod
    def _as_float(images: torch.Tensor) -> torch.Tensor:
        return images.float().div_(255) if images.dtype == torch.uint8 else images

    def _fetch(self, indices: torch.Tensor) -> torch.Tensor:
        if self._images is not None:
            return self._as_float(self._images[indices])
        # Items are data, not a graph: skip autograd bookkeeping (no_grad, not inference_mode,
        # so the images can still be saved for backward by the user's model).
        with torch.no_grad():
            return self.render_params(self.params[indices])

    # ------------------------------------------------------------------ Dataset protocol
    def __len__(self) -> int:
        return int(self.params.shape[0])

    def __getitem__(self, index: int) -> Any:
        return self.__getitems__([_check_index(index, len(self), "Spirograph")])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[Any]:
        """Fetch a batch with one render call (used by DataLoader when batching)."""
        index = _check_indices(indices, len(self), "Spirograph")
        targets = self.targets[index].unbind(0)
        if self.mode == "targets":
            if self.target_transform is None:
                return list(targets)
            return [self.target_transform(target) for target in targets]
        images = self._fetch(index).unbind(0)
        if self.transform is None and self.target_transform is None:
            return list(zip(images, targets, strict=True))
        return [self._apply(image, target) for image, target in zip(images, targets, strict=True)]

    def _apply(self, image: torch.Tensor, target: torch.Tensor) -> tuple[Any, Any]:
        out_image: Any = image if self.transform is None else self.transform(image)
        out_target: Any = target if self.target_transform is None else self.target_transform(target)
        return out_image, out_target

    # ------------------------------------------------------------------ views
    def views(self, k: int = 2, *, epoch: int = 0) -> SpirographViews:
        """``k`` views of each item, each with its own nuisance draw (contrastive learning)."""
        return SpirographViews(self, k, epoch=epoch)

    def view_params(self, indices: Sequence[int] | torch.Tensor, k: int, *, epoch: int = 0) -> torch.Tensor:
        """Parameters of ``k`` views of items ``indices``: targets kept, nuisance redrawn.

        View ``v`` of item ``i`` in epoch ``e`` is a pure function of ``(seed, e, i, v)``.

        Shape:
            ``(n, k, 10)``.
        """
        where = "Spirograph.view_params"
        index = _check_indices(indices, len(self), where)
        k = check_int(k, "k", where=where, minimum=1)
        epoch = check_int(epoch, "epoch", where=where, minimum=0)
        targets = self.targets[index]
        per_view = [
            self.space.sample_nuisance(targets, seed=self.seed, index=index, stream=(_VIEW_STREAM, epoch, view))
            for view in range(k)
        ]
        return torch.stack(per_view, dim=1)

    def __repr__(self) -> str:
        lines = [
            f"Dataset {type(self).__name__}",
            f"    Number of datapoints: {len(self)}",
            f"    Split: {self.split} (version {VERSION}, seed {self.seed}, source {self.source})",
            f"    Targets: {', '.join(self.target_names)}",
            f"    Nuisance: {', '.join(self.nuisance_names)}",
            f"    Renderer: size={self.size}, n_points={self.n_points}, extent={self.extent}, "
            f"normalize={self.normalize!r}",
            f"    Mode: {self.mode}",
        ]
        if self.transform is not None:
            lines.append(f"    Transform: {self.transform!r}")
        if self.target_transform is not None:
            lines.append(f"    Target transform: {self.target_transform!r}")
        return "\n".join(lines)


class SpirographViews(Dataset):
    """``k`` views of each item of a [`Spirograph`][spirograph.dataset.Spirograph], each with fresh nuisance.

    Item ``i`` is ``(views, target)`` with ``views`` of shape ``(k, 3, size, size)``;
    views share the target parameters and differ in the nuisance ones. The draws are a
    pure function of ``(seed, epoch, i, view)``; call [`set_epoch()`][spirograph.dataset.SpirographViews.set_epoch]
    each epoch (as
    with `torch.utils.data.DistributedSampler`) to get new ones.

    The epoch lives in a one-element tensor in shared memory, created with the object, so
    [`set_epoch()`][spirograph.dataset.SpirographViews.set_epoch] reaches ``DataLoader``
    workers that are already running (``persistent_workers=True``) as well as the ones a new
    epoch starts. Call it between
    epochs, before iterating the loader: a call while batches are in flight changes the
    batches not yet rendered.

    Args:
        dataset: the underlying dataset (its transforms are applied to each view).
        k: views per item, ``>= 1``.
        epoch: the starting epoch.
    """

    def __init__(self, dataset: Spirograph, k: int = 2, *, epoch: int = 0) -> None:
        if not isinstance(dataset, Spirograph):
            raise ParameterError(f"SpirographViews: `dataset` must be a Spirograph, got {type(dataset).__name__}")
        k = check_int(k, "k", where="SpirographViews", minimum=1)
        self.dataset = dataset
        self.k = k
        # Shared memory, so that DataLoader workers (which hold their own copy of this object)
        # read the value the main process sets, the way a sampler's epoch reaches them.
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()
        self.set_epoch(epoch)

    @property
    def epoch(self) -> int:
        """The epoch whose nuisance draws are served."""
        return int(self._epoch.item())

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose nuisance draws are served, in this process and in its DataLoader workers."""
        self._epoch.fill_(check_int(epoch, "epoch", where="SpirographViews.set_epoch", minimum=0))

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        return self.__getitems__([_check_index(index, len(self), "SpirographViews")])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[Any, Any]]:
        data = self.dataset
        index = _check_indices(indices, len(self), "SpirographViews")
        params = data.view_params(index, self.k, epoch=self.epoch)  # (n, k, 10)
        with torch.no_grad():
            images = data.render_params(params)  # (n, k, 3, S, S)
        items = []
        for views, target in zip(images.unbind(0), data.targets[index].unbind(0), strict=True):
            out: Any = views
            if data.transform is not None:
                out = torch.stack([data.transform(view) for view in views.unbind(0)])
            items.append((out, target if data.target_transform is None else data.target_transform(target)))
        return items

    def __repr__(self) -> str:
        return f"SpirographViews(k={self.k}, epoch={self.epoch}, dataset={self.dataset.split!r}, n={len(self)})"
