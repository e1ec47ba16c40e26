r"""Label heads: linear probes fitted on frozen features.

The paper (Foster, Pukdee & Rainforth, ICLR 2021) scores a frozen encoder with one
multi-output linear layer ``y_hat = x W + b`` fitted to all downstream tasks at once by
minimising, over $N$ examples $x_n$ with labels $y_n$ for $T$ tasks,

$$
L(W, b) = \frac{1}{N T} \sum_{n=1}^{N} \lVert x_n W + b - y_n \rVert^2 + \lambda \lVert W \rVert_F^2
$$

with $\lambda$ = ``l2`` (the mean squared error over all ``N * T`` entries, as ``torch.nn.MSELoss`` computes
it, plus an L2 penalty on the weights only, never the bias). Two solvers minimise
the same ``L``:

- ``"lbfgs"`` (the paper's): full-batch `torch.optim.LBFGS` for ``steps`` calls
  of ``step()`` from ``W = 0, b = 0``, in float64. Settings: ``lr=1``, ``max_iter=20``
  iterations per step, ``history_size=100``, ``line_search_fn="strong_wolfe"`` (the
  paper's code used no line search; the strong-Wolfe search keeps badly conditioned
  features such as raw pixels from diverging), ``tolerance_grad=1e-10`` and
  ``tolerance_change=1e-14`` (tight enough for float64 losses of order ``1e-6``).
  When there are at least as many examples as features, ``L`` and its gradient are
  computed exactly from the centred second moments of the data (a ``d x d`` matrix),
  so each L-BFGS iteration costs ``O(d^2 T)`` instead of ``O(N d T)``; otherwise from
  the data matrix itself.
- ``"ridge"``: the exact minimiser. Centring removes the bias, and the weights solve
  the regularised normal equations ``(Xc^T Xc + N T l2 I) W = Xc^T Yc`` (Cholesky in
  float64; the dual ``N x N`` system when ``d > N``; an eigen-decomposition if the
  matrix is not numerically positive definite). The bias is ``mean(y) - mean(x) W``.

On well-conditioned problems the two agree to solver precision.

Features so large that their squares would overflow the fit's dtype (beyond the fourth root of
its largest number, about ``1e77`` in float64) are fitted divided by a power of two, which is
exact, with ``l2`` scaled to keep the same objective; the weights are scaled back.
"""

from __future__ import annotations

import math
from typing import Any, Literal, get_args

import torch

from spirograph._checks import check_bool, check_choice, check_instance, check_int, check_number, check_tensor
from spirograph.errors import ParameterError
from spirograph.tasks import TaskSet

__all__ = ["LinearProbe", "ProbeMethod"]

ProbeMethod = Literal["lbfgs", "ridge"]
PROBE_METHODS: tuple[str, ...] = get_args(ProbeMethod)

_LBFGS_MAX_ITER = 20
_LBFGS_HISTORY = 100
_LBFGS_TOLERANCE_GRAD = 1e-10
_LBFGS_TOLERANCE_CHANGE = 1e-14


def _check_matrix(value: Any, where: str, argument: str, *, columns: int | None = None) -> torch.Tensor:
    check_tensor(value, argument, where=where, shape=("N", "d"))
    if not (value.dtype.is_floating_point or value.dtype in (torch.int32, torch.int64, torch.uint8)):
        raise ParameterError(f"{where}: `{argument}` must be real numbers, got dtype {value.dtype}")
    if value.shape[0] == 0:
        raise ParameterError(f"{where}: `{argument}` must hold at least one row, got shape {tuple(value.shape)}")
    if columns is not None and value.shape[1] != columns:
        raise ParameterError(f"{where}: `{argument}` must have {columns} columns, got shape {tuple(value.shape)}")
    bad = ~torch.isfinite(value)
    if bad.any():
        rows = torch.nonzero(bad.any(dim=1)).flatten()
        raise ParameterError(
            f"{where}: `{argument}` must be finite, got {int(bad.sum())} NaN/inf values in {rows.numel()} rows "
            f"(first row {int(rows[0])})"
        )
    return value


