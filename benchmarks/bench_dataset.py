"""Throughput and memory of ``Spirograph(split="train")`` through a default DataLoader.

In one run: a full pass over the split with ``DataLoader(dataset, batch_size=512)`` (all other
settings default) for (a) the on-demand dataset and (b) a plain in-memory ``TensorDataset`` of
the same images, each repeated and summarised by the median. Memory is measured in fresh
subprocesses as peak resident memory beyond a process that only imported torch and spirograph.

    python benchmarks/bench_dataset.py                 # full train split, 3 repeats
    python benchmarks/bench_dataset.py --subset 20000  # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

import spirograph
from spirograph import Spirograph
from spirograph.files import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results" / "dataset.json"


def _pass(dataset: torch.utils.data.Dataset, batch_size: int) -> float:
    start = time.perf_counter()
    count = 0
    for images, _ in DataLoader(dataset, batch_size=batch_size):
        count += images.shape[0]
    return count / (time.perf_counter() - start)


def _peak_rss_mib(code: str) -> float:
    """Peak RSS (MiB) of a fresh interpreter running ``code`` after importing torch + spirograph."""
    program = (
        "import torch, spirograph\n"
        "from spirograph import Spirograph\n"
        "from torch.utils.data import DataLoader\n"
        f"{code}\n"
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork + exec.
        "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True, env=env)
    return int(out.stdout.split()[-1]) / 1024  # VmHWM is in KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subset", type=int, default=None, help="items of the train split (default: all 100,000)")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    dataset = Spirograph("train", subset=args.subset)
    start = time.perf_counter()
    constructed = Spirograph("train", subset=args.subset)
    construct_s = time.perf_counter() - start
    in_memory = TensorDataset(dataset.images(), dataset.targets.clone())
    del constructed

    rendered, stored = [], []
    for _ in range(args.repeats):
        rendered.append(_pass(dataset, args.batch_size))
        stored.append(_pass(in_memory, args.batch_size))
    del in_memory

    subset = "None" if args.subset is None else str(args.subset)
    baseline = _peak_rss_mib("pass")
    lazy = _peak_rss_mib(
        f"d = Spirograph('train', subset={subset})\nfor x, y in DataLoader(d, batch_size={args.batch_size}): pass"
    )
    materialized = _peak_rss_mib(f"d = Spirograph('train', subset={subset}).materialize()")

    result = {
        "benchmark": "dataset",
        "package_version": spirograph.__version__,
        "torch": torch.__version__,
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "threads": args.threads,
        "items": len(dataset),
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "construct_s": construct_s,
        "render_images_per_s": rendered,
        "tensor_dataset_images_per_s": stored,
        "render_median": statistics.median(rendered),
        "tensor_dataset_median": statistics.median(stored),
        "ratio_render_over_tensor_dataset": statistics.median(rendered) / statistics.median(stored),
        "rss_baseline_mib": baseline,
        "rss_full_pass_beyond_baseline_mib": lazy - baseline,
        "rss_materialized_beyond_baseline_mib": materialized - baseline,
    }
    print(f"{'':34}{'images/s (median)':>20}")
    print(f"{'Spirograph (rendered on demand)':34}{result['render_median']:>20,.0f}")
    print(f"{'TensorDataset (in memory)':34}{result['tensor_dataset_median']:>20,.0f}")
    print(f"ratio rendered / in-memory: {result['ratio_render_over_tensor_dataset']:.2f}")
    print(f"construction: {construct_s * 1000:.1f} ms")
    print(f"peak RSS of a process that imported torch + spirograph: {baseline:.0f} MiB; beyond it:")
    print(f"  full pass over the split:  {result['rss_full_pass_beyond_baseline_mib']:.0f} MiB")
    print(f"  materialized split:        {result['rss_materialized_beyond_baseline_mib']:.0f} MiB")
    atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
