"""Import cost of ``spirograph`` and ``spirograph.hub`` against the ``import torch`` baseline.

Each case runs in a fresh interpreter (so nothing is cached in ``sys.modules``), several
times; the table shows the median wall time of the import statement measured inside the
child, the median wall time of the whole child process, its peak resident memory, and
whether ``datasets`` / ``pyarrow`` / ``huggingface_hub`` got imported.

Usage::

    PYTHONPATH=$PWD python benchmarks/bench_import.py [--repeats 7] [--out benchmarks/results/import.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from spirograph.files import atomic_write_text

CASES: dict[str, str] = {
    "python (no import)": "pass",
    "import torch (baseline)": "import torch",
    "import spirograph": "import spirograph",
    "import spirograph; spirograph.Spirograph (first use)": "import spirograph; spirograph.Spirograph",
    "spirograph --help (parser only)": "from spirograph.cli import build_parser; build_parser().format_help()",
    "import spirograph.hub": "import spirograph.hub",
    "spirograph.hub + datasets (builder)": "from spirograph.hub import SpirographBuilder",
}

_CHILD = """
import resource, sys, time
start = time.perf_counter()
{statement}
elapsed = time.perf_counter() - start
heavy = [name for name in ("datasets", "pyarrow", "huggingface_hub") if name in sys.modules]
print(elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, ",".join(heavy) or "-")
"""


def _run(statement: str) -> tuple[float, float, float, str]:
    begin = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", _CHILD.format(statement=statement)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    process = time.perf_counter() - begin
    elapsed, max_rss_kib, heavy = result.stdout.split()
    return float(elapsed), process, int(max_rss_kib) / 1024, heavy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/import.json"))
    args = parser.parse_args()

    for statement in CASES.values():  # warm the OS file cache once
        _run(statement)
    rows = []
    for name, statement in CASES.items():
        runs = [_run(statement) for _ in range(args.repeats)]
        rows.append(
            {
                "case": name,
                "statement": statement,
                "import_s_median": statistics.median(run[0] for run in runs),
                "process_s_median": statistics.median(run[1] for run in runs),
                "max_rss_mib_median": statistics.median(run[2] for run in runs),
                "heavy_modules": runs[0][3],
                "repeats": args.repeats,
            }
        )
    baseline = next(row for row in rows if row["case"] == "import torch (baseline)")
    header = f"{'case':38s} {'import s':>9s} {'x torch':>8s} {'process s':>10s} {'max RSS MiB':>12s}  heavy modules"
    print(header)
    print("-" * len(header))
    for row in rows:
        row["import_vs_torch"] = row["import_s_median"] / baseline["import_s_median"]
        print(
            f"{row['case']:38s} {row['import_s_median']:9.3f} {row['import_vs_torch']:8.2f} "
            f"{row['process_s_median']:10.3f} {row['max_rss_mib_median']:12.1f}  {row['heavy_modules']}"
        )
    atomic_write_text(args.out, json.dumps({"python": sys.version.split()[0], "results": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