def _as_labels(labels: Any, where: str) -> torch.Tensor:
    if isinstance(labels, torch.Tensor) and labels.ndim == 1:
        labels = labels[:, None]
    return _check_matrix(labels, where, "labels")


class LinearProbe:
    """A multi-output linear head ``x W + b`` fitted on frozen features.

    Args:
        method: ``"lbfgs"`` (the paper's solver) or ``"ridge"`` (exact closed form); both
            minimise the same objective, see [`spirograph.probes`][spirograph.probes].
        l2: weight of the L2 penalty on ``W`` (not on ``b``), ``>= 0``; the paper's ``1e-8``.
        steps: number of ``LBFGS.step`` calls (``"lbfgs"`` only), ``>= 1``; the paper's 500.
        dtype: floating dtype of the fit; float64 (default) makes it deterministic and
            accurate for MSEs of order ``1e-6``.
        standardize: scale each feature to zero mean and unit variance (statistics of the
            training features) before fitting. NOT part of the paper's protocol (which
            fits raw features); off by default.

    Attributes:
        weight: ``(d, T)`` fitted weights (in the scale of the raw features).
        bias: ``(T,)`` fitted bias.
        loss: final value of the objective on the training data.
        iterations: L-BFGS iterations run (0 for ``"ridge"``).

    Examples:
        >>> features = torch.randn(200, 5, dtype=torch.float64)
        >>> labels = features @ torch.ones(5, 2, dtype=torch.float64) + 3
        >>> probe = LinearProbe("ridge").fit(features, labels)
        >>> bool(torch.allclose(probe.predict(features), labels, atol=1e-6))
        True
    """

    def __init__(
        self,
        method: ProbeMethod = "lbfgs",
        *,
        l2: float = 1e-8,
        steps: int = 500,
        dtype: torch.dtype = torch.float64,
        standardize: bool = False,
    ) -> None:
        where = "LinearProbe"
        self.method: ProbeMethod = check_choice(method, "method", PROBE_METHODS, where=where)
        self.l2 = check_number(l2, "l2", where=where, minimum=0)
        self.steps = check_int(steps, "steps", where=where, minimum=1)
        check_instance(dtype, "dtype", torch.dtype, where=where, expected="a floating torch.dtype")
        if not dtype.is_floating_point:
            raise ParameterError(f"LinearProbe: `dtype` must be a floating torch.dtype, got {dtype!r}")
        standardize = check_bool(standardize, "standardize", where=where)
        self.dtype = dtype
        self.standardize = standardize
        self.weight: torch.Tensor | None = None
        self.bias: torch.Tensor | None = None
        self.loss: float | None = None
        self.iterations = 0

    def __repr__(self) -> str:
        return (
            f"LinearProbe(method={self.method!r}, l2={self.l2}, steps={self.steps}, dtype={self.dtype}, "
            f"standardize={self.standardize})"
        )

    # ------------------------------------------------------------------ fitting
    def fit(self, features: torch.Tensor, labels: torch.Tensor) -> LinearProbe:
        """Fit the head on training features and labels.

        Args:
            features: frozen features, any real dtype, finite.
            labels: labels, one column per task (a 1-D tensor is one task).

        Returns:
            ``self``, fitted.

        Shape:
            ``features (N, d)``, ``labels (N, T)`` or ``(N,)``.

        Raises:
            ParameterError: non-tensors, wrong shapes, a row-count mismatch, or NaN/inf values.
        """
        x = _check_matrix(features, "LinearProbe.fit", "features")
        y = _as_labels(labels, "LinearProbe.fit")
        if x.shape[0] != y.shape[0]:
            raise ParameterError(
                f"LinearProbe.fit: `features` and `labels` need the same number of rows, got "
                f"{x.shape[0]} and {y.shape[0]}"
            )
        x = _in_range(x, self.dtype, "LinearProbe.fit")
        y = y.to(device=x.device, dtype=self.dtype)
        d = x.shape[1]
        t = y.shape[1]
        # Features so large that their squares overflow (near 1e200 in float64) are fitted divided
        # by a power of two, which is exact, with the penalty scaled to match; then W is scaled back.
        # Standardized features are the same at any scale, so there features so small that their
        # squares underflow (near 1e-200) are multiplied by one, and the penalty is left alone.
        shift = _rescale_exponent(x, small=self.standardize)
        l2 = self.l2
        if shift:
            x = torch.ldexp(x, torch.tensor(-shift, device=x.device))
            if not self.standardize:
                l2 = math.ldexp(l2, -2 * shift)
        x_mean = x.mean(0)
        y_mean = y.mean(0)
        xc = x - x_mean
        scale = torch.ones(d, dtype=self.dtype, device=x.device)
        if self.standardize:
            std = xc.pow(2).mean(0).sqrt()
            scale = torch.where(std > 0, std, torch.ones_like(std))
            xc = xc / scale
        yc = y - y_mean
        if self.method == "ridge":
            weight = _ridge(xc, yc, l2)
            self.iterations = 0
        else:
            weight, intercept, self.iterations = _lbfgs(xc, yc, l2, self.steps)
            # The L-BFGS bias is for centred data; fold the centring back in below.
            y_mean = y_mean + intercept
        # Undo the standardisation and the centring: x W' + b' == ((x - mean) / scale) W + y_mean.
        fitted = weight / scale[:, None]
        self.bias = y_mean - x_mean @ fitted
        residual = x @ fitted + self.bias - y
        self.loss = float(residual.pow(2).mean() + l2 * (weight.pow(2).sum()))
        self.weight = torch.ldexp(fitted, torch.tensor(-shift, device=x.device)) if shift else fitted
        self._shape = (d, t)
        return self

    def predict(self, features: torch.Tensor) -> torch.Tensor:
        """Predictions of the fitted head.

        Args:
            features: features with the ``d`` columns the head was fitted on.

        Returns:
            Predictions in the probe's dtype, on ``features``' device.

        Shape:
            ``(N, d) -> (N, T)``.
        """
        if self.weight is None or self.bias is None:
            raise ParameterError("LinearProbe.predict: the probe is not fitted; call fit(features, labels) first")
        x = _check_matrix(features, "LinearProbe.predict", "features", columns=self.weight.shape[0])
        weight = self.weight.to(x.device)
        return _in_range(x, self.dtype, "LinearProbe.predict") @ weight + self.bias.to(x.device)

    def score(self, features: torch.Tensor, labels: torch.Tensor, tasks: TaskSet | None = None) -> dict[str, Any]:
        """Test errors of the fitted head, per task and averaged.

        Args:
            features: test features, ``(N, d)``.
            labels: test labels, ``(N, T)`` in task order.
            tasks: names and prior variances of the ``T`` tasks; without it tasks are
                named ``"0", "1", ...`` and no normalized MSE is given.

        Returns:
            The scores, a dict with ``"mse"`` (task -> MSE), ``"mse_mean"`` (the mean of the
            per-task MSEs), ``"r2"`` (task -> 1 - SSE / SST on the test labels) and, only with
            ``tasks``, ``"normalized_mse"`` (task -> MSE / prior variance) and
            ``"normalized_mse_mean"`` (a float).
        """
        y = _as_labels(labels, "LinearProbe.score")
        prediction = self.predict(features)
        if prediction.shape[0] != y.shape[0]:
            raise ParameterError(
                f"LinearProbe.score: `features` and `labels` need the same number of rows, got "
                f"{prediction.shape[0]} and {y.shape[0]}"
            )
        if y.shape[1] != prediction.shape[1]:
            raise ParameterError(
                f"LinearProbe.score: `labels` must have {prediction.shape[1]} columns (one per fitted task), "
                f"got {y.shape[1]}"
            )
        if tasks is not None and (not isinstance(tasks, TaskSet) or len(tasks) != y.shape[1]):
            got = f"{len(tasks)} tasks" if isinstance(tasks, TaskSet) else type(tasks).__name__
            raise ParameterError(f"LinearProbe.score: `tasks` must be a TaskSet of {y.shape[1]} tasks, got {got}")
        return regression_scores(prediction, y.to(device=prediction.device, dtype=prediction.dtype), tasks)


