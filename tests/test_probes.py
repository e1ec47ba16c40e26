from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spirograph.errors import ParameterError, ParameterTypeError
from spirograph.probes import LinearProbe, regression_scores
from spirograph.tasks import tasks_from_names


def _problem(n: int, d: int, t: int, seed: int, noise: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    features = 2 * torch.randn(n, d, generator=generator, dtype=torch.float64) + 1
    weight = torch.randn(d, t, generator=generator, dtype=torch.float64)
    labels = features @ weight + 5 + noise * torch.randn(n, t, generator=generator, dtype=torch.float64)
    return features, labels


def _naive_ridge(x: torch.Tensor, y: torch.Tensor, l2: float) -> tuple[torch.Tensor, torch.Tensor]:
    # Independent reference: augmented least squares [X, 1] with the penalty on W only,
    # objective mean over N * T entries + l2 ||W||^2  <=>  (Z^T Z + N T l2 D) theta = Z^T y.
    n, d = x.shape
    t = y.shape[1]
    z = torch.cat([x, torch.ones(n, 1, dtype=x.dtype)], dim=1)
    penalty = torch.diag(torch.cat([torch.full((d,), n * t * l2, dtype=x.dtype), torch.zeros(1, dtype=x.dtype)]))
    theta = torch.linalg.solve(z.T @ z + penalty, z.T @ y)
    return theta[:d], theta[d]


@pytest.mark.parametrize(("n", "d"), [(300, 6), (40, 80)])
def test_ridge_matches_an_independent_solve(n: int, d: int) -> None:
    x, y = _problem(n, d, 3, seed=1)
    l2 = 1e-3
    probe = LinearProbe("ridge", l2=l2).fit(x, y)
    weight, bias = _naive_ridge(x, y, l2)
    assert probe.weight is not None and probe.bias is not None
    torch.testing.assert_close(probe.weight, weight, rtol=1e-7, atol=1e-9)
    torch.testing.assert_close(probe.bias, bias, rtol=1e-7, atol=1e-9)


@settings(max_examples=6, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 12), st.sampled_from([1e-8, 1e-4, 1e-2]))
def test_lbfgs_and_closed_form_agree(seed: int, d: int, l2: float) -> None:
    x, y = _problem(400, d, 4, seed)
    lbfgs = LinearProbe("lbfgs", l2=l2).fit(x, y)
    ridge = LinearProbe("ridge", l2=l2).fit(x, y)
    torch.testing.assert_close(lbfgs.predict(x), ridge.predict(x), rtol=0, atol=1e-6)
    assert lbfgs.loss == pytest.approx(ridge.loss, rel=1e-9)
    assert lbfgs.iterations > 0 and ridge.iterations == 0


def test_lbfgs_agrees_when_features_outnumber_examples() -> None:
    # d > N: the L-BFGS objective is computed from the data matrix, ridge uses the dual system.
    x, y = _problem(30, 60, 2, seed=4)
    lbfgs = LinearProbe("lbfgs", l2=1e-2).fit(x, y)
    ridge = LinearProbe("ridge", l2=1e-2).fit(x, y)
    torch.testing.assert_close(lbfgs.weight, ridge.weight, rtol=0, atol=1e-6)


def test_exact_labels_are_recovered_and_bias_is_not_penalised() -> None:
    x, _ = _problem(200, 5, 2, seed=2)
    y = x @ torch.arange(10, dtype=torch.float64).reshape(5, 2) + 1000.0
    for method in ("lbfgs", "ridge"):
        probe = LinearProbe(method, l2=1e-8).fit(x, y)  # type: ignore[arg-type]
        torch.testing.assert_close(probe.predict(x), y, rtol=0, atol=1e-5)
    # A large penalty shrinks W towards 0, leaving the bias at the label mean.
    probe = LinearProbe("ridge", l2=1e6).fit(x, y)
    assert probe.bias is not None
    torch.testing.assert_close(probe.bias, y.mean(0), rtol=1e-4, atol=0)


def test_lbfgs_is_deterministic() -> None:
    x, y = _problem(100, 7, 3, seed=5)
    first = LinearProbe("lbfgs").fit(x, y)
    second = LinearProbe("lbfgs").fit(x.clone(), y.clone())
    assert torch.equal(first.weight, second.weight)  # type: ignore[arg-type]


def test_standardize_changes_only_the_penalty_scale() -> None:
    x, y = _problem(300, 4, 2, seed=6)
    x = x * torch.tensor([1e-3, 1.0, 1e3, 5.0], dtype=torch.float64)
    plain = LinearProbe("ridge", l2=0.0).fit(x, y)
    scaled = LinearProbe("ridge", l2=0.0, standardize=True).fit(x, y)
    torch.testing.assert_close(plain.predict(x), scaled.predict(x), rtol=0, atol=1e-6)


def test_score_values() -> None:
    x, y = _problem(500, 3, 2, seed=7, noise=0.5)
    tasks = tasks_from_names(["m", "b"])
    probe = LinearProbe("ridge").fit(x, y)
    scores = probe.score(x, y, tasks)
    residual = probe.predict(x) - y
    assert scores["mse"]["m"] == pytest.approx(float(residual[:, 0].pow(2).mean()))
    assert scores["mse_mean"] == pytest.approx(float(residual.pow(2).mean()))
    assert scores["r2"]["b"] == pytest.approx(1 - float(residual[:, 1].pow(2).mean() / y[:, 1].var(unbiased=False)))
    assert scores["normalized_mse"]["m"] == pytest.approx(scores["mse"]["m"] / 0.75)
    plain = regression_scores(probe.predict(x), y)
    assert set(plain) == {"mse", "mse_mean", "r2"} and list(plain["mse"]) == ["0", "1"]


