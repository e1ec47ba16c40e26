"""Argument checks shared by the whole package: one home, one policy, one message shape.

Every check takes the value, the argument's ``name`` and ``where`` (the public function
or class the user called) and either returns the value, normalized, or raises:

- [`ParameterTypeError`][spirograph.errors.ParameterTypeError] (a ``TypeError``) when the value has the
  wrong type: ``"{where}: `{name}` must be {expected}, got {type} {value!r}"``;
- ``error`` ([`ParameterError`][spirograph.errors.ParameterError] by default, a ``ValueError``; a
  configuration object passes [`ConfigError`][spirograph.errors.ConfigError]) when the type is
  right and the value is not: ``"{where}: `{name}` must be {expected}, got {value!r}"``.

So the same mistake raises the same class with the same message wherever it is made.
The module imports nothing of the package but `spirograph.errors`, so that every other
module can use it (``check_space`` lives beside ``ParameterSpace`` in `spirograph.space`).

Examples:
    >>> check_int(3, "batch_size", where="train", minimum=1)
    3
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal, TypeGuard, TypeVar, overload

import numpy as np
import torch

from spirograph.errors import ParameterError, ParameterTypeError

__all__ = [
    "check_bool",
    "check_callable",
    "check_choice",
    "check_device",
    "check_instance",
    "check_int",
    "check_names",
    "check_number",
    "check_subset",
    "check_tensor",
    "describe",
    "is_int",
    "is_number",
]

T = TypeVar("T")
ShapeSpec = Sequence[Any]  # ints, names of free sizes, and a leading Ellipsis
_REPR_LIMIT = 80
_REAL_DEVICE = "use a device such as 'cpu' or 'cuda'"


def describe(value: Any) -> str:
    """``type value`` for an error message, the value's repr cut to 80 characters."""
    text = repr(value)
    if len(text) > _REPR_LIMIT:
        text = text[: _REPR_LIMIT - 3] + "..."
    return f"{type(value).__name__} {text}"


def _type_error(where: str, name: str, expected: str, value: Any) -> ParameterTypeError:
    return ParameterTypeError(f"{where}: `{name}` must be {expected}, got {describe(value)}")


def _range_text(minimum: float | None, maximum: float | None, above: float | None, below: float | None) -> str:
    low = f">= {minimum}" if minimum is not None else f"> {above}" if above is not None else ""
    high = f"<= {maximum}" if maximum is not None else f"< {below}" if below is not None else ""
    if low and high:
        left = "[" if minimum is not None else "("
        right = "]" if maximum is not None else ")"
        lower = minimum if minimum is not None else above
        upper = maximum if maximum is not None else below
        return f" in {left}{lower}, {upper}{right}"
    return f" {low or high}" if low or high else ""


def _in_range(
    value: float, minimum: float | None, maximum: float | None, above: float | None, below: float | None
) -> bool:
    return (
        (minimum is None or value >= minimum)
        and (maximum is None or value <= maximum)
        and (above is None or value > above)
        and (below is None or value < below)
    )


@overload
def is_int(value: Any, *, numpy: Literal[False] = False) -> TypeGuard[int]: ...
@overload
def is_int(value: Any, *, numpy: bool) -> TypeGuard[int | np.integer[Any]]: ...
def is_int(value: Any, *, numpy: bool = False) -> bool:
    """Whether ``value`` is an integer that is not a ``bool``: an ``int``, or a NumPy integer too with ``numpy``.

    The test behind `check_int`, for checks that word their own message.
    Settings that go into JSON (configurations, manifests, result files) keep the default: a
    NumPy integer would not serialise.

    Examples:
        >>> is_int(3), is_int(True), is_int(3.0), is_int(np.int64(3)), is_int(np.int64(3), numpy=True)
        (True, False, False, False, True)
    """
    kinds = (int, np.integer) if numpy else int
    return isinstance(value, kinds) and not isinstance(value, (bool, np.bool_))


@overload
def is_number(value: Any, *, numpy: Literal[False] = False, finite: bool = False) -> TypeGuard[float]: ...
@overload
def is_number(value: Any, *, numpy: bool, finite: bool = False) -> TypeGuard[numbers.Real]: ...
def is_number(value: Any, *, numpy: bool = False, finite: bool = False) -> bool:
    """Whether ``value`` is a real number that is not a ``bool``: an ``int`` or a ``float``.

    Args:
        value: the value to test.
        numpy: accept every real number type (NumPy scalars included), not only ``int`` and ``float``.
        finite: refuse NaN and infinities.

    Examples:
        >>> is_number(0.5), is_number(True), is_number("1"), is_number(float("inf"), finite=True)
        (True, False, False, False)
    """
    kinds = numbers.Real if numpy else (int, float)
    if not isinstance(value, kinds) or isinstance(value, (bool, np.bool_)):
        return False
    return not finite or math.isfinite(value)


