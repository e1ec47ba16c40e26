"""The paper's linear-probe protocol: `evaluate()` and `feature_averaging()`.

Feature averaging over several ``M`` reuses one pass: the running sum of features over
draws ``0 .. M-1`` is snapshotted at each requested ``M`` (memory ``O(N d)``, never
``O(M N d)``), so the curve up to ``M = 30`` costs 30 encodings of each set, not
``1 + 2 + ... + 30``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from spirograph._checks import (
    check_bool,
    check_choice,
    check_instance,
    check_int,
    check_number,
)
from spirograph.dataset import Spirograph
from spirograph.errors import ParameterError
from spirograph.evaluation._encoding import (
    EVALUATION_STREAM,
    Encoder,
    _batches,
    _Features,
    _frozen,
    _nuisance_draw,
    encoder_device,
)
from spirograph.evaluation._records import EvaluationResult
from spirograph.probes import PROBE_METHODS, LinearProbe, ProbeMethod
from spirograph.space import ParameterSpace, check_space
from spirograph.tasks import TaskSet, target_tasks

__all__ = ["PAPER_N_DRAWS", "evaluate", "feature_averaging"]

PAPER_N_DRAWS: tuple[int, ...] = (1, 2, 3, 4, 5, 10, 20, 30)
"""The numbers of nuisance draws per item, ``M``, of the paper's feature-averaging curve."""


# ---------------------------------------------------------------------- argument checks
def _check_n_draws(n_draws: Any, where: str) -> list[int]:
    if isinstance(n_draws, Sequence) and not isinstance(n_draws, (str, bytes)):
        if not n_draws:
            raise ParameterError(f"{where}: `n_draws` must be an int M >= 1 or a non-empty list of them, got []")
        return sorted({check_int(value, f"n_draws[{k}]", where=where, minimum=1) for k, value in enumerate(n_draws)})
    return [check_int(n_draws, "n_draws", where=where, minimum=1)]


_MINIMUM_ITEMS = 2
"""Items a probe set needs: a fit on one item learns nothing, and R^2 on one test item is 0 / 0."""


def _check_dataset(value: Any, split: str, proportion: float, space: ParameterSpace | None, where: str) -> Spirograph:
    if value is None:
        return Spirograph(split, subset=proportion, space=space)
    return check_probe_set(value, split, where)


def check_probe_set(value: Any, name: str, where: str) -> Spirograph:
    """A `Spirograph` with enough items for the probe (the training or the test set of `evaluate()`)."""
    data = check_instance(value, name, Spirograph, where=where, expected="a Spirograph dataset or None")
    if len(data) < _MINIMUM_ITEMS:
        job = "fit the probe" if name == "train" else "score the probe (R^2 needs the labels' variance)"
        raise ParameterError(f"{where}: `{name}` must hold at least {_MINIMUM_ITEMS} items to {job}, got {len(data)}")
    return data


def _check_tasks(tasks: Any, space: ParameterSpace, where: str) -> TaskSet:
    if tasks is None:
        return target_tasks(space)
    return check_instance(
        tasks, "tasks", TaskSet, where=where, expected="a TaskSet (see spirograph.tasks.tasks_from_names) or None"
    )


def _check_renderers(train: Spirograph, test: Spirograph, where: str) -> None:
    if train.settings != test.settings:
        first, second = tuple(train.settings.to_dict().values()), tuple(test.settings.to_dict().values())
        raise ParameterError(
            f"{where}: `train` and `test` must use the same renderer (size, n_points, extent, normalize), "
            f"got {first} and {second}"
        )


@dataclass
class _Protocol:
    """The checked settings of one `evaluate()` call, and what it accumulates."""

    train: Spirograph
    test: Spirograph
    space: ParameterSpace
    tasks: TaskSet
    n_draws: list[int]
    probe: ProbeMethod
    l2: float
    steps: int
    device: torch.device
    batch_size: int
    seed: int
    progress: bool
    sums: dict[str, torch.Tensor] = field(default_factory=dict)
    labels: dict[str, torch.Tensor] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=lambda: {"encode": 0.0, "fit": 0.0})

    @property
    def sets(self) -> dict[str, Spirograph]:
        return {"train": self.train, "test": self.test}


