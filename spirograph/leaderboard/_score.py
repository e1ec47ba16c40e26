"""Score one encoder with a leaderboard protocol: the whole record a leaderboard row needs."""

from __future__ import annotations

import dataclasses
import platform
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from spirograph._checks import check_bool, check_device, check_instance, check_int
from spirograph._version import __version__
from spirograph.baselines.penalty import penalty_statistic
from spirograph.dataset import Spirograph
from spirograph.errors import ParameterError, ParameterTypeError
from spirograph.evaluation import evaluate, invariance
from spirograph.leaderboard._protocol import Protocol, get_protocol
from spirograph.leaderboard._result import LeaderboardResult
from spirograph.render import RenderSettings
from spirograph.robustness import robustness as robustness_table
from spirograph.transform import SpirographTransform

__all__ = ["resolve_device", "score"]

_WHERE = "score"


def score(
    encoder: nn.Module,
    protocol: str | Protocol = "cpu",
    *,
    device: torch.device | str | None = None,
    seed: int | None = None,
    robustness: bool = False,
    progress: bool = True,
    name: str = "encoder",
    title: str | None = None,
    render_settings: RenderSettings | None = None,
    submission: Mapping[str, Any] | None = None,
    time_left: float | None = None,
) -> LeaderboardResult:
    """Score a frozen encoder with a leaderboard protocol and return its full result.

    Runs, in order: the linear probe with the feature-averaging curve
    ([`evaluate()`][spirograph.evaluation.evaluate]), the invariance diagnostics
    ([`invariance()`][spirograph.evaluation.invariance]), the gradient penalty of the encoder on
    fixed test batches ([`penalty_statistic()`][spirograph.baselines.penalty_statistic];
    normalised, unclamped) and, if asked, the robustness table. The result is what a leaderboard
    row shows; save it with [`save()`][spirograph.leaderboard.LeaderboardResult.save].

    Args:
        encoder: an ``nn.Module`` mapping images ``(B, 3, S, S)`` float32 in ``[0, 1]`` to
            features ``(B, d)``; it is put in eval mode and called without gradients, except
            for the penalty, which differentiates it with respect to the nuisance parameters.
        protocol: ``"cpu"`` (the CPU track's), ``"paper"`` (the paper's), or a
            [`Protocol`][spirograph.leaderboard.Protocol] of your own.
        device: where images are rendered and encoded (default: the encoder's device).
        seed: the seed of the nuisance draws (default: the protocol's, 0); a different seed
            makes a result that is never averaged with the protocol's.
        robustness: also compute the robustness table (every shift family), whatever the protocol says.
        progress: show progress bars (on stderr).
        name: the result's entry name (its file is ``<name>.json`` on the leaderboard).
        title: the row title (default: ``name``).
        render_settings: how images are rendered (default: the dataset's, 32 x 32).
        submission: provenance recorded with the result (the encoder's spec, the SHA-256 of
            its weights, ...); its presence marks an external submission.
        time_left: seconds the caller can still spend; the robustness table is skipped (and the
            result says why) when less than 1.2 times the probe's time is left.

    Returns:
        The [`LeaderboardResult`][spirograph.leaderboard.LeaderboardResult]; for an external
        encoder its ``method`` is ``"external"`` and its ``seed`` the nuisance draws' seed.

    Raises:
        ParameterTypeError: an argument of the wrong type.
        ParameterError: an unknown protocol or device, or an encoder whose output is not a finite
            ``(B, d)`` tensor.
    """
    start = time.perf_counter()
    plan = get_protocol(protocol)
    check_instance(encoder, "encoder", nn.Module, where=_WHERE, expected="an nn.Module")
    if seed is not None:
        plan = _with_seed(plan, check_int(seed, "seed", where=_WHERE, minimum=0, maximum=2**63 - 1))
    check_bool(robustness, "robustness", where=_WHERE)
    check_bool(progress, "progress", where=_WHERE)
    if not isinstance(name, str) or not name:
        raise ParameterTypeError(f"{_WHERE}: `name` must be a non-empty string, got {name!r:.60}")
    if submission is not None and not isinstance(submission, Mapping):
        raise ParameterTypeError(f"{_WHERE}: `submission` must be a mapping or None, got {type(submission).__name__}")
    settings = render_settings if render_settings is not None else RenderSettings()
    check_instance(settings, "render_settings", RenderSettings, where=_WHERE)
    target = _device_of(encoder) if device is None else check_device(device, where=_WHERE)
    encoder = encoder.to(target).eval()
    record = _measure(encoder, plan, target, settings, progress, robustness, time_left)
    record["wall_time"]["total"] = time.perf_counter() - start
    return LeaderboardResult.from_dict(
        {
            "entry": name,
            "title": title if title is not None else name,
            "method": "external",
            "seed": plan.seed,
            "device": _device_text(target),
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "versions": versions(),
            "config": {"entry": name, "title": title or name, "method": "external", "evaluation": plan.to_dict()},
            "training": None,
            "protocol": plan.name,
            "submission": dict(submission) if submission is not None else None,
            **record,
        }
    )


