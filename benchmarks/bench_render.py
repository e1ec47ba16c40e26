"""Renderer speed against the naive formula: prints a table, writes benchmarks/results/render.json.

Run from the repository root:

    python benchmarks/bench_render.py                      # CPU, 2 threads, batches 64 / 512 / 4096
    python benchmarks/bench_render.py --device cuda --threads 0
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import torch

from spirograph.bench import benchmark_render, format_table
from spirograph.files import atomic_write_text

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "KMP_BLOCKTIME", "MKL_NUM_THREADS")
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "render.json"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _load_average() -> float | None:
    # The machine may be shared: record how busy it was.
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 512, 4096])
    parser.add_argument("--threads", type=int, default=2, help="torch threads; 0 leaves torch's default")
    parser.add_argument("--repeats", type=int, default=30, help="timed calls of the renderer (median reported)")
    parser.add_argument("--naive-repeats", type=int, default=3, help="timed calls of the naive formula")
    parser.add_argument("--normalize", choices=["row", "image"], default="row")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-backward", action="store_true", help="time the forward pass only")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive formula")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON file to write")
    args = parser.parse_args(argv)

    load_before = _load_average()
    rows = benchmark_render(
        args.batch_sizes,
        threads=args.threads or None,
        repeats=args.repeats,
        naive_repeats=args.naive_repeats,
        backward=not args.no_backward,
        naive=not args.no_naive,
        normalize=args.normalize,
        device=args.device,
    )
    device = torch.device(args.device)
    machine = torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name()
    print(
        f"render vs naive formula on {machine} ({args.device}, {rows[0]['threads']} threads, torch {torch.__version__})"
    )
    print(format_table(rows))
    load = {"before": load_before, "after": _load_average()}
    print(f"1-minute load average before / after: {load['before']} / {load['after']} on {os.cpu_count()} CPUs")
    payload = {
        "benchmark": "render",
        "command": " ".join(["python", *sys.argv]),
        # Thread-pool settings change timings on a busy machine; keep them with the numbers.
        "environment": {name: os.environ[name] for name in _THREAD_VARIABLES if name in os.environ},
        "machine": machine,
        "cpu_count": os.cpu_count(),
        "load_average_1min": load,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "rows": rows,
    }
    atomic_write_text(args.output, json.dumps(payload, indent=2) + "\n")

    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
