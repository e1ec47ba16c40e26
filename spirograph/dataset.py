"""``Spirograph(split=...)``: the canonical splits as a torch dataset, rendered on demand.

Each split is a table of ten parameters per item drawn from the split's fixed seed
with the counter-based sampler of [`spirograph.space`][spirograph.space]: row ``i`` is a pure function
of ``(seed, i)``, the same bytes in every process, worker, rank and machine. Images
are rendered from the table when asked for, whole batches at a time through
``__getitems__`` (which `torch.utils.data.DataLoader` calls with a batch size).

Indexing with a list of indices gives a whole batch, ``dataset[[3, 1, 4]]`` is
``(images, targets)`` stacked along a first axis, as indexing a Hugging Face dataset with a
list does. [`Spirograph.loader()`][spirograph.dataset.Spirograph.loader] builds the
`DataLoader` that uses it: it yields the same batches as ``DataLoader(dataset,
batch_size=...)``, in the same order, without splitting each batch into items and stacking
them back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, default_collate

from spirograph._checks import (
    check_callable,
    check_choice,
    check_instance,
    check_int,
    check_subset,
    check_tensor,
    describe,
    is_int,
)
from spirograph._loader import batched_loader
from spirograph.errors import IndexOutOfRangeError, ParameterError, ParameterTypeError
from spirograph.render import Normalize, RenderSettings, SettingsView, _check_values, render, resolve_settings
from spirograph.space import _SEED_MAX, PARAMETER_NAMES, ParameterSpace, check_space

__all__ = [
    "DATASET_VERSION",
    "SPLITS",
    "SPLIT_ALIASES",
    "Spirograph",
    "SpirographViews",
    "SplitInfo",
]

DATASET_VERSION = "v1"
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
# The most views of an item (`n_draws`): each batch renders `n_draws` images an item, so a larger
# count is almost surely a typo that would hang the process.
_MAX_VIEWS = 1024

_EPOCH_MAX = 2**63 - 1  # the epoch lives in an int64 tensor

# Items per render call in `images()`: the renderer's own CPU chunk. Bigger calls only add a
# large temporary result and were slower (benchmarks/README.md).
_RENDER_CHUNK = 512


def _check_indices(indices: Sequence[int] | torch.Tensor, length: int, where: str) -> torch.Tensor:
    """Validate a batch of indices at once; returns them as a non-negative int64 tensor."""
    if isinstance(indices, torch.Tensor):
        _check_not_meta(indices, where)
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
        if array.ndim != 1:
            raise ParameterError(f"{where}: indices must be a flat sequence of ints, got shape {array.shape}")
        if array.dtype == np.uint64 and array.size and array.max() > np.iinfo(np.int64).max:
            raise IndexOutOfRangeError(f"{where}: index {array.max()} is out of range for {length} items")
        index = torch.from_numpy(np.ascontiguousarray(array, dtype=np.int64))
    if index.ndim > 1:
        raise ParameterError(f"{where}: indices must be a flat sequence of ints, got shape {tuple(index.shape)}")
    index = index.reshape(-1).to(torch.int64)
    if index.numel():
        low, high = torch.aminmax(index)
        if int(low) < -length or int(high) >= length:
            bad = index[(index < -length) | (index >= length)][0].item()
            raise IndexOutOfRangeError(f"{where}: index {bad} is out of range for {length} items")
        if int(low) < 0:
            index = index.remainder(length)
    return index


def _check_not_meta(index: torch.Tensor, where: str) -> None:
    if index.is_meta:
        raise ParameterError(f"{where}: indices must hold values, got a tensor on the meta device (no data)")


def _check_index(index: Any, length: int, where: str) -> int:
    if isinstance(index, torch.Tensor) and index.ndim == 0:
        _check_not_meta(index, where)
        # A 0-d tensor is read as its value, under the rule for Python values: True is no index.
        index = index.item() if not index.dtype.is_floating_point else index
    if not is_int(index, numpy=True):
        raise ParameterTypeError(f"{where}: index must be an int, got {describe(index)}")
    index = int(index)
    if not -length <= index < length:
        raise IndexOutOfRangeError(f"{where}: index {index} is out of range for {length} items")
    return index % length


def _is_batch_index(index: Any) -> bool:
    """Whether ``dataset[index]`` asks for a batch: a list or tuple, or an array or tensor of one or more axes."""
    if isinstance(index, (list, tuple)):
        return True
    return isinstance(index, (np.ndarray, torch.Tensor)) and index.ndim > 0


def _check_split(split: Any, where: str) -> str:
    """A split name (an alias such as ``"validation"`` gives its canonical name)."""
    split = SPLIT_ALIASES.get(split, split) if isinstance(split, str) else split
    return check_choice(split, "split", [*SPLITS, *SPLIT_ALIASES], where=where)


def _check_optionals(transform: Any, target_transform: Any, seed: Any, where: str) -> None:
    for name, value in (("transform", transform), ("target_transform", target_transform)):
        if value is not None:
            check_callable(value, name, where=where, expected="callable or None")
    if seed is not None:
        check_int(seed, "seed", where=where, minimum=0, maximum=_SEED_MAX)


def _check_rows(
    params: Any, images: Any, settings: RenderSettings, full: int, where: str
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Finite float32 ``params`` ``(n, 10)`` with ``1 <= n <= full``; uint8 ``images`` ``(n, 3, size, size)``."""
    check_tensor(params, "params", where=where, shape=("n", len(PARAMETER_NAMES)))
    if params.dtype != torch.float32:
        raise ParameterError(f"{where}: `params` must have dtype torch.float32, got {params.dtype}")
    if not 1 <= len(params) <= full:
        raise ParameterError(f"{where}: `params` must hold between 1 and {full} rows for this split, got {len(params)}")
    if not bool(torch.isfinite(params).all()):
        raise ParameterError(f"{where}: `params` must be finite, got NaN or inf")
    # The renderer's value checks (b, sigma > 0, no overflow): items and views render these rows.
    _check_values(params.detach(), settings.n_points, settings.extent, where=where)
    if images is None:
        return params.detach().contiguous(), None
    size = settings.size
    check_tensor(images, "images", where=where, shape=(len(params), 3, size, size))
    if images.dtype != torch.uint8:
        raise ParameterError(f"{where}: `images` must have dtype torch.uint8, got {images.dtype}")
    return params.detach().contiguous(), images.contiguous()