def _check_protocol(settings: dict[str, Any], where: str) -> _Protocol:
    """Every setting of `evaluate()` checked before any encoding."""
    n_draws = _check_n_draws(settings["n_draws"], where)
    probe = check_choice(settings["probe"], "probe", PROBE_METHODS, where=where)
    l2 = check_number(settings["l2"], "l2", where=where, minimum=0)
    steps = check_int(settings["steps"], "steps", where=where, minimum=1)
    batch_size = check_int(settings["batch_size"], "batch_size", where=where, minimum=1)
    seed = check_int(settings["seed"], "seed", where=where, minimum=0)
    progress = check_bool(settings["progress"], "progress", where=where)
    device = encoder_device(settings["encoder"], settings["device"], where)
    space = None if settings["space"] is None else check_space(settings["space"], where=where)
    train = _check_dataset(settings["train"], "train", settings["proportion"], space, where)
    test = _check_dataset(settings["test"], "test", settings["proportion"], space, where)
    _check_renderers(train, test, where)
    space = space or train.space
    tasks = _check_tasks(settings["tasks"], space, where)
    moving = [name for name in tasks.names if name in space.nuisance_names]
    if moving and n_draws[-1] > 1:
        raise ParameterError(
            f"{where}: tasks {moving} are nuisance parameters, which change between draws; feature averaging "
            f"(M = {n_draws[-1]}) needs tasks among the targets {list(space.targets)}"
        )
    return _Protocol(train, test, space, tasks, n_draws, probe, l2, steps, device, batch_size, seed, progress)


# ---------------------------------------------------------------------- the protocol
def evaluate(
    encoder: nn.Module | Encoder,
    *,
    train: Spirograph | None = None,
    test: Spirograph | None = None,
    tasks: TaskSet | None = None,
    probe: ProbeMethod = "lbfgs",
    l2: float = 1e-8,
    steps: int = 500,
    device: torch.device | str | None = None,
    batch_size: int = 512,
    n_draws: int | Sequence[int] = 1,
    space: ParameterSpace | None = None,
    seed: int = 0,
    progress: bool = True,
    proportion: float = 0.5,
) -> EvaluationResult:
    """Score a frozen encoder with the paper's linear-probe protocol.

    Args:
        encoder: an ``nn.Module`` or callable mapping images ``(B, 3, 32, 32)`` float32 on
            ``device`` to features ``(B, d)``. It is put in eval mode (and restored after)
            and called under ``torch.no_grad``. An encoder with ``encodes_parameters =
            True`` (e.g. [`OracleEncoder`][spirograph.references.OracleEncoder]) receives the
            ``(B, 10)`` parameters of each input instead of its image.
        train: the probe's training set (default ``Spirograph("train", subset=proportion)``).
        test: the test set (default ``Spirograph("test", subset=proportion)``).
        tasks: the regression tasks (default: the targets of ``space``).
        probe: ``"lbfgs"`` (the paper's) or ``"ridge"`` (exact closed form).
        l2: L2 weight on the probe's weights (the paper's ``1e-8``).
        steps: L-BFGS steps (the paper's 500).
        device: where images are rendered and encoded; by default the device of the encoder's
            first parameter or buffer (the CPU for an encoder without any).
        batch_size: images per encoder call.
        n_draws: ``M``, the nuisance draws per item whose features are averaged (the
            paper's default 1), or a list of them for a feature-averaging curve computed in
            one pass.
        space: the prior of the nuisance draws and the target/nuisance split (default:
            ``train.space``); a shifted prior gives the robustness protocol.
        seed: seed of the nuisance draws.
        progress: show a tqdm progress bar.
        proportion: fraction of each canonical split used when ``train``/``test`` are
            not given (the paper's 0.5).

    Returns:
        The [`EvaluationResult`][spirograph.evaluation.EvaluationResult]; with a list for
        ``n_draws`` its headline scores are those of the largest ``M`` and its
        ``feature_averaging`` holds the curve.

    Raises:
        ParameterTypeError: a setting of the wrong type (a non-callable encoder, ...).
        ParameterError: bad settings (``M < 1``, an unknown probe, a CUDA ``device``
            without CUDA, a nuisance task with ``M > 1``, a ``train`` or ``test`` of fewer
            than 2 items, ...), images of a dataset that are not finite, or an encoder output
            that is not a finite ``(B, d)`` tensor with ``d >= 1``.

    Examples:
        >>> from spirograph.references import PixelEncoder
        >>> result = evaluate(PixelEncoder(), train=Spirograph("train", subset=64),
        ...                   test=Spirograph("test", subset=32), probe="ridge", progress=False)
        >>> sorted(result.mse)
        ['b', 'fore_r', 'm', 'sigma']
    """
    settings: dict[str, Any] = dict(
        encoder=encoder, train=train, test=test, tasks=tasks, probe=probe, l2=l2, steps=steps, device=device
    )
    settings.update(batch_size=batch_size, n_draws=n_draws, space=space, seed=seed, progress=progress)
    plan = _check_protocol({**settings, "proportion": proportion}, "evaluate")
    features = _Features(encoder, plan.device, "evaluate")
    start = time.perf_counter()
    scores: dict[int, dict[str, Any]] = {}
    total_batches = plan.n_draws[-1] * sum(len(_batches(len(data), plan.batch_size)) for data in plan.sets.values())
    with _frozen(encoder), tqdm(total=total_batches, desc="evaluate", disable=not plan.progress, leave=False) as bar:
        for draw in range(plan.n_draws[-1]):
            tick = time.perf_counter()
            _encode_draw(features, plan, draw, bar)
            plan.timings["encode"] += time.perf_counter() - tick
            if draw + 1 in plan.n_draws:
                tick = time.perf_counter()
                scores[draw + 1] = _fit_and_score(plan, draw + 1)
                plan.timings["fit"] += time.perf_counter() - tick
    plan.timings["total"] = time.perf_counter() - start
    return _record(plan, scores, int(features.dim or 0))


