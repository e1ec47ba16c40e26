"""Invariance diagnostics: how much of a representation moves with the nuisance parameters."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from spirograph._checks import check_bool, check_instance, check_int
from spirograph.dataset import Spirograph
from spirograph.errors import ParameterError
from spirograph.evaluation._encoding import (
    EVALUATION_STREAM,
    INVARIANCE_STREAM,
    Encoder,
    _batches,
    _Features,
    _frozen,
    _nuisance_draw,
    encoder_device,
)
from spirograph.evaluation._protocol import check_probe_set, evaluate
from spirograph.evaluation._records import InvarianceResult
from spirograph.probes import ProbeMethod
from spirograph.space import ParameterSpace, check_space
from spirograph.tasks import nuisance_tasks

__all__ = ["invariance"]


def _projections(dim: int, count: int, seed: int, device: torch.device) -> torch.Tensor:
    """``count`` Rademacher vectors (entries +1 / -1) as the columns of a ``(dim, count)`` matrix.

    The projection of the gradient regularizer. ``E_l Var(l . z) = sum_d Var(z_d)``, so for a
    unit-norm representation the conditional variance lies in ``[0, 1]``, the paper's scale.
    """
    generator = torch.Generator().manual_seed(seed)
    signs = torch.randint(0, 2, (dim, count), generator=generator, dtype=torch.int64)
    return (2 * signs - 1).to(dtype=torch.float64, device=device)


class _DrawStatistics:
    """Per-example mean and variance across draws, accumulated shifted by the first draw (stable)."""

    def __init__(self) -> None:
        self.shift: torch.Tensor | None = None
        self.first: torch.Tensor | None = None
        self.second: torch.Tensor | None = None

    def add(self, values: torch.Tensor, start: int, stop: int, total: int, draw: int) -> None:
        if self.shift is None:
            shape = (total, values.shape[1])
            self.shift = torch.zeros(shape, dtype=torch.float64, device=values.device)
            self.first = torch.zeros_like(self.shift)
            self.second = torch.zeros_like(self.shift)
        assert self.first is not None and self.second is not None
        if draw == 0:
            self.shift[start:stop] = values
        centred = values - self.shift[start:stop]
        self.first[start:stop] += centred
        self.second[start:stop] += centred.pow(2)

    def summary(self, draws: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-example conditional variance (unbiased) ``(n, c)`` and total variance ``(c,)``."""
        assert self.shift is not None and self.first is not None and self.second is not None
        n = self.shift.shape[0]
        conditional = ((self.second - self.first.pow(2) / draws) / (draws - 1)).clamp_min(0)
        means = self.shift + self.first / draws
        # Law of total variance over all n * draws values, exactly.
        between = (means - means.mean(0)).pow(2).sum(0)
        total = ((draws - 1) * conditional.sum(0) + draws * between) / (n * draws - 1)
        return conditional, total


@dataclass(frozen=True)
class _Draws:
    """The checked items, prior and sizes of one variance pass."""

    data: Spirograph
    space: ParameterSpace
    n_examples: int
    n_draws: int
    n_projections: int
    seed: int
    device: torch.device
    batch_size: int
    progress: bool


def _check_draws(
    encoder: Any,
    data: Any,
    space: Any,
    counts: tuple[Any, Any, Any, Any],
    device: Any,
    batch_size: Any,
    progress: Any,
    where: str,
) -> _Draws:
    n_examples = check_int(counts[0], "n_examples", where=where, minimum=2)
    n_draws = check_int(counts[1], "n_draws", where=where, minimum=2)
    n_projections = check_int(counts[2], "n_projections", where=where, minimum=1)
    seed = check_int(counts[3], "seed", where=where, minimum=0)
    batch_size = check_int(batch_size, "batch_size", where=where, minimum=1)
    progress = check_bool(progress, "progress", where=where)
    torch_device = encoder_device(encoder, device, where)
    chosen = None if space is None else check_space(space, where=where)
    if data is None:
        data = Spirograph("test", subset=n_examples, space=chosen)
    check_instance(data, "data", Spirograph, where=where, expected="a Spirograph dataset or None")
    if n_examples > len(data):
        raise ParameterError(f"{where}: `n_examples` must be <= len(data) = {len(data)}, got {n_examples}")
    space = chosen or data.space
    return _Draws(data, space, n_examples, n_draws, n_projections, seed, torch_device, batch_size, progress)