def regression_scores(prediction: torch.Tensor, labels: torch.Tensor, tasks: TaskSet | None = None) -> dict[str, Any]:
    """Per-task MSE, their mean, R^2 and (with ``tasks``) MSE over prior variance.

    Args:
        prediction: predicted labels.
        labels: true labels.
        tasks: the tasks of the columns (names and prior variances).

    Returns:
        The dictionary described in [`LinearProbe.score()`][spirograph.probes.LinearProbe.score].

    Shape:
        ``prediction (N, T)``, ``labels (N, T)``.
    """
    names = tasks.names if tasks is not None else tuple(str(k) for k in range(labels.shape[1]))
    prediction = prediction.to(torch.float64)
    labels = labels.to(torch.float64)
    mse = (prediction - labels).pow(2).mean(0)
    total = (labels - labels.mean(0)).pow(2).mean(0)
    r2 = torch.where(total > 0, 1 - mse / torch.where(total > 0, total, torch.ones_like(total)), torch.nan)
    result: dict[str, Any] = {
        "mse": {name: float(v) for name, v in zip(names, mse, strict=True)},
        "mse_mean": float(mse.mean()),
        "r2": {name: float(v) for name, v in zip(names, r2, strict=True)},
    }
    if tasks is not None:
        normalized = mse.cpu() / tasks.prior_variance
        result["normalized_mse"] = {name: float(v) for name, v in zip(names, normalized, strict=True)}
        result["normalized_mse_mean"] = float(normalized.mean())
    return result


