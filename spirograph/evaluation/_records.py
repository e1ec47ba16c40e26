"""The records of an evaluation and of the invariance diagnostics, with their JSON round trips."""

from __future__ import annotations

import json
import os
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, ClassVar, cast

from spirograph._checks import check_instance
from spirograph._version import __version__
from spirograph.errors import ParameterError
from spirograph.files import atomic_write_text, parse_json, read_json
from spirograph.render import Normalize, RenderSettings

__all__ = ["EvaluationResult", "InvarianceResult"]


def _read_json(source: str | os.PathLike[str], where: str) -> dict[str, Any]:
    text = str(source)
    if isinstance(source, os.PathLike) or not text.lstrip().startswith("{"):
        data = read_json(source, where=where, what=f"`source` {text!r}", error=ParameterError)
    else:
        data = parse_json(text, where=where, what="`source`", error=ParameterError)
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

    _RENAMED: ClassVar[dict[str, str]] = {}
    """Fields of earlier records, ``old name -> new name``, refused with a message naming both."""

    @classmethod
    def _check_keys(cls, data: dict[str, Any], where: str) -> None:
        renamed = {old: new for old, new in cls._RENAMED.items() if old in data}
        if renamed:
            renames = ", ".join(f"`{old}` is now `{new}`" for old, new in renamed.items())
            raise ParameterError(f"{where}: the record has renamed fields ({renames}); rename them in the record")
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
        mse: test MSE per task (at ``n_draws`` draws per feature).
        mse_mean: mean of `mse` over tasks (the paper's headline number).
        r2: ``1 - SSE / SST`` per task on the test labels.
        normalized_mse: MSE over the task's prior variance (1 = no better than the prior mean).
        normalized_mse_mean: mean of `normalized_mse`.
        n_draws: ``M``, the nuisance draws per item whose features are averaged.
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
        normalize: the renderer's normalization of the data.
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
    normalized_mse: dict[str, float]
    normalized_mse_mean: float
    n_draws: int
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
    _RENAMED: ClassVar[dict[str, str]] = {"averaging": "n_draws"}

    @property
    def render_settings(self) -> RenderSettings:
        """The renderer settings of the data, a [`RenderSettings`][spirograph.render.RenderSettings] built from
        the stored `size`, `n_points`, `extent` and `normalize`."""
        return RenderSettings(self.size, self.n_points, self.extent, cast(Normalize, self.normalize))

    @property
    def M(self) -> int:
        """The paper's name for `n_draws`: the nuisance draws per item whose features are averaged."""
        return self.n_draws

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvaluationResult:
        """Rebuild a record from `to_dict()` output (or its JSON)."""
        check_instance(data, "data", dict, where="EvaluationResult.from_dict")
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
    """Invariance diagnostics of a representation (see `invariance()`).

    Attributes:
        conditional_variance: variance, across nuisance draws of one example, of a random
            Rademacher projection of the L2-normalized representation; averaged over examples
            (and over ``n_projections`` projections). 0 for an encoder that ignores nuisance.
        conditional_variance_normalized: the same divided by the total variance of the
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
        n_examples: examples compared.
        n_draws: nuisance draws per example.
        n_projections: random projections averaged.
        seed: seed of the draws and projections.
        feature_dim: dimension of the representation.
        package_version: the package version that produced the record.
        timings: seconds spent on the variance pass and the nuisance probe.
    """

    conditional_variance: float
    conditional_variance_normalized: float
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
        check_instance(data, "data", dict, where="InvarianceResult.from_dict")
        cls._check_keys(data, "InvarianceResult.from_dict")
        return cls(**data)

    @classmethod
    def from_json(cls, source: str | os.PathLike[str]) -> InvarianceResult:
        """Rebuild a record from JSON text or a JSON file written by `to_json()`."""
        return cls.from_dict(_read_json(source, "InvarianceResult.from_json"))
