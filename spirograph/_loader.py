"""The batched loader behind `Spirograph.loader()`, and its shared slots for worker processes.

Each batch is one ``dataset[list of indices]`` call: rendered whole, never split into items and
stacked back. With worker processes, a batch a worker returns would normally reach the main
process by moving its tensors into a new shared-memory segment, created, sized, mapped and
passed as a file descriptor again for every batch, which costs more than rendering it. So when
the batches have a fixed shape, the loader allocates a ring of shared *slots* once. The main
process lends each batch a free slot when it sends the batch's indices; the worker renders the
batch and copies it into that slot; the main process yields the images as a tensor over the
slot, without a copy. Only the indices, the slot number and the small targets (as an array)
travel through the queues.

A slot comes back when the last tensor that views the yielded images is gone (a finalizer on
the array under the tensor's storage), so a batch the user keeps is never overwritten. The ring
has ``prefetch_factor * num_workers + 2`` slots: at most ``prefetch_factor * num_workers``
batches are in flight, one is being yielded and the loop still holds the previous one. When no
slot is free (the user keeps batches, or two passes share one loader) a batch travels the
ordinary way. A pass that stops early (a ``break``, an error) gives back the slots of the
batches it never yielded when the DataLoader drops its index iterator, which it does only once
that pass's workers have stopped or, with persistent workers, have finished its last batch.
With ``pin_memory``, images are copied into pinned memory and the slot freed at once.
"""

from __future__ import annotations

import math
import threading
import warnings
import weakref
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, Sampler, SequentialSampler

from spirograph._checks import check_bool, check_instance, check_int
from spirograph.errors import ParameterError

# DataLoader arguments that `loader()` sets itself: a batch sampler built from its own arguments,
# and no collation (each batch arrives whole).
_LOADER_OWNS = ("batch_size", "batch_sampler", "collate_fn")

# Above this size the ring of slots is not allocated and batches travel the ordinary way: the
# ring is held for the loader's lifetime, while ordinary batches are freed as they are consumed.
_MAX_RING_BYTES = 1 << 30


def batched_loader(
    dataset: Dataset[Any],
    batch_size: int,
    shuffle: bool,
    sampler: Sampler[int] | Iterable[int] | None,
    drop_last: bool,
    generator: torch.Generator | None,
    options: dict[str, Any],
    item_shape: tuple[int, ...] | None,
    where: str,
) -> DataLoader[Any]:
    """A DataLoader whose every fetch is one ``dataset[list of indices]`` call; see `Spirograph.loader`.

    ``item_shape`` is the shape of one item's images when every batch is ``(images, targets)``
    with float32 images of that shape (no transform), else None; with workers, such batches
    travel through the shared slots.
    """
    batch_size = check_int(batch_size, "batch_size", where=where, minimum=1)
    check_bool(shuffle, "shuffle", where=where)
    check_bool(drop_last, "drop_last", where=where)
    if generator is not None:
        check_instance(generator, "generator", torch.Generator, where=where, expected="a torch.Generator or None")
    for name in _LOADER_OWNS:
        if name in options:
            raise ParameterError(f"{where}: `{name}` is set by the loader itself, got {name}={options[name]!r}")
    if sampler is not None and shuffle:
        raise ParameterError(f"{where}: `sampler` and `shuffle=True` exclude each other, got both")
    if sampler is None:
        # What DataLoader(dataset, batch_size, shuffle, generator=...) builds, so the order is the same.
        sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)  # type: ignore[arg-type]
    batches = BatchSampler(sampler, batch_size, drop_last)
    # `generator` also seeds the workers' base seed, drawn from it before the first shuffle as in
    # the default path, so a shared generator advances the same way in both.
    if item_shape is not None and options.get("num_workers", 0) > 0:
        return _SlotLoader(dataset, batches, item_shape, generator=generator, **options)
    # batch_size=None: the loader hands each list of indices to `dataset[...]` and collates nothing.
    return DataLoader(dataset, batch_size=None, sampler=batches, generator=generator, **options)