def check_int(
    value: Any,
    name: str,
    *,
    where: str,
    minimum: int | None = None,
    maximum: int | None = None,
    error: type[ParameterError] = ParameterError,
) -> int:
    """An ``int`` (NumPy integers accepted, ``bool`` refused) within ``[minimum, maximum]``.

    Returns:
        ``int(value)``.
    """
    expected = "an int" + _range_text(minimum, maximum, None, None)
    if not is_int(value, numpy=True):
        raise _type_error(where, name, expected, value)
    number = int(value)
    if not _in_range(number, minimum, maximum, None, None):
        raise error(f"{where}: `{name}` must be {expected}, got {number!r}")
    return number


def check_number(
    value: Any,
    name: str,
    *,
    where: str,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
    below: float | None = None,
    finite: bool = True,
    error: type[ParameterError] = ParameterError,
) -> float:
    """A real number (``int``, ``float`` or a NumPy scalar; ``bool`` refused).

    Args:
        value: the value to check.
        name: the argument's name, for the message.
        where: the caller, for the message.
        minimum: inclusive lower bound.
        maximum: inclusive upper bound.
        above: exclusive lower bound.
        below: exclusive upper bound.
        finite: refuse NaN and infinities.
        error: the class of a bad value.

    Returns:
        ``float(value)``.
    """
    expected = ("a finite number" if finite else "a number") + _range_text(minimum, maximum, above, below)
    if not is_number(value, numpy=True):
        raise _type_error(where, name, expected, value)
    number = float(value)
    if (
        (finite and not math.isfinite(number))
        or math.isnan(number)
        or not _in_range(number, minimum, maximum, above, below)
    ):
        raise error(f"{where}: `{name}` must be {expected}, got {value!r}")
    return number


def check_bool(value: Any, name: str, *, where: str) -> bool:
    """``True`` or ``False`` (NumPy booleans accepted); ``0``, ``1`` or ``"yes"`` are refused."""
    if not isinstance(value, (bool, np.bool_)):
        raise _type_error(where, name, "a bool", value)
    return bool(value)


def check_choice(
    value: Any, name: str, choices: Iterable[Any], *, where: str, error: type[ParameterError] = ParameterError
) -> Any:
    """One of ``choices`` (for string options, a non-string is a type error)."""
    options = list(choices)
    expected = f"one of {options}"
    if all(isinstance(option, str) for option in options) and not isinstance(value, str):
        raise _type_error(where, name, expected, value)
    if value not in options:
        raise error(f"{where}: `{name}` must be {expected}, got {value!r}")
    return value


def check_instance(value: Any, name: str, kind: type[T] | tuple[type, ...], *, where: str, expected: str = "") -> T:
    """An instance of ``kind`` (``expected`` words the type for the message)."""
    if not isinstance(value, kind):
        if not expected:
            kinds = kind if isinstance(kind, tuple) else (kind,)
            expected = " or ".join(f"a {k.__name__}" for k in kinds)
        raise _type_error(where, name, expected, value)
    return value  # type: ignore[return-value]


def check_callable(value: Any, name: str, *, where: str, expected: str = "callable") -> Callable[..., Any]:
    """A callable."""
    if not callable(value):
        raise _type_error(where, name, expected, value)
    return value


def check_names(
    names: Any,
    name: str,
    *,
    where: str,
    allowed: Sequence[str],
    allow_empty: bool = False,
    error: type[ParameterError] = ParameterError,
) -> tuple[str, ...]:
    """A sequence of distinct names drawn from ``allowed`` (the parameter names pass ``PARAMETER_NAMES``).

    A single string is refused (it would be read letter by letter).

    Returns:
        The names as a tuple, in the order given.
    """
    expected = "a sequence of names"
    if isinstance(names, (str, bytes)) or not isinstance(names, Iterable):
        raise _type_error(where, name, expected, names)
    chosen = tuple(names)
    for item in chosen:
        if not isinstance(item, str):
            raise _type_error(where, name, "a sequence of names (strings)", item)
    unknown = [item for item in chosen if item not in allowed]
    if unknown:
        raise error(f"{where}: `{name}` has unknown names {unknown}; valid names are {list(allowed)}")
    if not chosen and not allow_empty:
        raise error(f"{where}: `{name}` must name at least one of {list(allowed)}, got none")
    if len(set(chosen)) != len(chosen):
        raise error(f"{where}: `{name}` repeats a name: {list(chosen)}")
    return chosen


