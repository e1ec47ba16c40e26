"""The parameter space: names, uniform priors, the target/nuisance split, seeded sampling.

Every image is a function of ten scalars in the canonical order [`PARAMETER_NAMES`][spirograph.space.PARAMETER_NAMES].
A [`ParameterSpace`][spirograph.space.ParameterSpace] says which of them are downstream *targets* and which are
nuisance *transformations*, and gives each a uniform prior ``U(low, high)``.

Sampling is explicit. With ``seed=`` it is counter-based: the value of row ``r`` and
parameter ``p`` is a hash of ``(seed, *stream, r, p)`` (SplitMix64, computed with
NumPy's wrapping ``uint64`` arithmetic), so it is the same on every machine, OS,
library version and process, and any row can be drawn without drawing the rows
before it. With ``generator=`` (a `torch.Generator`) it draws on the
generator's device, which is what on-device training wants.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import torch

from spirograph._checks import check_device, check_instance, check_int, check_names, check_number, check_tensor
from spirograph.errors import ParameterError, ParameterTypeError

__all__ = [
    "DEFAULT_BOUNDS",
    "DEFAULT_TARGETS",
    "PARAMETER_MEANINGS",
    "PARAMETER_NAMES",
    "ParameterSpace",
    "hash_uniform",
]

PARAMETER_NAMES: tuple[str, ...] = (
    "m",
    "b",
    "h",
    "sigma",
    "fore_r",
    "fore_g",
    "fore_b",
    "back_r",
    "back_g",
    "back_b",
)
"""The ten parameters of one image, in the order every ``(..., 10)`` tensor uses."""

PARAMETER_MEANINGS: Mapping[str, str] = MappingProxyType(
    {
        "m": "curve size",
        "b": "rolling-circle radius",
        "h": "pen distance",
        "sigma": "stroke width (Gaussian bandwidth)",
        "fore_r": "foreground red",
        "fore_g": "foreground green",
        "fore_b": "foreground blue",
        "back_r": "background red",
        "back_g": "background green",
        "back_b": "background blue",
    }
)
"""What each parameter controls, in words (for tables, cards and the command line)."""

DEFAULT_BOUNDS: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        "m": (2.0, 5.0),
        "b": (0.1, 1.1),
        "h": (0.5, 2.5),
        "sigma": (0.25, 1.0),
        "fore_r": (0.4, 1.0),
        "fore_g": (0.4, 1.0),
        "fore_b": (0.4, 1.0),
        "back_r": (0.0, 0.6),
        "back_g": (0.0, 0.6),
        "back_b": (0.0, 0.6),
    }
)
"""The paper's uniform priors, ``name -> (low, high)``."""

DEFAULT_TARGETS: tuple[str, ...] = ("m", "b", "sigma", "fore_r")
"""The paper's four downstream targets; the other six parameters are nuisance."""

_POSITIVE = ("b", "sigma")
_COLOURS = ("fore_r", "fore_g", "fore_b", "back_r", "back_g", "back_b")

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)

# The sampler keys on 64-bit words: a seed (and a stream word) is an int in [0, 2**64 - 1], never
# wrapped (2**64 would give the rows of seed 0).
_SEED_MAX = 2**64 - 1
# The most rows one draw makes: a larger `n` is almost surely a typo, and would exhaust memory before it failed.
_MAX_DRAWS = 2**24

_INDEX_MAX = 2**63 - 1  # row indices and offsets are int64 wherever they are tensors
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _mix(z: np.ndarray) -> np.ndarray:
    # SplitMix64 finaliser; uint64 array arithmetic wraps modulo 2**64.
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def _as_word(value: int | np.ndarray, name: str) -> np.ndarray:
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "iu":
            raise ParameterTypeError(f"hash_uniform: `{name}` must hold integers, got dtype {value.dtype}")
        return value.astype(np.uint64)
    return np.asarray(check_int(value, name, where="hash_uniform") & 0xFFFFFFFFFFFFFFFF, dtype=np.uint64)