class _Slots:
    """The ring: ``count`` shared buffers of one batch of images each, and which of them are free.

    A slot is free, lent to a pass (its worker writes the batch into it), or handed out (the
    images yielded to the user live in it until the last tensor that views them is gone). Lives
    in the main process; the workers see only `images` (through `_SlotFetcher`).
    """

    def __init__(self, count: int, batch_size: int, item_shape: tuple[int, ...]) -> None:
        # (count, batch_size, *item_shape) float32, in shared memory before any worker starts.
        self.images = torch.empty((count, batch_size, *item_shape)).share_memory_()
        self._array = self.images.numpy()
        self._free = list(range(count))
        self._lent: dict[int, int] = {}  # slot lent to a pass -> id of the pass
        # Re-entrant: a handed-out slot is freed by a finalizer, which runs wherever the last
        # reference to its images is dropped, possibly while this thread holds the lock.
        self._lock = threading.RLock()

    def lend(self, holder: object) -> int | None:
        """A free slot for a batch of pass ``holder``, or None when none is free."""
        with self._lock:
            if not self._free:
                return None
            slot = self._free.pop()
            self._lent[slot] = id(holder)
            return slot

    def hand_out(self, slot: int, count: int) -> torch.Tensor:
        """The first ``count`` images of ``slot``, which stays taken while any tensor views them."""
        with self._lock:
            del self._lent[slot]
        # A new array object for this batch alone: the tensor's storage keeps it alive, and so
        # does every view, reshape or `.numpy()` of the tensor, so it dies with the last of them.
        array = self._array[slot, :count]
        weakref.finalize(array, self._give_back, slot)
        return torch.from_numpy(array)

    def copy_out(self, slot: int, count: int, pin: bool) -> torch.Tensor:
        """A copy of the first ``count`` images of ``slot`` (in pinned memory if ``pin``); the slot is free again."""
        out = torch.empty((count, *self.images.shape[2:]), pin_memory=pin)
        # numpy's copy runs on this thread alone: torch's would start intra-op threads that
        # compete with the workers for the cores.
        np.copyto(out.numpy(), self._array[slot, :count])
        with self._lock:
            del self._lent[slot]
            self._free.append(slot)
        return out

    def reclaim(self, holder: object) -> None:
        """Free the slots still lent to pass ``holder``, whose workers no longer write to them."""
        with self._lock:
            for slot in [slot for slot, owner in self._lent.items() if owner == id(holder)]:
                del self._lent[slot]
                self._free.append(slot)

    def _give_back(self, slot: int) -> None:
        with self._lock:
            self._free.append(slot)

    @property
    def free(self) -> int:
        """How many slots are free."""
        with self._lock:
            return len(self._free)


class _Request:
    """One batch's indices and the slot its images go to (None: the ordinary way)."""

    __slots__ = ("indices", "slot")

    def __init__(self, indices: list[int], slot: int | None) -> None:
        self.indices = indices
        self.slot = slot


class _InSlot:
    """A batch whose images wait in ``slot`` (the first ``count`` of it); the targets travel here, as an array."""

    __slots__ = ("count", "slot", "targets")

    def __init__(self, slot: int, count: int, targets: np.ndarray) -> None:
        self.slot = slot
        self.count = count
        self.targets = targets


class _SlotFetcher(Dataset[Any]):
    """What the workers fetch from: the dataset's batch, its images copied into the assigned slot."""

    def __init__(self, dataset: Dataset[Any]) -> None:
        self.dataset = dataset
        self.images: torch.Tensor | None = None  # the ring's shared buffers, set before workers start

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, request: _Request) -> Any:
        batch = self.dataset[request.indices]
        if request.slot is None or self.images is None:
            return batch
        images, targets = batch
        slot = self.images[request.slot]
        if images.dtype != slot.dtype or images.shape[1:] != slot.shape[1:]:
            return batch  # not the shape the ring was made for: the ordinary way
        slot[: images.shape[0]].copy_(images)
        # As an array, pickled into the message: a tensor would travel through a new shared
        # memory segment and a file descriptor of its own, which costs more than the batch.
        return _InSlot(request.slot, images.shape[0], targets.numpy())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.dataset!r})"