def _shape_text(shape: ShapeSpec) -> str:
    parts = ["..." if dim is Ellipsis else str(dim) for dim in shape]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def _shape_matches(actual: tuple[int, ...], shape: ShapeSpec) -> bool:
    spec = list(shape)
    if spec and spec[0] is Ellipsis:
        tail = spec[1:]
        if len(actual) < max(len(tail), 1):
            return False
        actual = actual[len(actual) - len(tail) :]
        spec = tail
    if len(actual) != len(spec):
        return False
    return all(not isinstance(want, int) or want == got for want, got in zip(spec, actual, strict=True))


def check_subset(subset: Any, full: int, *, where: str) -> int:
    """The number of leading items ``subset`` keeps of ``full``: an int count, a float fraction or ``None`` (all).

    A fraction keeps ``round(subset * full)`` items, at least one.

    Args:
        subset: an int count in ``[1, full]``, a float fraction in ``(0, 1]``, or ``None``.
        full: the number of items there are.
        where: the caller, for the message.

    Returns:
        The count, in ``[1, full]``.

    Raises:
        ParameterTypeError: ``subset`` is neither an int nor a float (``bool`` included).
        ParameterError: a count outside ``[1, full]`` or a fraction outside ``(0, 1]``.

    Examples:
        >>> check_subset(0.5, 20_000, where="Spirograph")
        10000
    """
    if subset is None:
        return full
    if is_int(subset, numpy=True):
        if not 0 < subset <= full:
            raise ParameterError(f"{where}: `subset` as a count must be in [1, {full}], got {subset}")
        return int(subset)
    if isinstance(subset, float):
        if not (math.isfinite(subset) and 0 < subset <= 1):
            raise ParameterError(f"{where}: `subset` as a fraction must be in (0, 1], got {subset}")
        return max(1, round(subset * full))
    raise _type_error(where, "subset", "an int count or a float fraction", subset)


def check_tensor(
    value: Any,
    name: str,
    *,
    where: str,
    shape: ShapeSpec | None = None,
    floating: bool = False,
) -> torch.Tensor:
    """A `torch.Tensor`, optionally of a shape and a floating dtype.

    Args:
        value: the value to check.
        name: the argument's name, for the message.
        where: the caller, for the message.
        shape: the expected shape: ints are fixed sizes, strings name free sizes
            (``("n", 10)``), a leading ``...`` allows any leading dimensions (at least one
            dimension in all).
        floating: require a floating dtype.

    Returns:
        ``value``.

    Raises:
        ParameterTypeError: not a tensor.
        ParameterError: the wrong shape or dtype, or a tensor on the ``meta`` device (it holds no data).
    """
    expected = "a torch.Tensor" + (f" of shape {_shape_text(shape)}" if shape is not None else "")
    if not isinstance(value, torch.Tensor):
        raise _type_error(where, name, expected, value)
    if shape is not None and not _shape_matches(tuple(value.shape), shape):
        raise ParameterError(f"{where}: `{name}` must have shape {_shape_text(shape)}, got {tuple(value.shape)}")
    if floating and not value.dtype.is_floating_point:
        raise ParameterError(f"{where}: `{name}` must have a floating dtype, got {value.dtype}")
    if value.is_meta:
        raise ParameterError(f"{where}: `{name}` is on the meta device, which holds no data; {_REAL_DEVICE}")
    return value


def check_device(value: Any, name: str = "device", *, where: str) -> torch.device:
    """A torch device (or its name) that exists on this machine.

    Raises:
        ParameterTypeError: not a ``str`` or `torch.device`.
        ParameterError: an unknown device name, the ``meta`` device (it holds no data), or a
            CUDA/MPS device that is not available.
    """
    if not isinstance(value, (str, torch.device)):
        raise _type_error(where, name, "a torch.device or a device name such as 'cpu' or 'cuda'", value)
    try:
        device = torch.device(value)
    except (RuntimeError, TypeError, ValueError):
        raise ParameterError(
            f"{where}: `{name}` must name a torch device such as 'cpu' or 'cuda', got {value!r}"
        ) from None
    if device.type == "meta":
        raise ParameterError(f"{where}: `{name}` is {value!r}, a device that holds no data; {_REAL_DEVICE}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ParameterError(f"{where}: `{name}` is {value!r} but CUDA is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ParameterError(
                f"{where}: `{name}` is {value!r} but this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ParameterError(f"{where}: `{name}` is {value!r} but MPS is not available on this machine")
    return device
