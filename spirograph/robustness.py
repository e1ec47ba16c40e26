"""Robustness to a shifted nuisance prior: the paper's four shift families.

The probe is trained and tested on inputs whose nuisance parameters come from a
shifted prior (the encoder is unchanged). Each family is a one-parameter set of priors:

=====================  ===========================================  ==================================
family                 prior (paper's base priors)                  grid
=====================  ===========================================  ==================================
``h_shift``            ``h ~ U(0.5 + s, 2.5 + s)``                  s = -0.5, -0.3, -0.1, 0.1, 0.3, 0.5
``h_spread``           ``h ~ U(0.5 - v, 2.5 + v)``                  v = -0.5, -0.3, -0.1, 0.1, 0.3, 0.5
``background_shift``   ``back_{r,g,b} ~ U(s, 0.6 + s)``             s = 0, 0.1, 0.2, 0.3, 0.4
``background_spread``  ``back_{r,g,b} ~ U(-v, 0.6 + v)`` clipped    v = -0.2, -0.1, 0.1, 0.2, 0.3, 0.4
                       to ``[0, 1]``
=====================  ===========================================  ==================================

``h_spread`` at ``v = -0.5`` is ``h ~ U(1.0, 2.0)``. The paper reports the first three
families numerically; ``background_spread`` is this package's completion of the set:
the background interval keeps its centre 0.3 and its half-width becomes ``0.3 + v``;
colours must stay in ``[0, 1]``, so for ``v > 0`` the lower end is clipped at 0 (at
``v = 0.4``: ``U(0, 1)``), which makes the widened prior lean towards bright
backgrounds. The shifts and spreads are applied to the bounds of a base space (the
paper's by default), so a family can be reused with other base priors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from torch import nn

from spirograph._checks import check_choice, check_instance, check_names, check_number
from spirograph.errors import ParameterError, ParameterTypeError
from spirograph.evaluation import Encoder, EvaluationResult, evaluate
from spirograph.space import PARAMETER_NAMES, ParameterSpace, check_space

__all__ = ["SHIFT_FAMILIES", "RobustnessResult", "ShiftFamily", "robustness"]

ShiftKind = Literal["shift", "spread"]
_KINDS: tuple[str, ...] = get_args(ShiftKind)
_COLOURS = ("fore_r", "fore_g", "fore_b", "back_r", "back_g", "back_b")


@dataclass(frozen=True)
class ShiftFamily:
    """A one-parameter family of shifted priors over some parameters.

    Args:
        name: the family's name.
        parameters: the parameters whose prior moves (all by the same rule).
        kind: ``"shift"`` moves ``U(low, high)`` to ``U(low + value, high + value)``;
            ``"spread"`` widens it to ``U(low - value, high + value)`` (narrows for ``value < 0``).
        grid: the values the family is evaluated at.
        clip: clip the new bounds to ``[0, 1]`` (for colours).
        description: one line for reports.

    Examples:
        >>> SHIFT_FAMILIES["h_shift"].space(0.3).bounds["h"]
        (0.8, 2.8)
    """

    name: str
    parameters: tuple[str, ...]
    kind: ShiftKind
    grid: tuple[float, ...]
    clip: bool = False
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        where = "ShiftFamily"
        check_instance(self.name, "name", str, where=where, expected="a non-empty string")
        if not self.name:
            raise ParameterError("ShiftFamily: `name` must be a non-empty string, got ''")
        check_choice(self.kind, "kind", _KINDS, where=where)
        parameters = check_names(self.parameters, "parameters", where=where, allowed=PARAMETER_NAMES)
        if isinstance(self.grid, (str, bytes)) or not isinstance(self.grid, Sequence):
            raise ParameterTypeError(
                f"{where}: `grid` must be a non-empty sequence of finite numbers, got {type(self.grid).__name__}"
            )
        grid = tuple(check_number(v, f"grid[{k}]", where=where) for k, v in enumerate(self.grid))
        if not grid:
            raise ParameterError(f"{where}: `grid` must be a non-empty sequence of finite numbers, got ()")
        object.__setattr__(self, "parameters", parameters)
        object.__setattr__(self, "grid", grid)

    def bounds(self, value: float, base: ParameterSpace | None = None) -> dict[str, tuple[float, float]]:
        """The new bounds of `parameters` at ``value``.

        Args:
            value: the shift ``s`` or spread ``v``.
            base: the space whose bounds are moved (the paper's by default).

        Returns:
            ``name -> (low, high)`` for the family's parameters.
        """
        where = f"ShiftFamily({self.name!r})"
        value = check_number(value, "value", where=where)
        base = check_space(base, "base", where=where)
        result = {}
        for name in self.parameters:
            low, high = base.bounds[name]
            if self.kind == "shift":
                low, high = low + value, high + value
            else:
                low, high = low - value, high + value
            if self.clip:
                low, high = max(0.0, low), min(1.0, high)
            # Round away binary noise so that e.g. 0.5 - 0.3 reads 0.2 in records.
            result[name] = (round(low, 12), round(high, 12))
        return result

    def space(self, value: float, base: ParameterSpace | None = None) -> ParameterSpace:
        """The shifted parameter space at ``value`` (same target/nuisance split as ``base``).

        Raises:
            ParameterError: the shifted bounds are invalid (e.g. an empty interval).
        """
        base = ParameterSpace() if base is None else base
        try:
            return base.replace(bounds=self.bounds(value, base))
        except ParameterError as error:
            raise ParameterError(f"ShiftFamily({self.name!r}): value {value!r} gives invalid bounds: {error}") from None


_BACKGROUND = ("back_r", "back_g", "back_b")

SHIFT_FAMILIES: dict[str, ShiftFamily] = {
    "h_shift": ShiftFamily(
        "h_shift", ("h",), "shift", (-0.5, -0.3, -0.1, 0.1, 0.3, 0.5), description="h ~ U(0.5 + s, 2.5 + s)"
    ),
    "h_spread": ShiftFamily(
        "h_spread", ("h",), "spread", (-0.5, -0.3, -0.1, 0.1, 0.3, 0.5), description="h ~ U(0.5 - v, 2.5 + v)"
    ),
    "background_shift": ShiftFamily(
        "background_shift",
        _BACKGROUND,
        "shift",
        (0.0, 0.1, 0.2, 0.3, 0.4),
        clip=True,
        description="back_* ~ U(s, 0.6 + s)",
    ),
    "background_spread": ShiftFamily(
        "background_spread",
        _BACKGROUND,
        "spread",
        (-0.2, -0.1, 0.1, 0.2, 0.3, 0.4),
        clip=True,
        description="back_* ~ U(-v, 0.6 + v) clipped to [0, 1]",
    ),
}
"""The paper's shift families (and ``background_spread``), by name."""


class RobustnessResult(dict[str, dict[float, float]]):
    """``family -> {value: mean test MSE}``, with per-task errors and full records attached.

    Attributes:
        per_task: ``family -> {value: {task: MSE}}``.
        records: ``family -> {value: EvaluationResult}``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.per_task: dict[str, dict[float, dict[str, float]]] = {}
        self.records: dict[str, dict[float, EvaluationResult]] = {}

    def add(self, family: str, value: float, record: EvaluationResult) -> None:
        """Store the evaluation of ``family`` at ``value``."""
        self.setdefault(family, {})[value] = record.mse_mean
        self.per_task.setdefault(family, {})[value] = dict(record.mse)
        self.records.setdefault(family, {})[value] = record

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"mse_mean": ..., "mse": ..., "records": ...}`` with values as string keys."""
        return {
            "mse_mean": {f: {repr(v): s for v, s in values.items()} for f, values in self.items()},
            "mse": {f: {repr(v): s for v, s in values.items()} for f, values in self.per_task.items()},
            "records": {f: {repr(v): r.to_dict() for v, r in values.items()} for f, values in self.records.items()},
        }


def _resolve_families(families: Any) -> list[ShiftFamily]:
    if families is None:
        return list(SHIFT_FAMILIES.values())
    if isinstance(families, (str, ShiftFamily)):
        families = [families]
    expected = "a non-empty list of names or ShiftFamily objects"
    if not isinstance(families, Sequence):
        raise ParameterTypeError(f"robustness: `families` must be {expected}, got {type(families).__name__}")
    if not families:
        raise ParameterError(f"robustness: `families` must be {expected}, got {families!r}")
    resolved = []
    for family in families:
        if isinstance(family, ShiftFamily):
            resolved.append(family)
        else:
            name = check_choice(family, "families", sorted(SHIFT_FAMILIES), where="robustness")
            resolved.append(SHIFT_FAMILIES[name])
    return resolved


def robustness(
    encoder: nn.Module | Encoder,
    families: Sequence[str | ShiftFamily] | str | ShiftFamily | None = None,
    *,
    space: ParameterSpace | None = None,
    progress: bool = True,
    **kwargs: Any,
) -> RobustnessResult:
    """Score an encoder with the probe trained and tested under shifted nuisance priors.

    For each family and each value of its grid, runs [`evaluate()`][spirograph.evaluation.evaluate] with
    ``space=family.space(value, base=space)``: the items (and their targets) are the
    usual ones, their nuisance parameters are drawn from the shifted prior for both the
    probe's training set and the test set.

    Args:
        encoder: as in [`spirograph.evaluation.evaluate()`][spirograph.evaluation.evaluate].
        families: names from [`SHIFT_FAMILIES`][spirograph.robustness.SHIFT_FAMILIES] or
            [`ShiftFamily`][spirograph.robustness.ShiftFamily] objects
            (default: all four).
        space: the base space (the paper's by default).
        progress: show progress bars.
        **kwargs: any other argument of [`evaluate()`][spirograph.evaluation.evaluate] (``train``,
            ``test``, ``probe``, ``n_draws``, ``device``, ...).

    Returns:
        ``family -> {value: mse_mean}`` (a [`RobustnessResult`][spirograph.robustness.RobustnessResult], which also
        holds
        per-task errors and the full records).
    """
    chosen = _resolve_families(families)
    space = check_space(space, where="robustness")
    # Build every shifted space first so a bad value fails before any encoding.
    plan = [(family, value, family.space(value, space)) for family in chosen for value in family.grid]
    result = RobustnessResult()
    for family, value, shifted in plan:
        result.add(family.name, value, evaluate(encoder, space=shifted, progress=progress, **kwargs))
    return result