def test_one_dimensional_labels() -> None:
    x, y = _problem(100, 3, 1, seed=8)
    probe = LinearProbe("ridge").fit(x, y[:, 0])
    assert probe.predict(x).shape == (100, 1)


def test_bad_settings() -> None:
    with pytest.raises(ParameterError, match=r"`method` must be one of \['lbfgs', 'ridge'\], got 'sgd'"):
        LinearProbe("sgd")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="`l2` must be a finite number >= 0, got -1"):
        LinearProbe(l2=-1)
    with pytest.raises(ParameterError, match="`steps` must be an int >= 1, got 0"):
        LinearProbe(steps=0)
    with pytest.raises(ParameterError, match="`dtype` must be a floating"):
        LinearProbe(dtype=torch.int64)
    with pytest.raises(ParameterTypeError, match=r"LinearProbe: `steps` must be an int >= 1, got float 5\.0"):
        LinearProbe(steps=5.0)  # type: ignore[arg-type]
    with pytest.raises(ParameterTypeError, match="LinearProbe: `standardize` must be a bool, got int 1"):
        LinearProbe(standardize=1)  # type: ignore[arg-type]
    with pytest.raises(ParameterTypeError, match=r"LinearProbe: `dtype` must be a floating torch\.dtype, got str"):
        LinearProbe(dtype="float64")  # type: ignore[arg-type]


def test_bad_data() -> None:
    x, y = _problem(20, 3, 2, seed=9)
    probe = LinearProbe("ridge")
    with pytest.raises(ParameterError, match="not fitted"):
        probe.predict(x)
    with pytest.raises(ParameterError, match="same number of rows, got 20 and 19"):
        probe.fit(x, y[:19])
    bad = x.clone()
    bad[4, 1] = float("nan")
    with pytest.raises(ParameterError, match=r"must be finite, got 1 NaN/inf values in 1 rows \(first row 4\)"):
        probe.fit(bad, y)
    with pytest.raises(ParameterError, match=r"`features` must have shape \(N, d\), got \(20,\)"):
        probe.fit(x[:, 0], y)
    with pytest.raises(ParameterTypeError, match=r"`features` must be a torch\.Tensor of shape \(N, d\), got list"):
        probe.fit(x.tolist(), y)  # type: ignore[arg-type]
    probe.fit(x, y)
    with pytest.raises(ParameterError, match=r"`features` must have 3 columns, got shape \(20, 4\)"):
        probe.predict(torch.zeros(20, 4))
    with pytest.raises(ParameterError, match="`labels` must have 2 columns"):
        probe.score(x, y[:, :1])
    with pytest.raises(ParameterError, match="`tasks` must be a TaskSet of 2 tasks, got 1 tasks"):
        probe.score(x, y, tasks_from_names(["m"]))


@pytest.mark.parametrize("method", ["ridge", "lbfgs"])
def test_standardized_features_near_1e_minus_200_fit_as_their_scaled_copy(method: str) -> None:
    # Their squares underflow float64; standardized features are the same at any scale, so the fit
    # multiplies them by a power of two (exact) and must equal the fit of the unscaled features.
    x, y = _problem(60, 4, 2, seed=11)
    reference = LinearProbe(method, standardize=True).fit(x, y)  # type: ignore[arg-type]
    tiny = LinearProbe(method, standardize=True).fit(x * 1e-200, y)  # type: ignore[arg-type]
    assert tiny.weight is not None and reference.weight is not None
    assert torch.allclose(tiny.predict(x * 1e-200), reference.predict(x), atol=1e-6)
    assert torch.allclose(tiny.weight * 1e-200, reference.weight, atol=1e-6)


def test_features_beyond_the_probes_dtype_are_refused() -> None:
    x, y = _problem(40, 3, 1, seed=12)
    probe = LinearProbe("ridge", dtype=torch.float32)
    match = r"`features` must lie within the range of the probe's dtype torch.float32 .* got values up to 1e\+39"
    with pytest.raises(ParameterError, match="LinearProbe.fit: " + match):
        probe.fit(x * 1e39 / x.abs().max(), y)  # type: ignore[arg-type]
    probe.fit(x, y)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="LinearProbe.predict: " + match):
        probe.predict(x * 1e39 / x.abs().max())  # type: ignore[arg-type]
    assert LinearProbe("ridge").fit(x * 1e39, y).weight is not None  # float64 holds them  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["ridge", "lbfgs"])
@pytest.mark.parametrize("standardize", [False, True])
def test_features_near_1e200_fit_as_their_scaled_copy(method: str, standardize: bool) -> None:
    # Their squares overflow float64: the fit divides them by a power of two (exact) and scales the
    # penalty to match, so it is the fit of the unscaled features (whose penalty is then negligible;
    # standardized features are the same at any scale, and so is their penalty).
    x, y = _problem(60, 4, 2, seed=10)
    l2 = 1e-8 if standardize else 0.0
    reference = LinearProbe(method, l2=l2, standardize=standardize).fit(x, y)  # type: ignore[arg-type]
    huge = LinearProbe(method, l2=1e-8, standardize=standardize).fit(x * 1e200, y)  # type: ignore[arg-type]
    assert huge.weight is not None and reference.weight is not None
    assert torch.allclose(huge.predict(x * 1e200), reference.predict(x), atol=1e-6)
    assert torch.allclose(huge.weight * 1e200, reference.weight, atol=1e-6)
    assert huge.loss == pytest.approx(reference.loss, rel=1e-6)
