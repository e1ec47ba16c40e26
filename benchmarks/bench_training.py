"""Training step time of SimCLR and InvCLR against the bare encoder, in one run.

Three measurements, each a section of the result file:

1. **Step time.** For each method, ``train()`` runs two epochs of ``--steps`` steps at
   the chosen precision and layout; the second epoch's time per step is kept (the first
   pays one-off costs: cuDNN's algorithm search, allocator growth). The baseline, timed
   the same way in the same run, is the bare encoder's forward and backward (and a plain
   SGD step) on ``2 * batch`` pre-rendered images: what a step would cost if rendering,
   the projection head, the loss, the penalty and LARS were free. Repeats alternate the
   order; medians are reported.
2. **bf16 against float32** (``--loss-steps N``): the step losses of the first ``N`` steps
   of the same run in both precisions, and their differences.
3. **Profile** (``--profile``): one InvCLR step under ``torch.profiler``; the kernels (or,
   on the CPU, the operators) with the most self time.
4. **Host synchronisations** (``--sync-check``, CUDA only): with
   ``torch.cuda.set_sync_debug_mode("warn")``, the synchronising calls of an InvCLR run of
   ``steps`` and of ``2 * steps`` steps (one epoch each); their difference over ``steps`` is
   the number a step makes (0 is the aim: the loop reads losses only at log steps and epoch ends).

    PYTHONPATH=$PWD python benchmarks/bench_training.py --encoder small --batch-size 128 --steps 8 --repeats 3
    python benchmarks/bench_training.py --encoder resnet18 --batch-size 512 --steps 20 --device cuda \\
        --precision bfloat16 --channels-last --loss-steps 200 --profile --sync-check \\
        --output results/training_h200.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

import spirograph
from spirograph.baselines import TrainConfig, build_encoder, train
from spirograph.files import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results" / "training.json"


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_time(config: TrainConfig) -> float:
    """Seconds per step of the second epoch of a two-epoch run."""
    history = train(config).history
    last = history[-1]
    return float(last["seconds"]) / (last["step"] - history[0]["step"])


def bare_encoder_time(args: argparse.Namespace, steps: int) -> float:
    """Seconds per forward + backward + SGD step of the encoder alone on pre-rendered images."""
    device = torch.device(args.device)
    encoder = build_encoder(args.encoder).to(device)
    images = torch.rand(2 * args.batch_size, 3, 32, 32, device=device)
    if args.channels_last:
        encoder = encoder.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        images = images.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(encoder.parameters(), lr=1e-3, momentum=0.9)
    autocast = args.precision == "bfloat16"

    def one_step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            loss = encoder(images).float().square().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    previous = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    try:
        for _ in range(max(3, steps // 4)):
            one_step()
        _synchronize(device)
        start = time.perf_counter()
        for _ in range(steps):
            one_step()
        _synchronize(device)
        return (time.perf_counter() - start) / steps
    finally:
        torch.backends.cudnn.benchmark = previous


def configs(args: argparse.Namespace, **overrides: Any) -> TrainConfig:
    settings: dict[str, Any] = {
        "encoder": args.encoder,
        "batch_size": args.batch_size,
        "n_train": args.batch_size * args.steps,
        "epochs": 2,
        "warmup_epochs": 1,
        "penalty_samples": args.samples,
        "device": args.device,
        "precision": args.precision,
        "channels_last": args.channels_last,
        "cudnn_benchmark": args.cudnn_benchmark,
        "log_every": 10**6,
        "progress": False,
        **overrides,
    }
    return TrainConfig(**settings)


def measure_steps(args: argparse.Namespace) -> dict[str, Any]:
    runs: dict[str, list[float]] = {"bare_encoder": [], "simclr": [], "invclr": []}
    for repeat in range(args.repeats):
        order = list(runs) if repeat % 2 == 0 else list(reversed(runs))
        for name in order:
            if name == "bare_encoder":
                runs[name].append(bare_encoder_time(args, args.steps))
            else:
                runs[name].append(step_time(configs(args, penalty_weight=0.0 if name == "simclr" else 1e-2)))
    median = {name: statistics.median(values) for name, values in runs.items()}
    return {
        "seconds_per_step": runs,
        "median_seconds_per_step": median,
        "ratio_to_bare_encoder": {name: median[name] / median["bare_encoder"] for name in ("simclr", "invclr")},
        "penalty_time_ratio": median["invclr"] / median["simclr"],
        "minutes_for_50_epochs_of_196_steps": {name: median[name] * 196 * 50 / 60 for name in ("simclr", "invclr")},
    }


def measure_loss_difference(args: argparse.Namespace) -> dict[str, Any]:
    """Step losses of the first ``--loss-steps`` InvCLR steps in float32 and in bfloat16."""
    losses = {}
    for precision in ("float32", "bfloat16"):
        config = configs(
            args, precision=precision, n_train=args.batch_size * args.loss_steps, epochs=1, warmup_epochs=1, log_every=1
        )
        losses[precision] = [record["loss"] for record in train(config).steps]
    differences = [abs(a - b) for a, b in zip(losses["float32"], losses["bfloat16"], strict=True)]
    relative = [d / abs(a) for d, a in zip(differences, losses["float32"], strict=True)]
    return {
        "steps": args.loss_steps,
        "max_abs_difference": max(differences),
        "mean_abs_difference": statistics.fmean(differences),
        "max_relative_difference": max(relative),
        "loss_float32": losses["float32"],
        "loss_bfloat16": losses["bfloat16"],
    }


def profile_step(args: argparse.Namespace, rows: int = 15) -> dict[str, Any]:
    """Self time of the top kernels (CUDA) or operators (CPU) over one InvCLR step after a warm-up step."""
    device = torch.device(args.device)
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    train(configs(args, penalty_weight=1e-2, n_train=args.batch_size, epochs=1))  # warm-up: caches, cuDNN search
    config = configs(args, penalty_weight=1e-2, n_train=args.batch_size, epochs=1)
    with torch.profiler.profile(activities=activities) as profiler:
        train(config)
        _synchronize(device)
    key = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    events = sorted(profiler.key_averages(), key=lambda e: getattr(e, key), reverse=True)
    total = sum(getattr(e, key) for e in events) or 1.0
    top = [
        {"name": e.key, "self_ms": getattr(e, key) / 1000, "share": getattr(e, key) / total, "calls": e.count}
        for e in events[:rows]
    ]
    return {"sorted_by": key, "total_ms": total / 1000, "top": top}


def count_syncs(args: argparse.Namespace) -> dict[str, Any]:
    """Synchronising CUDA calls of one-epoch InvCLR runs of ``steps`` and ``2 * steps`` steps."""
    import warnings

    counts = {}
    train(configs(args, penalty_weight=1e-2, n_train=args.batch_size * 2, epochs=1))  # warm-up
    for steps in (args.steps, 2 * args.steps):
        config = configs(args, penalty_weight=1e-2, n_train=args.batch_size * steps, epochs=1)
        torch.cuda.set_sync_debug_mode("warn")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                train(config)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        counts[steps] = sum("synchroniz" in str(warning.message) for warning in caught)
    per_step = (counts[2 * args.steps] - counts[args.steps]) / args.steps
    return {"syncs_per_run": {str(k): v for k, v in counts.items()}, "syncs_per_step": per_step}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--encoder", default="small", choices=["small", "resnet18"])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=8, help="steps per timed epoch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=100, help="K, extra nuisance draws per example")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--cudnn-benchmark", action="store_true")
    parser.add_argument("--loss-steps", type=int, default=0, help="compare bf16 and float32 losses over N steps")
    parser.add_argument("--profile", action="store_true", help="profile one InvCLR step")
    parser.add_argument("--sync-check", action="store_true", help="count host synchronisations per step (CUDA)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.sync_check and not args.device.startswith("cuda"):
        parser.error("--sync-check needs a CUDA --device")

    result: dict[str, Any] = {
        "benchmark": "training",
        "command": "python benchmarks/bench_training.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "steps": measure_steps(args),
    }
    steps = result["steps"]
    print(f"{'what':<14} {'ms/step (median)':>17} {'x bare encoder':>15}   runs (ms)")
    for name, values in steps["seconds_per_step"].items():
        ratio = steps["ratio_to_bare_encoder"].get(name, 1.0)
        runs = ", ".join(f"{1000 * v:.1f}" for v in values)
        print(f"{name:<14} {1000 * steps['median_seconds_per_step'][name]:>17.2f} {ratio:>15.2f}   {runs}")
    print(f"penalty time ratio (InvCLR / SimCLR): {steps['penalty_time_ratio']:.2f}")
    if args.loss_steps:
        result["bf16_vs_float32"] = measure_loss_difference(args)
        diff = result["bf16_vs_float32"]
        print(
            f"bf16 vs float32 over {args.loss_steps} steps: max |diff| {diff['max_abs_difference']:.3g}, "
            f"mean {diff['mean_abs_difference']:.3g}, max relative {diff['max_relative_difference']:.3g}"
        )
    if args.sync_check:
        result["host_syncs"] = count_syncs(args)
        print(f"host synchronisations per step: {result['host_syncs']['syncs_per_step']:g}")
    if args.profile:
        result["profile"] = profile_step(args)
        for row in result["profile"]["top"]:
            print(f"  {row['self_ms']:9.2f} ms  {100 * row['share']:5.1f}%  {row['calls']:5d}  {row['name'][:90]}")
    result["machine"] = {
        "platform": platform.platform(),
        "processor": platform.processor(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name() if args.device.startswith("cuda") else None,
    }
    result["spirograph"] = spirograph.__version__
    result["time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    atomic_write_text(args.output, json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