def invariance(
    encoder: nn.Module | Encoder,
    *,
    data: Spirograph | None = None,
    n_examples: int = 1000,
    n_draws: int = 10,
    n_projections: int = 16,
    seed: int = 0,
    space: ParameterSpace | None = None,
    nuisance_probe: bool = True,
    train: Spirograph | None = None,
    test: Spirograph | None = None,
    probe: ProbeMethod = "lbfgs",
    l2: float = 1e-8,
    steps: int = 500,
    device: torch.device | str | None = None,
    batch_size: int = 512,
    progress: bool = True,
    proportion: float = 0.5,
) -> InvarianceResult:
    """How much of a representation moves with the nuisance parameters.

    For ``n_examples`` items of ``data``, ``n_draws`` nuisance draws each are encoded.

    - ``conditional_variance`` (the paper's diagnostic): the representation is
      L2-normalized and projected on a random Rademacher vector ``l`` (entries +1 / -1,
      seeded; the projection of the gradient regularizer); the variance of ``l . z / ||z||``
      across the draws of one example (unbiased, ``n_draws - 1``) is averaged over examples,
      and over ``n_projections`` independent vectors ``l`` (the paper used one; more only
      reduce the noise of the same expectation, the summed conditional variance of the
      normalized representation, which lies in ``[0, 1]``).
    - ``conditional_variance_normalized``: per projection, the above over the total
      variance of the projection over all examples and draws, averaged over projections.
    - ``nuisance_share``: on the raw features, ``sum_d E_x Var(z_d | x) / sum_d Var(z_d)``.
    - ``nuisance_mse`` (with ``nuisance_probe``): `evaluate()` with the nuisance
      tasks (M = 1) on ``train``/``test``, the paper's other diagnostic, beside
      ``nuisance_mse_prior_mean``, the MSE of predicting each prior mean on that test set.

    Args:
        encoder: as in `evaluate()`.
        data: items whose draws are compared (default ``Spirograph("test", subset=n_examples)``).
        n_examples: how many items of ``data`` (the first ones), ``>= 2``.
        n_draws: nuisance draws per item, ``>= 2``.
        n_projections: random Rademacher projections averaged, ``>= 1``.
        seed: seed of the nuisance draws and the projections.
        space: nuisance prior and split (default: ``data.space``).
        nuisance_probe: also fit the nuisance probe (costs one `evaluate()`).
        train: the nuisance probe's training set, as in `evaluate()`.
        test: the nuisance probe's test set, as in `evaluate()`.
        probe: the nuisance probe's solver, as in `evaluate()`.
        l2: the nuisance probe's L2 weight, as in `evaluate()`.
        steps: the nuisance probe's L-BFGS steps, as in `evaluate()`.
        proportion: the nuisance probe's default share of each split, as in `evaluate()`.
        device: as in `evaluate()` (by default the encoder's device).
        batch_size: as in `evaluate()`.
        progress: as in `evaluate()`.

    Returns:
        The `InvarianceResult`.
    """
    where = "invariance"
    counts = (n_examples, n_draws, n_projections, seed)
    draws = _check_draws(encoder, data, space, counts, device, batch_size, progress, where)
    if check_bool(nuisance_probe, "nuisance_probe", where=where):
        # Checked before the variance pass, not only by the probe's evaluate() after it.
        for name, value in (("train", train), ("test", test)):
            if value is not None:
                check_probe_set(value, name, where)
    features = _Features(encoder, draws.device, where)

    tick = time.perf_counter()
    conditional, normalized, share = _variance_pass(encoder, features, draws)
    timings = {"variance": time.perf_counter() - tick}
    probe_scores: dict[str, Any] = {}
    if nuisance_probe:
        tick = time.perf_counter()
        probe_settings = dict(train=train, test=test, probe=probe, l2=l2, steps=steps, device=draws.device)
        probe_scores = _nuisance_probe(encoder, draws, {**probe_settings, "proportion": proportion})
        timings["nuisance_probe"] = time.perf_counter() - tick
    return InvarianceResult(
        conditional_variance=conditional,
        conditional_variance_normalized=normalized,
        nuisance_share=share,
        nuisance_mse=probe_scores.get("mse"),
        nuisance_mse_per_task=probe_scores.get("per_task"),
        nuisance_mse_prior_mean=probe_scores.get("prior_mse"),
        nuisance_mse_prior_mean_per_task=probe_scores.get("prior_per_task"),
        n_examples=draws.n_examples,
        n_draws=draws.n_draws,
        n_projections=draws.n_projections,
        seed=draws.seed,
        feature_dim=int(features.dim or 0),
        timings=timings,
    )


