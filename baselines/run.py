"""Run one leaderboard entry: train (if needed), evaluate, write ``results/<entry>.json``.

    python baselines/run.py baselines/configs/invclr-cpu.json
    python baselines/run.py baselines/configs/invclr.json --device cuda
    torchrun --nproc_per_node 4 baselines/run.py baselines/configs/invclr.json --device cuda

Entries are JSON files (see ``baselines/README.md`` for the keys), read and checked by
:func:`spirograph.leaderboard.load_entry`. Training uses :func:`spirograph.baselines.train` and
resumes from ``checkpoints/<entry>/last.pt``; scoring is :func:`spirograph.leaderboard.score`
with the entry's protocol (the linear probe with the feature-averaging curve, the invariance
diagnostics, the gradient penalty of the final encoder and optionally the robustness table).
Under torchrun every process trains and only rank 0 scores and writes the result. Errors are
one line: exit status 2 for a bad command line or entry, 1 for a failure while running.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Any

from torch import nn

from spirograph import RenderSettings
from spirograph.baselines import TrainConfig, train
from spirograph.errors import SpirographError
from spirograph.leaderboard import (
    LeaderboardResult,
    Protocol,
    evaluation_protocol_name,
    load_entry,
    resolve_device,
    score,
)
from spirograph.references import OracleEncoder, PixelEncoder, RandomEncoder

HERE = Path(__file__).resolve().parent


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
    """Train and score one entry (``spirograph.leaderboard.score``).

    Returns the result path (``None`` on ranks other than 0).

    ``time_limit`` stops training cleanly after that many seconds. ``deadline`` (seconds
    from the start of this call) drops the robustness table when the time left looks too
    short for it.
    """
    start = time.perf_counter()
    encoder, training, config = build_encoder_for(entry, device, checkpoint_dir, progress, time_limit)
    if int(os.environ.get("RANK", "0")) != 0:
        return None
    train_seconds = time.perf_counter() - start
    protocol = Protocol.from_dict(entry["evaluation"], name=evaluation_protocol_name(entry["evaluation"]))
    result = score(
        encoder,
        protocol,
        device=device,
        progress=progress,
        name=entry["entry"],
        title=entry["title"],
        render_settings=config.render_settings if config is not None else RenderSettings(),
        time_left=None if deadline is None else deadline - train_seconds,
    )
    wall_time = {"train": train_seconds, **result.wall_time, "total": time.perf_counter() - start}
    result = dataclasses.replace(
        result,
        method=entry["method"],
        seed=config.seed if config is not None else entry["seed"],
        wall_time=wall_time,
        config={**entry, "train": config.to_dict() if config is not None else None},
        training=training,
    )
    return result.save(results_dir / f"{entry['entry']}.json")


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
        resolve_device(args.device)
    except SpirographError as error:
        parser.error(str(error))
    if args.seed is not None and args.seed != entry["seed"]:
        if not 0 <= args.seed < 2**63:
            parser.error(f"--seed must be in [0, 2**63), got {args.seed}")
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
    if args.results_dir.exists() and not args.results_dir.is_dir():
        parser.error(f"--results-dir must be a folder, got the file {str(args.results_dir)!r}")
    try:
        path = run(
            entry,
            device=args.device,
            results_dir=args.results_dir,
            checkpoint_dir=checkpoint_dir,
            progress=not args.quiet,
            time_limit=time_limit,
            deadline=args.deadline,
        )
    except SpirographError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
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
