"""The leaderboard's protocols: every setting of a scoring run, named and frozen.

A [`Protocol`][spirograph.leaderboard.Protocol] fixes the probe sets, the probe, the M values of
the feature-averaging curve, the invariance diagnostics and the penalty measurement. Results
scored with different protocols are never compared in one table.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from spirograph._checks import check_bool, check_choice, check_instance, check_int, check_number
from spirograph.errors import ConfigError, ParameterError, ParameterTypeError
from spirograph.evaluation import PAPER_N_DRAWS

__all__ = [
    "PROTOCOLS",
    "InvarianceSettings",
    "PenaltySettings",
    "Protocol",
    "evaluation_protocol_name",
    "get_protocol",
]

_WHERE = "Protocol"
_PROBES = ("lbfgs", "ridge")


@dataclass(frozen=True)
class InvarianceSettings:
    """How the invariance diagnostics are measured ([`invariance()`][spirograph.evaluation.invariance]).

    Attributes:
        n_examples: test items whose representation is redrawn.
        n_draws: nuisance draws per item.
        n_projections: random Rademacher projections of the representation.
        nuisance_probe: also fit a linear probe that predicts the nuisance parameters.
    """

    n_examples: int = 1000
    n_draws: int = 10
    n_projections: int = 16
    nuisance_probe: bool = True

    def __post_init__(self) -> None:
        where = "InvarianceSettings"
        check_int(self.n_examples, "n_examples", where=where, minimum=2, maximum=1_000_000)
        check_int(self.n_draws, "n_draws", where=where, minimum=2, maximum=10_000)
        check_int(self.n_projections, "n_projections", where=where, minimum=1, maximum=10_000)
        check_bool(self.nuisance_probe, "nuisance_probe", where=where)


@dataclass(frozen=True)
class PenaltySettings:
    """How the gradient penalty of the scored encoder is measured.

    See [`penalty_statistic()`][spirograph.baselines.penalty_statistic].

    Attributes:
        n_examples: test items in the fixed batches.
        batch_size: items per batch.
        n_samples: Rademacher samples per batch.
    """

    n_examples: int = 1024
    batch_size: int = 256
    n_samples: int = 100

    def __post_init__(self) -> None:
        where = "PenaltySettings"
        check_int(self.n_examples, "n_examples", where=where, minimum=2, maximum=1_000_000)
        check_int(self.batch_size, "batch_size", where=where, minimum=2, maximum=1_000_000)
        check_int(self.n_samples, "n_samples", where=where, minimum=1, maximum=100_000)


@dataclass(frozen=True)
class Protocol:
    """Every setting of a leaderboard scoring run.

    Attributes:
        name: how tables and result files refer to it (``"paper"``, ``"cpu"``, or your own).
        n_train: probe training items, the first of the train split (``None``: the paper's half, 50,000).
        n_test: probe test items, the first of the test split (``None``: the paper's half, 10,000).
        n_draws: the M values of the feature-averaging curve; the smallest is the headline score.
        probe: ``"lbfgs"`` (the paper's) or ``"ridge"`` (its exact closed form).
        steps: L-BFGS steps.
        l2: L2 weight on the probe's weights.
        batch_size: images per encoder call.
        seed: seed of the nuisance draws (of the curve, the diagnostics and the penalty).
        invariance: the invariance diagnostics' settings.
        penalty: the penalty measurement's settings.
        robustness: also compute the robustness table: ``False``, ``True`` (every shift family)
            or a tuple of family names.

    Examples:
        >>> from spirograph.leaderboard import PROTOCOLS
        >>> small = dataclasses.replace(PROTOCOLS["cpu"], name="tiny", n_train=64, n_test=32, n_draws=(1, 2))
        >>> small.to_dict()["n_draws"]
        [1, 2]
    """

    name: str
    n_train: int | None = None
    n_test: int | None = None
    n_draws: tuple[int, ...] = PAPER_N_DRAWS
    probe: str = "lbfgs"
    steps: int = 500
    l2: float = 1e-8
    batch_size: int = 512
    seed: int = 0
    invariance: InvarianceSettings = dataclasses.field(default_factory=InvarianceSettings)
    penalty: PenaltySettings = dataclasses.field(default_factory=PenaltySettings)
    robustness: bool | tuple[str, ...] = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ParameterTypeError(f"{_WHERE}: `name` must be a non-empty string, got {self.name!r:.60}")
        for key in ("n_train", "n_test"):
            if getattr(self, key) is not None:
                check_int(getattr(self, key), key, where=_WHERE, minimum=2, maximum=100_000)
        draws: tuple[Any, ...] | list[Any] = check_instance(
            self.n_draws, "n_draws", (tuple, list), where=_WHERE, expected="a tuple of ints"
        )
        if not draws:
            raise ParameterError(f"{_WHERE}: `n_draws` must hold at least one M value, got {draws!r}")
        values = [check_int(m, "n_draws", where=_WHERE, minimum=1, maximum=1000) for m in draws]
        if values != sorted(set(values)):
            raise ParameterError(f"{_WHERE}: `n_draws` must be increasing without repeats, got {values}")
        object.__setattr__(self, "n_draws", tuple(values))
        check_choice(self.probe, "probe", _PROBES, where=_WHERE)
        check_int(self.steps, "steps", where=_WHERE, minimum=1, maximum=1_000_000)
        check_number(self.l2, "l2", where=_WHERE, minimum=0.0)
        check_int(self.batch_size, "batch_size", where=_WHERE, minimum=1, maximum=1_000_000)
        check_int(self.seed, "seed", where=_WHERE, minimum=0, maximum=2**63 - 1)
        check_instance(self.invariance, "invariance", InvarianceSettings, where=_WHERE)
        check_instance(self.penalty, "penalty", PenaltySettings, where=_WHERE)
        _check_robustness(self.robustness)

    def to_dict(self) -> dict[str, Any]:
        """The settings in the ``evaluation`` format of entry files (without the name)."""
        data = dataclasses.asdict(self)
        del data["name"]
        data["n_draws"] = list(self.n_draws)
        data["robustness"] = list(self.robustness) if isinstance(self.robustness, tuple) else self.robustness
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], name: str) -> Protocol:
        """Build from the ``evaluation`` object of an entry file; keys left out take the paper's values.

        Raises:
            ConfigError: an unknown key, or a value the protocol refuses (its message names the key).
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"Protocol.from_dict: `data` must be a mapping, got {type(data).__name__}")
        known = {field.name for field in dataclasses.fields(cls)} - {"name"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"Protocol.from_dict: unknown keys {unknown}; valid keys are {sorted(known)}")
        values = dict(data)
        try:
            for key, kind in (("invariance", InvarianceSettings), ("penalty", PenaltySettings)):
                nested = values.get(key, {})
                if not isinstance(nested, Mapping):
                    raise ConfigError(f"Protocol.from_dict: `{key}` must be an object, got {nested!r:.60}")
                fields = {field.name for field in dataclasses.fields(kind)}
                extra = sorted(set(nested) - fields)
                if extra:
                    raise ConfigError(
                        f"Protocol.from_dict: `{key}` has unknown keys {extra}; valid keys are {sorted(fields)}"
                    )
                values[key] = kind(**nested)
            if isinstance(values.get("n_draws"), list):
                values["n_draws"] = tuple(values["n_draws"])
            if isinstance(values.get("robustness"), list):
                values["robustness"] = tuple(values["robustness"])
            return cls(name=name, **values)
        except (ParameterError, ParameterTypeError, TypeError) as error:
            raise ConfigError(f"Protocol.from_dict: {error}") from None


def _check_robustness(value: Any) -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, tuple) and value and all(isinstance(family, str) for family in value):
        return
    raise ParameterTypeError(
        f"{_WHERE}: `robustness` must be a bool or a non-empty tuple of shift family names, got {value!r:.60}"
    )


PROTOCOLS: dict[str, Protocol] = {
    # The paper's (SPEC section 3): half of each split, L-BFGS, M up to 30.
    "paper": Protocol(name="paper"),
    # The CPU track's: smaller probe sets and the exact ridge solution with the same L2 weight.
    "cpu": Protocol(
        name="cpu",
        n_train=5000,
        n_test=2000,
        probe="ridge",
        batch_size=500,
        invariance=InvarianceSettings(n_examples=500),
        penalty=PenaltySettings(n_examples=256, batch_size=128),
    ),
}
"""The built-in protocols by name: ``"paper"`` (the paper's) and ``"cpu"`` (the CPU track's)."""


def get_protocol(protocol: str | Protocol) -> Protocol:
    """A protocol by name (``"paper"``, ``"cpu"``), or a [`Protocol`][spirograph.leaderboard.Protocol] as it is.

    Raises:
        ParameterError: an unknown name (the message lists the known ones).
        ParameterTypeError: neither a string nor a ``Protocol``.
    """
    if isinstance(protocol, Protocol):
        return protocol
    if not isinstance(protocol, str):
        raise ParameterTypeError(
            f"get_protocol: `protocol` must be a name or a Protocol, got {type(protocol).__name__}"
        )
    if protocol not in PROTOCOLS:
        raise ParameterError(f"get_protocol: `protocol` must be one of {sorted(PROTOCOLS)}, got {protocol!r}")
    return PROTOCOLS[protocol]


def protocol_name(evaluation: Mapping[str, Any]) -> str | None:
    """The name of the built-in protocol whose settings ``evaluation`` holds (robustness aside), if any."""
    for name, protocol in PROTOCOLS.items():
        settings = protocol.to_dict()
        if all(evaluation.get(key) == value for key, value in settings.items() if key != "robustness"):
            return name
    return None


def evaluation_protocol_name(evaluation: Mapping[str, Any]) -> str:
    """The name of the protocol whose settings ``evaluation`` holds, built-in or not.

    The built-in protocol's name where the settings are its own (see
    [`protocol_name()`][spirograph.leaderboard.protocol_name]), else ``custom-`` and the first 8 hex
    digits of the SHA-256 of the settings as canonical JSON (sorted keys, no spaces), leaving out
    ``robustness`` as ``protocol_name()`` does. The same settings always get the same name and
    different settings (but for a 1 in 2**32 chance) different ones, so results of different
    custom protocols never share a table. A protocol named by its user keeps its name.

    Examples:
        >>> evaluation_protocol_name(PROTOCOLS["cpu"].to_dict())
        'cpu'
        >>> name = evaluation_protocol_name(PROTOCOLS["cpu"].to_dict() | {"n_train": 2000})
        >>> name.startswith("custom-"), len(name)
        (True, 15)
    """
    name = protocol_name(evaluation)
    if name is not None:
        return name
    settings = {key: value for key, value in evaluation.items() if key != "robustness"}
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return f"custom-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
