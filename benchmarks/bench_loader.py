"""The batched loader path against today's default DataLoader pass, in one run.

Both paths make a full pass over the same items, batch by batch, and yield the same batches:

- default: ``DataLoader(dataset, batch_size=512)``, which fetches a batch with
  ``__getitems__`` (one render call), splits it into items and collates them back;
- batched: ``dataset.loader(batch_size=512)``, which fetches ``dataset[list of indices]`` as a
  whole batch and collates nothing; with workers, the batches come back through shared-memory
  slots allocated once, instead of new shared memory for each batch.

For each number of workers the passes of the two paths alternate, so both see the same machine
load; the table reports medians of the images per second and the ratio batched / default.

    python benchmarks/bench_loader.py                          # train split, 0 and 2 workers
    python benchmarks/bench_loader.py --subset 20000 --repeats 3 --workers 0
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

import spirograph
from spirograph import Spirograph
from spirograph.files import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results" / "loader.json"


def _images_per_s(loader: Iterable[Any]) -> float:
    start = time.perf_counter()
    count = 0
    for images, _ in loader:
        count += images.shape[0]
    return count / (time.perf_counter() - start)


def _measure(dataset: Spirograph, batch_size: int, workers: int, repeats: int) -> dict[str, Any]:
    options: dict[str, Any] = {"num_workers": workers}
    if workers:
        # Workers started once per path, as a training loop over several epochs would keep them.
        options["persistent_workers"] = True
    default = DataLoader(dataset, batch_size=batch_size, **options)
    batched = dataset.loader(batch_size, **options)
    for loader in (default, batched):  # warm-up pass: starts the workers, fills the caches
        _images_per_s(loader)
    default_runs, batched_runs = [], []
    for _ in range(repeats):
        default_runs.append(_images_per_s(default))
        batched_runs.append(_images_per_s(batched))
    return {
        "workers": workers,
        "default_images_per_s": default_runs,
        "batched_images_per_s": batched_runs,
        "default_median": statistics.median(default_runs),
        "batched_median": statistics.median(batched_runs),
        "ratio_batched_over_default": statistics.median(batched_runs) / statistics.median(default_runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subset", type=int, default=None, help="items of the train split (default: all 100,000)")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="numbers of DataLoader workers")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    dataset = Spirograph("train", subset=args.subset)
    rows = [_measure(dataset, args.batch_size, workers, args.repeats) for workers in args.workers]
    result = {
        "benchmark": "loader",
        "package_version": spirograph.__version__,
        "torch": torch.__version__,
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(),
        "threads": args.threads,
        "items": len(dataset),
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "rows": rows,
    }
    print(f"{'workers':>8}{'default images/s':>20}{'batched images/s':>20}{'batched / default':>20}")
    for row in rows:
        print(
            f"{row['workers']:>8}{row['default_median']:>20,.0f}{row['batched_median']:>20,.0f}"
            f"{row['ratio_batched_over_default']:>20.2f}"
        )
    atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
