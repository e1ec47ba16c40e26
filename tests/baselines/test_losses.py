from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from spirograph.baselines.losses import NTXentLoss, ProjectionHead, nt_xent
from spirograph.errors import ParameterError, ParameterTypeError


def naive_nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> float:
    """Double loop over the 2N views, straight from the definition."""
    z = torch.cat([z1, z2]).tolist()
    n = z1.shape[0]

    def cos(a: list[float], b: list[float]) -> float:
        dot = sum(x * y for x, y in zip(a, b, strict=True))
        return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))

    total = 0.0
    for i in range(2 * n):
        positive = (i + n) % (2 * n)
        denominator = sum(math.exp(cos(z[i], z[j]) / temperature) for j in range(2 * n) if j != i)
        total += -cos(z[i], z[positive]) / temperature + math.log(denominator)
    return total / (2 * n)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(2, 6),
    d=st.integers(1, 5),
    temperature=st.floats(0.1, 2.0),
    seed=st.integers(0, 2**31 - 1),
)
def test_matches_naive_double_loop(n: int, d: int, temperature: float, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    z1 = torch.randn(n, d, generator=generator, dtype=torch.float64) + 0.1
    z2 = torch.randn(n, d, generator=generator, dtype=torch.float64) + 0.1
    assert float(nt_xent(z1, z2, temperature=temperature)) == pytest.approx(
        naive_nt_xent(z1, z2, temperature), rel=1e-9, abs=1e-9
    )


@pytest.mark.parametrize("n", [2, 5, 16])
@pytest.mark.parametrize("temperature", [0.5, 1.0])
def test_closed_form_identical_embeddings(n: int, temperature: float) -> None:
    # Every view identical: all similarities are 1/T, so the loss is log(2N - 1).
    z = torch.ones(n, 3, dtype=torch.float64)
    assert float(nt_xent(z, 2 * z, temperature=temperature)) == pytest.approx(math.log(2 * n - 1), rel=1e-12)


@pytest.mark.parametrize("n", [2, 4])
def test_closed_form_orthogonal_pairs(n: int) -> None:
    # Pairs identical, examples orthogonal: loss = -1/T + log(exp(1/T) + 2N - 2).
    z = torch.eye(n, dtype=torch.float64)
    expected = -2.0 + math.log(math.exp(2.0) + 2 * n - 2)
    assert float(nt_xent(z, z, temperature=0.5)) == pytest.approx(expected, rel=1e-12)


def test_scale_invariant_and_symmetric() -> None:
    generator = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(2, 8, 4, generator=generator, dtype=torch.float64)
    base = nt_xent(z1, z2)
    torch.testing.assert_close(nt_xent(3 * z1, 0.5 * z2), base)
    torch.testing.assert_close(nt_xent(z2, z1), base)


def test_gradcheck() -> None:
    generator = torch.Generator().manual_seed(1)
    z1 = torch.randn(4, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    z2 = torch.randn(4, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: nt_xent(a, b), (z1, z2))


def test_module_wraps_function() -> None:
    z1, z2 = torch.randn(2, 5, 3)
    loss = NTXentLoss(temperature=0.2)
    torch.testing.assert_close(loss(z1, z2), nt_xent(z1, z2, temperature=0.2))
    assert "temperature=0.2" in repr(loss)


@pytest.mark.parametrize(
    ("z1", "z2", "match"),
    [
        (torch.zeros(4, 3), torch.zeros(4, 2), r"shape \(N, d\) with N >= 2, got \(4, 3\) and \(4, 2\)"),
        (torch.zeros(1, 3), torch.zeros(1, 3), r"N >= 2, got \(1, 3\)"),
        (torch.zeros(4), torch.zeros(4), r"nt_xent: `z1` must have shape \(N, d\), got \(4,\)"),
    ],
)
def test_bad_inputs(z1: object, z2: object, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        nt_xent(z1, z2)  # type: ignore[arg-type]


def test_inputs_of_the_wrong_type() -> None:
    with pytest.raises(ParameterTypeError, match=r"nt_xent: `z1` must be a torch.Tensor of shape \(N, d\), got list"):
        nt_xent([[1.0]], torch.zeros(4, 3))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("temperature", "error", "match"),
    [
        (0.0, ParameterError, r"`temperature` must be a finite number > 0, got 0\.0"),
        (-1.0, ParameterError, r"`temperature` must be a finite number > 0, got -1\.0"),
        (math.inf, ParameterError, r"`temperature` must be a finite number > 0, got inf"),
        (True, ParameterTypeError, r"`temperature` must be a finite number > 0, got bool True"),
        ("0.5", ParameterTypeError, r"`temperature` must be a finite number > 0, got str '0.5'"),
    ],
)
def test_bad_temperature_raises_the_same_error_from_the_function_and_the_module(
    temperature: float, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match="nt_xent: " + match):
        nt_xent(torch.ones(2, 2), torch.ones(2, 2), temperature=temperature)
    with pytest.raises(error, match="NTXentLoss: " + match):
        NTXentLoss(temperature)


def test_projection_head_structure() -> None:
    head = ProjectionHead(16, output_dim=8)
    layers = list(head.net)
    assert [type(m) for m in layers] == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear, nn.BatchNorm1d]
    assert layers[0].bias is None and layers[3].bias is None
    assert layers[0].weight.shape == (16, 16) and layers[3].weight.shape == (8, 16)
    assert layers[1].affine and not layers[4].affine
    out = head(torch.randn(10, 16))
    assert out.shape == (10, 8)
    # The last BatchNorm has no affine map: in training mode each output column is standardised.
    torch.testing.assert_close(out.mean(0), torch.zeros(8), atol=1e-5, rtol=0)


@pytest.mark.parametrize("argument", ["input_dim", "hidden_dim", "output_dim"])
def test_projection_head_bad_sizes(argument: str) -> None:
    kwargs = {"input_dim": 4, "hidden_dim": 4, "output_dim": 4, argument: 0}
    with pytest.raises(ParameterError, match=f"ProjectionHead: `{argument}` must be an int >= 1, got 0"):
        ProjectionHead(**kwargs)
