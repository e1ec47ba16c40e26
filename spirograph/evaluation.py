"""The evaluation protocol: linear probes on frozen features, feature averaging, invariance.

This is the protocol of Foster, Pukdee & Rainforth (ICLR 2021), implemented once so that
every method is scored the same way:

1. **Data.** The probe is trained on the first half of the train split (50,000 items)
   and tested on the first half of the test split (10,000 items)
   (``Spirograph("train", subset=0.5)``, ``Spirograph("test", subset=0.5)``).
2. **Transformed inputs.** Each item keeps its target parameters and has its nuisance
   parameters drawn afresh from the nuisance prior: draw ``m`` of row ``i`` of a split
   with seed ``s_split`` is ``space.sample_nuisance(targets, seed=seed, index=i,
   stream=(EVALUATION_STREAM, s_split, m))``, a pure function of ``(seed, s_split, i, m)``
   identical on every machine and device.
3. **Features.** The frozen encoder (eval mode, ``torch.no_grad``) maps each rendered
   batch ``(B, 3, 32, 32)`` on ``device`` to features ``(B, d)``. With feature averaging
   the feature of an item is the mean over ``M`` nuisance draws, for both the probe's
   training set and the test set; the paper's default is ``M = 1``.
4. **Probe.** One linear layer on all target tasks, fitted by full-batch L-BFGS (500
   steps, L2 weight ``1e-8`` on the weights, see [`spirograph.probes`][spirograph.probes]).
5. **Scores.** Test MSE per task and its mean over tasks; also ``R^2`` and the MSE over
   the task's prior variance.

Feature averaging over several ``M`` reuses one pass: the running sum of features over
draws ``0 .. M-1`` is snapshotted at each requested ``M`` (memory ``O(N d)``, never
``O(M N d)``), so the curve up to ``M = 30`` costs 30 encodings of each set, not
``1 + 2 + ... + 30``.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from spirograph._files import atomic_write_text
from spirograph._version import __version__
from spirograph.dataset import Spirograph
from spirograph.errors import ConfigError, ParameterError
from spirograph.probes import PROBE_METHODS, LinearProbe, ProbeMethod
from spirograph.space import ParameterSpace
from spirograph.tasks import TaskSet, nuisance_tasks, target_tasks

__all__ = [
    "EVALUATION_STREAM",
    "INVARIANCE_STREAM",
    "EvaluationResult",
    "InvarianceResult",
    "evaluate",
    "feature_averaging",
    "invariance",
]

EVALUATION_STREAM = 0x5E7A1
"""First key of the sampler stream of the evaluation's nuisance draws."""

INVARIANCE_STREAM = 0x1A7A2
"""First key of the sampler stream of the invariance diagnostics' nuisance draws."""

PAPER_AVERAGING: tuple[int, ...] = (1, 2, 3, 4, 5, 10, 20, 30)
"""The values of ``M`` of the paper's feature-averaging curve."""

Encoder = Callable[[torch.Tensor], torch.Tensor]


