"""Run one leaderboard entry: train (if needed), evaluate, write ``results/<entry>.json``.

    python baselines/run.py baselines/configs/invclr-cpu.json
    python baselines/run.py baselines/configs/invclr.json --device cuda
    torchrun --nproc_per_node 4 baselines/run.py baselines/configs/invclr.json --device cuda

Entries are JSON files (see ``baselines/README.md`` for the keys). Training uses
:func:`spirograph.baselines.train` and resumes from ``checkpoints/<entry>/last.pt``;
evaluation uses :mod:`spirograph.evaluation` (the paper's linear-probe protocol with the
feature-averaging curve), the invariance diagnostics, the gradient penalty of the final
encoder on fixed batches, and optionally the robustness table. Under torchrun every
process trains and only rank 0 evaluates and writes the result.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from spirograph import RenderSettings, Spirograph, __version__
from spirograph.baselines import LeaderboardResult, TrainConfig, penalty_statistic, train
from spirograph.errors import ConfigError
from spirograph.evaluation import PAPER_N_DRAWS, evaluate, invariance
from spirograph.references import OracleEncoder, PixelEncoder, RandomEncoder
from spirograph.robustness import robustness
from spirograph.transform import SpirographTransform

HERE = Path(__file__).resolve().parent
METHODS = ("simclr", "invclr", "pixels", "random", "oracle")
TRAINED = ("simclr", "invclr")

EVALUATION_DEFAULTS: dict[str, Any] = {
    "n_train": None,  # None: the paper's half of the train split (50,000)
    "n_test": None,  # None: the paper's half of the test split (10,000)
    "n_draws": list(PAPER_N_DRAWS),
    "probe": "lbfgs",
    "steps": 500,
    "l2": 1e-8,
    "batch_size": 512,
    "seed": 0,
    "invariance": {"n_examples": 1000, "n_draws": 10, "n_projections": 16, "nuisance_probe": True},
    "penalty": {"n_examples": 1024, "batch_size": 256, "n_samples": 100},
    "robustness": False,
}
ENTRY_KEYS = {"entry", "title", "method", "description", "train", "evaluation", "expected_time", "hardware", "seed"}


def load_entry(path: Path) -> dict[str, Any]:
    """Read and check an entry file; fill in the evaluation defaults."""
    try:
        entry = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ConfigError(f"run: cannot read entry {str(path)!r}: {error}") from None
    if not isinstance(entry, dict):
        raise ConfigError(f"run: entry {str(path)!r} must hold a JSON object, got {type(entry).__name__}")
    unknown = sorted(set(entry) - ENTRY_KEYS)
    if unknown:
        raise ConfigError(f"run: entry {str(path)!r} has unknown keys {unknown}; valid keys are {sorted(ENTRY_KEYS)}")
    for key in ("entry", "title", "method"):
        if not isinstance(entry.get(key), str) or not entry[key]:
            raise ConfigError(f"run: entry {str(path)!r} needs a non-empty string `{key}`, got {entry.get(key)!r}")
    if entry["method"] not in METHODS:
        raise ConfigError(f"run: `method` must be one of {list(METHODS)}, got {entry['method']!r}")
    if entry["method"] in TRAINED:
        if not isinstance(entry.get("train"), dict):
            raise ConfigError(
                f"run: a trained entry ({entry['method']}) needs a `train` object of TrainConfig settings"
            )
        config = TrainConfig.from_dict(entry["train"])  # validates now, before any work
        if (entry["method"] == "simclr") != (config.penalty_weight == 0):
            raise ConfigError(
                f"run: method {entry['method']!r} does not match penalty_weight={config.penalty_weight} "
                "(simclr trains with 0, invclr with a positive weight)"
            )
    elif "train" in entry:
        raise ConfigError(f"run: the reference method {entry['method']!r} is not trained; remove `train`")
    evaluation = dict(EVALUATION_DEFAULTS)
    given = entry.get("evaluation", {})
    unknown = sorted(set(given) - set(EVALUATION_DEFAULTS))
    if unknown:
        raise ConfigError(f"run: `evaluation` has unknown keys {unknown}; valid keys are {sorted(EVALUATION_DEFAULTS)}")
    for key in ("invariance", "penalty"):
        evaluation[key] = {**EVALUATION_DEFAULTS[key], **given.get(key, {})}
    evaluation.update({k: v for k, v in given.items() if k not in ("invariance", "penalty")})
    entry["evaluation"] = evaluation
    entry.setdefault("seed", 0)
    return entry


def build_encoder_for(
    entry: dict[str, Any], device: str, checkpoint_dir: Path, progress: bool, time_limit: float | None = None
) -> tuple[nn.Module, dict[str, Any] | None, TrainConfig | None]:
    """The encoder of an entry: trained (or resumed) for simclr/invclr, built for references."""
    method = entry["method"]
    if method == "pixels":
        return PixelEncoder(), None, None
    if method == "random":
        return RandomEncoder(seed=entry["seed"]), None, None
    if method == "oracle":
        return OracleEncoder(), None, None
    settings = {**entry["train"], "device": device, "checkpoint_dir": str(checkpoint_dir), "progress": progress}
    if time_limit is not None:
        settings["time_limit"] = time_limit
    config = TrainConfig.from_dict(settings)
    result = train(config)
    training = {
        "stopped_early": result.stopped_early,
        "steps_done": result.steps_done,
        "steps_total": result.steps_total,
        "history": result.history,
        "steps": result.steps,
        "final": result.history[-1] if result.history else None,
        "wall_time_this_call": result.wall_time,
        "train_seconds": sum(h["seconds"] for h in result.history),
        "checkpoint": str(result.checkpoint) if result.checkpoint else None,
    }
    return result.encoder, training, config


def run(
    entry: dict[str, Any],
    *,
    device: str,
    results_dir: Path,
    checkpoint_dir: Path,
    progress: bool,
    time_limit: float | None = None,
    deadline: float | None = None,
) -> Path | None:
    """Train and evaluate one entry; returns the result path (``None`` on ranks other than 0).

    ``time_limit`` stops training cleanly after that many seconds. ``deadline`` (seconds
    from the start of this call) drops the robustness table when the time left looks too
    short for it: it is estimated as 1.2 times the main evaluation's time.
    """
    start = time.perf_counter()
    encoder, training, config = build_encoder_for(entry, device, checkpoint_dir, progress, time_limit)
    if int(os.environ.get("RANK", "0")) != 0:
        return None
    train_seconds = time.perf_counter() - start
    encoder = encoder.to(device).eval()
    ev = entry["evaluation"]
    # Evaluate on images rendered like the training views.
    render_settings = config.render_settings if config is not None else RenderSettings()
    train_set = Spirograph("train", subset=ev["n_train"] or 0.5, settings=render_settings)
    test_set = Spirograph("test", subset=ev["n_test"] or 0.5, settings=render_settings)
    common = {
        "device": device,
        "batch_size": ev["batch_size"],
        "progress": progress,
        "probe": ev["probe"],
        "steps": ev["steps"],
        "l2": ev["l2"],
    }
    timings: dict[str, float] = {"train": train_seconds}

    t = time.perf_counter()
    record = evaluate(encoder, train=train_set, test=test_set, n_draws=list(ev["n_draws"]), seed=ev["seed"], **common)
    timings["evaluate"] = time.perf_counter() - t
    curve = record.feature_averaging or {record.n_draws: record.mse_mean}
    per_task = record.feature_averaging_per_task or {record.n_draws: record.mse}
    m1 = min(curve)

    t = time.perf_counter()
    inv_settings = ev["invariance"]
    inv = invariance(
        encoder,
        data=Spirograph("test", subset=inv_settings["n_examples"], settings=render_settings),
        n_examples=inv_settings["n_examples"],
        n_draws=inv_settings["n_draws"],
        n_projections=inv_settings["n_projections"],
        nuisance_probe=inv_settings["nuisance_probe"],
        train=train_set,
        test=test_set,
        seed=ev["seed"],
        **common,
    )
    timings["invariance"] = time.perf_counter() - t

    t = time.perf_counter()
    penalty: float | None = None
    penalty_note = None
    if getattr(encoder, "encodes_parameters", False):
        penalty_note = "not defined: the oracle reads the parameters, not images (its features ignore the nuisance)"
    else:
        pen = ev["penalty"]
        penalty = penalty_statistic(
            encoder,
            transform=SpirographTransform(seed=ev["seed"], settings=render_settings),
            n_examples=pen["n_examples"],
            batch_size=pen["batch_size"],
            n_samples=pen["n_samples"],
            seed=ev["seed"],
            device=device,
        )
    timings["penalty"] = time.perf_counter() - t

    robust: dict[str, Any] | None = None
    left = None if deadline is None else deadline - (time.perf_counter() - start)
    if ev["robustness"] and left is not None and left < 1.2 * timings["evaluate"]:
        robust = {"skipped": f"{left:.0f} s left of the deadline; it needs about {1.2 * timings['evaluate']:.0f} s"}
    elif ev["robustness"]:
        t = time.perf_counter()
        families = None if ev["robustness"] is True else list(ev["robustness"])
        table = robustness(encoder, families, train=train_set, test=test_set, seed=ev["seed"], **common)
        full = table.to_dict()
        robust = {"mse_mean": full["mse_mean"], "mse": full["mse"]}
        timings["robustness"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - start

    result = {
        "entry": entry["entry"],
        "title": entry["title"],
        "method": entry["method"],
        "seed": config.seed if config is not None else entry["seed"],
        "device": device if not device.startswith("cuda") else f"{device} ({torch.cuda.get_device_name()})",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "wall_time": timings,
        "versions": {
            "spirograph": __version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "threads": torch.get_num_threads(),
        },
        "config": {**entry, "train": config.to_dict() if config is not None else None},
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
        "penalty_settings": {**ev["penalty"], "normalize": True, "clamp": None, "seed": ev["seed"]},
        "training": training,
        "robustness": robust,
        "evaluation": record.to_dict(),
        "invariance": inv.to_dict(),
    }
    path = results_dir / f"{entry['entry']}.json"
    LeaderboardResult.from_dict(result).save(path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run one leaderboard entry and write its result file.")
    parser.add_argument("config", type=Path, help="an entry file, e.g. baselines/configs/invclr-cpu.json")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--results-dir", type=Path, default=HERE / "results")
    parser.add_argument("--checkpoint-dir", type=Path, help="default: baselines/checkpoints/<entry>")
    parser.add_argument("--robustness", action="store_true", help="also compute the robustness table")
    parser.add_argument("--quiet", action="store_true", help="hide progress bars")
    parser.add_argument(
        "--deadline",
        type=float,
        help="wall-clock budget in seconds for the whole run: training stops at the deadline less "
        "--evaluation-reserve, and the robustness table is skipped if too little time is left",
    )
    parser.add_argument(
        "--evaluation-reserve",
        type=float,
        default=150.0,
        help="seconds of --deadline kept for the evaluation (default 150)",
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        help="stop training cleanly after this many seconds and evaluate the encoder as it is; "
        "the result file records how many steps were taken",
    )
    parser.add_argument(
        "--seed",
        type=int,
        help="train (or, for the random reference, initialise) with this seed; the result is "
        "written as <entry>-seed<N>.json beside the entry's own",
    )
    args = parser.parse_args(argv)
    try:
        entry = load_entry(args.config)
    except ConfigError as error:
        parser.error(str(error))
    if args.seed is not None:
        if args.seed < 0:
            parser.error(f"--seed must be >= 0, got {args.seed}")
        entry["entry"] = f"{entry['entry']}-seed{args.seed}"
        entry["title"] = f"{entry['title']} (seed {args.seed})"
        entry["seed"] = args.seed
        if "train" in entry:
            entry["train"] = {**entry["train"], "seed": args.seed}
    time_limit = args.time_limit
    if time_limit is not None and time_limit <= 0:
        parser.error(f"--time-limit must be > 0 seconds, got {time_limit}")
    if args.deadline is not None:
        if args.deadline - args.evaluation_reserve <= 0:
            parser.error(
                f"--deadline must exceed --evaluation-reserve ({args.evaluation_reserve} s), got {args.deadline}"
            )
        budget = args.deadline - args.evaluation_reserve
        time_limit = budget if time_limit is None else min(time_limit, budget)
    if args.robustness and not entry["evaluation"]["robustness"]:
        entry["evaluation"]["robustness"] = True
    checkpoint_dir = args.checkpoint_dir or HERE / "checkpoints" / entry["entry"]
    path = run(
        entry,
        device=args.device,
        results_dir=args.results_dir,
        checkpoint_dir=checkpoint_dir,
        progress=not args.quiet,
        time_limit=time_limit,
        deadline=args.deadline,
    )
    if path is not None:
        data = LeaderboardResult.load(path).to_dict()
        training = data.get("training") or {}
        if training.get("stopped_early"):
            print(
                f"training stopped at the time limit after {training['steps_done']} of {training['steps_total']} steps"
            )
        curve = ", ".join(f"M={m}: {v:.4g}" for m, v in data["feature_averaging"].items())
        print(f"{entry['entry']}: mean MSE {data['mse_mean']:.4g} (M=1); {curve}")
        print(
            f"conditional variance {data['conditional_variance']:.4g} "
            f"(normalised {data['conditional_variance_normalized']:.4g}); penalty {data['penalty']}; "
            f"wall time {data['wall_time']['total']:.0f} s -> {path}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
