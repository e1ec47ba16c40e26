"""``torch.exp2`` against ``torch.exp``: the choice behind the renderer's base-2 Gaussian factors.

Times both on the tensor the renderer exponentiates for a batch of 512 images (float32,
``(512, 32, 80)``, exponents in the renderer's range ``[-57.7, 0]``), interleaved in rounds
so both see the same machine load, and measures each one's error against float64 in units
in the last place of float32 over that range.

Usage::

    python benchmarks/bench_exp.py [--threads 2] [--rounds 15] [--out benchmarks/results/exp.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from spirograph.files import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results" / "exp.json"
LOWEST = -40.0 * 1.4426950408889634  # the renderer's float32 floor exp(-40), in base 2


def _time(function: Callable[..., torch.Tensor], values: torch.Tensor, out: torch.Tensor, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        function(values, out=out)
    return (time.perf_counter() - start) / calls


def _ulps(function: Callable[[torch.Tensor], torch.Tensor]) -> float:
    # Against the same function in float64 at the same (float32) inputs.
    inputs = torch.linspace(LOWEST, 0.0, 2_000_001, dtype=torch.float32)
    exact = function(inputs.double())
    spacing = torch.finfo(torch.float32).eps * exact
    return float(((function(inputs).double() - exact).abs() / spacing).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=40, help="calls per round")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    generator = torch.Generator().manual_seed(0)
    values = torch.rand(512, 32, 80, generator=generator) * LOWEST
    out = torch.empty_like(values)
    cases = {"exp": torch.exp, "exp2": torch.exp2}
    times: dict[str, list[float]] = {name: [] for name in cases}
    for function in cases.values():
        _time(function, values, out, 5)  # warm-up
    for _ in range(args.rounds):
        for name, function in cases.items():
            times[name].append(_time(function, values, out, args.calls))
    medians = {name: statistics.median(seconds) for name, seconds in times.items()}
    ulps = {name: _ulps(function) for name, function in cases.items()}

    result = {
        "benchmark": "exp",
        "torch": torch.__version__,
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": args.threads,
        "shape": list(values.shape),
        "median_ms": {name: seconds * 1e3 for name, seconds in medians.items()},
        "ratio_exp_over_exp2": medians["exp"] / medians["exp2"],
        "max_error_ulps": ulps,
    }
    print(f"{'':8}{'median ms':>12}{'max error (ulps)':>20}")
    for name in cases:
        print(f"{name:8}{medians[name] * 1e3:>12.3f}{ulps[name]:>20.2f}")
    ratio, capability = result["ratio_exp_over_exp2"], result["cpu_capability"]
    print(f"exp / exp2 time: {ratio:.2f}x  ({capability}, {args.threads} threads)")
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