class Spirograph(SettingsView, Dataset):
    """The Spirograph dataset (Foster, Pukdee & Rainforth, ICLR 2021) as a torch dataset.

    Items are ``(image, target)``: ``image`` float32 ``(3, size, size)`` in ``[0, 1]``
    rendered from the item's ten parameters (one fixed nuisance draw per item, so the
    dataset is static), ``target`` float32 ``(len(space.targets),)`` in target order.
    ``dataset[[i, j, ...]]`` (a list of indices) is a whole batch ``(images, targets)``,
    rendered in one call, and [`loader()`][spirograph.dataset.Spirograph.loader] builds the
    ``DataLoader`` that fetches batches that way.
    Nothing is downloaded: the parameters come from the split's seed. A dataset of rows
    read elsewhere (a published copy, an export folder) is made with
    [`from_rows()`][spirograph.dataset.Spirograph.from_rows].

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
        seed: override the split's canonical seed (a new, non-canonical dataset); an int in
            ``[0, 2**64 - 1]``.

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
    ) -> None:
        super().__init__()
        where = "Spirograph"
        split = _check_split(split, where)
        check_choice(mode, "mode", _MODES, where=where)
        space = check_space(space, where=where)
        _check_optionals(transform, target_transform, seed, where)
        settings = resolve_settings(settings, size, n_points, extent, normalize, where=where)
        self._configure(split, space, settings, mode, seed, "render", transform, target_transform)
        length = check_subset(subset, SPLITS[split].num_examples, where=where)
        params = space.sample(length, seed=self.seed, stream=_TABLE_STREAM, dtype=torch.float32)
        # The space's bounds render (checked when it was made); the settings' extent is checked here.
        _check_values(params, settings.n_points, settings.extent, where=where)
        self._set_rows(params, None)

    @classmethod
    def from_rows(
        cls,
        split: str,
        params: torch.Tensor,
        images: torch.Tensor | None = None,
        *,
        source: Source = "render",
        transform: Callable[[torch.Tensor], Any] | None = None,
        target_transform: Callable[[torch.Tensor], Any] | None = None,
        space: ParameterSpace | None = None,
        settings: RenderSettings | None = None,
        size: int | None = None,
        n_points: int | None = None,
        extent: float | None = None,
        normalize: Normalize | None = None,
        mode: Mode = "images",
        seed: int | None = None,
    ) -> Spirograph:
        """A dataset of given rows: the first ``n`` items of ``split``, read from elsewhere.

        Row ``i`` of ``params`` (and of ``images``) is item ``i``. With ``images``, items are
        served from them (uint8, converted to float32 in ``[0, 1]`` on each fetch); without,
        they are rendered from ``params`` on demand, as by the constructor. The rows are kept
        as given; to keep fewer, slice them before the call.

        Args:
            split: the split the rows belong to (``"validation"`` is accepted for ``"val"``).
            params: float32 ``(n, 10)`` finite parameters in canonical order
                ([`PARAMETER_NAMES`][spirograph.space.PARAMETER_NAMES]),
                ``1 <= n <=`` the split's size.
            images: uint8 ``(n, 3, size, size)`` images of the rows (``round(255 * pixel)``), or
                ``None`` to render them.
            source: where the rows came from, kept in ``source`` and shown by the repr (nothing
                else depends on it): ``"render"``, ``"hub"`` or ``"local"``.
            transform: called on each image tensor (torchvision style).
            target_transform: called on each target tensor.
            space: the parameter space; its target/nuisance split chooses the targets and the
                nuisance of [`views()`][spirograph.dataset.Spirograph.views].
            settings: the renderer settings the rows were (or will be) rendered with.
            size: renderer setting; must match the side of ``images``.
            n_points: renderer setting.
            extent: renderer setting.
            normalize: renderer setting.
            mode: ``"images"`` or ``"targets"``, as in the constructor.
            seed: the seed of the nuisance draws of ``views()``; the split's canonical seed by
                default.

        Returns:
            The dataset, with ``len(dataset) == n``.

        Raises:
            ParameterTypeError: an argument of the wrong type (``params`` or ``images`` not a tensor).
            ParameterError: a bad value: a wrong shape or dtype, non-finite parameters, more rows
                than the split holds, an unknown ``split``, ``source`` or ``mode``.

        Examples:
            >>> rendered = Spirograph("test", subset=8)
            >>> copy = Spirograph.from_rows("test", rendered.params, source="local")
            >>> len(copy), copy.source
            (8, 'local')
        """
        where = "Spirograph.from_rows"
        split = _check_split(split, where)
        check_choice(source, "source", _SOURCES, where=where)
        check_choice(mode, "mode", _MODES, where=where)
        space = check_space(space, where=where)
        _check_optionals(transform, target_transform, seed, where)
        settings = resolve_settings(settings, size, n_points, extent, normalize, where=where)
        rows, pixels = _check_rows(params, images, settings, SPLITS[split].num_examples, where)
        dataset = cls.__new__(cls)
        Dataset.__init__(dataset)
        dataset._configure(split, space, settings, mode, seed, source, transform, target_transform)
        dataset._set_rows(rows, pixels)
        return dataset

    def _configure(
        self,
        split: str,
        space: ParameterSpace,
        settings: RenderSettings,
        mode: Mode,
        seed: int | None,
        source: Source,
        transform: Callable[[torch.Tensor], Any] | None,
        target_transform: Callable[[torch.Tensor], Any] | None,
    ) -> None:
        """Keep the checked options."""
        self.split = split
        self.space = space
        self.settings = settings
        self.mode: Mode = mode
        self.source: Source = source
        self.seed = SPLITS[split].seed if seed is None else int(seed)
        self.transform = transform
        self.target_transform = target_transform

    def _set_rows(self, params: torch.Tensor, images: torch.Tensor | None) -> None:
        """Keep the ``(n, 10)`` parameters, their targets and, if given, their uint8 images."""
        self.params = params
        self.targets = params[:, list(self.space.target_index)].contiguous()
        self._images: torch.Tensor | None = images

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

    def __getitem__(self, index: int | Sequence[int] | torch.Tensor | np.ndarray) -> Any:
        """Item ``index``, or the batch of items ``index`` when it is a list of indices.

        Args:
            index: an int, or a list, tuple, array or tensor of ints (negative ones count from
                the end).

        Returns:
            For an int, ``(image, target)`` (``target`` alone in ``mode="targets"``). For a list
            of ``n`` indices, the batch: ``(images, targets)`` (``targets`` alone in
            ``mode="targets"``), exactly what ``DataLoader``'s default collation makes of those
            items. Without transforms it is rendered in one call and never split into items;
            with a ``transform`` or ``target_transform``, they are applied item by item and the
            results collated as ``DataLoader`` would.

        Shape:
            images ``(n, 3, size, size)``, targets ``(n, len(target_names))``.

        Raises:
            ParameterTypeError: an index that is not an int.
            IndexOutOfRangeError: an index outside ``[-len(self), len(self))``.

        Examples:
            >>> images, targets = Spirograph("test", subset=8)[[5, 0, 3]]
            >>> images.shape, targets.shape
            (torch.Size([3, 3, 32, 32]), torch.Size([3, 4]))
        """
        if _is_batch_index(index):
            return self._batch(_check_indices(index, len(self), "Spirograph"))  # type: ignore[arg-type]
        return self.__getitems__([_check_index(index, len(self), "Spirograph")])[0]

    def _batch(self, index: torch.Tensor) -> Any:
        """The collated batch of items ``index`` (checked, non-negative)."""
        if self.transform is not None or self.target_transform is not None:
            return default_collate(self.__getitems__(index))  # type: ignore[arg-type]
        targets = self.targets[index]
        if self.mode == "targets":
            return targets
        return self._fetch(index), targets

    def loader(
        self,
        batch_size: int = 1,
        *,
        shuffle: bool = False,
        sampler: Sampler[int] | Iterable[int] | None = None,
        drop_last: bool = False,
        generator: torch.Generator | None = None,
        **options: Any,
    ) -> DataLoader[Any]:
        """A `DataLoader` that fetches whole batches, with no per-item collation.

        Yields the same batches, in the same order, as ``DataLoader(self, batch_size,
        shuffle=shuffle, sampler=sampler, drop_last=drop_last, generator=generator, **options)``
        (with workers too), but each batch is one ``self[list of indices]`` call: rendered in one
        call and never split into items and stacked back, which is about half of the default
        path's time (benchmarks/README.md). Without workers it is ``DataLoader(self,
        batch_size=None, sampler=BatchSampler(sampler, batch_size, drop_last))``, which can also
        be written out by hand.

        With ``num_workers > 0`` (and no ``transform``), the workers hand their batches over in
        a ring of shared-memory slots allocated once, instead of new shared memory for every
        batch: the images yielded are a tensor over a slot, which is lent again only when the
        last tensor viewing it is gone, so a batch you keep is never overwritten; keeping many
        batches at once makes later ones travel the ordinary, slower way. Then the loader is a
        `DataLoader` subclass whose ``dataset`` wraps this one (``loader.dataset.dataset``).

        Args:
            batch_size: items per batch, ``>= 1``.
            shuffle: draw a new order each epoch (a `RandomSampler`, as ``DataLoader`` does).
            sampler: the order of the items (a `DistributedSampler`, say); excludes ``shuffle``.
            drop_last: drop the last batch when it is short.
            generator: the random generator of the shuffle and of the workers' base seed.
            **options: other ``DataLoader`` arguments (``num_workers``, ``pin_memory``,
                ``persistent_workers``, ...); ``batch_size``, ``batch_sampler`` and
                ``collate_fn`` are set by the loader.

        Returns:
            The loader; each batch is ``[images, targets]`` (``targets`` alone in
            ``mode="targets"``).

        Raises:
            ParameterTypeError: an argument of the wrong type.
            ParameterError: ``batch_size`` below 1, ``sampler`` with ``shuffle=True``, or an
                option the loader sets itself.

        Examples:
            >>> dataset = Spirograph("test", subset=100)
            >>> images, targets = next(iter(dataset.loader(batch_size=32, shuffle=True)))
            >>> images.shape, targets.shape
            (torch.Size([32, 3, 32, 32]), torch.Size([32, 4]))
        """
        raw = self.mode == "images" and self.transform is None and self.target_transform is None
        item_shape = (3, self.size, self.size) if raw else None
        return batched_loader(
            self, batch_size, shuffle, sampler, drop_last, generator, options, item_shape, where="Spirograph.loader"
        )

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
    def views(self, n_draws: int = 2, *, epoch: int = 0) -> SpirographViews:
        """``n_draws`` views of each item, each with its own nuisance draw (contrastive learning).

        ``n_draws`` is an int in ``[1, 1024]``, ``epoch`` in ``[0, 2**63 - 1]``.
        """
        return SpirographViews(self, n_draws, epoch=epoch)

    def view_params(self, indices: Sequence[int] | torch.Tensor, n_draws: int, *, epoch: int = 0) -> torch.Tensor:
        """Parameters of ``n_draws`` views of items ``indices``: targets kept, nuisance redrawn.

        View ``v`` of item ``i`` in epoch ``e`` is a pure function of ``(seed, e, i, v)``.

        Shape:
            ``(n, n_draws, 10)``.
        """
        where = "Spirograph.view_params"
        index = _check_indices(indices, len(self), where)
        n_draws = check_int(n_draws, "n_draws", where=where, minimum=1, maximum=_MAX_VIEWS)
        epoch = check_int(epoch, "epoch", where=where, minimum=0, maximum=_EPOCH_MAX)
        targets = self.targets[index]
        per_view = [
            self.space.sample_nuisance(targets, seed=self.seed, index=index, stream=(_VIEW_STREAM, epoch, view))
            for view in range(n_draws)
        ]
        return torch.stack(per_view, dim=1)

    def __repr__(self) -> str:
        lines = [
            f"Dataset {type(self).__name__}",
            f"    Number of datapoints: {len(self)}",
            f"    Split: {self.split} (version {DATASET_VERSION}, seed {self.seed}, source {self.source})",
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
    """``n_draws`` views of each item of a [`Spirograph`][spirograph.dataset.Spirograph], each with fresh nuisance.

    Item ``i`` is ``(views, target)`` with ``views`` of shape ``(n_draws, 3, size, size)``;
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
        n_draws: views per item (nuisance draws), ``>= 1``.
        epoch: the starting epoch.
    """

    def __init__(self, dataset: Spirograph, n_draws: int = 2, *, epoch: int = 0) -> None:
        check_instance(dataset, "dataset", Spirograph, where="SpirographViews")
        n_draws = check_int(n_draws, "n_draws", where="SpirographViews", minimum=1, maximum=_MAX_VIEWS)
        self.dataset = dataset
        self.n_draws = n_draws
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
        self._epoch.fill_(check_int(epoch, "epoch", where="SpirographViews.set_epoch", minimum=0, maximum=_EPOCH_MAX))

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int | Sequence[int] | torch.Tensor | np.ndarray) -> Any:
        """Item ``index``, ``(views, target)``, or the batch ``(views, targets)`` for a list of indices.

        As for a `Spirograph`: a list of ``n`` indices gives what ``DataLoader``'s default
        collation makes of those items, rendered in one call.

        Shape:
            views ``(n, n_draws, 3, size, size)``, targets ``(n, len(target_names))``.
        """
        if _is_batch_index(index):
            index = _check_indices(index, len(self), "SpirographViews")  # type: ignore[arg-type]
            data = self.dataset
            if data.transform is not None or data.target_transform is not None:
                return default_collate(self.__getitems__(index))  # type: ignore[arg-type]
            return self._render(index), data.targets[index]
        return self.__getitems__([_check_index(index, len(self), "SpirographViews")])[0]

    def loader(
        self,
        batch_size: int = 1,
        *,
        shuffle: bool = False,
        sampler: Sampler[int] | Iterable[int] | None = None,
        drop_last: bool = False,
        generator: torch.Generator | None = None,
        **options: Any,
    ) -> DataLoader[Any]:
        """A `DataLoader` that fetches whole batches: see [`Spirograph.loader()`][spirograph.dataset.Spirograph.loader].

        Each batch is ``[views, targets]``, the same as ``DataLoader(self, batch_size, ...)``
        gives, in the same order.
        """
        data = self.dataset
        raw = data.transform is None and data.target_transform is None
        item_shape = (self.n_draws, 3, data.size, data.size) if raw else None
        return batched_loader(
            self,
            batch_size,
            shuffle,
            sampler,
            drop_last,
            generator,
            options,
            item_shape,
            where="SpirographViews.loader",
        )

    def _render(self, index: torch.Tensor) -> torch.Tensor:
        """Views of items ``index`` (checked, non-negative), ``(n, n_draws, 3, S, S)``."""
        data = self.dataset
        params = data.view_params(index, self.n_draws, epoch=self.epoch)  # (n, n_draws, 10)
        with torch.no_grad():
            return data.render_params(params)

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[Any, Any]]:
        data = self.dataset
        index = _check_indices(indices, len(self), "SpirographViews")
        images = self._render(index)  # (n, n_draws, 3, S, S)
        items = []
        for views, target in zip(images.unbind(0), data.targets[index].unbind(0), strict=True):
            out: Any = views
            if data.transform is not None:
                out = torch.stack([data.transform(view) for view in views.unbind(0)])
            items.append((out, target if data.target_transform is None else data.target_transform(target)))
        return items

    def __repr__(self) -> str:
        split = self.dataset.split
        return f"SpirographViews(n_draws={self.n_draws}, epoch={self.epoch}, dataset={split!r}, n={len(self)})"