# ---------------------------------------------------------------------- solvers
def _in_range(x: torch.Tensor, dtype: torch.dtype, where: str) -> torch.Tensor:
    """``x`` in ``dtype``, refused if its values lie beyond that dtype's range (they would become inf)."""
    limit = torch.finfo(dtype).max
    if x.dtype.is_floating_point and torch.finfo(x.dtype).max > limit:
        largest = float(x.abs().max())
        if largest > limit:
            raise ParameterError(
                f"{where}: `features` must lie within the range of the probe's dtype {dtype} (|x| <= {limit:.4g}), "
                f"got values up to {largest:.4g}; fit the probe with dtype=torch.float64"
            )
    return x.to(dtype)


def _rescale_exponent(x: torch.Tensor, *, small: bool) -> int:
    """0, or the power of two to divide ``x`` by so that its largest value lies in ``[0.5, 1)``.

    Non-zero only when that value exceeds the fourth root of the dtype's largest number (below
    it, sums of squares over any realistic ``N`` or ``d`` stay finite) or, with ``small``, lies
    below the fourth root of its smallest normal number (above it, they do not underflow).
    """
    largest = float(x.abs().max())
    info = torch.finfo(x.dtype)
    if largest <= info.max**0.25 and (not small or largest == 0 or largest >= info.tiny**0.25):
        return 0
    return math.frexp(largest)[1]


def _ridge(xc: torch.Tensor, yc: torch.Tensor, l2: float) -> torch.Tensor:
    """Exact minimiser of mean((xc W - yc)^2) + l2 ||W||^2 for centred data.

    Shape:
        ``xc (N, d)``, ``yc (N, T)`` -> ``W (d, T)``.
    """
    n, d = xc.shape
    ridge = n * yc.shape[1] * l2
    if d <= n:
        gram = xc.T @ xc  # (d, d)
        rhs = xc.T @ yc  # (d, T)
        return _solve_psd(gram, rhs, ridge)
    # Dual form, W = Xc^T (Xc Xc^T + ridge I)^-1 Yc: an (N, N) system when d > N.
    kernel = xc @ xc.T  # (N, N)
    return xc.T @ _solve_psd(kernel, yc, ridge)


