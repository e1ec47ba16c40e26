from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from spirograph.baselines.penalty import gradient_penalty, penalty_breakdown, penalty_statistic, rademacher
from spirograph.errors import ParameterError, ParameterTypeError
from spirograph.transform import SpirographTransform

SIZE = 8
TARGETS = torch.tensor([[3.0, 0.5, 0.5, 0.7], [4.0, 0.9, 0.3, 0.9], [2.5, 0.3, 0.8, 0.5]], dtype=torch.float64)


def _transform() -> SpirographTransform:
    return SpirographTransform(size=SIZE, n_points=12, seed=0)


def _encoder(seed: int = 0, out: int = 4) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * SIZE * SIZE, out), nn.Tanh()).double()


def _setup(transform: SpirographTransform, k: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    alpha = transform.sample_nuisance(3, device="cpu", dtype=torch.float64).requires_grad_(True)
    others = transform.sample_nuisance(3 * k, device="cpu", dtype=torch.float64).reshape(3, k, -1)
    return alpha, others


def _signs(seed: int = 7) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_zero_for_encoder_that_ignores_nuisance() -> None:
    transform = _transform()
    alpha, others = _setup(transform)
    images = transform.render(TARGETS, alpha)
    constant = nn.Sequential(nn.Flatten(), nn.Linear(3 * SIZE * SIZE, 4)).double()
    nn.init.zeros_(constant[1].weight)
    nn.init.uniform_(constant[1].bias)
    assert float(gradient_penalty(constant(images), alpha, others).detach()) == 0.0
    # Features that never touched the nuisance at all (the graph does not reach it).
    from_targets = TARGETS @ torch.ones(4, 5, dtype=torch.float64)
    assert float(gradient_penalty(from_targets, alpha, others)) == 0.0


def test_positive_for_encoder_that_sees_nuisance() -> None:
    transform = _transform()
    alpha, others = _setup(transform)
    assert float(gradient_penalty(_encoder()(transform.render(TARGETS, alpha)), alpha, others).detach()) > 0


@pytest.mark.parametrize("normalize", [True, False])
def test_matches_finite_differences(normalize: bool) -> None:
    transform, encoder = _transform(), _encoder()
    alpha, others = _setup(transform, k=4)
    penalty = gradient_penalty(
        encoder(transform.render(TARGETS, alpha)), alpha, others, normalize=normalize, generator=_signs()
    )
    signs = rademacher((3, 4), generator=_signs(), dtype=torch.float64)

    @torch.no_grad()
    def s(a: torch.Tensor) -> float:
        h = encoder(transform.render(TARGETS, a))
        if normalize:
            h = h / h.norm(dim=1, keepdim=True)
        return float((signs * h).sum())

    base = alpha.detach()
    eps = 1e-6
    g = torch.zeros_like(base)
    for i in range(base.shape[0]):
        for j in range(base.shape[1]):
            step = torch.zeros_like(base)
            step[i, j] = eps
            g[i, j] = (s(base + step) - s(base - step)) / (2 * eps)
    expected = (((others - base[:, None]) * g[:, None]).sum(-1) ** 2).mean()
    assert float(penalty.detach()) == pytest.approx(float(expected), rel=1e-6)


def test_gradient_reaches_encoder_weights_and_is_correct() -> None:
    transform = _transform()
    alpha, others = _setup(transform, k=3)
    images = transform.render(TARGETS, alpha.detach()).detach()
    linear = nn.Linear(3 * SIZE * SIZE, 3, bias=False).double()

    def penalty_of(weight: torch.Tensor) -> torch.Tensor:
        a = alpha.detach().requires_grad_(True)
        features = torch.tanh(transform.render(TARGETS, a).flatten(1) @ weight.T)
        return gradient_penalty(features, a, others, generator=_signs(3))

    weight = linear.weight.detach().clone().requires_grad_(True)
    penalty_of(weight).backward()
    assert weight.grad is not None and weight.grad.abs().sum() > 0
    # The penalty is a derivative; its gradient needs double backward, checked numerically.
    small = weight.detach()[:, :12].clone().requires_grad_(True)
    rest = weight.detach()[:, 12:]
    assert torch.autograd.gradcheck(lambda w: penalty_of(torch.cat([w, rest], dim=1)), (small,), atol=1e-6)
    assert images.shape == (3, 3, SIZE, SIZE)


def test_no_graph_without_create_graph() -> None:
    transform = _transform()
    alpha, others = _setup(transform)
    penalty = gradient_penalty(_encoder()(transform.render(TARGETS, alpha)), alpha, others, create_graph=False)
    assert not penalty.requires_grad


@settings(max_examples=10, deadline=None)
@given(scale=st.floats(0.1, 100.0), seed=st.integers(0, 1000))
def test_normalised_penalty_is_scale_invariant(scale: float, seed: int) -> None:
    transform = SpirographTransform(size=SIZE, n_points=12, seed=seed)
    encoder = _encoder(seed)
    alpha, others = _setup(transform)
    h = encoder(transform.render(TARGETS, alpha))
    base = gradient_penalty(h, alpha, others, generator=_signs(), clamp=None)
    scaled = gradient_penalty(scale * h, alpha, others, generator=_signs(), clamp=None)
    raw = gradient_penalty(h, alpha, others, generator=_signs(), clamp=None, normalize=False)
    raw_scaled = gradient_penalty(scale * h, alpha, others, generator=_signs(), clamp=None, normalize=False)
    torch.testing.assert_close(scaled, base)
    torch.testing.assert_close(raw_scaled, scale**2 * raw)


def test_clamp() -> None:
    transform = _transform()
    alpha, others = _setup(transform)
    h = 1e3 * _encoder()(transform.render(TARGETS, alpha))
    free = gradient_penalty(h, alpha, others, normalize=False, clamp=None, generator=_signs())
    assert float(free.detach()) > 1.0
    clamped = gradient_penalty(h, alpha, others, normalize=False, clamp=1.0, generator=_signs())
    assert float(clamped.detach()) == 1.0


def test_callable_and_tensor_agree() -> None:
    transform = _transform()
    alpha, _ = _setup(transform)
    h = _encoder()(transform.render(TARGETS, alpha))
    draws = transform.sample_nuisance(3 * 7, device="cpu", dtype=torch.float64)
    calls: list[int] = []

    def sample(n: int) -> torch.Tensor:
        calls.append(n)
        return draws

    from_callable = gradient_penalty(h, alpha, sample, n_samples=7, generator=_signs())
    from_tensor = gradient_penalty(h, alpha, draws.reshape(3, 7, -1), generator=_signs())
    assert calls == [21]
    torch.testing.assert_close(from_callable, from_tensor)


def test_rademacher_values() -> None:
    signs = rademacher((1000,), generator=torch.Generator().manual_seed(0))
    assert set(signs.unique().tolist()) == {-1.0, 1.0}
    assert abs(float(signs.mean())) < 0.15
    torch.testing.assert_close(signs, rademacher((1000,), generator=torch.Generator().manual_seed(0)))


def _bad_inputs() -> list[tuple[dict[str, object], str]]:
    alpha = torch.zeros(3, 6, requires_grad=True)
    features = torch.zeros(3, 4)
    others = torch.zeros(3, 2, 6)
    return [
        ({"features": features, "nuisance": torch.zeros(3, 6), "sample_nuisance": others}, "must require grad"),
        (
            {"features": features, "nuisance": torch.zeros(2, 6, requires_grad=True), "sample_nuisance": others},
            r"`nuisance` must have shape \(3, p\) to match `features`, got \(2, 6\)",
        ),
        (
            {"features": features, "nuisance": alpha, "sample_nuisance": torch.zeros(3, 6)},
            r"`sample_nuisance` as a tensor must have shape \(3, K, 6\), got \(3, 6\)",
        ),
        (
            {"features": features, "nuisance": alpha, "sample_nuisance": lambda n: torch.zeros(n, 5)},
            r"`sample_nuisance\(300\)` must return shape \(300, 6\), got \(300, 5\)",
        ),
        ({"features": features, "nuisance": alpha, "sample_nuisance": 3}, "must be a callable or a tensor, got int"),
        (
            {"features": features, "nuisance": alpha, "sample_nuisance": others, "n_samples": 0},
            "`n_samples` must be an int >= 1, got 0",
        ),
        (
            {"features": features, "nuisance": alpha, "sample_nuisance": others, "clamp": -1.0},
            "`clamp` must be a number > 0 or None, got -1.0",
        ),
    ]


@pytest.mark.parametrize(("kwargs", "match"), _bad_inputs())
def test_bad_inputs(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        gradient_penalty(**kwargs)  # type: ignore[arg-type]


class _Small(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2)
        self.norm = nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x)).mean((2, 3))


