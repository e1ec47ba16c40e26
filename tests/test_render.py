"""Tests of the differentiable renderer ``spirograph.render`` and ``spirograph.Renderer``."""

from __future__ import annotations

import functools
import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import naive_render
from torch.autograd import forward_ad

from spirograph.errors import ParameterError, ParameterTypeError
from spirograph.render import (
    _EXPONENT_FLOOR,
    Renderer,
    RenderSettings,
    _GaussianFactor,
    _tracks_derivatives,
    check_settings,
    render,
)
from spirograph.space import DEFAULT_BOUNDS, PARAMETER_NAMES, ParameterSpace

# Torch's first use of forward-mode AD (gradcheck's check_forward_ad, jacfwd, make_dual) imports
# its JVP decompositions, which call the deprecated `torch.jit.script` 18 times; the warning is
# torch's own, not about this package.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")

NORMALIZE = ("row", "image")
# The naive float32 formula's own error against float64 on the prior is ~6e-5 (row) and
# ~3e-5 (image); ours may be at most twice the naive error on the same draws, and never
# above these caps.
FLOAT32_CAP = {"row": 2e-4, "image": 1e-4}
FLOAT64_TOLERANCE = 1e-10


def _corners() -> torch.Tensor:
    # Every corner of the prior box: 2**10 parameter vectors, shape (1024, 10).
    bounds = [DEFAULT_BOUNDS[name] for name in PARAMETER_NAMES]
    return torch.tensor(list(itertools.product(*bounds)), dtype=torch.float64)


def _chunked_naive(params: torch.Tensor, normalize: str, **options: float) -> torch.Tensor:
    # naive_render builds a (T, B, S, S) tensor: keep B small.
    return torch.cat([naive_render(chunk, normalize=normalize, **options) for chunk in params.split(256)])