def _solve_psd(matrix: torch.Tensor, rhs: torch.Tensor, ridge: float) -> torch.Tensor:
    # (A + ridge I) Z = rhs for symmetric positive semi-definite A.
    size = matrix.shape[0]
    regularised = matrix + ridge * torch.eye(size, dtype=matrix.dtype, device=matrix.device)
    factor, info = torch.linalg.cholesky_ex(regularised)
    if int(info) == 0:
        return torch.cholesky_solve(rhs, factor)
    # Not numerically positive definite (ridge ~ 0 on rank-deficient features): the
    # minimum-norm solution through the eigen-decomposition, tiny eigenvalues dropped.
    values, vectors = torch.linalg.eigh(matrix)
    values = values + ridge
    cutoff = values.abs().max() * size * torch.finfo(matrix.dtype).eps
    inverse = torch.where(values > cutoff, 1.0 / values, torch.zeros_like(values))
    return vectors @ (inverse[:, None] * (vectors.T @ rhs))


def _lbfgs(xc: torch.Tensor, yc: torch.Tensor, l2: float, steps: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Minimise the probe objective on centred data with L-BFGS, from zero.

    The bias is optimised jointly with ``W`` (it converges to ~0 on centred data), as in
    the paper's ``nn.Linear`` head, so the objective is exactly the paper's.

    Returns:
        ``(W (d, T), intercept (T,), iterations)``.
    """
    n, d = xc.shape
    t = yc.shape[1]
    weight = torch.zeros(d, t, dtype=xc.dtype, device=xc.device, requires_grad=True)
    intercept = torch.zeros(t, dtype=xc.dtype, device=xc.device, requires_grad=True)
    use_moments = d <= n
    if use_moments:
        # With centred X and Y: sum (X W + b - Y)^2 = tr(W^T G W) - 2 tr(W^T C) + tr(S) + N ||b||^2
        # (the cross terms vanish), G = Xc^T Xc / N (d, d), C = Xc^T Yc / N (d, T), S = Yc^T Yc / N.
        second = xc.T @ xc / n
        cross = xc.T @ yc / n
        label_power = float(yc.pow(2).sum() / n)

    def objective() -> torch.Tensor:
        mse = (xc @ weight + intercept - yc).pow(2).mean()
        return mse + l2 * weight.pow(2).sum()

    def moments_closure() -> torch.Tensor:
        # Loss and its exact gradient from the moments, sharing one (d, d) @ (d, T) product:
        # dL/dW = 2 (G W - C) / T + 2 l2 W,  dL/db = 2 b / T.
        with torch.no_grad():
            gw = second @ weight
            fit = (weight * gw).sum() - 2 * (weight * cross).sum() + label_power + intercept.pow(2).sum()
            loss = fit / t + l2 * weight.pow(2).sum()
            weight.grad = 2 * (gw - cross) / t + 2 * l2 * weight
            intercept.grad = 2 * intercept / t
        return loss

    optimizer = torch.optim.LBFGS(
        [weight, intercept],
        lr=1,
        max_iter=_LBFGS_MAX_ITER,
        history_size=_LBFGS_HISTORY,
        line_search_fn="strong_wolfe",
        tolerance_grad=_LBFGS_TOLERANCE_GRAD,
        tolerance_change=_LBFGS_TOLERANCE_CHANGE,
    )

    def data_closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = objective()
        loss.backward()
        return loss

    closure = moments_closure if use_moments else data_closure
    previous = math.inf
    for _ in range(steps):
        loss = float(optimizer.step(closure).detach())  # the loss at the start of this step
        if abs(previous - loss) <= _LBFGS_TOLERANCE_CHANGE:
            # A whole step (up to max_iter iterations) moved the loss by less than the
            # tolerance: the remaining steps would stop at the same check.
            break
        previous = loss
    iterations = int(optimizer.state[weight].get("n_iter", 0))
    return weight.detach(), intercept.detach(), iterations