def test_penalty_statistic_is_deterministic_and_restores_mode() -> None:
    torch.manual_seed(0)
    encoder = _Small().train()
    kwargs = {"n_examples": 12, "batch_size": 5, "n_samples": 4}
    first = penalty_statistic(encoder, transform=SpirographTransform(size=SIZE, seed=1), **kwargs)
    second = penalty_statistic(encoder, transform=SpirographTransform(size=SIZE, seed=2), **kwargs)
    assert first == second > 0  # reseeded from `seed`, whatever the transform's own seed
    assert encoder.training
    assert all(p.grad is None for p in encoder.parameters())
    other = penalty_statistic(encoder, transform=SpirographTransform(size=SIZE), seed=5, **kwargs)
    assert other != first


_DIAGNOSTIC_BAD_INPUTS = [
    ({"encoder": lambda x: x}, ParameterTypeError, "`encoder` must be an nn.Module, got function"),
    ({"n_examples": 0}, ParameterError, "`n_examples` must be an int >= 1, got 0"),
    ({"batch_size": 1.5}, ParameterTypeError, "`batch_size` must be an int >= 1, got float 1.5"),
    ({"transform": "render"}, ParameterTypeError, "`transform` must be a SpirographTransform, got str"),
    ({"seed": -1}, ParameterError, "`seed` must be an int >= 0, got -1"),
    ({"device": "gpu"}, ParameterError, "`device` must name a torch device"),
]