def resolve_device(device: torch.device | str) -> torch.device:
    """A device of this machine that can hold data (``"cpu"``, ``"cuda"``, ``"cuda:N"``), checked.

    Raises:
        ParameterError: an unknown name, CUDA where there is none, a CUDA index out of range, or ``meta``.
        ParameterTypeError: neither a string nor a ``torch.device``.
    """
    return check_device(device, where="resolve_device")


def _with_seed(plan: Protocol, seed: int) -> Protocol:
    return plan if seed == plan.seed else dataclasses.replace(plan, seed=seed)


def _device_of(encoder: nn.Module) -> torch.device:
    for tensor in (*encoder.parameters(), *encoder.buffers()):
        return tensor.device
    return torch.device("cpu")


def _device_text(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


def versions() -> dict[str, Any]:
    """The versions a result records: the package, torch, NumPy, Python, the platform and the threads."""
    return {
        "spirograph": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "threads": torch.get_num_threads(),
    }


def _measure(
    encoder: nn.Module,
    plan: Protocol,
    device: torch.device,
    settings: RenderSettings,
    progress: bool,
    robustness: bool,
    time_left: float | None,
) -> dict[str, Any]:
    """Probe, curve, invariance, penalty and robustness: the result's score fields and their times."""
    train_set = Spirograph("train", subset=plan.n_train or 0.5, settings=settings)
    test_set = Spirograph("test", subset=plan.n_test or 0.5, settings=settings)
    common: dict[str, Any] = dict(
        device=device, batch_size=plan.batch_size, progress=progress, probe=plan.probe, steps=plan.steps, l2=plan.l2
    )
    timings: dict[str, float] = {}
    tick = time.perf_counter()
    record = evaluate(encoder, train=train_set, test=test_set, n_draws=list(plan.n_draws), seed=plan.seed, **common)
    timings["evaluate"] = time.perf_counter() - tick
    curve = record.feature_averaging or {record.n_draws: record.mse_mean}
    per_task = record.feature_averaging_per_task or {record.n_draws: record.mse}
    m1 = min(curve)

    tick = time.perf_counter()
    inv = invariance(
        encoder,
        data=Spirograph("test", subset=plan.invariance.n_examples, settings=settings),
        **dataclasses.asdict(plan.invariance),
        train=train_set,
        test=test_set,
        seed=plan.seed,
        **common,
    )
    timings["invariance"] = time.perf_counter() - tick

    tick = time.perf_counter()
    penalty, penalty_note = _penalty(encoder, plan, device, settings)
    timings["penalty"] = time.perf_counter() - tick

    families = plan.robustness if not robustness else True
    robust = _robustness(encoder, families, train_set, test_set, plan, common, timings, time_left)
    return {
        "wall_time": timings,
        "mse_mean": curve[m1],
        "mse": per_task[m1],
        "n_draws_for_mse": m1,
        "feature_averaging": {str(m): v for m, v in curve.items()},
        "feature_averaging_per_task": {str(m): v for m, v in per_task.items()},
        "conditional_variance": inv.conditional_variance,
        "conditional_variance_normalized": inv.conditional_variance_normalized,
        "nuisance_share": inv.nuisance_share,
        "nuisance_mse": inv.nuisance_mse,
        "nuisance_mse_prior_mean": inv.nuisance_mse_prior_mean,
        "penalty": penalty,
        "penalty_note": penalty_note,
        "penalty_settings": {**dataclasses.asdict(plan.penalty), "normalize": True, "clamp": None, "seed": plan.seed},
        "robustness": robust,
        "evaluation": record.to_dict(),
        "invariance": inv.to_dict(),
    }


def _penalty(
    encoder: nn.Module, plan: Protocol, device: torch.device, settings: RenderSettings
) -> tuple[float | None, str | None]:
    if getattr(encoder, "encodes_parameters", False):
        return None, "not defined: the oracle reads the parameters, not images (its features ignore the nuisance)"
    value = penalty_statistic(
        encoder,
        transform=SpirographTransform(seed=plan.seed, settings=settings),
        n_examples=plan.penalty.n_examples,
        batch_size=plan.penalty.batch_size,
        n_samples=plan.penalty.n_samples,
        seed=plan.seed,
        device=device,
    )
    return value, None


def _robustness(
    encoder: nn.Module,
    families: bool | tuple[str, ...],
    train_set: Spirograph,
    test_set: Spirograph,
    plan: Protocol,
    common: dict[str, Any],
    timings: dict[str, float],
    time_left: float | None,
) -> dict[str, Any] | None:
    if families is False:
        return None
    needed = 1.2 * timings["evaluate"]
    spent = sum(timings.values())
    if time_left is not None and time_left - spent < needed:
        return {"skipped": f"{time_left - spent:.0f} s left of the deadline; it needs about {needed:.0f} s"}
    tick = time.perf_counter()
    chosen = None if families is True else list(families)
    try:
        table = robustness_table(encoder, chosen, train=train_set, test=test_set, seed=plan.seed, **common).to_dict()
    except ParameterError as error:
        raise ParameterError(f"{_WHERE}: the protocol's `robustness` families were refused: {error}") from None
    timings["robustness"] = time.perf_counter() - tick
    return {"mse_mean": table["mse_mean"], "mse": table["mse"]}