class _Pass:
    """The requests of one pass: the batch sampler's index lists, each with a slot if one is free.

    The DataLoader holds it as its index iterator and drops it when the pass is over for its
    workers; then the slots the pass still holds (batches it never yielded) are freed.
    """

    def __init__(self, batches: Iterator[list[int]], slots: _Slots | None) -> None:
        self._batches = batches
        self._slots = slots

    def __iter__(self) -> _Pass:
        return self

    def __next__(self) -> _Request:
        indices = next(self._batches)
        return _Request(indices, None if self._slots is None else self._slots.lend(self))

    def __del__(self) -> None:
        if self._slots is not None:
            self._slots.reclaim(self)


class _SlotRequests(Sampler[_Request]):
    """The loader's sampler: a `BatchSampler`'s batches as `_Request` s."""

    def __init__(self, batches: BatchSampler) -> None:
        self.batches = batches
        self.slots: _Slots | None = None

    @property
    def sampler(self) -> Sampler[int] | Iterable[int]:
        """The order of the items, as ``BatchSampler.sampler`` (a `DistributedSampler`, say)."""
        return self.batches.sampler

    def __iter__(self) -> Iterator[_Request]:
        return _Pass(iter(self.batches), self.slots)

    def __len__(self) -> int:
        return len(self.batches)


def _no_collation(batch: Any) -> Any:
    """A batch in a slot as it is; otherwise what the ordinary path does (``default_convert``)."""
    return batch if isinstance(batch, _InSlot) else torch.utils.data.default_convert(batch)


class _SlotLoader(DataLoader[Any]):
    """``DataLoader(dataset, batch_size=None, sampler=batches)`` whose workers hand batches over in shared slots.

    ``loader.dataset`` is a wrapper; ``loader.dataset.dataset`` is the dataset.
    """

    def __init__(self, dataset: Dataset[Any], batches: BatchSampler, item_shape: tuple[int, ...], **options: Any):
        self._requests = _SlotRequests(batches)
        self._no_ring = False  # set when the ring could not be allocated
        self._item_shape = item_shape
        super().__init__(
            _SlotFetcher(dataset), batch_size=None, sampler=self._requests, collate_fn=_no_collation, **options
        )

    def _ring(self) -> _Slots | None:
        """The ring, allocated before the first workers start; None when it is too large or fails."""
        if self._requests.slots is None and not self._no_ring:
            count = self.prefetch_factor * self.num_workers + 2  # type: ignore[operator]
            batch_size = self._requests.batches.batch_size
            size = count * batch_size * math.prod(self._item_shape) * 4
            try:
                if size > _MAX_RING_BYTES:
                    raise RuntimeError(f"{size} bytes exceed the limit of {_MAX_RING_BYTES}")
                slots = _Slots(count, batch_size, self._item_shape)
            except RuntimeError as error:
                warnings.warn(
                    f"loader: no shared slots for the workers' batches ({error}); batches travel the "
                    "ordinary way, through new shared memory for each",
                    RuntimeWarning,
                    stacklevel=3,
                )
                self._no_ring = True
                return None
            self._requests.slots = slots
            self.dataset.images = slots.images  # type: ignore[attr-defined]
        return self._requests.slots

    def __iter__(self) -> _FromSlots:  # type: ignore[override]
        slots = self._ring()
        pin = bool(self.pin_memory and torch.accelerator.is_available())
        return _FromSlots(super().__iter__(), slots, pin)


class _FromSlots:
    """The DataLoader's iterator, with each batch in a slot made ``[images, targets]`` (the images over the slot)."""

    def __init__(self, batches: Iterator[Any], slots: _Slots | None, pin: bool) -> None:
        self._batches = batches
        self._slots = slots
        self._pin = pin

    def __iter__(self) -> _FromSlots:
        return self

    def __next__(self) -> Any:
        batch = next(self._batches)
        if not isinstance(batch, _InSlot) or self._slots is None:  # a batch in a slot means a ring
            return batch
        targets = torch.from_numpy(batch.targets)
        if self._pin:
            return [self._slots.copy_out(batch.slot, batch.count, pin=True), targets.pin_memory()]
        return [self._slots.hand_out(batch.slot, batch.count), targets]

    def __len__(self) -> int:
        return len(self._batches)  # type: ignore[arg-type]