@pytest.mark.parametrize(("kwargs", "error", "match"), _DIAGNOSTIC_BAD_INPUTS)
def test_penalty_statistic_bad_inputs(kwargs: dict[str, object], error: type[Exception], match: str) -> None:
    arguments: dict[str, object] = {"encoder": _Small(), **kwargs}
    with pytest.raises(error, match=f"penalty_statistic: {match}"):
        penalty_statistic(**arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        *_DIAGNOSTIC_BAD_INPUTS,
        ({"n_samples": 0}, ParameterError, "`n_samples` must be an int >= 1, got 0"),
        ({"normalize": "yes"}, ParameterTypeError, "`normalize` must be a bool, got str 'yes'"),
    ],
)
def test_penalty_breakdown_bad_inputs(kwargs: dict[str, object], error: type[Exception], match: str) -> None:
    arguments: dict[str, object] = {"encoder": _Small(), **kwargs}
    with pytest.raises(error, match=f"penalty_breakdown: {match}"):
        penalty_breakdown(**arguments)  # type: ignore[arg-type]


def test_penalty_breakdown_total_is_the_penalty_statistic() -> None:
    torch.manual_seed(0)
    encoder = _Small().train()
    kwargs = {"n_examples": 10, "batch_size": 4, "n_samples": 3, "seed": 2}
    result = penalty_breakdown(encoder, transform=SpirographTransform(size=SIZE), **kwargs)
    statistic = penalty_statistic(encoder, transform=SpirographTransform(size=SIZE), **kwargs)
    assert result.first_order["all"] == pytest.approx(statistic, rel=1e-6)
    assert list(result.first_order) == [*SpirographTransform().space.nuisance_names, "all"]
    assert list(result.observed) == list(result.first_order)
    assert encoder.training  # restored
    assert all(p.grad is None for p in encoder.parameters())
    again = penalty_breakdown(encoder, transform=SpirographTransform(size=SIZE, seed=9), **kwargs)
    assert again == result  # every draw comes from `seed`
    assert result.to_dict()["n_samples"] == 3


def test_penalty_breakdown_is_exact_where_the_image_is_linear() -> None:
    # The image is affine in the colours, so with a linear encoder and no normalisation the
    # projection moves exactly linearly in them: first-order estimate == observed change.
    # The pen distance h moves the curve non-linearly, and there the two differ.
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(3 * SIZE * SIZE, 6))
    result = penalty_breakdown(
        encoder, transform=SpirographTransform(size=SIZE, n_points=12), n_examples=12, n_samples=4, normalize=False
    )
    for name in ("fore_g", "fore_b", "back_r", "back_g", "back_b"):
        assert result.observed[name] > 0
        assert result.first_order[name] == pytest.approx(result.observed[name], rel=1e-4)
    assert result.first_order["h"] != pytest.approx(result.observed["h"], rel=0.1)


def test_penalty_breakdown_zero_for_an_invariant_encoder() -> None:
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(3 * SIZE * SIZE, 4))
    nn.init.zeros_(encoder[1].weight)
    nn.init.uniform_(encoder[1].bias)
    result = penalty_breakdown(encoder, transform=SpirographTransform(size=SIZE), n_examples=6, n_samples=2)
    assert set(result.first_order.values()) == {0.0}
    assert set(result.observed.values()) == {0.0}
