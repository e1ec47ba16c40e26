"""Training throughput with and without the InvCLR gradient penalty, measured in one run.

Each repeat trains two epochs of the same tiny configuration twice, with
``penalty_weight=0`` (SimCLR, the baseline) and ``penalty_weight=1e-2`` (InvCLR), in
alternating order, and keeps the second epoch's throughput (the first pays one-off
start-up costs). Throughput counts rendered views (two per example) per second.

    PYTHONPATH=$PWD python benchmarks/bench_training.py --encoder small --batch-size 128 --steps 8 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from spirograph._files import atomic_write_text
from spirograph._version import __version__
from spirograph.baselines.train import TrainConfig, train

RESULTS = Path(__file__).resolve().parent / "results" / "training.json"


def measure(config: TrainConfig) -> float:
    """Views per second in the second epoch."""
    return float(train(config).history[-1]["images_per_second"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--encoder", default="small", choices=["small", "resnet18"])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=8, help="steps per epoch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=100, help="K, extra nuisance draws per example")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    base = {
        "encoder": args.encoder,
        "batch_size": args.batch_size,
        "n_train": args.batch_size * args.steps,
        "epochs": 2,
        "warmup_epochs": 1,
        "penalty_samples": args.samples,
        "device": args.device,
        "progress": False,
    }
    runs: dict[str, list[float]] = {"simclr": [], "invclr": []}
    for repeat in range(args.repeats):
        order = ["simclr", "invclr"] if repeat % 2 == 0 else ["invclr", "simclr"]
        for name in order:
            weight = 0.0 if name == "simclr" else 1e-2
            runs[name].append(measure(TrainConfig(**base, penalty_weight=weight)))
    median = {name: statistics.median(values) for name, values in runs.items()}
    overhead = median["simclr"] / median["invclr"] - 1.0

    print(f"{'method':<8} {'views/s (median)':>17} {'runs':>30}")
    for name, values in runs.items():
        print(f"{name:<8} {median[name]:>17.1f} {', '.join(f'{v:.1f}' for v in values):>30}")
    print(f"penalty overhead: {100 * overhead:.1f}% more time per step (time ratio {1 + overhead:.2f})")

    result = {
        "benchmark": "training",
        "command": "python benchmarks/bench_training.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "settings": {**base, "repeats": args.repeats, "steps_per_epoch": args.steps},
        "views_per_second": runs,
        "median_views_per_second": median,
        "penalty_time_ratio": 1 + overhead,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name() if args.device.startswith("cuda") else None,
        },
        "spirograph": __version__,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    atomic_write_text(args.output, json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