def _encode_draw(features: _Features, plan: _Protocol, draw: int, bar: Any) -> None:
    """Add the features of nuisance draw ``draw`` of both sets to their running sums."""
    for name, data in plan.sets.items():
        # One sampler call per set and draw (N x 10 values), sliced into batches.
        all_params = _nuisance_draw(data, plan.space, plan.seed, EVALUATION_STREAM, draw, 0, len(data))
        if draw == 0:
            plan.labels[name] = plan.tasks.labels(all_params).to(device=plan.device, dtype=torch.float64)
        for start, stop in _batches(len(data), plan.batch_size):
            batch = features(all_params[start:stop], data)
            if name not in plan.sums:
                plan.sums[name] = torch.zeros(len(data), batch.shape[1], dtype=torch.float64, device=plan.device)
            plan.sums[name][start:stop] += batch
            bar.update(1)


def _fit_and_score(plan: _Protocol, m: int) -> dict[str, Any]:
    """Fit the probe on the train features averaged over ``m`` draws; score it on the test set's."""
    head = LinearProbe(plan.probe, l2=plan.l2, steps=plan.steps).fit(plan.sums["train"] / m, plan.labels["train"])
    return head.score(plan.sums["test"] / m, plan.labels["test"], plan.tasks)


def _record(plan: _Protocol, scores: dict[int, dict[str, Any]], feature_dim: int) -> EvaluationResult:
    final = scores[plan.n_draws[-1]]
    several = len(plan.n_draws) > 1
    return EvaluationResult(
        mse=final["mse"],
        mse_mean=final["mse_mean"],
        r2=final["r2"],
        normalized_mse=final["normalized_mse"],
        normalized_mse_mean=final["normalized_mse_mean"],
        n_draws=plan.n_draws[-1],
        feature_averaging={m: scores[m]["mse_mean"] for m in plan.n_draws} if several else None,
        feature_averaging_per_task={m: scores[m]["mse"] for m in plan.n_draws} if several else None,
        tasks=list(plan.tasks.names),
        probe=plan.probe,
        l2=plan.l2,
        steps=plan.steps,
        n_train=len(plan.train),
        n_test=len(plan.test),
        splits={"train": plan.train.split, "test": plan.test.split},
        seeds={"evaluation": plan.seed, "train": plan.train.seed, "test": plan.test.seed},
        **plan.train.settings.to_dict(),
        bounds={name: list(bound) for name, bound in plan.space.bounds.items()},
        targets=list(plan.space.targets),
        nuisance=list(plan.space.nuisance_names),
        feature_dim=feature_dim,
        device=str(plan.device),
        timings=dict(plan.timings),
    )


def feature_averaging(
    encoder: nn.Module | Encoder, n_draws: Sequence[int] = PAPER_N_DRAWS, **kwargs: Any
) -> dict[int, float]:
    """The feature-averaging curve ``M -> mean test MSE`` from one encoding pass.

    Encodes ``max(n_draws)`` nuisance draws of each set once, keeping a running sum of the
    features, and fits a probe on the averages at each ``M`` in ``n_draws``.

    Args:
        encoder: as in [`evaluate()`][spirograph.evaluation.evaluate].
        n_draws: the values of ``M``, nuisance draws per item (the paper's
            [`PAPER_N_DRAWS`][spirograph.evaluation.PAPER_N_DRAWS] by default).
        **kwargs: any other argument of [`evaluate()`][spirograph.evaluation.evaluate].

    Returns:
        ``{M: mse_mean}`` in increasing ``M``. For per-task values and settings use
        ``evaluate(encoder, n_draws=n_draws)``.

    Raises:
        ParameterTypeError: a value of ``n_draws`` that is not an int, or a setting of
            [`evaluate()`][spirograph.evaluation.evaluate] of the wrong type.
        ParameterError: an empty ``n_draws``, a value below 1, or bad settings of
            [`evaluate()`][spirograph.evaluation.evaluate].

    Examples:
        >>> from spirograph.references import PixelEncoder
        >>> curve = feature_averaging(PixelEncoder(), n_draws=[1, 2], train=Spirograph("train", subset=64),
        ...                           test=Spirograph("test", subset=32), probe="ridge", progress=False)
        >>> sorted(curve)
        [1, 2]
    """
    values = list(n_draws) if isinstance(n_draws, Sequence) and not isinstance(n_draws, str) else n_draws
    result = evaluate(encoder, n_draws=_check_n_draws(values, "feature_averaging"), **kwargs)
    if result.feature_averaging is None:
        return {result.n_draws: result.mse_mean}
    return dict(result.feature_averaging)