@functools.cache
def _reference(normalize: str, n_random: int, corner_step: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Prior draws plus corners of the prior box, their float64 naive images, and the
    naive float32 formula's own max error on them."""
    draws = ParameterSpace().sample(n_random, seed=1234, dtype=torch.float64)
    params = torch.cat([draws, _corners()[::corner_step]])
    exact = _chunked_naive(params, normalize)
    naive32 = _chunked_naive(params.float(), normalize).double()
    return params, exact, (naive32 - exact).abs().max().item()


# (random draws, step through the 1024 corners): a quick set, and thousands when slow tests run.
QUICK, THOROUGH = (256, 8), (1024, 1)
SAMPLES = [
    pytest.param(QUICK, id="quick"),
    pytest.param(THOROUGH, id="thorough", marks=pytest.mark.slow),
]


def _max_error(ours: torch.Tensor, exact: torch.Tensor) -> float:
    return (ours.detach().cpu().double() - exact).abs().max().item()


def _unique_peak_params(n: int, seed: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    # Prior draws: generic values, so every row and image maximum is unique (differentiable).
    return ParameterSpace().sample(n, seed=seed, dtype=dtype)


# ---------------------------------------------------------------------------- values
@pytest.mark.parametrize("samples", SAMPLES)
@pytest.mark.parametrize("normalize", NORMALIZE)
def test_float64_matches_naive_formula(normalize: str, samples: tuple[int, int], device: torch.device) -> None:
    params, exact, _ = _reference(normalize, *samples)
    ours = render(params.to(device), normalize=normalize)  # type: ignore[arg-type]
    assert ours.dtype == torch.float64 and ours.device.type == device.type
    assert _max_error(ours, exact) <= FLOAT64_TOLERANCE


@pytest.mark.parametrize("samples", SAMPLES)
@pytest.mark.parametrize("normalize", NORMALIZE)
def test_float32_is_as_accurate_as_naive_float32(
    normalize: str, samples: tuple[int, int], device: torch.device
) -> None:
    params, exact, naive_error = _reference(normalize, *samples)
    ours = render(params.float().to(device), normalize=normalize)  # type: ignore[arg-type]
    assert ours.dtype == torch.float32
    error = _max_error(ours, exact)
    assert error <= max(2.0 * naive_error, 1e-6), (error, naive_error)
    assert error <= FLOAT32_CAP[normalize], error


@pytest.mark.parametrize("normalize", NORMALIZE)
@pytest.mark.parametrize(
    ("size", "n_points", "extent"),
    [(2, 2, 6.0), (7, 3, 6.0), (16, 17, 1.5), (48, 64, 10.0), (32, 40, 3.0)],
)
def test_other_canvases_match_naive_formula(
    normalize: str, size: int, n_points: int, extent: float, device: torch.device
) -> None:
    params = torch.cat([_unique_peak_params(48, seed=size), _corners()[::37]])
    options = {"size": size, "n_points": n_points, "extent": extent}
    exact = _chunked_naive(params, normalize, **options)
    ours = render(params.to(device), normalize=normalize, **options)  # type: ignore[arg-type]
    assert ours.shape == (len(params), 3, size, size)
    assert _max_error(ours, exact) <= FLOAT64_TOLERANCE


def test_the_two_normalisations_differ_as_documented() -> None:
    params = _unique_peak_params(8, seed=5)
    row, image = render(params, normalize="row"), render(params, normalize="image")
    fore, back = params[:, 4:7, None, None], params[:, 7:10, None, None]
    v_row, v_image = (row - back) / (fore - back), (image - back) / (fore - back)
    row_peaks, image_peaks = v_row.amax(dim=-1), v_image.amax(dim=-1)  # (8, 3, S)
    # Image: one maximum of ~1 per image. Row: every row is divided by its own maximum, so
    # every row the curve reaches is boosted to ~1 (the vertical "stems").
    assert torch.all(v_image.amax(dim=(-2, -1)) > 1 - 1e-6)
    assert torch.all(row_peaks >= image_peaks - 1e-12)
    assert torch.all(row_peaks[image_peaks > 0.1] > 1 - 1e-5)
    assert torch.all((row_peaks > 0.999).sum(dim=-1) > (image_peaks > 0.999).sum(dim=-1))


def test_half_precision_is_computed_in_float32() -> None:
    params = _unique_peak_params(4, seed=6, dtype=torch.float32)
    for dtype in (torch.float16, torch.bfloat16):
        images = render(params.to(dtype))
        assert images.dtype == dtype
        expected = render(params.to(dtype).float()).to(dtype)
        assert torch.equal(images, expected)


def test_exponent_floor_keeps_products_normal(dtype: torch.dtype) -> None:
    # The factors are powers of two: the floor exp(floor) is 2^-limit.
    limit = -_EXPONENT_FLOOR[dtype] * math.log2(math.e)
    a = torch.linspace(-50, 50, 7, dtype=dtype)[None]
    b = torch.linspace(-3, 3, 5, dtype=dtype)[None]
    factor = _GaussianFactor.apply(a, b, limit)
    assert factor.shape == (1, 7, 5)
    smallest = factor.min()
    assert smallest == pytest.approx(math.exp(_EXPONENT_FLOOR[dtype]), rel=1e-5)
    # Two factors meet in every product of the matrix product: it must stay a normal number.
    assert smallest * smallest > torch.finfo(dtype).tiny
    exact = torch.exp2(-((a[..., :, None] - b[..., None, :]) ** 2))
    unclamped = exact > 2.0**-limit
    assert torch.allclose(factor[unclamped], exact[unclamped], rtol=1e-6, atol=0)


def test_far_away_curve_float32_matches_float64() -> None:
    # A curve entirely outside the canvas: every factor is clamped, rows are tiny, and the
    # row normalisation divides them by ~1e-8. The clamp must not change the result.
    params = torch.tensor([[5.0, 1.1, 0.5, 0.25, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    options = {"extent": 1.0, "size": 8}
    exact = _chunked_naive(params, "row", **options)
    assert _max_error(render(params.float(), **options), exact) <= 1e-6  # type: ignore[arg-type]
    assert torch.isfinite(render(params.float(), **options)).all()  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("normalize", NORMALIZE)
@pytest.mark.parametrize("seed", [0, 1])
def test_gradcheck_all_parameters(normalize: str, seed: int, device: torch.device) -> None:
    params = _unique_peak_params(3, seed=seed).to(device).requires_grad_(True)

    def fn(p: torch.Tensor) -> torch.Tensor:
        return render(p, size=6, n_points=5, normalize=normalize)  # type: ignore[arg-type]

    assert torch.autograd.gradcheck(fn, (params,), eps=1e-6, atol=1e-6, rtol=1e-4, check_forward_ad=True)


@pytest.mark.parametrize("normalize", NORMALIZE)
def test_gradgradcheck_for_gradient_penalties(normalize: str, device: torch.device) -> None:
    # The gradient penalty differentiates d(loss)/d(nuisance) again: double backward.
    params = _unique_peak_params(2, seed=7).to(device).requires_grad_(True)

    def fn(p: torch.Tensor) -> torch.Tensor:
        return render(p, size=5, n_points=4, normalize=normalize)  # type: ignore[arg-type]

    assert torch.autograd.gradgradcheck(fn, (params,), eps=1e-6, atol=1e-5, rtol=1e-3)


def test_gradient_matches_naive_formula(device: torch.device, dtype: torch.dtype) -> None:
    params = _unique_peak_params(6, seed=8, dtype=dtype)
    weights = torch.rand(6, 3, 12, 12, generator=torch.Generator().manual_seed(0), dtype=dtype)
    ours = params.to(device, copy=True).requires_grad_(True)
    (render(ours, size=12, n_points=9) * weights.to(device)).sum().backward()
    naive = params.to(torch.float64, copy=True).requires_grad_(True)
    (naive_render(naive, size=12, n_points=9) * weights.double()).sum().backward()
    assert ours.grad is not None and naive.grad is not None
    tolerance = 1e-9 if dtype == torch.float64 else 2e-2
    torch.testing.assert_close(ours.grad.cpu().double(), naive.grad, rtol=tolerance, atol=tolerance)


def test_no_gradient_requested_for_colours_only() -> None:
    # Gradients that only reach some inputs (here the colours) are still right.
    params = _unique_peak_params(2, seed=9)
    colours = params[:, 4:].clone().requires_grad_(True)
    images = render(torch.cat([params[:, :4], colours], dim=1), size=6, n_points=5)
    (grad,) = torch.autograd.grad(images.sum(), colours)
    value = (images[:, 0] - params[:, 7, None, None]) / (params[:, 4, None, None] - params[:, 7, None, None])
    # d/d fore_c sum(image_c) = sum(v), d/d back_c = sum(1 - v)
    assert torch.allclose(grad[:, 0], value.sum(dim=(-2, -1)))
    assert torch.allclose(grad[:, 3], (1 - value).sum(dim=(-2, -1)))


# ---------------------------------------------------------------------------- functorch
@pytest.mark.parametrize("normalize", NORMALIZE)
def test_vmap_equals_batched_call(normalize: str, device: torch.device, dtype: torch.dtype) -> None:
    params = _unique_peak_params(5, seed=10, dtype=dtype).to(device)
    mapped = torch.func.vmap(lambda p: render(p, size=9, normalize=normalize))(params)  # type: ignore[arg-type]
    expected = render(params, size=9, normalize=normalize)  # type: ignore[arg-type]
    torch.testing.assert_close(mapped, expected, rtol=0, atol=1e-12 if dtype == torch.float64 else 1e-6)


def test_vmap_over_nuisance_draws(device: torch.device) -> None:
    space = ParameterSpace()
    targets, _ = space.split(_unique_peak_params(4, seed=11).to(device))
    nuisance = space.sample_nuisance_block(12, seed=12, dtype=torch.float64, device=device).reshape(3, 4, 6)
    mapped = torch.func.vmap(lambda nu: render(space.join(targets, nu), size=8))(nuisance)
    expected = render(space.join(targets.expand(3, 4, 4), nuisance), size=8)
    assert mapped.shape == (3, 4, 3, 8, 8)
    torch.testing.assert_close(mapped, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("normalize", NORMALIZE)
def test_jacrev_wrt_nuisance_equals_autograd(normalize: str, device: torch.device) -> None:
    space = ParameterSpace()
    targets, nuisance = space.split(_unique_peak_params(3, seed=13).to(device))

    def fn(nu: torch.Tensor) -> torch.Tensor:
        return render(space.join(targets, nu), size=6, n_points=5, normalize=normalize)  # type: ignore[arg-type]

    jacobian = torch.func.jacrev(fn)(nuisance)
    expected = torch.autograd.functional.jacobian(fn, nuisance)
    assert jacobian.shape == (3, 3, 6, 6, 3, 6)
    torch.testing.assert_close(jacobian, expected, rtol=1e-10, atol=1e-12)
    # The same block, read off the Jacobian w.r.t. all ten parameters.
    full = torch.func.jacrev(lambda p: render(p, size=6, n_points=5, normalize=normalize))(  # type: ignore[arg-type]
        space.join(targets, nuisance)
    )
    torch.testing.assert_close(jacobian, full[..., list(space.nuisance_index)], rtol=1e-10, atol=1e-12)


def test_jacrev_argnums_and_per_example_jacobians(device: torch.device) -> None:
    space = ParameterSpace()
    targets, nuisance = space.split(_unique_peak_params(4, seed=14).to(device))

    def single(t: torch.Tensor, nu: torch.Tensor) -> torch.Tensor:
        return render(space.join(t, nu), size=6, n_points=5)

    # Per-example Jacobians with vmap(jacrev): the diagonal blocks of the batch Jacobian.
    per_example = torch.func.vmap(torch.func.jacrev(single, argnums=1))(targets, nuisance)
    batch = torch.func.jacrev(single, argnums=1)(targets, nuisance)
    assert per_example.shape == (4, 3, 6, 6, 6)
    for i in range(4):
        torch.testing.assert_close(per_example[i], batch[i, :, :, :, i], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("normalize", NORMALIZE)
def test_jacfwd_equals_jacrev(normalize: str, device: torch.device) -> None:
    space = ParameterSpace()
    targets, nuisance = space.split(_unique_peak_params(3, seed=18).to(device))

    def fn(nu: torch.Tensor) -> torch.Tensor:
        return render(space.join(targets, nu), size=6, n_points=5, normalize=normalize)  # type: ignore[arg-type]

    forward = torch.func.jacfwd(fn)(nuisance)
    torch.testing.assert_close(forward, torch.func.jacrev(fn)(nuisance), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("normalize", NORMALIZE)
def test_hessian(normalize: str) -> None:
    params = _unique_peak_params(1, seed=19)[0]

    def loss(p: torch.Tensor) -> torch.Tensor:
        return render(p, size=6, n_points=5, normalize=normalize).square().sum()  # type: ignore[arg-type]

    expected = torch.autograd.functional.hessian(loss, params)
    torch.testing.assert_close(torch.func.hessian(loss)(params), expected, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(torch.func.jacrev(torch.func.jacrev(loss))(params), expected, rtol=1e-9, atol=1e-9)


def test_func_grad_equals_backward(device: torch.device) -> None:
    params = _unique_peak_params(3, seed=15).to(device)
    grad = torch.func.grad(lambda p: render(p, size=7).square().sum())(params)
    leaf = params.clone().requires_grad_(True)
    render(leaf, size=7).square().sum().backward()
    assert leaf.grad is not None
    torch.testing.assert_close(grad, leaf.grad, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------- properties
_PRIOR = st.tuples(*(st.floats(low, high) for low, high in (DEFAULT_BOUNDS[name] for name in PARAMETER_NAMES)))


@settings(max_examples=40, deadline=None)
@given(values=_PRIOR, normalize=st.sampled_from(NORMALIZE))
def test_pixels_lie_between_background_and_foreground(values: tuple[float, ...], normalize: str) -> None:
    params = torch.tensor(values, dtype=torch.float64)
    image = render(params, normalize=normalize)  # type: ignore[arg-type]
    fore, back = params[4:7, None, None], params[7:10, None, None]
    assert torch.all(image >= torch.minimum(fore, back) - 1e-12)
    assert torch.all(image <= torch.maximum(fore, back) + 1e-12)
    # Some pixel (the image maximum) is the foreground colour.
    assert (image - fore).abs().amax(dim=0).min() <= 1e-6
    # In the row mode, so does every row the curve reaches (1e-5: rows far from it are
    # boosted to I / (I + T eps) < 1).
    if normalize == "row":
        reached = render(params, normalize="image").sub(back).div(fore - back)[0].amax(dim=-1) > 0.1
        assert torch.all((image - fore).abs().amax(dim=0).amin(dim=-1)[reached] <= 1e-5)


@settings(max_examples=25, deadline=None)
@given(values=_PRIOR)
def test_float32_pixels_lie_in_unit_interval(values: tuple[float, ...]) -> None:
    image = render(torch.tensor(values, dtype=torch.float32))
    # Painting rounds `back + v (fore - back)` once: a pixel may exceed 1 by one float32 ulp
    # (found here for fore = 1, back = 0.2056, v = 1: 1.0000001).
    ulp = torch.finfo(torch.float32).eps
    assert torch.all((image >= 0) & (image <= 1 + ulp))
    assert (image - torch.tensor(values[4:7])[:, None, None]).abs().amax(dim=0).min() <= 1e-5


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32), n=st.integers(1, 6), normalize=st.sampled_from(NORMALIZE))
def test_deterministic_and_batch_equals_items(seed: int, n: int, normalize: str) -> None:
    params = ParameterSpace().sample(n, seed=seed, dtype=torch.float64)
    batch = render(params, size=10, normalize=normalize)  # type: ignore[arg-type]
    assert torch.equal(batch, render(params, size=10, normalize=normalize))  # type: ignore[arg-type]
    for i in range(n):
        item = render(params[i], size=10, normalize=normalize)  # type: ignore[arg-type]
        assert item.shape == (3, 10, 10)
        torch.testing.assert_close(item, batch[i], rtol=0, atol=1e-13)


@settings(max_examples=15, deadline=None)
@given(shape=st.sampled_from([(), (1,), (5,), (2, 3), (3, 1, 2)]), seed=st.integers(0, 1000))
def test_leading_batch_shapes(shape: tuple[int, ...], seed: int) -> None:
    n = math.prod(shape)
    flat = ParameterSpace().sample(n, seed=seed, dtype=torch.float64)
    images = render(flat.reshape(*shape, 10), size=8)
    assert images.shape == (*shape, 3, 8, 8)
    torch.testing.assert_close(images.reshape(n, 3, 8, 8), render(flat, size=8), rtol=0, atol=1e-13)


def test_large_cpu_batches_are_rendered_in_chunks_with_the_same_result() -> None:
    # Above 512 images the CPU path renders chunks of 512; results and gradients must not
    # depend on it.
    params = ParameterSpace().sample(1100, seed=21, dtype=torch.float64)
    cotangent = torch.randn(1100, 3, 6, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    whole = params.clone().requires_grad_(True)
    images = render(whole, size=6, n_points=5)
    (grad,) = torch.autograd.grad(images, whole, cotangent)
    pieces, grads = [], []
    for lo, hi in [(0, 300), (300, 700), (700, 1100)]:  # boundaries unlike the chunks'
        part = params[lo:hi].clone().requires_grad_(True)
        piece = render(part, size=6, n_points=5)
        pieces.append(piece.detach())
        grads.append(torch.autograd.grad(piece, part, cotangent[lo:hi])[0])
    torch.testing.assert_close(images.detach(), torch.cat(pieces), rtol=0, atol=1e-13)
    torch.testing.assert_close(grad, torch.cat(grads), rtol=1e-12, atol=1e-12)
    assert images.shape == (1100, 3, 6, 6)
    assert render(params.reshape(2, 550, 10), size=6, n_points=5).shape == (2, 550, 3, 6, 6)


def test_no_grad_and_inference_mode_give_the_same_images() -> None:
    params = _unique_peak_params(4, seed=20, dtype=torch.float32)
    expected = render(params)
    with torch.no_grad():
        assert torch.equal(render(params), expected)
    with torch.inference_mode():
        assert torch.equal(render(params), expected)


@pytest.mark.parametrize("normalize", ["row", "image"])
def test_plain_forward_equals_the_differentiable_one(normalize: str) -> None:
    # Without anything to differentiate, render skips its autograd Functions: same images.
    params = _unique_peak_params(6, seed=21, dtype=torch.float32)
    plain = render(params, normalize=normalize)  # type: ignore[arg-type]
    tracked = render(params.clone().requires_grad_(), normalize=normalize)  # type: ignore[arg-type]
    assert tracked.grad_fn is not None
    assert torch.equal(plain, tracked.detach())


def test_derivatives_are_tracked_under_every_kind_of_differentiation() -> None:
    params = _unique_peak_params(2, seed=22, dtype=torch.float64)
    assert not _tracks_derivatives(params)
    assert _tracks_derivatives(params.clone().requires_grad_())
    with torch.no_grad():
        assert not _tracks_derivatives(params.clone().requires_grad_())
    with forward_ad.dual_level():
        assert _tracks_derivatives(forward_ad.make_dual(params, torch.ones_like(params)))
        assert not _tracks_derivatives(params)
    seen: list[bool] = []

    def record(row: torch.Tensor) -> torch.Tensor:
        seen.append(_tracks_derivatives(row))
        return row

    torch.func.vmap(record)(params)
    assert seen == [True]


def test_empty_batch(device: torch.device, dtype: torch.dtype) -> None:
    for normalize in NORMALIZE:
        images = render(torch.zeros(0, 10, dtype=dtype, device=device), normalize=normalize)  # type: ignore[arg-type]
        assert images.shape == (0, 3, 32, 32) and images.dtype == dtype
        assert render(torch.zeros(2, 0, 10, dtype=dtype, device=device)).shape == (2, 0, 3, 32, 32)


def test_prior_samples_render_on_device(device: torch.device, dtype: torch.dtype) -> None:
    params = ParameterSpace().sample(64, seed=16, dtype=dtype, device=device)
    images = render(params)
    assert images.shape == (64, 3, 32, 32) and images.dtype == dtype and images.device.type == device.type
    assert torch.all((images >= 0) & (images <= 1))


# ---------------------------------------------------------------------------- module
def test_renderer_module_equals_function() -> None:
    params = _unique_peak_params(3, seed=17)
    module = Renderer(size=12, n_points=20, extent=4, normalize="image")
    torch.testing.assert_close(module(params), render(params, size=12, n_points=20, extent=4, normalize="image"))
    assert module.extent == 4.0 and isinstance(module.extent, float)
    assert "normalize='image'" in repr(module) and "size=12" in repr(module)
    assert list(module.parameters()) == []


def test_renderer_module_validate_flag() -> None:
    bad = torch.tensor([3.0, 0.0, 1.0, 0.5, 1, 1, 1, 0, 0, 0])
    with pytest.raises(ParameterError, match="b"):
        Renderer()(bad)
    Renderer(validate=False)(bad)  # no check, no error


# ---------------------------------------------------------------------------- bad input
def _good(n: int = 2) -> torch.Tensor:
    return ParameterSpace().sample(n, seed=0)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        (torch.zeros(4, 9), r"`params` must have shape \(\.\.\., 10\), got \(4, 9\)"),
        (torch.zeros(10, 3), r"`params` must have shape \(\.\.\., 10\), got \(10, 3\)"),
        (torch.tensor(1.0), r"`params` must have shape \(\.\.\., 10\), got \(\)"),
        (torch.zeros(2, 10, dtype=torch.int64), r"`params` must have a floating dtype, got torch.int64"),
        (torch.zeros(2, 10, dtype=torch.bool), r"`params` must have a floating dtype, got torch.bool"),
        (torch.zeros(2, 10, device="meta"), r"render: `params` is on the meta device, which holds no data"),
    ],
)
def test_bad_params_shape_or_dtype(params: object, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        render(params)  # type: ignore[arg-type]


def test_params_of_the_wrong_type() -> None:
    with pytest.raises(
        ParameterTypeError, match=r"render: `params` must be a torch.Tensor of shape \(\.\.\., 10\), got list"
    ):
        render([0.0] * 10)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("index", "value", "match"),
    [
        (0, math.nan, r"`params` must be finite, got NaN or inf in \['m'\]"),
        (8, math.inf, r"`params` must be finite, got NaN or inf in \['back_g'\]"),
        (5, -math.inf, r"`params` must be finite, got NaN or inf in \['fore_g'\]"),
        (1, 0.0, r"`params` b \(index 1\) must be > 0, got min 0"),
        (1, -0.5, r"`params` b \(index 1\) must be > 0, got min -0.5"),
        (3, 0.0, r"`params` sigma \(index 3\) must be > 0, got min 0"),
        (3, -1.0, r"`params` sigma \(index 3\) must be > 0, got min -1"),
    ],
)
def test_bad_param_values(index: int, value: float, match: str, device: torch.device) -> None:
    params = _good(3).to(device)
    params[1, index] = value
    with pytest.raises(ParameterError, match=match):
        render(params)
    # validate=False skips the value checks (and renders garbage rather than raising).
    render(params, validate=False)


def test_bad_value_checks_are_skipped_under_vmap() -> None:
    params = _good(2)
    params[0, 1] = 0.0
    images = torch.func.vmap(render)(params)
    assert not torch.isfinite(images[0]).all()


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"size": 1}, ParameterError, r"`size` must be an int in \[2, 4096\], got 1"),
        ({"size": 0}, ParameterError, r"`size` must be an int in \[2, 4096\], got 0"),
        ({"size": 100_000}, ParameterError, r"`size` must be an int in \[2, 4096\], got 100000"),
        ({"size": 8.0}, ParameterTypeError, r"`size` must be an int in \[2, 4096\], got float 8.0"),
        ({"size": True}, ParameterTypeError, r"`size` must be an int in \[2, 4096\], got bool True"),
        ({"n_points": 1}, ParameterError, r"`n_points` must be an int in \[2, 65536\], got 1"),
        ({"n_points": 10**9}, ParameterError, r"`n_points` must be an int in \[2, 65536\], got 1000000000"),
        ({"n_points": "40"}, ParameterTypeError, r"`n_points` must be an int in \[2, 65536\], got str '40'"),
        ({"extent": 0.0}, ParameterError, r"`extent` must be a finite number > 0, got 0.0"),
        ({"extent": -6}, ParameterError, r"`extent` must be a finite number > 0, got -6"),
        ({"extent": math.inf}, ParameterError, r"`extent` must be a finite number > 0, got inf"),
        ({"extent": math.nan}, ParameterError, r"`extent` must be a finite number > 0, got nan"),
        ({"extent": "6"}, ParameterTypeError, r"`extent` must be a finite number > 0, got str '6'"),
        ({"normalize": "max"}, ParameterError, r"`normalize` must be one of \['row', 'image'\], got 'max'"),
        ({"normalize": 1}, ParameterTypeError, r"`normalize` must be one of \['row', 'image'\], got int 1"),
    ],
)
def test_bad_options(options: dict[str, object], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match="render: " + match):
        render(_good(), **options)  # type: ignore[arg-type]
    with pytest.raises(error, match="Renderer: " + match):
        Renderer(**options)  # type: ignore[arg-type]


def test_batch_memory_is_checked_before_allocating() -> None:
    # 10**7 images of 256x256 would need terabytes: refused up front, with the estimate.
    params = torch.zeros(1, 10).expand(10**7, 10)
    with pytest.raises(ParameterError, match=r"render: 10000000 images of 256x256 pixels .* GiB, more than the"):
        render(params, size=256)


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"m": 1e38}, r"\|m - h\| / b \* 2 pi is not finite"),
        ({"b": 1e-45}, r"\|m - h\| / b \* 2 pi is not finite"),
        ({"m": 3e38, "h": -3e38}, r"\|m - h\| / b \* 2 pi is not finite"),
        ({"m": 1e37, "h": 1e37, "sigma": 1e-6}, r"\(\|m - h\| \+ \|h\|\) \* sqrt\(log2\(e\) / sigma\) is not finite"),
        (
            {"m": 2.0, "h": 0.5, "sigma": 0.25, "fore_r": 1e33, "back_r": -1e33},
            r"\|fore - back\| / \(n_points \* 1e-8\) is not finite",
        ),
    ],
)
def test_values_that_would_render_nan_are_refused(values: dict[str, float], match: str) -> None:
    params = _good(3)
    for name, value in values.items():
        params[2, PARAMETER_NAMES.index(name)] = value
    assert not torch.isfinite(render(params, validate=False)[2]).all()  # what validation prevents
    with pytest.raises(ParameterError, match=r"render: `params` row 2 \(m=.*\) overflows torch.float32: " + match):
        render(params)


