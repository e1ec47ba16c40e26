"""Tests of the parameter space ``spirograph.ParameterSpace`` and its portable sampler."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spirograph.errors import ParameterError, ParameterTypeError
from spirograph.space import (
    DEFAULT_BOUNDS,
    DEFAULT_TARGETS,
    PARAMETER_NAMES,
    ParameterSpace,
    check_space,
    hash_uniform,
)

NUISANCE = ("h", "fore_g", "fore_b", "back_r", "back_g", "back_b")

# ParameterSpace().sample(3, seed=0, dtype=torch.float64), computed once. The hash sampler
# is a portability contract (dataset items are functions of it): it must never change.
PINNED_SAMPLE = [
    [
        2.4932459636740893,
        0.4256989087524742,
        2.4860760627542104,
        0.5352869640496313,
        0.537700417669221,
        0.872649606428443,
        0.42636620989397245,
        0.15718022038314594,
        0.5766435274141668,
        0.41031073260481465,
    ],
    [
        4.7737763220594465,
        1.0414687807709522,
        0.7148675974322867,
        0.6451927639982513,
        0.40752306576374847,
        0.41920766977356394,
        0.7712733383590702,
        0.001291519404368846,
        0.4710782558235095,
        0.310670371118897,
    ],
    [
        4.614547696335025,
        0.6426110601401419,
        0.6903652001560894,
        0.9443402501014881,
        0.9403764965868416,
        0.6138973983319724,
        0.7239770169921376,
        0.06316472795283534,
        0.2904624166866408,
        0.5674403831568945,
    ],
]


# ---------------------------------------------------------------------------- defaults
def test_paper_defaults() -> None:
    space = ParameterSpace()
    assert PARAMETER_NAMES == ("m", "b", "h", "sigma", "fore_r", "fore_g", "fore_b", "back_r", "back_g", "back_b")
    assert space.targets == DEFAULT_TARGETS == ("m", "b", "sigma", "fore_r")
    assert space.nuisance == space.nuisance_names == NUISANCE
    assert space.target_index == (0, 1, 3, 4)
    assert space.nuisance_index == (2, 5, 6, 7, 8, 9)
    assert dict(space.bounds) == dict(DEFAULT_BOUNDS)
    assert DEFAULT_BOUNDS["m"] == (2.0, 5.0) and DEFAULT_BOUNDS["b"] == (0.1, 1.1)
    assert DEFAULT_BOUNDS["h"] == (0.5, 2.5) and DEFAULT_BOUNDS["sigma"] == (0.25, 1.0)
    assert all(DEFAULT_BOUNDS[f"fore_{c}"] == (0.4, 1.0) and DEFAULT_BOUNDS[f"back_{c}"] == (0.0, 0.6) for c in "rgb")


def test_low_high_mean_variance() -> None:
    space = ParameterSpace()
    assert space.low() == tuple(DEFAULT_BOUNDS[n][0] for n in PARAMETER_NAMES)
    assert space.high(["sigma", "m"]) == (1.0, 5.0)
    assert space.prior_mean(["m", "b", "sigma", "fore_r"]) == pytest.approx((3.5, 0.6, 0.625, 0.7))
    assert space.prior_variance(["m", "b", "sigma", "fore_r"]) == pytest.approx((0.75, 1 / 12, 0.046875, 0.03))
    assert len(space.prior_mean()) == 10 and len(space.prior_variance()) == 10


def test_prior_moments_match_samples() -> None:
    space = ParameterSpace().replace(bounds={"h": (1.0, 3.0)})
    draws = space.sample(20000, seed=3, dtype=torch.float64)
    torch.testing.assert_close(draws.mean(0), torch.tensor(space.prior_mean(), dtype=torch.float64), rtol=0, atol=0.03)
    torch.testing.assert_close(
        draws.var(0), torch.tensor(space.prior_variance(), dtype=torch.float64), rtol=0.05, atol=1e-3
    )


def test_frozen() -> None:
    space = ParameterSpace()
    with pytest.raises(dataclasses.FrozenInstanceError):
        space.targets = ("m",)  # type: ignore[misc]
    with pytest.raises(TypeError):
        space.bounds["m"] = (0.0, 1.0)  # type: ignore[index]
    # The caller's dict is copied, not kept.
    bounds = {"m": (2.0, 4.0)}
    custom = ParameterSpace(bounds)
    bounds["m"] = (1.0, 9.0)
    assert custom.bounds["m"] == (2.0, 4.0)


def test_equality_and_repr() -> None:
    assert ParameterSpace() == ParameterSpace()
    shifted = ParameterSpace().replace(bounds={"h": (1.0, 3.0)})
    assert shifted != ParameterSpace()
    assert "'h': (1.0, 3.0)" in repr(shifted) and "targets=('m', 'b', 'sigma', 'fore_r')" in repr(shifted)


# ---------------------------------------------------------------------------- replace
def test_replace_bounds_keeps_the_rest() -> None:
    space = ParameterSpace(targets=("m", "h"))
    shifted = space.replace(bounds={"h": (0.0, 2.0), "back_r": (0.1, 0.7)})
    assert shifted.bounds["h"] == (0.0, 2.0) and shifted.bounds["back_r"] == (0.1, 0.7)
    assert shifted.bounds["m"] == DEFAULT_BOUNDS["m"]
    assert shifted.targets == ("m", "h") and space.bounds["h"] == DEFAULT_BOUNDS["h"]


def test_replace_split() -> None:
    space = ParameterSpace()
    moved = space.replace(targets=("m", "h"))
    assert moved.targets == ("m", "h")
    assert moved.nuisance == ("b", "sigma", "fore_r", "fore_g", "fore_b", "back_r", "back_g", "back_b")
    only_colour = space.replace(nuisance=("back_r", "back_g", "back_b"))
    assert only_colour.nuisance == ("back_r", "back_g", "back_b")
    assert only_colour.targets == ("m", "b", "h", "sigma", "fore_r", "fore_g", "fore_b")
    both = space.replace(targets=("b", "m"), nuisance=("h", "sigma", "fore_r", "fore_g", "fore_b", *NUISANCE[3:]))
    assert both.targets == ("b", "m") and both.target_index == (1, 0)


def test_everything_can_be_a_target_or_nuisance() -> None:
    assert ParameterSpace(targets=PARAMETER_NAMES).nuisance == ()
    assert ParameterSpace(targets=()).nuisance == PARAMETER_NAMES


# ---------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"bounds": {"m": (5.0, 2.0)}}, r"bound of `m` needs low < high, got \(5.0, 2.0\)"),
        ({"bounds": {"h": (1.0, 1.0)}}, r"bound of `h` needs low < high, got \(1.0, 1.0\)"),
        ({"bounds": {"b": (0.0, 1.0)}}, r"bound of `b` must be > 0, got \(0.0, 1.0\)"),
        ({"bounds": {"b": (-1.0, 1.0)}}, r"bound of `b` must be > 0, got \(-1.0, 1.0\)"),
        ({"bounds": {"sigma": (0.0, 1.0)}}, r"bound of `sigma` must be > 0, got \(0.0, 1.0\)"),
        ({"bounds": {"sigma": (-0.5, 0.5)}}, r"bound of `sigma` must be > 0, got \(-0.5, 0.5\)"),
        ({"bounds": {"back_r": (-0.1, 0.5)}}, r"colour bound of `back_r` must lie in \[0, 1\], got \(-0.1, 0.5\)"),
        ({"bounds": {"fore_g": (0.5, 1.5)}}, r"colour bound of `fore_g` must lie in \[0, 1\], got \(0.5, 1.5\)"),
        ({"bounds": {"radius": (1.0, 2.0)}}, r"`bounds` has unknown names \['radius'\]; valid names are"),
        ({"bounds": {"m": (1.0, 3.5e38)}}, r"bound of `m` must lie within float32's range"),
        ({"bounds": {"m": (-3e38, 3e38)}}, r"bound of `m` must lie within float32's range"),
        ({"targets": ("m", "size")}, r"`targets` has unknown names \['size'\]; valid names are"),
        ({"targets": ("m", "m")}, r"`targets` repeats a name: \['m', 'm'\]"),
        ({"nuisance": ("h", "bogus")}, r"`nuisance` has unknown names \['bogus'\]"),
        ({"nuisance": ("h", "m")}, r"\['m'\] are both targets and nuisance; each belongs to one set"),
        (
            {"nuisance": ("h",)},
            r"\['fore_g', 'fore_b', 'back_r', 'back_g', 'back_b'\] are neither targets nor nuisance",
        ),
        ({"targets": ("m",), "nuisance": ("h",)}, r"are neither targets nor nuisance; every parameter needs a role"),
    ],
)
def test_invalid_space(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ParameterError, match="ParameterSpace: .*" + match):
        ParameterSpace(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"bounds": {"m": (2.0, math.inf)}}, r"`bounds\['m'\]` must be a finite number, got inf"),
        ({"bounds": {"h": (math.nan, 1.0)}}, r"`bounds\['h'\]` must be a finite number, got nan"),
    ],
)
def test_non_finite_bounds(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ParameterError, match="ParameterSpace: " + match):
        ParameterSpace(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"bounds": {"m": "25"}},
            r"`bounds\['m'\]` must be a pair of numbers \(low, high\) as a tuple or list, got str '25'",
        ),
        ({"bounds": {"m": {2.0, 5.0}}}, r"`bounds\['m'\]` must be a pair of numbers .* got set"),
        ({"bounds": {"m": (1.0,)}}, r"`bounds\['m'\]` must be a pair of numbers .* got tuple \(1.0,\)"),
        ({"bounds": {"m": None}}, r"`bounds\['m'\]` must be a pair of numbers .* got NoneType None"),
        ({"bounds": {"m": ("2", "5")}}, r"`bounds\['m'\]` must be a finite number, got str '2'"),
        ({"bounds": {"m": (True, 5.0)}}, r"`bounds\['m'\]` must be a finite number, got bool True"),
        ({"bounds": [("m", (1.0, 2.0))]}, r"`bounds` must be a mapping name -> \(low, high\), got list"),
        ({"targets": "m"}, r"`targets` must be a sequence of names, got str 'm'"),
        ({"targets": ("m", 3)}, r"`targets` must be a sequence of names \(strings\), got int 3"),
    ],
)
def test_space_arguments_of_the_wrong_type(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ParameterTypeError, match="ParameterSpace: " + match):
        ParameterSpace(**kwargs)  # type: ignore[arg-type]


def test_bounds_as_arrays_and_lists_are_accepted() -> None:
    space = ParameterSpace(bounds={"m": np.array([2.0, 4.0]), "h": [1, 2]})
    assert space.bounds["m"] == (2.0, 4.0) and space.bounds["h"] == (1.0, 2.0)


def test_bounds_wider_than_a_narrow_dtype_are_refused_when_sampling() -> None:
    space = ParameterSpace(bounds={"m": (0.0, 1e6)})
    assert torch.isfinite(space.sample(64, seed=0)).all()
    with pytest.raises(ParameterError, match=r"sample: the bound \(0.0, 1000000.0\) of `m` does not fit torch.float16"):
        space.sample(4, seed=0, dtype=torch.float16)
    with pytest.raises(ParameterError, match=r"does not fit torch.float16"):
        space.sample(4, generator=torch.Generator(), dtype=torch.float16)
    # Bounds whose draws fit float32 but whose images would not are refused when the space is made.
    with pytest.raises(ParameterError, match=r"`bounds` hold draws that overflow float32: \|m - h\| / b \* 2 pi"):
        ParameterSpace(bounds={"m": (0.0, 3.4e38)})


def test_replace_validates() -> None:
    space = ParameterSpace()
    with pytest.raises(ParameterError, match=r"bound of `sigma` must be > 0"):
        space.replace(bounds={"sigma": (0.0, 1.0)})
    with pytest.raises(ParameterTypeError, match=r"replace: `bounds` must be a Mapping, got tuple"):
        space.replace(bounds=(("m", (1.0, 2.0)),))  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"`nuisance` has unknown names \['x'\]"):
        space.replace(nuisance=("x",))
    with pytest.raises(ParameterError, match=r"both targets and nuisance"):
        space.replace(targets=("m", "h"), nuisance=("h", *NUISANCE[1:]))


def test_parameter_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="low < high"):
        ParameterSpace({"m": (3.0, 1.0)})


# ---------------------------------------------------------------------------- sampling
def test_pinned_first_values() -> None:
    assert ParameterSpace().sample(3, seed=0, dtype=torch.float64).tolist() == PINNED_SAMPLE
    assert hash_uniform(0, 1, 2).item() == 0.30853484367661366
    # float32 rounds the same float64 numbers.
    assert torch.equal(
        ParameterSpace().sample(3, seed=0), torch.tensor(PINNED_SAMPLE, dtype=torch.float64).to(torch.float32)
    )


def test_sample_shape_dtype_device_and_bounds(device: torch.device, dtype: torch.dtype) -> None:
    space = ParameterSpace().replace(bounds={"m": (1.0, 1.5), "back_g": (0.2, 0.3)})
    draws = space.sample(500, seed=1, dtype=dtype, device=device)
    assert draws.shape == (500, 10) and draws.dtype == dtype and draws.device.type == device.type
    low = torch.tensor(space.low(), dtype=dtype, device=device)
    high = torch.tensor(space.high(), dtype=dtype, device=device)
    assert torch.all((draws >= low) & (draws <= high))
    assert space.sample(0, seed=1).shape == (0, 10)


def test_generator_sampling_on_device(device: torch.device, dtype: torch.dtype) -> None:
    space = ParameterSpace()
    first = space.sample(64, generator=torch.Generator(device).manual_seed(5), dtype=dtype)
    again = space.sample(64, generator=torch.Generator(device).manual_seed(5), dtype=dtype)
    other = space.sample(64, generator=torch.Generator(device).manual_seed(6), dtype=dtype)
    assert first.device.type == device.type and first.dtype == dtype
    assert torch.equal(first, again) and not torch.equal(first, other)
    low, high = torch.tensor(space.low(), dtype=dtype), torch.tensor(space.high(), dtype=dtype)
    assert torch.all((first.cpu() >= low) & (first.cpu() <= high))
    # An explicit device moves the result there.
    assert space.sample(2, generator=torch.Generator(device).manual_seed(0), device="cpu").device.type == "cpu"


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**63 - 1), n=st.integers(1, 40), stream=st.integers(0, 2**31))
def test_same_seed_same_values_different_seed_different(seed: int, n: int, stream: int) -> None:
    space = ParameterSpace()
    draws = space.sample(n, seed=seed, stream=stream, dtype=torch.float64)
    assert torch.equal(draws, space.sample(n, seed=seed, stream=stream, dtype=torch.float64))
    assert not torch.equal(draws, space.sample(n, seed=seed + 1, stream=stream, dtype=torch.float64))
    assert not torch.equal(draws, space.sample(n, seed=seed, stream=stream + 1, dtype=torch.float64))
    assert not torch.equal(draws, space.sample(n, seed=seed, stream=(stream, 0), dtype=torch.float64))


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    offset=st.integers(0, 50),
    n=st.integers(0, 20),
    index=st.lists(st.integers(0, 69), max_size=15),
)
def test_offset_and_index_draw_rows_of_a_full_draw(seed: int, offset: int, n: int, index: list[int]) -> None:
    space = ParameterSpace()
    full = space.sample(70, seed=seed, dtype=torch.float64)
    assert torch.equal(space.sample(n, seed=seed, offset=offset, dtype=torch.float64), full[offset : offset + n])
    picked = space.sample(len(index), seed=seed, index=index, dtype=torch.float64)
    assert torch.equal(picked, full[index])
    as_tensor = space.sample(len(index), seed=seed, index=torch.tensor(index, dtype=torch.long), dtype=torch.float64)
    assert torch.equal(as_tensor, picked)


def test_values_depend_only_on_row_not_on_bounds_of_others() -> None:
    # Changing one bound moves only that column: each column has its own hash key.
    base = ParameterSpace().sample(50, seed=9, dtype=torch.float64)
    shifted = ParameterSpace().replace(bounds={"h": (1.0, 3.0)}).sample(50, seed=9, dtype=torch.float64)
    unchanged = [i for i, name in enumerate(PARAMETER_NAMES) if name != "h"]
    assert torch.equal(base[:, unchanged], shifted[:, unchanged])
    torch.testing.assert_close(shifted[:, 2], base[:, 2] + 0.5, rtol=0, atol=1e-12)


def test_sample_nuisance_keeps_targets() -> None:
    space = ParameterSpace()
    params = space.sample(32, seed=2, dtype=torch.float64)
    targets, nuisance = space.split(params)
    targets = targets.clone().requires_grad_(True)
    fresh = space.sample_nuisance(targets, seed=4)
    assert fresh.shape == (32, 10) and fresh.dtype == torch.float64
    assert torch.equal(fresh[:, list(space.target_index)].detach(), targets.detach())
    assert not torch.equal(fresh[:, list(space.nuisance_index)], nuisance)
    # The nuisance columns are a sample_nuisance_block draw with the same keys.
    block = space.sample_nuisance_block(32, seed=4, dtype=torch.float64)
    assert torch.equal(fresh[:, list(space.nuisance_index)].detach(), block)
    fresh.sum().backward()
    assert targets.grad is not None and torch.equal(targets.grad, torch.ones_like(targets))


def test_sample_nuisance_with_generator(device: torch.device) -> None:
    space = ParameterSpace(targets=("m", "b"))
    targets = torch.full((5, 2), 0.5, device=device)
    fresh = space.sample_nuisance(targets, generator=torch.Generator(device).manual_seed(0))
    assert fresh.device.type == device.type and fresh.shape == (5, 10)
    assert torch.all(fresh[:, :2] == 0.5)
    assert space.sample_nuisance_block(7, generator=torch.Generator(device).manual_seed(0)).shape == (7, 8)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": -1, "seed": 0}, r"sample: `n` must be an int in \[0, 16777216\], got -1"),
        ({"n": 2}, r"sample: pass exactly one of `seed` \(portable\) or `generator` \(on-device\)"),
        ({"n": 2, "seed": 0, "generator": torch.Generator()}, r"pass exactly one of `seed`"),
        ({"n": 2, "seed": 0, "dtype": torch.int32}, r"sample: `dtype` must be a floating dtype, got torch.int32"),
        ({"n": 2, "seed": 0, "offset": -1}, r"sample: `offset` must be an int in \[0, 9223372036854775805\], got -1"),
        ({"n": 2, "seed": 0, "index": [0]}, r"sample: `index` must be 2 non-negative integers in one dimension"),
        ({"n": 2, "seed": 0, "index": [0, -1]}, r"`index` must be 2 non-negative integers"),
        ({"n": 2, "seed": 0, "index": [0.0, 1.0]}, r"`index` must be 2 non-negative integers .* dtype float64"),
        ({"n": 2, "seed": 0, "index": [[0, 1]]}, r"`index` must be 2 non-negative integers .* shape \(1, 2\)"),
    ],
)
def test_bad_sampling_arguments(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        ParameterSpace().sample(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 2.0, "seed": 0}, r"sample: `n` must be an int in \[0, 16777216\], got float 2.0"),
        ({"n": True, "seed": 0}, r"sample: `n` must be an int in \[0, 16777216\], got bool True"),
        ({"n": 2, "seed": 0.5}, r"sample: `seed` must be an int in \[0, 18446744073709551615\], got float 0.5"),
        ({"n": 2, "seed": "0"}, r"sample: `seed` must be an int in \[0, 18446744073709551615\], got str '0'"),
        ({"n": 2, "generator": 3}, r"sample: `generator` must be a Generator, got int 3"),
        ({"n": 2, "seed": 0, "dtype": "float32"}, r"sample: `dtype` must be a dtype, got str 'float32'"),
        ({"n": 2, "seed": 0, "offset": 1.5}, r"sample: `offset` must be an int in \[0, \d+\], got float 1.5"),
        ({"n": 2, "seed": 0, "stream": "a"}, r"sample: `stream` must be an int in \[0, \d+\], got str 'a'"),
        ({"n": 2, "seed": 0, "stream": (1, 2.5)}, r"sample: `stream\[1\]` must be an int in \[0, \d+\], got float 2.5"),
    ],
)
def test_sampling_arguments_of_the_wrong_type(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ParameterTypeError, match=match):
        ParameterSpace().sample(**kwargs)  # type: ignore[arg-type]


def test_bad_sample_nuisance_targets() -> None:
    space = ParameterSpace()
    with pytest.raises(ParameterError, match=r"sample_nuisance: `targets` must have shape \(n, 4\), got \(3, 5\)"):
        space.sample_nuisance(torch.zeros(3, 5), seed=0)
    with pytest.raises(ParameterError, match=r"`targets` must have shape \(n, 4\), got \(4,\)"):
        space.sample_nuisance(torch.zeros(4), seed=0)
    with pytest.raises(ParameterTypeError, match=r"`targets` must be a torch.Tensor of shape \(n, 4\), got list"):
        space.sample_nuisance([[0.0] * 4], seed=0)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"sample_nuisance_block: `n` must be an int in \[0, 16777216\], got -2"):
        space.sample_nuisance_block(-2, seed=0)


# ---------------------------------------------------------------------------- hash_uniform
def test_hash_uniform_range_and_broadcast() -> None:
    values = hash_uniform(7, np.arange(1000)[:, None], np.arange(10)[None, :])
    assert values.shape == (1000, 10) and values.dtype == np.float64
    assert values.min() >= 0.0 and values.max() < 1.0
    assert abs(values.mean() - 0.5) < 0.01
    assert len(np.unique(values)) == values.size
    # Keys are order-sensitive and every key matters.
    assert hash_uniform(1, 2) != hash_uniform(2, 1)
    assert hash_uniform(1, 2) != hash_uniform(1, 2, 0)
    # Negative and huge keys wrap into 64 bits deterministically.
    assert hash_uniform(-1) == hash_uniform(2**64 - 1)


def test_hash_uniform_bad_keys() -> None:
    with pytest.raises(ParameterError, match=r"hash_uniform: expected at least one key, got none"):
        hash_uniform()
    with pytest.raises(ParameterTypeError, match=r"hash_uniform: `words\[1\]` must be an int, got float"):
        hash_uniform(1, 2.0)  # type: ignore[arg-type]
    with pytest.raises(ParameterTypeError, match=r"hash_uniform: `words\[0\]` must hold integers, got dtype float64"):
        hash_uniform(np.zeros(3))
    with pytest.raises(ParameterTypeError, match=r"`words\[0\]` must be an int, got bool"):
        hash_uniform(True)


# ---------------------------------------------------------------------------- split / join
_SPLITS = st.lists(st.booleans(), min_size=10, max_size=10).map(
    lambda roles: tuple(name for name, is_target in zip(PARAMETER_NAMES, roles, strict=True) if is_target)
)


@settings(max_examples=40, deadline=None)
@given(targets=_SPLITS, shape=st.sampled_from([(), (3,), (2, 4)]), seed=st.integers(0, 1000))
def test_split_join_round_trip(targets: tuple[str, ...], shape: tuple[int, ...], seed: int) -> None:
    space = ParameterSpace(targets=st_permute(targets, seed))
    params = space.sample(math.prod(shape), seed=seed, dtype=torch.float64)
    params = params.reshape(*shape, 10)
    target_block, nuisance_block = space.split(params)
    assert target_block.shape == (*shape, len(space.targets))
    assert nuisance_block.shape == (*shape, len(space.nuisance_names))
    for k, name in enumerate(space.targets):
        assert torch.equal(target_block[..., k], params[..., PARAMETER_NAMES.index(name)])
    assert torch.equal(space.join(target_block, nuisance_block), params)


def st_permute(names: tuple[str, ...], seed: int) -> tuple[str, ...]:
    # Target order is the user's choice, not the canonical one.
    order = np.random.default_rng(seed).permutation(len(names))
    return tuple(names[i] for i in order)


def test_gradients_flow_to_the_nuisance_block_alone() -> None:
    space = ParameterSpace()
    targets, nuisance = space.split(space.sample(4, seed=5, dtype=torch.float64))
    nuisance = nuisance.clone().requires_grad_(True)
    weights = torch.arange(10, dtype=torch.float64)
    (space.join(targets, nuisance) * weights).sum().backward()
    assert nuisance.grad is not None and not targets.requires_grad
    expected = weights[list(space.nuisance_index)].expand(4, 6)
    assert torch.equal(nuisance.grad, expected)


def test_join_casts_nuisance_to_target_dtype() -> None:
    space = ParameterSpace()
    joined = space.join(torch.zeros(2, 4, dtype=torch.float64), torch.ones(2, 6, dtype=torch.float32))
    assert joined.dtype == torch.float64


def test_integer_targets_keep_float_nuisance() -> None:
    space = ParameterSpace()
    joined = space.join(torch.tensor([[3, 1, 1, 1]]), torch.full((1, 6), 0.75))
    assert joined.dtype == torch.float32 and joined[0, 2] == 0.75
    drawn = space.sample_nuisance(torch.tensor([[3, 1, 1, 1]]), seed=0)
    assert drawn.dtype == torch.float32
    expected = space.sample_nuisance(torch.tensor([[3.0, 1.0, 1.0, 1.0]]), seed=0)
    assert torch.equal(drawn, expected) and (drawn[0, list(space.nuisance_index)] % 1 != 0).all()


def test_bad_split_join() -> None:
    space = ParameterSpace()
    with pytest.raises(ParameterError, match=r"split: `params` must have shape \(\.\.\., 10\), got \(3, 9\)"):
        space.split(torch.zeros(3, 9))
    with pytest.raises(
        ParameterTypeError, match=r"split: `params` must be a torch.Tensor of shape \(\.\.\., 10\), got list"
    ):
        space.split([0.0] * 10)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"join: `targets` must have shape \(\.\.\., 4\), got \(3, 5\)"):
        space.join(torch.zeros(3, 5), torch.zeros(3, 6))
    with pytest.raises(ParameterError, match=r"join: `nuisance` must have shape \(\.\.\., 6\), got \(3, 4\)"):
        space.join(torch.zeros(3, 4), torch.zeros(3, 4))
    with pytest.raises(ParameterError, match=r"join: `targets` and `nuisance` need the same leading shape"):
        space.join(torch.zeros(3, 4), torch.zeros(2, 6))


def test_pickle_round_trip_keeps_the_space() -> None:
    import pickle

    space = ParameterSpace(bounds={"h": (1.0, 2.0)}, targets=("m", "b", "h", "sigma"))
    space.sample_nuisance_block(3, generator=torch.Generator().manual_seed(0))  # fills the constants cache
    copy = pickle.loads(pickle.dumps(space))
    assert copy == space and copy.bounds["h"] == (1.0, 2.0) and copy.nuisance_names == space.nuisance_names
    first = space.sample_nuisance_block(4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(copy.sample_nuisance_block(4, generator=torch.Generator().manual_seed(1)), first)


def test_check_space_gives_the_default_for_none_and_refuses_other_types() -> None:
    assert check_space(None, where="f") == ParameterSpace()
    default = ParameterSpace(targets=("m",))
    assert check_space(None, where="f", default=default) is default
    space = ParameterSpace(targets=("h",))
    assert check_space(space, where="f", default=default) is space
    with pytest.raises(ParameterTypeError, match=r"^f: `base` must be a ParameterSpace or None, got str 'x'$"):
        check_space("x", "base", where="f")


# ---------------------------------------------------------------- sizes, seeds and bounds from the second sweep
@pytest.mark.parametrize("bounds", [{"m": (1e38, 2e38)}, {"h": (-2e38, 1e38)}, {"m": (0.0, 1e37), "b": (1e-30, 1.0)}])
def test_bounds_whose_images_overflow_are_refused_when_made(bounds: dict[str, tuple[float, float]]) -> None:
    with pytest.raises(ParameterError, match=r"ParameterSpace: `bounds` hold draws that overflow float32"):
        ParameterSpace(bounds=bounds)


@pytest.mark.parametrize("name", ["b", "sigma"])
def test_positive_bounds_that_underflow_float32_are_refused(name: str) -> None:
    with pytest.raises(ParameterError, match=rf"bound of `{name}` must be >= 1.175e-38 \(float32's smallest normal"):
        ParameterSpace(bounds={name: (1e-46, 1.0)})


def test_seeds_and_streams_never_wrap() -> None:
    space = ParameterSpace()
    for seed in (2**64, -1, 2**70):
        with pytest.raises(ParameterError, match=r"sample: `seed` must be an int in \[0, 18446744073709551615\]"):
            space.sample(2, seed=seed)
    with pytest.raises(ParameterError, match=r"sample: `stream` must be an int in \[0, 18446744073709551615\]"):
        space.sample(2, seed=0, stream=2**64)
    assert space.sample(2, seed=2**64 - 1).shape == (2, 10)


def test_sizes_and_offsets_are_bounded_up_front() -> None:
    space = ParameterSpace()
    with pytest.raises(ParameterError, match=r"sample: `n` must be an int in \[0, 16777216\], got 1000000000000"):
        space.sample(10**12, seed=0)
    with pytest.raises(ParameterError, match=r"sample: `offset` must be an int in \[0, \d+\], got 9223372036854775807"):
        space.sample(2, seed=0, offset=2**63 - 1)
    with pytest.raises(ParameterError, match=r"sample: `n` must be an int in \[0, 16777216\]"):
        space.sample(10**12, generator=torch.Generator())


@pytest.mark.parametrize(
    ("device", "error", "match"),
    [
        ("gpu", ParameterError, r"sample: `device` must name a torch device"),
        (3.5, ParameterTypeError, r"sample: `device` must be a torch.device or a device name"),
        ("cuda:99", ParameterError, r"sample: `device` is 'cuda:99' but"),
    ],
)
def test_sample_checks_its_device(device: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        ParameterSpace().sample(2, seed=0, device=device)  # type: ignore[arg-type]
