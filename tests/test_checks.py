"""Tests of spirograph._checks: one policy and one message shape for every argument check."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spirograph._checks import (
    check_bool,
    check_callable,
    check_choice,
    check_device,
    check_instance,
    check_int,
    check_names,
    check_number,
    check_subset,
    check_tensor,
    describe,
    is_int,
    is_number,
)
from spirograph.errors import ConfigError, ParameterError, ParameterTypeError, SpirographError
from spirograph.space import PARAMETER_NAMES


def test_check_int_accepts_ints_and_numpy_ints() -> None:
    assert check_int(3, "n", where="f") == 3
    value = check_int(np.int64(7), "n", where="f", minimum=0)
    assert value == 7 and type(value) is int


@pytest.mark.parametrize("value", [True, np.bool_(False), 2.0, "3", None, [1]])
def test_check_int_refuses_other_types_with_a_type_error(value: object) -> None:
    with pytest.raises(ParameterTypeError, match=rf"f: `n` must be an int >= 1, got {type(value).__name__} "):
        check_int(value, "n", where="f", minimum=1)


@pytest.mark.parametrize(
    ("kwargs", "value", "expected"),
    [
        ({"minimum": 1}, 0, "an int >= 1"),
        ({"maximum": 9}, 10, "an int <= 9"),
        ({"minimum": 2, "maximum": 4}, 5, r"an int in \[2, 4\]"),
    ],
)
def test_check_int_ranges(kwargs: dict[str, int], value: int, expected: str) -> None:
    with pytest.raises(ParameterError, match=rf"^f: `n` must be {expected}, got {value}$"):
        check_int(value, "n", where="f", **kwargs)


def test_a_configuration_object_raises_config_error_with_the_same_message() -> None:
    with pytest.raises(ConfigError, match=r"^TrainConfig: `epochs` must be an int >= 1, got 0$"):
        check_int(0, "epochs", where="TrainConfig", minimum=1, error=ConfigError)
    # ConfigError is a ParameterError, so one except clause catches both.
    assert issubclass(ConfigError, ParameterError)


def test_check_number() -> None:
    assert check_number(np.float32(0.5), "x", where="f", above=0) == 0.5
    assert check_number(2, "x", where="f") == 2.0
    with pytest.raises(ParameterError, match=r"^f: `x` must be a finite number > 0, got 0$"):
        check_number(0, "x", where="f", above=0)
    with pytest.raises(ParameterError, match=r"^f: `x` must be a finite number in \(0, 1\), got 1.0$"):
        check_number(1.0, "x", where="f", above=0, below=1)
    with pytest.raises(ParameterError, match=r"^f: `x` must be a finite number, got inf$"):
        check_number(math.inf, "x", where="f")
    assert check_number(math.inf, "x", where="f", finite=False) == math.inf
    with pytest.raises(ParameterError, match=r"^f: `x` must be a number, got nan$"):
        check_number(math.nan, "x", where="f", finite=False)
    with pytest.raises(ParameterTypeError, match=r"^f: `x` must be a finite number >= 0, got str '1'$"):
        check_number("1", "x", where="f", minimum=0)
    with pytest.raises(ParameterTypeError, match=r"got bool True"):
        check_number(True, "x", where="f")


def test_check_bool_and_choice() -> None:
    assert check_bool(np.bool_(True), "flag", where="f") is True
    with pytest.raises(ParameterTypeError, match=r"^f: `flag` must be a bool, got int 1$"):
        check_bool(1, "flag", where="f")
    assert check_choice("row", "mode", ("row", "image"), where="f") == "row"
    with pytest.raises(ParameterError, match=r"^f: `mode` must be one of \['row', 'image'\], got 'max'$"):
        check_choice("max", "mode", ("row", "image"), where="f")
    with pytest.raises(ParameterTypeError, match=r"^f: `mode` must be one of \['row', 'image'\], got int 1$"):
        check_choice(1, "mode", ("row", "image"), where="f")


def test_check_names() -> None:
    assert check_names(["m", "h"], "names", where="f", allowed=PARAMETER_NAMES) == ("m", "h")
    assert check_names((), "names", where="f", allowed=PARAMETER_NAMES, allow_empty=True) == ()
    with pytest.raises(ParameterError, match=r"^f: `names` has unknown names \['q'\]; valid names are \['m', "):
        check_names(["m", "q"], "names", where="f", allowed=PARAMETER_NAMES)
    with pytest.raises(ParameterError, match=r"^f: `names` repeats a name: \['m', 'm'\]$"):
        check_names(["m", "m"], "names", where="f", allowed=PARAMETER_NAMES)
    with pytest.raises(ParameterError, match=r"^f: `names` must name at least one of"):
        check_names([], "names", where="f", allowed=PARAMETER_NAMES)
    with pytest.raises(ParameterTypeError, match=r"^f: `names` must be a sequence of names, got str 'mh'$"):
        check_names("mh", "names", where="f", allowed=PARAMETER_NAMES)
    with pytest.raises(ParameterTypeError, match=r"got int 3$"):
        check_names(["m", 3], "names", where="f", allowed=PARAMETER_NAMES)
    with pytest.raises(ParameterError, match=r"^f: `names` has unknown names \['m'\]; valid names are \['a', 'b'\]$"):
        check_names(["a", "m"], "names", where="f", allowed=("a", "b"))


def test_check_tensor_shapes() -> None:
    tensor = torch.zeros(2, 3, 10)
    assert check_tensor(tensor, "p", where="f", shape=(..., 10), floating=True) is tensor
    check_tensor(tensor, "p", where="f", shape=("n", 3, "d"))
    with pytest.raises(ParameterError, match=r"^f: `p` must have shape \(\.\.\., 9\), got \(2, 3, 10\)$"):
        check_tensor(tensor, "p", where="f", shape=(..., 9))
    with pytest.raises(ParameterError, match=r"^f: `p` must have shape \(\.\.\., 10\), got \(\)$"):
        check_tensor(torch.tensor(1.0), "p", where="f", shape=(..., 10))
    with pytest.raises(ParameterError, match=r"^f: `p` must have shape \(n, 10\), got \(10,\)$"):
        check_tensor(torch.zeros(10), "p", where="f", shape=("n", 10))
    with pytest.raises(ParameterError, match=r"^f: `p` must have a floating dtype, got torch.int64$"):
        check_tensor(torch.zeros(2, dtype=torch.long), "p", where="f", floating=True)
    with pytest.raises(ParameterTypeError, match=r"^f: `p` must be a torch.Tensor of shape \(4,\), got list"):
        check_tensor([0.0] * 4, "p", where="f", shape=(4,))


def test_check_instance_callable_and_describe() -> None:
    with pytest.raises(ParameterTypeError, match=r"^f: `g` must be a Generator, got int 3$"):
        check_instance(3, "g", torch.Generator, where="f")
    with pytest.raises(ParameterTypeError, match=r"^f: `fn` must be callable, got int 3$"):
        check_callable(3, "fn", where="f")
    assert describe("a" * 200).endswith("...") and len(describe("a" * 200)) < 100


def test_check_device() -> None:
    assert check_device("cpu", where="f") == torch.device("cpu")
    with pytest.raises(
        ParameterError, match=r"^f: `device` must name a torch device such as 'cpu' or 'cuda', got 'gpu0'$"
    ):
        check_device("gpu0", where="f")
    with pytest.raises(ParameterTypeError, match=r"^f: `device` must be a torch.device or a device name"):
        check_device(0, where="f")
    with pytest.raises(ParameterError, match=r"^f: `device` is 'meta', a device that holds no data; use a device such"):
        check_device("meta", where="f")
    with pytest.raises(ParameterError, match=r"^f: `device` is device\(type='meta'\), a device that holds no data"):
        check_device(torch.device("meta"), where="f")
    if not torch.cuda.is_available():
        with pytest.raises(ParameterError, match=r"^f: `device` is 'cuda' but CUDA is not available on this machine$"):
            check_device("cuda", where="f")
    else:
        count = torch.cuda.device_count()
        with pytest.raises(ParameterError, match=rf"this machine has {count} CUDA device"):
            check_device(f"cuda:{count}", where="f")


def test_every_check_error_is_a_package_error() -> None:
    for error in (ParameterError, ParameterTypeError, ConfigError):
        assert issubclass(error, SpirographError)
    assert issubclass(ParameterTypeError, TypeError) and not issubclass(ParameterTypeError, ValueError)


def test_check_subset() -> None:
    assert check_subset(None, 20, where="f") == 20
    assert check_subset(7, 20, where="f") == 7 and check_subset(np.int64(20), 20, where="f") == 20
    assert check_subset(0.5, 20, where="f") == 10 and check_subset(0.001, 20, where="f") == 1
    with pytest.raises(ParameterError, match=r"^f: `subset` as a count must be in \[1, 20\], got 21$"):
        check_subset(21, 20, where="f")
    with pytest.raises(ParameterError, match=r"^f: `subset` as a fraction must be in \(0, 1\], got inf$"):
        check_subset(math.inf, 20, where="f")
    for value in (True, "half", np.float32(0.5)):
        with pytest.raises(ParameterTypeError, match=r"^f: `subset` must be an int count or a float fraction, got "):
            check_subset(value, 20, where="f")


@pytest.mark.parametrize(
    ("value", "plain", "with_numpy"),
    [
        (3, True, True),
        (-2, True, True),
        (np.int64(3), False, True),
        (True, False, False),
        (np.bool_(True), False, False),
        (3.0, False, False),
        ("3", False, False),
        (None, False, False),
    ],
)
def test_is_int(value: object, plain: bool, with_numpy: bool) -> None:
    assert is_int(value) is plain
    assert is_int(value, numpy=True) is with_numpy


@pytest.mark.parametrize(
    ("value", "plain", "with_numpy", "finite"),
    [
        (3, True, True, True),
        (0.5, True, True, True),
        (np.float64(0.5), True, True, True),  # a float subclass
        (np.float32(0.5), False, True, False),
        (np.int64(3), False, True, False),
        (math.inf, True, True, False),
        (math.nan, True, True, False),
        (True, False, False, False),
        (np.bool_(False), False, False, False),
        ("0.5", False, False, False),
        (None, False, False, False),
    ],
)
def test_is_number(value: object, plain: bool, with_numpy: bool, finite: bool) -> None:
    assert is_number(value) is plain
    assert is_number(value, numpy=True) is with_numpy
    assert is_number(value, finite=True) is finite


def test_the_checks_and_the_tests_agree() -> None:
    # check_int and check_number accept exactly what is_int and is_number accept with numpy=True.
    for value in (3, np.int64(3), True, np.bool_(True), 3.0, "3", None):
        accepted = True
        try:
            check_int(value, "n", where="f")
        except ParameterTypeError:
            accepted = False
        assert accepted is is_int(value, numpy=True), value
    for value in (3, 0.5, np.float32(0.5), np.int64(3), True, np.bool_(True), "0.5", None):
        accepted = True
        try:
            check_number(value, "x", where="f")
        except ParameterTypeError:
            accepted = False
        assert accepted is is_number(value, numpy=True), value


def test_check_tensor_refuses_the_meta_device() -> None:
    # A meta tensor has a shape and a dtype but no values: every later read would raise torch's errors.
    with pytest.raises(ParameterError, match=r"^f: `x` is on the meta device, which holds no data; use a device such"):
        check_tensor(torch.zeros(2, 3, device="meta"), "x", where="f", shape=("n", 3))
    assert check_tensor(torch.zeros(2, 3), "x", where="f", shape=("n", 3)).shape == (2, 3)
