"""Throughput of the hub export against rendering alone (the baseline), and of reading it back.

Cases, all on the first ``--rows`` rows of the test split (config v1, 32x32), each repeated
``--repeats`` times, medians reported:

- ``render only`` (baseline): ``Spirograph("test", subset=rows).images()``;
- ``render + PNG``: the rows as the builder and the export encode them;
- ``export num_proc=1`` / ``export num_proc=2``: the whole export (Parquet, card, grid, manifest);
- ``load_dataset + decode``: ``datasets.load_dataset(export)`` and decoding every image;
- ``verify + decode (load_split)``: SHA-256 check and PNG decode of the shards, as ``hub_dataset`` does.

Usage::

    PYTHONPATH=$PWD python benchmarks/bench_export.py [--rows 4000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from spirograph.dataset import Spirograph
from spirograph.files import atomic_write_text
from spirograph.hub import export, load_local
from spirograph.hub.schema import CONFIGS, MANIFEST_NAME, encode_rows


def _median_seconds(task: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        task()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shard-rows", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/export.json"))
    args = parser.parse_args()
    rows, config = args.rows, CONFIGS["v1"]

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        counter = iter(range(1_000_000))

        def run_export(num_proc: int) -> Path:
            out = root / f"export-{next(counter)}"
            return export(
                out, splits="test", subset=rows, shard_rows=args.shard_rows, progress=False, num_proc=num_proc
            )

        reference = run_export(1)
        manifest = json.loads((reference / MANIFEST_NAME).read_text())
        files = manifest["configs"]["v1"]["splits"]["test"]["files"]

        def load_with_datasets() -> None:
            import datasets

            loaded = datasets.load_dataset(str(reference), split="test", cache_dir=str(root / f"hf-{next(counter)}"))
            np.stack([np.asarray(image) for image in loaded["image"]])

        def verify_and_decode() -> None:
            # Every shard checked against the manifest, then decoded: what load_split does after downloading.
            load_local(reference, "test", size=config.size)

        cases: dict[str, Callable[[], object]] = {
            "render only (baseline)": lambda: Spirograph("test", subset=rows).images(),
            "render + PNG": lambda: sum(1 for _ in encode_rows("test", config, 0, rows)),
            "export num_proc=1": lambda: run_export(1),
            "export num_proc=2": lambda: run_export(2),
            "load_dataset + decode": load_with_datasets,
            "verify + decode (load_split)": verify_and_decode,
        }
        results = []
        for name, task in cases.items():
            seconds = _median_seconds(task, args.repeats)
            results.append({"case": name, "seconds_median": seconds, "rows_per_s": rows / seconds})
        parquet_bytes = sum(manifest["files"][path]["bytes"] for path in files)

    baseline = results[0]["seconds_median"]
    header = f"{'case':32s} {'median s':>9s} {'rows/s':>10s} {'x baseline':>11s}"
    print(f"{rows} rows of the test split, config v1, {args.repeats} repeats, {os.cpu_count()} CPUs")
    print(header)
    print("-" * len(header))
    for row in results:
        row["vs_baseline"] = row["seconds_median"] / baseline
        print(f"{row['case']:32s} {row['seconds_median']:9.3f} {row['rows_per_s']:10.0f} {row['vs_baseline']:11.2f}")
    print(f"Parquet size: {parquet_bytes / rows:.0f} bytes per row")
    payload = {
        "python": sys.version.split()[0],
        "rows": rows,
        "repeats": args.repeats,
        "bytes_per_row": parquet_bytes / rows,
        "results": results,
    }
    atomic_write_text(args.out, json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