def _variance_pass(encoder: Any, features: _Features, draws: _Draws) -> tuple[float, float, float]:
    """``(conditional_variance, conditional_variance_normalized, nuisance_share)`` of the draws."""
    raw = _DrawStatistics()
    projected = _DrawStatistics()
    directions: torch.Tensor | None = None
    plan = _batches(draws.n_examples, draws.batch_size)
    total = draws.n_draws * len(plan)
    with _frozen(encoder), tqdm(total=total, desc="invariance", disable=not draws.progress, leave=False) as bar:
        for draw in range(draws.n_draws):
            for start, stop in plan:
                params = _nuisance_draw(draws.data, draws.space, draws.seed, INVARIANCE_STREAM, draw, start, stop)
                batch = features(params, draws.data).to(torch.float64)
                if directions is None:
                    directions = _projections(batch.shape[1], draws.n_projections, draws.seed, draws.device)
                norms = batch.norm(dim=1, keepdim=True)
                unit = batch / torch.where(norms > 0, norms, torch.ones_like(norms))
                raw.add(batch, start, stop, draws.n_examples, draw)
                projected.add(unit @ directions, start, stop, draws.n_examples, draw)
                bar.update(1)
    raw_conditional, raw_total = raw.summary(draws.n_draws)
    projection_conditional, projection_total = projected.summary(draws.n_draws)
    conditional = projection_conditional.mean(0)  # (n_projections,)
    normalized = torch.where(projection_total > 0, conditional / projection_total, torch.nan)
    total_variance = float(raw_total.sum())
    share = float(raw_conditional.mean(0).sum()) / total_variance if total_variance > 0 else math.nan
    return float(conditional.mean()), float(normalized.mean()), share


def _nuisance_probe(encoder: Any, draws: _Draws, settings: dict[str, Any]) -> dict[str, Any]:
    """The nuisance probe's test MSE beside the MSE of predicting each nuisance prior mean."""
    tasks = nuisance_tasks(draws.space)
    result = evaluate(
        encoder,
        tasks=tasks,
        batch_size=draws.batch_size,
        space=draws.space,
        seed=draws.seed,
        progress=draws.progress,
        **settings,
    )
    test = settings["test"]
    test_set = test if test is not None else Spirograph("test", subset=settings["proportion"], space=draws.space)
    test_labels = torch.cat(
        [
            tasks.labels(_nuisance_draw(test_set, draws.space, draws.seed, EVALUATION_STREAM, 0, start, stop))
            for start, stop in _batches(len(test_set), 65536)
        ]
    ).to(torch.float64)
    prior_errors = (test_labels - tasks.prior_mean).pow(2).mean(0)
    return {
        "mse": result.mse_mean,
        "per_task": result.mse,
        "prior_mse": float(prior_errors.mean()),
        "prior_per_task": {name: float(v) for name, v in zip(tasks.names, prior_errors, strict=True)},
    }