def test_the_overflow_bound_is_the_edge_of_finite_output() -> None:
    # Just inside the documented bound the image is finite; in float64 the same values are fine.
    params = _good(1)
    params[0, 0] = 1e37  # |m - h| / b * 2 pi ~ 1e38 at b ~ 0.6: finite in float32
    params[0, 1] = 0.6
    assert torch.isfinite(render(params)).all()
    params64 = _good(1).double()
    params64[0, 1] = 1e-45
    assert torch.isfinite(render(params64)).all()


def test_parameter_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="size"):
        render(_good(), size=1)


_MAGNITUDES = st.builds(
    lambda sign, exponent: sign * 10.0**exponent, st.sampled_from([-1.0, 1.0]), st.integers(-45, 38)
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_MAGNITUDES, min_size=10, max_size=10))
def test_a_validated_render_is_finite_or_refused(values: list[float]) -> None:
    values[1], values[3] = abs(values[1]), abs(values[3])  # b > 0 and sigma > 0 have their own checks
    params = torch.tensor([values], dtype=torch.float32)
    if not torch.isfinite(params).all() or (params[0, [1, 3]] <= 0).any():
        return  # 1e-45 * -1 rounds to -0.0; overflowing literals are the finiteness check's
    try:
        images = render(params, size=8, n_points=10)
    except ParameterError as error:
        assert "overflows torch.float32" in str(error)
        return
    assert torch.isfinite(images).all()