# ---------------------------------------------------------------------- result records
def _read_json(source: str | os.PathLike[str], where: str) -> dict[str, Any]:
    text = str(source)
    if isinstance(source, os.PathLike) or not text.lstrip().startswith("{"):
        text = Path(source).read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ParameterError(f"{where}: `source` is not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise ParameterError(f"{where}: `source` must hold a JSON object, got {type(data).__name__}")
    return data


class _Record:
    """JSON round trips shared by the result records (dataclasses)."""

    def to_dict(self) -> dict[str, Any]:
        """All fields as plain Python values (``dict`` keys that are ints become strings in JSON)."""
        return asdict(self)  # type: ignore[call-overload]

    def to_json(self, path: str | os.PathLike[str] | None = None, *, indent: int = 2) -> str:
        """The record as JSON text; with ``path``, also written there atomically.

        Args:
            path: a file to write (through a temporary file and a rename).
            indent: JSON indentation.

        Returns:
            The JSON text.
        """
        text = json.dumps(self.to_dict(), indent=indent, sort_keys=True) + "\n"
        if path is not None:
            atomic_write_text(path, text)
        return text

    @classmethod
    def _check_keys(cls, data: dict[str, Any], where: str) -> None:
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        required = {
            f.name
            for f in fields(cls)  # type: ignore[arg-type]
            if f.default is MISSING and f.default_factory is MISSING
        }
        missing = sorted(required - set(data))
        if missing:
            raise ParameterError(f"{where}: the record lacks the fields {missing}")
        unknown = sorted(set(data) - names)
        if unknown:
            raise ParameterError(f"{where}: the record has unknown fields {unknown}")


def _int_keys(mapping: dict[str, Any] | None) -> dict[int, Any] | None:
    return None if mapping is None else {int(k): v for k, v in mapping.items()}


@dataclass
class EvaluationResult(_Record):
    """The record of one evaluation: scores and every setting that produced them.

    Attributes:
        mse: test MSE per task (at ``averaging`` draws per feature).
        mse_mean: mean of `mse` over tasks (the paper's headline number).
        r2: ``1 - SSE / SST`` per task on the test labels.
        normalised_mse: MSE over the task's prior variance (1 = no better than the prior mean).
        normalised_mse_mean: mean of `normalised_mse`.
        averaging: ``M``, the number of nuisance draws averaged per feature.
        feature_averaging: ``M -> mse_mean`` for every requested ``M`` (``None`` for one ``M``).
        feature_averaging_per_task: ``M -> {task: MSE}`` (``None`` for one ``M``).
        tasks: the task names.
        probe: the probe's solver (``"lbfgs"`` or ``"ridge"``).
        l2: the probe's L2 weight.
        steps: the probe's L-BFGS steps.
        n_train: items in the probe's training set.
        n_test: items in the test set.
        splits: ``{"train": split name, "test": split name}``.
        seeds: ``{"evaluation": seed of the nuisance draws, "train": split seed, "test": split seed}``.
        normalize: the renderer's normalisation of the data.
        size: the image side of the data.
        n_points: the curve points of the data.
        extent: the canvas half-width of the data.
        bounds: the nuisance/target priors used, ``name -> [low, high]``.
        targets: the target names of the space.
        nuisance: the nuisance names of the space.
        feature_dim: dimension ``d`` of the encoder's features.
        device: where the encoder ran.
        package_version: `spirograph.__version__` that produced the record.
        timings: seconds spent ``encode`` (render + encoder), ``fit`` (probe fit + scores), ``total``.
    """

    mse: dict[str, float]
    mse_mean: float
    r2: dict[str, float]
    normalised_mse: dict[str, float]
    normalised_mse_mean: float
    averaging: int
    feature_averaging: dict[int, float] | None
    feature_averaging_per_task: dict[int, dict[str, float]] | None
    tasks: list[str]
    probe: str
    l2: float
    steps: int
    n_train: int
    n_test: int
    splits: dict[str, str]
    seeds: dict[str, int]
    normalize: str
    size: int
    n_points: int
    extent: float
    bounds: dict[str, list[float]]
    targets: list[str]
    nuisance: list[str]
    feature_dim: int
    device: str
    package_version: str = __version__
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def M(self) -> int:
        """The number of nuisance draws averaged per feature (same as `averaging`)."""
        return self.averaging

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvaluationResult:
        """Rebuild a record from `to_dict()` output (or its JSON)."""
        if not isinstance(data, dict):
            raise ParameterError(f"EvaluationResult.from_dict: `data` must be a dict, got {type(data).__name__}")
        cls._check_keys(data, "EvaluationResult.from_dict")
        values = dict(data)
        values["feature_averaging"] = _int_keys(values.get("feature_averaging"))
        values["feature_averaging_per_task"] = _int_keys(values.get("feature_averaging_per_task"))
        values["bounds"] = {k: list(v) for k, v in values["bounds"].items()}
        return cls(**values)

    @classmethod
    def from_json(cls, source: str | os.PathLike[str]) -> EvaluationResult:
        """Rebuild a record from JSON text or a JSON file written by `to_json()`."""
        return cls.from_dict(_read_json(source, "EvaluationResult.from_json"))


@dataclass
class InvarianceResult(_Record):
    """Invariance diagnostics of a representation (see [`invariance()`][spirograph.evaluation.invariance]).

    Attributes:
        conditional_variance: variance, across nuisance draws of one example, of a random
            Rademacher projection of the L2-normalised representation; averaged over examples
            (and over ``n_projections`` projections). 0 for an encoder that ignores nuisance.
        conditional_variance_normalised: the same divided by the total variance of the
            projection over examples and draws (between 0 and about 1).
        nuisance_share: share of the total feature variance (summed over dimensions, raw
            features) that is variance across nuisance draws of a fixed example:
            ``sum_d E_x[Var(z_d | x)] / sum_d Var(z_d)`` (law of total variance).
        nuisance_mse: test MSE of a linear probe predicting the nuisance parameters from
            the representation, mean over nuisance tasks (``None`` if not computed).
        nuisance_mse_per_task: per nuisance parameter.
        nuisance_mse_prior_mean: MSE of predicting each nuisance parameter by its prior
            mean on the same test set, mean over tasks (the no-information level).
        nuisance_mse_prior_mean_per_task: per nuisance parameter.
        n_examples: the settings.
        n_draws: the settings.
        n_projections: the settings.
        seed: the settings.
        feature_dim: dimension of the representation.
        package_version: the package version that produced the record.
        timings: seconds spent on the variance pass and the nuisance probe.
    """

    conditional_variance: float
    conditional_variance_normalised: float
    nuisance_share: float
    nuisance_mse: float | None
    nuisance_mse_per_task: dict[str, float] | None
    nuisance_mse_prior_mean: float | None
    nuisance_mse_prior_mean_per_task: dict[str, float] | None
    n_examples: int
    n_draws: int
    n_projections: int
    seed: int
    feature_dim: int
    package_version: str = __version__
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InvarianceResult:
        """Rebuild a record from `to_dict()` output (or its JSON)."""
        if not isinstance(data, dict):
            raise ParameterError(f"InvarianceResult.from_dict: `data` must be a dict, got {type(data).__name__}")
        cls._check_keys(data, "InvarianceResult.from_dict")
        return cls(**data)

    @classmethod
    def from_json(cls, source: str | os.PathLike[str]) -> InvarianceResult:
        """Rebuild a record from JSON text or a JSON file written by `to_json()`."""
        return cls.from_dict(_read_json(source, "InvarianceResult.from_json"))


# ---------------------------------------------------------------------- argument checks
def _check_int(value: Any, where: str, argument: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{where}: `{argument}` must be an int >= {minimum}, got {value!r}")
    return value


def _check_averaging(averaging: Any, where: str) -> list[int]:
    values = [averaging] if isinstance(averaging, int) and not isinstance(averaging, bool) else averaging
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise ConfigError(f"{where}: `averaging` must be an int M >= 1 or a non-empty list of them, got {averaging!r}")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{where}: `averaging` values (M) must be ints >= 1, got {value!r} in {averaging!r}")
    return sorted(set(values))


def _check_dataset(value: Any, split: str, proportion: float, space: ParameterSpace | None, where: str) -> Spirograph:
    if value is None:
        return Spirograph(split, subset=proportion, space=space)
    if not isinstance(value, Spirograph):
        raise ConfigError(f"{where}: `{split}` must be a Spirograph dataset or None, got {type(value).__name__}")
    return value


def _check_space(space: Any, default: ParameterSpace, where: str) -> ParameterSpace:
    if space is None:
        return default
    if not isinstance(space, ParameterSpace):
        raise ConfigError(f"{where}: `space` must be a ParameterSpace or None, got {type(space).__name__}")
    return space


def _check_tasks(tasks: Any, space: ParameterSpace, where: str) -> TaskSet:
    if tasks is None:
        return target_tasks(space)
    if not isinstance(tasks, TaskSet):
        raise ConfigError(
            f"{where}: `tasks` must be a TaskSet (see spirograph.tasks.tasks_from_names), got {type(tasks).__name__}"
        )
    return tasks


def _check_renderers(train: Spirograph, test: Spirograph, where: str) -> None:
    first = (train.size, train.n_points, train.extent, train.normalize)
    second = (test.size, test.n_points, test.extent, test.normalize)
    if first != second:
        raise ConfigError(
            f"{where}: `train` and `test` must use the same renderer (size, n_points, extent, normalize), "
            f"got {first} and {second}"
        )


def _check_device(device: Any, encoder: Any, where: str) -> torch.device:
    if device is None:
        # The encoder's own device, as a user who moved it with `.to(device)` expects; else the CPU.
        if isinstance(encoder, nn.Module):
            for tensor in (*encoder.parameters(), *encoder.buffers()):
                return tensor.device
        return torch.device("cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"{where}: `device` must name a torch device, got {device!r}") from None


# ---------------------------------------------------------------------- encoding
@contextmanager
def _frozen(encoder: Any) -> Iterator[None]:
    # Eval mode for the duration, then every submodule's own mode back.
    if not isinstance(encoder, nn.Module):
        yield
        return
    modes = [(module, module.training) for module in encoder.modules()]
    encoder.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


class _Features:
    """Calls the encoder on one batch of parameters and checks what comes back."""

    def __init__(self, encoder: Any, device: torch.device, where: str) -> None:
        if not callable(encoder):
            raise ConfigError(f"{where}: `encoder` must be an nn.Module or a callable, got {type(encoder).__name__}")
        self.encoder = encoder
        self.device = device
        self.where = where
        self.uses_parameters = bool(getattr(encoder, "encodes_parameters", False))
        self.dim: int | None = None

    def __call__(self, params: torch.Tensor, dataset: Spirograph) -> torch.Tensor:
        """Checked features of the items with parameters ``params`` ``(B, 10)``: ``(B, d)`` on ``device``.

        In the encoder's dtype: callers accumulate in float64 (adding in place into a float64
        sum promotes without a float64 copy of the batch).
        """
        params = params.to(self.device)
        inputs = params if self.uses_parameters else dataset.render_params(params)
        with torch.no_grad():
            output = self.encoder(inputs)
        return self.check(output, params.shape[0])

    def check(self, output: Any, batch: int) -> torch.Tensor:
        if not isinstance(output, torch.Tensor):
            raise ParameterError(
                f"{self.where}: the encoder output must be a torch.Tensor of shape (B, d), got {type(output).__name__}"
            )
        if output.ndim != 2 or output.shape[0] != batch:
            raise ParameterError(
                f"{self.where}: the encoder output must have shape (B, d) = ({batch}, d) for a batch of {batch} "
                f"inputs, got {tuple(output.shape)} (flatten extra dimensions in the encoder)"
            )
        if not (output.dtype.is_floating_point or output.dtype in (torch.int32, torch.int64, torch.uint8)):
            raise ParameterError(f"{self.where}: the encoder output must hold real numbers, got dtype {output.dtype}")
        if self.dim is None:
            self.dim = int(output.shape[1])
        elif output.shape[1] != self.dim:
            raise ParameterError(
                f"{self.where}: the encoder output changed width between batches: d = {self.dim} before, "
                f"got {tuple(output.shape)}"
            )
        # One float64 reduction instead of a boolean mask of the batch: NaN and inf reach the
        # sum. Only if it is not finite (or overflowed) are the values themselves checked.
        if output.dtype.is_floating_point and not torch.isfinite(output.sum(dtype=torch.float64)):
            bad = ~torch.isfinite(output)
            if bad.any():
                raise ParameterError(
                    f"{self.where}: the encoder output must be finite, got {int(bad.sum())} NaN/inf values in a "
                    f"batch of shape {tuple(output.shape)}"
                )
        return output.to(device=self.device)


def _nuisance_draw(
    dataset: Spirograph, space: ParameterSpace, seed: int, stream: int, draw: int, start: int, stop: int
) -> torch.Tensor:
    """Parameters ``(stop - start, 10)`` of rows ``[start, stop)`` under nuisance draw ``draw``."""
    rows = torch.arange(start, stop)
    fixed = dataset.params[start:stop][:, list(space.target_index)]
    return space.sample_nuisance(fixed, seed=seed, index=rows, stream=(stream, dataset.seed, draw))


def _batches(length: int, batch_size: int) -> list[tuple[int, int]]:
    return [(start, min(start + batch_size, length)) for start in range(0, length, batch_size)]


# ---------------------------------------------------------------------- evaluate
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
    averaging: int | Sequence[int] = 1,
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
            True`` (e.g. [`spirograph.references.OracleEncoder`][spirograph.references.OracleEncoder]) receives the
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
        averaging: ``M``, nuisance draws averaged per feature (the paper's default 1), or
            a list of them for a feature-averaging curve computed in one pass.
        space: the prior of the nuisance draws and the target/nuisance split (default:
            ``train.space``); a shifted prior gives the robustness protocol.
        seed: seed of the nuisance draws.
        progress: show a tqdm progress bar.
        proportion: fraction of each canonical split used when ``train``/``test`` are
            not given (the paper's 0.5).

    Returns:
        The [`EvaluationResult`][spirograph.evaluation.EvaluationResult]; with a list for ``averaging`` its headline
        scores
        are those of the largest ``M`` and `feature_averaging`
        holds the curve.

    Raises:
        ConfigError: bad settings (``M < 1``, unknown probe, a non-callable encoder, a
            nuisance task with ``M > 1``, ...).
        ParameterError: an encoder output that is not a finite ``(B, d)`` tensor.

    Examples:
        >>> from spirograph.references import PixelEncoder
        >>> result = evaluate(PixelEncoder(), train=Spirograph("train", subset=64),
        ...                   test=Spirograph("test", subset=32), probe="ridge", progress=False)
        >>> sorted(result.mse)
        ['b', 'fore_r', 'm', 'sigma']
    """
    where = "evaluate"
    ms = _check_averaging(averaging, where)
    if probe not in PROBE_METHODS:
        raise ConfigError(f"{where}: `probe` must be one of {list(PROBE_METHODS)}, got {probe!r}")
    _check_int(batch_size, where, "batch_size", 1)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"{where}: `seed` must be an int >= 0, got {seed!r}")
    if not isinstance(progress, bool):
        raise ConfigError(f"{where}: `progress` must be a bool, got {progress!r}")
    LinearProbe(probe, l2=l2, steps=steps)  # checks l2 and steps now, before any encoding
    torch_device = _check_device(device, encoder, where)
    if space is not None and not isinstance(space, ParameterSpace):
        raise ConfigError(f"{where}: `space` must be a ParameterSpace or None, got {type(space).__name__}")
    train_set = _check_dataset(train, "train", proportion, space, where)
    test_set = _check_dataset(test, "test", proportion, space, where)
    _check_renderers(train_set, test_set, where)
    space = _check_space(space, train_set.space, where)
    task_set = _check_tasks(tasks, space, where)
    moving = [name for name in task_set.names if name in space.nuisance_names]
    if moving and ms[-1] > 1:
        raise ConfigError(
            f"{where}: tasks {moving} are nuisance parameters, which change between draws; feature averaging "
            f"(M = {ms[-1]}) needs tasks among the targets {list(space.targets)}"
        )
    features = _Features(encoder, torch_device, where)

    start_time = time.perf_counter()
    encode_seconds = 0.0
    fit_seconds = 0.0
    sets = {"train": train_set, "test": test_set}
    plans = {name: _batches(len(data), batch_size) for name, data in sets.items()}
    sums: dict[str, torch.Tensor | None] = {"train": None, "test": None}
    labels: dict[str, torch.Tensor] = {}
    scores: dict[int, dict[str, Any]] = {}
    total_batches = ms[-1] * sum(len(plan) for plan in plans.values())
    with (
        _frozen(encoder),
        tqdm(total=total_batches, desc="evaluate", disable=not progress, leave=False) as bar,
    ):
        for draw in range(ms[-1]):
            tick = time.perf_counter()
            for name, data in sets.items():
                # One sampler call per set and draw (N x 10 values), sliced into batches.
                all_params = _nuisance_draw(data, space, seed, EVALUATION_STREAM, draw, 0, len(data))
                if draw == 0:
                    labels[name] = task_set.labels(all_params).to(device=torch_device, dtype=torch.float64)
                for start, stop in plans[name]:
                    batch = features(all_params[start:stop], data)
                    running = sums[name]
                    if running is None:
                        running = torch.zeros(len(data), batch.shape[1], dtype=torch.float64, device=torch_device)
                        sums[name] = running
                    running[start:stop] += batch
                    bar.update(1)
            encode_seconds += time.perf_counter() - tick
            m = draw + 1
            if m in ms:
                tick = time.perf_counter()
                train_sum, test_sum = sums["train"], sums["test"]
                assert train_sum is not None and test_sum is not None
                head = LinearProbe(probe, l2=l2, steps=steps).fit(train_sum / m, labels["train"])
                scores[m] = head.score(test_sum / m, labels["test"], task_set)
                fit_seconds += time.perf_counter() - tick

    final = scores[ms[-1]]
    curve = {m: scores[m]["mse_mean"] for m in ms} if len(ms) > 1 else None
    curve_tasks = {m: scores[m]["mse"] for m in ms} if len(ms) > 1 else None
    return EvaluationResult(
        mse=final["mse"],
        mse_mean=final["mse_mean"],
        r2=final["r2"],
        normalised_mse=final["normalised_mse"],
        normalised_mse_mean=final["normalised_mse_mean"],
        averaging=ms[-1],
        feature_averaging=curve,
        feature_averaging_per_task=curve_tasks,
        tasks=list(task_set.names),
        probe=probe,
        l2=float(l2),
        steps=steps,
        n_train=len(train_set),
        n_test=len(test_set),
        splits={"train": train_set.split, "test": test_set.split},
        seeds={"evaluation": seed, "train": train_set.seed, "test": test_set.seed},
        normalize=train_set.normalize,
        size=train_set.size,
        n_points=train_set.n_points,
        extent=train_set.extent,
        bounds={name: list(bound) for name, bound in space.bounds.items()},
        targets=list(space.targets),
        nuisance=list(space.nuisance_names),
        feature_dim=int(features.dim or 0),
        device=str(torch_device),
        timings={"encode": encode_seconds, "fit": fit_seconds, "total": time.perf_counter() - start_time},
    )


def feature_averaging(
    encoder: nn.Module | Encoder, ms: Sequence[int] = PAPER_AVERAGING, **kwargs: Any
) -> dict[int, float]:
    """The feature-averaging curve ``M -> mean test MSE`` from one encoding pass.

    Encodes ``max(ms)`` nuisance draws of each set once, keeping a running sum of the
    features, and fits a probe on the averages at each ``M`` in ``ms``.

    Args:
        encoder: as in [`evaluate()`][spirograph.evaluation.evaluate].
        ms: the values of ``M`` (the paper's ``1, 2, 3, 4, 5, 10, 20, 30`` by default).
        **kwargs: any other argument of [`evaluate()`][spirograph.evaluation.evaluate].

    Returns:
        ``{M: mse_mean}`` in increasing ``M``. For per-task values and settings use
        ``evaluate(encoder, averaging=ms)``.
    """
    if "averaging" in kwargs:
        raise ConfigError("feature_averaging: pass the values of M as `ms`, not `averaging`")
    ms_list = _check_averaging(list(ms) if isinstance(ms, Sequence) else ms, "feature_averaging")
    result = evaluate(encoder, averaging=ms_list, **kwargs)
    if result.feature_averaging is None:
        return {result.averaging: result.mse_mean}
    return dict(result.feature_averaging)


# ---------------------------------------------------------------------- invariance
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
      L2-normalised and projected on a random Rademacher vector ``l`` (entries +1 / -1,
      seeded; the projection of the gradient regularizer); the variance of ``l . z / ||z||``
      across the draws of one example (unbiased, ``n_draws - 1``) is averaged over examples,
      and over ``n_projections`` independent vectors ``l`` (the paper used one; more only
      reduce the noise of the same expectation, the summed conditional variance of the
      normalised representation, which lies in ``[0, 1]``).
    - ``conditional_variance_normalised``: per projection, the above over the total
      variance of the projection over all examples and draws, averaged over projections.
    - ``nuisance_share``: on the raw features, ``sum_d E_x Var(z_d | x) / sum_d Var(z_d)``.
    - ``nuisance_mse`` (with ``nuisance_probe``): [`evaluate()`][spirograph.evaluation.evaluate] with the nuisance
      tasks (M = 1) on ``train``/``test``, the paper's other diagnostic, beside
      ``nuisance_mse_prior_mean``, the MSE of predicting each prior mean on that test set.

    Args:
        encoder: as in [`evaluate()`][spirograph.evaluation.evaluate].
        data: items whose draws are compared (default ``Spirograph("test", subset=n_examples)``).
        n_examples: how many items of ``data`` (the first ones), ``>= 2``.
        n_draws: nuisance draws per item, ``>= 2``.
        n_projections: random Rademacher projections averaged, ``>= 1``.
        seed: seed of the nuisance draws and the projections.
        space: nuisance prior and split (default: ``data.space``).
        nuisance_probe: also fit the nuisance probe (costs one [`evaluate()`][spirograph.evaluation.evaluate]).
        train: the nuisance probe's data and settings,
            as in [`evaluate()`][spirograph.evaluation.evaluate].
        test: the nuisance probe's data and settings,
            as in [`evaluate()`][spirograph.evaluation.evaluate].
        probe: the nuisance probe's data and settings,
            as in [`evaluate()`][spirograph.evaluation.evaluate].
        l2: the nuisance probe's data and settings,
            as in [`evaluate()`][spirograph.evaluation.evaluate].
        steps: the nuisance probe's data and settings,
            as in [`evaluate()`][spirograph.evaluation.evaluate].
        proportion: the nuisance probe's data and settings,
            as in [`evaluate()`][spirograph.evaluation.evaluate].
        device: as in [`evaluate()`][spirograph.evaluation.evaluate].
        batch_size: as in [`evaluate()`][spirograph.evaluation.evaluate].
        progress: as in [`evaluate()`][spirograph.evaluation.evaluate].

    Returns:
        The [`InvarianceResult`][spirograph.evaluation.InvarianceResult].
    """
    where = "invariance"
    _check_int(n_examples, where, "n_examples", 2)
    _check_int(n_draws, where, "n_draws", 2)
    _check_int(n_projections, where, "n_projections", 1)
    _check_int(batch_size, where, "batch_size", 1)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"{where}: `seed` must be an int >= 0, got {seed!r}")
    if not isinstance(nuisance_probe, bool):
        raise ConfigError(f"{where}: `nuisance_probe` must be a bool, got {nuisance_probe!r}")
    torch_device = _check_device(device, encoder, where)
    if space is not None and not isinstance(space, ParameterSpace):
        raise ConfigError(f"{where}: `space` must be a ParameterSpace or None, got {type(space).__name__}")
    if data is None:
        data = Spirograph("test", subset=n_examples, space=space)
    elif not isinstance(data, Spirograph):
        raise ConfigError(f"{where}: `data` must be a Spirograph dataset or None, got {type(data).__name__}")
    if n_examples > len(data):
        raise ConfigError(f"{where}: `n_examples` must be <= len(data) = {len(data)}, got {n_examples}")
    space = _check_space(space, data.space, where)
    features = _Features(encoder, torch_device, where)

    tick = time.perf_counter()
    raw = _DrawStatistics()
    projected = _DrawStatistics()
    directions: torch.Tensor | None = None
    plan = _batches(n_examples, batch_size)
    with (
        _frozen(encoder),
        tqdm(total=n_draws * len(plan), desc="invariance", disable=not progress, leave=False) as bar,
    ):
        for draw in range(n_draws):
            for start, stop in plan:
                params = _nuisance_draw(data, space, seed, INVARIANCE_STREAM, draw, start, stop)
                batch = features(params, data).to(torch.float64)
                if directions is None:
                    directions = _projections(batch.shape[1], n_projections, seed, torch_device)
                norms = batch.norm(dim=1, keepdim=True)
                unit = batch / torch.where(norms > 0, norms, torch.ones_like(norms))
                raw.add(batch, start, stop, n_examples, draw)
                projected.add(unit @ directions, start, stop, n_examples, draw)
                bar.update(1)
    raw_conditional, raw_total = raw.summary(n_draws)
    projection_conditional, projection_total = projected.summary(n_draws)
    conditional = projection_conditional.mean(0)  # (n_projections,)
    normalised = torch.where(projection_total > 0, conditional / projection_total, torch.nan)
    total_variance = float(raw_total.sum())
    share = float(raw_conditional.mean(0).sum()) / total_variance if total_variance > 0 else math.nan
    timings = {"variance": time.perf_counter() - tick}

    nuisance_mse: float | None = None
    nuisance_per_task: dict[str, float] | None = None
    prior_mse: float | None = None
    prior_per_task: dict[str, float] | None = None
    if nuisance_probe:
        tick = time.perf_counter()
        tasks = nuisance_tasks(space)
        result = evaluate(
            encoder,
            train=train,
            test=test,
            tasks=tasks,
            probe=probe,
            l2=l2,
            steps=steps,
            device=device,
            batch_size=batch_size,
            space=space,
            seed=seed,
            progress=progress,
            proportion=proportion,
        )
        nuisance_mse, nuisance_per_task = result.mse_mean, result.mse
        test_set = test if test is not None else Spirograph("test", subset=proportion, space=space)
        test_labels = torch.cat(
            [
                tasks.labels(_nuisance_draw(test_set, space, seed, EVALUATION_STREAM, 0, start, stop))
                for start, stop in _batches(len(test_set), 65536)
            ]
        ).to(torch.float64)
        prior_errors = (test_labels - tasks.prior_mean).pow(2).mean(0)
        prior_per_task = {name: float(v) for name, v in zip(tasks.names, prior_errors, strict=True)}
        prior_mse = float(prior_errors.mean())
        timings["nuisance_probe"] = time.perf_counter() - tick

    return InvarianceResult(
        conditional_variance=float(conditional.mean()),
        conditional_variance_normalised=float(normalised.mean()),
        nuisance_share=share,
        nuisance_mse=nuisance_mse,
        nuisance_mse_per_task=nuisance_per_task,
        nuisance_mse_prior_mean=prior_mse,
        nuisance_mse_prior_mean_per_task=prior_per_task,
        n_examples=n_examples,
        n_draws=n_draws,
        n_projections=n_projections,
        seed=seed,
        feature_dim=int(features.dim or 0),
        timings=timings,
    )