def hash_uniform(*words: int | np.ndarray) -> np.ndarray:
    """Uniform numbers in ``[0, 1)`` that are a pure function of integer keys.

    Each output element is ``SplitMix64`` applied in turn to the broadcast keys, with
    the top 53 bits turned into a float64. Identical on every platform.

    Args:
        *words: integers or integer arrays (broadcast together), e.g.
            ``(seed, stream, row[:, None], column[None, :])``.

    Returns:
        A float64 array of the broadcast shape.

    Examples:
        >>> u = hash_uniform(0, np.arange(3)[:, None], np.arange(2)[None, :])
        >>> u.shape
        (3, 2)
    """
    if not words:
        raise ParameterError("hash_uniform: expected at least one key, got none")
    state = np.asarray(_GOLDEN, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for position, word in enumerate(words):
            state = _mix(state + _mix(_as_word(word, f"words[{position}]") + _GOLDEN))
    return (state >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def _stream_words(stream: int | Sequence[int], where: str) -> tuple[int, ...]:
    if isinstance(stream, Sequence) and not isinstance(stream, (str, bytes)):
        return tuple(
            check_int(word, f"stream[{k}]", where=where, minimum=0, maximum=_SEED_MAX) for k, word in enumerate(stream)
        )
    return (check_int(stream, "stream", where=where, minimum=0, maximum=_SEED_MAX),)


_FLOAT32_MAX = float(torch.finfo(torch.float32).max)
_FLOAT32_TINY = float(torch.finfo(torch.float32).tiny)
_LOG2_E = float(np.log2(np.e))


def _check_renderable(bounds: Mapping[str, tuple[float, float]]) -> None:
    """Refuse bounds holding a draw whose image overflows float32 (the renderer's checks, at the box's worst corner).

    The renderer forms ``|m - h| / b * 2 pi`` and ``(|m - h| + |h|) * sqrt(log2(e) / sigma)``;
    both are largest at the smallest ``b`` and ``sigma`` and the largest ``|m - h|`` and ``|h|``.
    """
    (m_low, m_high), (h_low, h_high) = bounds["m"], bounds["h"]
    radius = max(abs(m - h) for m in (m_low, m_high) for h in (h_low, h_high))
    pen = max(abs(h_low), abs(h_high))
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        b_low, sigma_low = np.float32(bounds["b"][0]), np.float32(bounds["sigma"][0])
        phase = np.float32(radius) / b_low * np.float32(2 * np.pi)
        reach = (np.float32(radius) + np.float32(pen)) * np.sqrt(np.float32(_LOG2_E) / sigma_low)
    for value, quantity in ((phase, "|m - h| / b * 2 pi"), (reach, "(|m - h| + |h|) * sqrt(log2(e) / sigma)")):
        if not np.isfinite(value):
            raise ParameterError(
                f"ParameterSpace: `bounds` hold draws that overflow float32: {quantity} is not finite at "
                f"m in {bounds['m']}, h in {bounds['h']}, b >= {bounds['b'][0]}, sigma >= {bounds['sigma'][0]}, "
                "so their images would hold NaN"
            )


def _check_bound(name: str, pair: Any) -> tuple[float, float]:
    """One prior's ``(low, high)``: a list or tuple of two finite numbers, ``low < high``."""
    where, argument = "ParameterSpace", f"bounds[{name!r}]"
    if isinstance(pair, np.ndarray) and pair.ndim == 1:
        pair = pair.tolist()
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise ParameterTypeError(
            f"{where}: `{argument}` must be a pair of numbers (low, high) as a tuple or list, got "
            f"{type(pair).__name__} {pair!r}"
        )
    low, high = (check_number(value, argument, where=where, finite=True) for value in pair)
    if low >= high:
        raise ParameterError(f"{where}: bound of `{name}` needs low < high, got ({low}, {high})")
    if high - low > _FLOAT32_MAX or max(abs(low), abs(high)) > _FLOAT32_MAX:
        # float32 is the dtype of the dataset and the renderer: wider bounds would sample inf.
        raise ParameterError(
            f"{where}: bound of `{name}` must lie within float32's range (width and ends <= {_FLOAT32_MAX:.4g}), "
            f"got ({low}, {high})"
        )
    if name in _POSITIVE and low <= 0:
        raise ParameterError(f"{where}: bound of `{name}` must be > 0, got ({low}, {high})")
    if name in _POSITIVE and low < _FLOAT32_TINY:
        # Below float32's smallest normal number a draw rounds to 0 (or a denormal): the renderer divides by it.
        raise ParameterError(
            f"{where}: bound of `{name}` must be >= {_FLOAT32_TINY:.4g} (float32's smallest normal number), "
            f"got ({low}, {high})"
        )
    if name in _COLOURS and (low < 0 or high > 1):
        raise ParameterError(f"{where}: colour bound of `{name}` must lie in [0, 1], got ({low}, {high})")
    return low, high


@dataclass(frozen=True)
class ParameterSpace:
    """Uniform priors over the ten parameters and their target/nuisance split.

    A frozen, validated value object. Change a bound or the split with
    [`replace()`][spirograph.space.ParameterSpace.replace] (or build a new one); the defaults are the paper's.

    Args:
        bounds: ``name -> (low, high)`` for any subset of [`PARAMETER_NAMES`][spirograph.space.PARAMETER_NAMES];
            parameters not named keep the paper's prior.
        targets: the downstream targets, in the order targets are returned.
        nuisance: the nuisance parameters; by default every parameter that is not a
            target, in canonical order. Together with ``targets`` it must name every
            parameter exactly once.

    Raises:
        ParameterError: unknown names, a parameter in both sets or in neither,
            ``low >= high``, a non-finite bound, a ``b`` or ``sigma`` bound ``<= 0``,
            or a colour bound outside ``[0, 1]``.

    Examples:
        >>> space = ParameterSpace()
        >>> space.nuisance
        ('h', 'fore_g', 'fore_b', 'back_r', 'back_g', 'back_b')
        >>> shifted = space.replace(bounds={"h": (1.0, 3.0)})
        >>> params = shifted.sample(8, seed=0)
        >>> params.shape
        torch.Size([8, 10])
    """

    bounds: Mapping[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_BOUNDS))
    targets: tuple[str, ...] = DEFAULT_TARGETS
    nuisance: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        check_instance(self.bounds, "bounds", Mapping, where="ParameterSpace", expected="a mapping name -> (low, high)")
        check_names(list(self.bounds), "bounds", where="ParameterSpace", allowed=PARAMETER_NAMES, allow_empty=True)
        merged = {name: _check_bound(name, self.bounds.get(name, DEFAULT_BOUNDS[name])) for name in PARAMETER_NAMES}
        _check_renderable(merged)
        object.__setattr__(self, "bounds", MappingProxyType(merged))
        # Small constant tensors per (what, dtype, device), made once: a training step then
        # copies nothing from the host (a copy to a GPU would wait for the device).
        object.__setattr__(self, "_constants", {})

        targets = self._names(self.targets, "targets")
        if self.nuisance is None:
            nuisance = tuple(n for n in PARAMETER_NAMES if n not in targets)
        else:
            nuisance = self._names(self.nuisance, "nuisance")
        both = sorted(set(targets) & set(nuisance), key=PARAMETER_NAMES.index)
        if both:
            raise ParameterError(f"ParameterSpace: {both} are both targets and nuisance; each belongs to one set")
        neither = [n for n in PARAMETER_NAMES if n not in targets and n not in nuisance]
        if neither:
            raise ParameterError(
                f"ParameterSpace: {neither} are neither targets nor nuisance; every parameter needs a role"
            )
        object.__setattr__(self, "targets", targets)
        object.__setattr__(self, "nuisance", nuisance)

    @staticmethod
    def _names(names: Iterable[str], argument: str) -> tuple[str, ...]:
        return check_names(names, argument, where="ParameterSpace", allowed=PARAMETER_NAMES, allow_empty=True)

    # ------------------------------------------------------------------ derived views
    @property
    def nuisance_names(self) -> tuple[str, ...]:
        """The nuisance names (same as ``nuisance``, typed as never ``None``)."""
        assert self.nuisance is not None  # set in __post_init__
        return self.nuisance

    @property
    def target_index(self) -> tuple[int, ...]:
        """Canonical positions of the targets, in target order."""
        return tuple(PARAMETER_NAMES.index(n) for n in self.targets)

    @property
    def nuisance_index(self) -> tuple[int, ...]:
        """Canonical positions of the nuisance parameters, in nuisance order."""
        return tuple(PARAMETER_NAMES.index(n) for n in self.nuisance_names)

    def low(self, names: Sequence[str] = PARAMETER_NAMES) -> tuple[float, ...]:
        """Lower bounds of ``names`` (canonical order by default)."""
        return tuple(self.bounds[n][0] for n in names)

    def high(self, names: Sequence[str] = PARAMETER_NAMES) -> tuple[float, ...]:
        """Upper bounds of ``names`` (canonical order by default)."""
        return tuple(self.bounds[n][1] for n in names)

    def prior_mean(self, names: Sequence[str] = PARAMETER_NAMES) -> tuple[float, ...]:
        """Means ``(low + high) / 2`` of the uniform priors of ``names``."""
        return tuple((self.bounds[n][0] + self.bounds[n][1]) / 2 for n in names)

    def prior_variance(self, names: Sequence[str] = PARAMETER_NAMES) -> tuple[float, ...]:
        """Variances ``(high - low)**2 / 12`` of the uniform priors of ``names``."""
        return tuple((self.bounds[n][1] - self.bounds[n][0]) ** 2 / 12 for n in names)

    def replace(
        self,
        *,
        bounds: Mapping[str, tuple[float, float]] | None = None,
        targets: Sequence[str] | None = None,
        nuisance: Sequence[str] | None = None,
    ) -> ParameterSpace:
        """A copy with some bounds changed and/or a new split.

        Args:
            bounds: bounds to override; the others are kept.
            targets: a new target set; the nuisance becomes the rest unless given.
            nuisance: a new nuisance set; the targets become the rest unless given.

        Returns:
            A new validated [`ParameterSpace`][spirograph.space.ParameterSpace].
        """
        new_bounds = dict(self.bounds)
        if bounds is not None:
            new_bounds.update(check_instance(bounds, "bounds", Mapping, where="ParameterSpace.replace"))
        if targets is None and nuisance is None:
            return ParameterSpace(new_bounds, self.targets, self.nuisance)
        if targets is None:
            assert nuisance is not None
            chosen = ParameterSpace._names(nuisance, "nuisance")
            targets = tuple(n for n in PARAMETER_NAMES if n not in chosen)
        return ParameterSpace(new_bounds, tuple(targets), None if nuisance is None else tuple(nuisance))

    # ------------------------------------------------------------------ sampling
    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from its fields (the read-only bounds view and the constants cache do not pickle),
        # so datasets holding a space work with spawned DataLoader workers.
        return (ParameterSpace, (dict(self.bounds), self.targets, self.nuisance))

    def _constant(self, key: tuple[Any, ...], make: Callable[[], torch.Tensor]) -> torch.Tensor:
        cache: dict[tuple[Any, ...], torch.Tensor] = self._constants  # type: ignore[attr-defined]
        if key not in cache:
            cache[key] = make()
        return cache[key]

    def _scale(self, unit: torch.Tensor, names: Sequence[str]) -> torch.Tensor:
        def bounds() -> torch.Tensor:
            return torch.tensor([self.low(names), self.high(names)], dtype=unit.dtype).to(unit.device)

        low, high = self._constant(("bounds", tuple(names), unit.dtype, unit.device), bounds).unbind()
        return low + (high - low) * unit

    def sample(
        self,
        n: int,
        *,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        offset: int = 0,
        index: Sequence[int] | np.ndarray | torch.Tensor | None = None,
        stream: int | Sequence[int] = 0,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """Draw ``n`` parameter vectors from the prior.

        Args:
            n: how many rows, at most ``2**24``.
            seed: counter-based, portable sampling: row ``r`` is a pure function of
                ``(seed, stream, offset + r)``; an int in ``[0, 2**64 - 1]`` (the sampler's word).
            generator: sample with `torch.rand()` on this generator's device instead.
            offset: index of the first row (``seed`` only), so rows ``[a, b)`` can be
                drawn on their own.
            index: explicit row indices (``seed`` only), ``n`` of them, instead of ``offset``.
            stream: extra integer key(s) separating independent draws with one seed, each in
                ``[0, 2**64 - 1]``.
            dtype: floating dtype of the result.
            device: where the result lives (default: the generator's device, else CPU).

        Returns:
            Shape ``(n, 10)``, canonical order.
        """
        return self._draw(n, PARAMETER_NAMES, seed, generator, offset, index, stream, dtype, device, "sample")

    def sample_nuisance(
        self,
        targets: torch.Tensor,
        *,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        offset: int = 0,
        index: Sequence[int] | np.ndarray | torch.Tensor | None = None,
        stream: int | Sequence[int] = 0,
    ) -> torch.Tensor:
        """Complete target values with a fresh nuisance draw.

        Args:
            targets: ``(n, len(targets))`` target values in target order.
            seed: as in [`sample()`][spirograph.space.ParameterSpace.sample].
            generator: as in [`sample()`][spirograph.space.ParameterSpace.sample].
            offset: as in [`sample()`][spirograph.space.ParameterSpace.sample].
            index: as in [`sample()`][spirograph.space.ParameterSpace.sample].
            stream: as in [`sample()`][spirograph.space.ParameterSpace.sample].

        Returns:
            ``(n, 10)`` parameters in canonical order, on ``targets``' device and dtype;
            differentiable with respect to ``targets``.
        """
        check_tensor(targets, "targets", where="sample_nuisance", shape=("n", len(self.targets)))
        # Integer targets get float32 nuisance (join promotes), never truncated nuisance.
        dtype = targets.dtype if targets.dtype.is_floating_point else torch.float32
        nuisance = self._draw(
            targets.shape[0],
            self.nuisance_names,
            seed,
            generator,
            offset,
            index,
            stream,
            dtype,
            targets.device,
            "sample_nuisance",
        )
        return self.join(targets, nuisance)

    def sample_nuisance_block(
        self,
        n: int,
        *,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        offset: int = 0,
        index: Sequence[int] | np.ndarray | torch.Tensor | None = None,
        stream: int | Sequence[int] = 0,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """Draw only the nuisance block, shape ``(n, len(nuisance))`` in nuisance order.

        Arguments as in [`sample()`][spirograph.space.ParameterSpace.sample].
        """
        return self._draw(
            n, self.nuisance_names, seed, generator, offset, index, stream, dtype, device, "sample_nuisance_block"
        )

    def _draw(
        self,
        n: int,
        names: Sequence[str],
        seed: int | None,
        generator: torch.Generator | None,
        offset: int,
        index: Sequence[int] | np.ndarray | torch.Tensor | None,
        stream: int | Sequence[int],
        dtype: torch.dtype,
        device: torch.device | str | None,
        where: str,
    ) -> torch.Tensor:
        n = check_int(n, "n", where=where, minimum=0, maximum=_MAX_DRAWS)
        check_instance(dtype, "dtype", torch.dtype, where=where)
        if device is not None:
            check_device(device, where=where)
        if not dtype.is_floating_point:
            raise ParameterError(f"{where}: `dtype` must be a floating dtype, got {dtype}")
        self._check_range(names, dtype, where)
        if (seed is None) == (generator is None):
            raise ParameterError(f"{where}: pass exactly one of `seed` (portable) or `generator` (on-device)")
        if generator is not None:
            check_instance(generator, "generator", torch.Generator, where=where)
            target_device = torch.device(device) if device is not None else generator.device
            unit = torch.rand((int(n), len(names)), generator=generator, dtype=dtype, device=generator.device)
            return self._scale(unit, names).to(target_device)
        seed = check_int(seed, "seed", where=where, minimum=0, maximum=_SEED_MAX)
        if index is not None:
            keys = np.asarray(index.cpu() if isinstance(index, torch.Tensor) else index)
            if keys.size == 0 and keys.ndim == 1:
                keys = keys.astype(np.int64)  # np.asarray([]) is float64: an empty index is still valid
            if keys.dtype.kind not in "iu" or keys.ndim != 1 or len(keys) != n or (keys < 0).any():
                # (unsigned keys are below 2**64, the sampler's word: none wraps)
                raise ParameterError(
                    f"{where}: `index` must be {n} non-negative integers in one dimension, "
                    f"got shape {keys.shape} dtype {keys.dtype}"
                )
            rows = keys.astype(np.uint64)[:, None]
        else:
            offset = check_int(offset, "offset", where=where, minimum=0, maximum=_INDEX_MAX - n)
            rows = np.arange(offset, offset + n, dtype=np.uint64)[:, None]
        columns = np.asarray([PARAMETER_NAMES.index(name) for name in names], dtype=np.uint64)[None, :]
        unit64 = hash_uniform(seed, *_stream_words(stream, where), rows, columns)
        low = np.asarray(self.low(names))
        high = np.asarray(self.high(names))
        # Scale in float64 before the cast so every dtype rounds the same real number.
        values = torch.from_numpy(low + (high - low) * unit64).to(dtype)
        return values.to(device) if device is not None else values

    def _check_range(self, names: Sequence[str], dtype: torch.dtype, where: str) -> None:
        # Bounds are float32-safe (checked in __post_init__); a narrower dtype may not hold them.
        largest = float(torch.finfo(dtype).max)
        for name in names:
            low, high = self.bounds[name]
            if max(abs(low), abs(high), high - low) > largest:
                raise ParameterError(
                    f"{where}: the bound ({low}, {high}) of `{name}` does not fit {dtype} (max {largest:g}); "
                    "sampling would give inf"
                )

    # ------------------------------------------------------------------ split / join
    def split(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Split ``(..., 10)`` parameters into ``(targets, nuisance)`` blocks.

        Shape:
            ``(..., 10) -> (..., len(targets)), (..., len(nuisance))``.
        """
        _check_last_dim(params, len(PARAMETER_NAMES), "split", "params")
        targets = params[..., list(self.target_index)]
        nuisance = params[..., list(self.nuisance_index)]
        return targets, nuisance

    def join(self, targets: torch.Tensor, nuisance: torch.Tensor) -> torch.Tensor:
        """Inverse of [`split()`][spirograph.space.ParameterSpace.split]; differentiable in both blocks.

        The result has ``targets``' dtype when it is floating; integer targets are promoted
        with ``nuisance``'s dtype, so float nuisance is never truncated.

        Shape:
            ``(..., len(targets)), (..., len(nuisance)) -> (..., 10)``.
        """
        _check_last_dim(targets, len(self.targets), "join", "targets")
        _check_last_dim(nuisance, len(self.nuisance_names), "join", "nuisance")
        if targets.shape[:-1] != nuisance.shape[:-1]:
            raise ParameterError(
                f"join: `targets` and `nuisance` need the same leading shape, got "
                f"{tuple(targets.shape)} and {tuple(nuisance.shape)}"
            )
        dtype = targets.dtype if targets.dtype.is_floating_point else torch.promote_types(targets.dtype, nuisance.dtype)
        stacked = torch.cat([targets.to(dtype), nuisance.to(dtype)], dim=-1)

        def inverse() -> torch.Tensor:
            order = self.target_index + self.nuisance_index
            positions = [order.index(position) for position in range(len(PARAMETER_NAMES))]
            return torch.tensor(positions).to(stacked.device)

        return stacked.index_select(-1, self._constant(("join", stacked.device), inverse))

    def __repr__(self) -> str:
        changed = {n: b for n, b in self.bounds.items() if tuple(b) != DEFAULT_BOUNDS[n]}
        return f"ParameterSpace(targets={self.targets}, nuisance={self.nuisance}, changed_bounds={changed})"


def check_space(
    space: Any, name: str = "space", *, where: str, default: ParameterSpace | None = None
) -> ParameterSpace:
    """A [`ParameterSpace`][spirograph.space.ParameterSpace]; ``None`` gives ``default`` (the paper's space if none).

    Args:
        space: the value to check.
        name: the argument's name, for the message.
        where: the caller, for the message.
        default: what ``None`` stands for; ``None`` means ``ParameterSpace()``.

    Raises:
        ParameterTypeError: ``space`` is neither a ``ParameterSpace`` nor ``None``.
    """
    if space is None:
        return ParameterSpace() if default is None else default
    return check_instance(space, name, ParameterSpace, where=where, expected="a ParameterSpace or None")


def _check_last_dim(tensor: Any, size: int, where: str, argument: str) -> None:
    check_tensor(tensor, argument, where=where, shape=(..., size))