def test_check_settings_raises_the_class_a_configuration_object_asks_for() -> None:
    from spirograph.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^HubConfig: `size` must be an int in \[2, 4096\], got 1$"):
        check_settings(1, 40, 6.0, "row", where="HubConfig", error=ConfigError)
    with pytest.raises(ParameterTypeError, match=r"^HubConfig: `size` must be an int in \[2, 4096\], got str '32'$"):
        check_settings("32", 40, 6.0, "row", where="HubConfig", error=ConfigError)


# ---------------------------------------------------------------------- RenderSettings


def test_render_settings_defaults_are_the_papers() -> None:
    defaults = RenderSettings()
    assert (defaults.size, defaults.n_points, defaults.extent, defaults.normalize) == (32, 40, 6.0, "row")
    assert defaults == RenderSettings(32, 40, 6.0, "row")
    assert hash(defaults) == hash(RenderSettings())


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"size": 1}, ParameterError, r"^RenderSettings: `size` must be an int in \[2, 4096\], got 1$"),
        ({"size": 4097}, ParameterError, r"^RenderSettings: `size` must be an int in \[2, 4096\], got 4097$"),
        ({"size": 32.0}, ParameterTypeError, r"^RenderSettings: `size` must be an int in \[2, 4096\], got float 32.0$"),
        ({"size": True}, ParameterTypeError, r"^RenderSettings: `size` must be an int in \[2, 4096\], got bool True$"),
        ({"n_points": 1}, ParameterError, r"^RenderSettings: `n_points` must be an int in \[2, 65536\], got 1$"),
        (
            {"n_points": "40"},
            ParameterTypeError,
            r"^RenderSettings: `n_points` must be an int in \[2, 65536\], got str",
        ),
        ({"extent": 0}, ParameterError, r"^RenderSettings: `extent` must be a finite number > 0, got 0$"),
        ({"extent": math.inf}, ParameterError, r"^RenderSettings: `extent` must be a finite number > 0, got inf$"),
        ({"extent": "6"}, ParameterTypeError, r"^RenderSettings: `extent` must be a finite number > 0, got str '6'$"),
        (
            {"normalize": "max"},
            ParameterError,
            r"^RenderSettings: `normalize` must be one of \['row', 'image'\], got 'max'$",
        ),
        ({"normalize": None}, ParameterTypeError, r"^RenderSettings: `normalize` must be one of .*got NoneType None$"),
    ],
)
def test_render_settings_validates_each_field(options: dict[str, object], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        RenderSettings(**options)  # type: ignore[arg-type]


def test_render_settings_normalizes_numbers() -> None:
    import numpy as np

    made = RenderSettings(size=np.int64(16), extent=6)
    assert type(made.size) is int and type(made.extent) is float
    assert made == RenderSettings(size=16, extent=6.0)


def test_render_settings_are_frozen() -> None:
    import dataclasses

    made = RenderSettings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.size = 64  # type: ignore[misc]
    assert made.size == 32


def test_render_settings_round_trip_through_a_dict() -> None:
    import json

    made = RenderSettings(size=64, n_points=100, extent=5.5, normalize="image")
    data = made.to_dict()
    assert data == {"size": 64, "n_points": 100, "extent": 5.5, "normalize": "image"}
    assert RenderSettings.from_dict(json.loads(json.dumps(data))) == made
    assert RenderSettings.from_dict({"size": 16}) == RenderSettings(size=16)
    assert RenderSettings.from_dict({}) == RenderSettings()


def test_render_settings_from_dict_refuses_bad_input() -> None:
    with pytest.raises(ParameterError, match=r"^RenderSettings.from_dict: `data` has unknown keys \['sise'\]"):
        RenderSettings.from_dict({"sise": 16})
    with pytest.raises(ParameterTypeError, match=r"^RenderSettings.from_dict: `data` must be a mapping, got list"):
        RenderSettings.from_dict([("size", 16)])  # type: ignore[arg-type]
    with pytest.raises(
        ParameterError, match=r"^RenderSettings.from_dict: `size` must be an int in \[2, 4096\], got 0$"
    ):
        RenderSettings.from_dict({"size": 0})


def test_check_settings_builds_the_same_settings() -> None:
    made = check_settings(16, 20, 3, "image", where="Spirograph")
    assert made == RenderSettings(16, 20, 3.0, "image")
    assert type(made.extent) is float
    with pytest.raises(ParameterError, match=r"^Spirograph: `size` must be an int in \[2, 4096\], got 1$"):
        check_settings(1, 20, 3, "image", where="Spirograph")


@pytest.mark.parametrize("options", [{}, {"size": 16}, {"normalize": "image", "n_points": 17, "extent": 4.5}])
def test_render_with_settings_equals_the_keyword_form(options: dict[str, object]) -> None:
    params = _good(5)
    expected = render(params, **options)  # type: ignore[arg-type]
    assert torch.equal(render(params, RenderSettings(**options)), expected)  # type: ignore[arg-type]
    assert torch.equal(render(params, settings=RenderSettings(**options)), expected)  # type: ignore[arg-type]
    assert torch.equal(Renderer(RenderSettings(**options))(params), expected)  # type: ignore[arg-type]


def test_keywords_beside_settings_must_agree() -> None:
    params = _good(2)
    made = RenderSettings(size=16)
    # A keyword that repeats the settings' value is no conflict.
    assert torch.equal(render(params, made, size=16), render(params, size=16))
    with pytest.raises(
        ParameterError,
        match=r"^render: give each renderer setting once, in `settings` or a keyword; got `size=32` against "
        r"`settings.size=16`$",
    ):
        render(params, made, size=32)
    with pytest.raises(
        ParameterError, match=r"^Renderer: give each .*`normalize='image'` against `settings.normalize='row'`"
    ):
        Renderer(made, normalize="image")
    # The keyword is still checked: 16.0 equals 16 but is not an int.
    with pytest.raises(ParameterTypeError, match=r"^render: `size` must be an int in \[2, 4096\], got float 16.0$"):
        render(params, made, size=16.0)  # type: ignore[arg-type]
    with pytest.raises(ParameterTypeError, match=r"^render: `settings` must be a RenderSettings or None, got dict"):
        render(params, {"size": 16})  # type: ignore[arg-type]


def test_renderer_holds_one_settings_object() -> None:
    made = RenderSettings(size=16, normalize="image")
    renderer = Renderer(made)
    assert renderer.settings is made
    assert (renderer.size, renderer.n_points, renderer.extent, renderer.normalize) == (16, 40, 6.0, "image")
    assert Renderer(size=16, normalize="image").settings == made
    assert Renderer().settings == RenderSettings()


@pytest.mark.parametrize("validate", [None, 1, "yes"])
def test_render_and_renderer_share_one_rule_for_validate(validate: object) -> None:
    from spirograph import Renderer

    params = ParameterSpace().sample(2, seed=0)
    with pytest.raises(ParameterTypeError, match=r"^render: `validate` must be a bool"):
        render(params, validate=validate)  # type: ignore[arg-type]
    with pytest.raises(ParameterTypeError, match=r"^Renderer: `validate` must be a bool"):
        Renderer(validate=validate)  # type: ignore[arg-type]
