"""Cost of the evaluation protocol for the raw-pixel encoder, against the naive way.

For each probe-train size N (test size N / 5, the protocol's 50,000 / 10,000 ratio) and
the numbers of nuisance draws per item M in ``--n-draws``, one run measures:

- **library**: ``evaluate(PixelEncoder(), n_draws=n_draws)``: one encoding pass of
  ``max(n_draws)`` nuisance draws with running sums snapshotted at each M, then the
  float64 L-BFGS probe (computed from the d x d second moments) at each M.
- **naive**: what a script written from the paper's code does: each M encoded from
  scratch (``sum(n_draws)`` draws in all, same draws and renderer), then ``nn.Linear`` fitted
  by ``torch.optim.LBFGS`` with the paper's settings (float32, lr 1, 20 iterations per
  step, no line search) on the N x d data matrix.

Both fits run ``--steps`` L-BFGS steps (the protocol's 500 by default). On raw pixels
(d = 3072, badly conditioned) neither converges early, so the fit time is close to
``steps`` times the cost of one step; on a shared 2-core CPU 500 steps take many minutes,
and ``--steps 10`` compares the per-step costs of the two ways in reasonable time.

Both encode identical features (same counter-based draws), so encoding times compare the
same work. Results go to ``benchmarks/results/evaluation.json``.

    PYTHONPATH=$PWD python benchmarks/bench_evaluation.py                          # N = 10,000 and 50,000, M = 1, 10
    PYTHONPATH=$PWD python benchmarks/bench_evaluation.py --sizes 10000 --naive-steps 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch
from torch import nn

import spirograph
from spirograph.dataset import Spirograph
from spirograph.evaluation import EVALUATION_STREAM, evaluate
from spirograph.files import atomic_write_text
from spirograph.references import PixelEncoder

RESULTS = Path(__file__).resolve().parent / "results" / "evaluation.json"
PAPER_STEPS = 500


def _naive_features(data: Spirograph, m: int, device: torch.device, batch_size: int) -> torch.Tensor:
    """Mean pixel features over draws 0..m-1, encoded from scratch (float32, as the paper's code)."""
    encoder = PixelEncoder()
    total = torch.zeros(len(data), 3 * data.size**2, device=device)
    index = torch.arange(len(data))
    space = data.space
    for draw in range(m):
        params = space.sample_nuisance(data.targets, seed=0, index=index, stream=(EVALUATION_STREAM, data.seed, draw))
        for start in range(0, len(data), batch_size):
            batch = params[start : start + batch_size].to(device)
            with torch.no_grad():
                total[start : start + batch_size] += encoder(data.render_params(batch))
    return total / m


def _naive_fit(features: torch.Tensor, labels: torch.Tensor, steps: int) -> float:
    """Seconds for ``steps`` LBFGS steps of the paper's regression head (float32, data matrix)."""
    head = nn.Linear(features.shape[1], labels.shape[1]).to(features.device)
    optimizer = torch.optim.LBFGS(head.parameters())
    criterion = nn.MSELoss()

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = criterion(head(features), labels) + 1e-8 * head.weight.pow(2).sum()
        loss.backward()
        return loss

    _sync(features.device)
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.step(closure)
    _sync(features.device)
    return time.perf_counter() - start


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run(n: int, n_draws: list[int], device: torch.device, batch_size: int, steps: int) -> dict[str, object]:
    train = Spirograph("train", subset=n)
    test = Spirograph("test", subset=max(1, n // 5))
    print(f"N = {n}: library pass ...", flush=True)
    ours = evaluate(
        PixelEncoder(),
        train=train,
        test=test,
        n_draws=n_draws,
        device=device,
        batch_size=batch_size,
        steps=steps,
        progress=False,
    )
    print(f"N = {n}: library encode {ours.timings['encode']:.1f} s, fit {ours.timings['fit']:.1f} s", flush=True)
    naive_encode = 0.0
    naive_fit = 0.0
    for m in n_draws:
        print(f"N = {n}: naive M = {m} ...", flush=True)
        _sync(device)
        start = time.perf_counter()
        features = _naive_features(train, m, device, batch_size)
        _naive_features(test, m, device, batch_size)
        _sync(device)
        naive_encode += time.perf_counter() - start
        naive_fit += _naive_fit(features, train.targets.to(device), steps)
        del features
    assert ours.feature_averaging is not None
    row: dict[str, object] = {
        "n_train": n,
        "n_test": len(test),
        "n_draws": n_draws,
        "lbfgs_steps": steps,
        "library": {
            "draws_encoded": max(n_draws),
            "encode_s": ours.timings["encode"],
            "fit_s": ours.timings["fit"],
            "total_s": ours.timings["encode"] + ours.timings["fit"],
            "mse_mean": {str(m): v for m, v in ours.feature_averaging.items()},
        },
        "naive": {
            "draws_encoded": sum(n_draws),
            "encode_s": naive_encode,
            "fit_s": naive_fit,
            "total_s": naive_encode + naive_fit,
        },
    }
    return row


def _print_row(row: dict[str, object]) -> None:
    ours, naive = row["library"], row["naive"]
    assert isinstance(ours, dict) and isinstance(naive, dict)
    print(f"{'N':>7} {'way':>8} {'draws':>6} {'encode s':>9} {'fit s':>12} {'total s':>12}")
    print(
        f"{row['n_train']:>7} {'library':>8} {ours['draws_encoded']:>6} {ours['encode_s']:>9.1f} "
        f"{ours['fit_s']:>12.1f} {ours['total_s']:>12.1f}"
    )
    print(
        f"{row['n_train']:>7} {'naive':>8} {naive['draws_encoded']:>6} {naive['encode_s']:>9.1f} "
        f"{naive['fit_s']:>12.1f} {naive['total_s']:>12.1f}"
    )
    print(
        f"{'':>7} ratio naive/library: encode {naive['encode_s'] / ours['encode_s']:.2f}x, "
        f"fit {naive['fit_s'] / ours['fit_s']:.2f}x; "
        f"library mean MSE by M: {ours['mse_mean']}",
        flush=True,
    )


def _write(out: Path, device: torch.device, rows: list[dict[str, object]]) -> None:
    record = {
        "benchmark": "evaluation",
        "package_version": spirograph.__version__,
        "torch": torch.__version__,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "rows": rows,
    }
    atomic_write_text(out, json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--n-draws", type=int, nargs="+", default=[1, 10], help="values of M")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=PAPER_STEPS, help="L-BFGS steps of both fits")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    device = torch.device(args.device)
    n_draws = sorted(set(args.n_draws))
    rows: list[dict[str, object]] = []
    for n in args.sizes:
        rows.append(run(n, n_draws, device, args.batch_size, args.steps))
        _print_row(rows[-1])
        # Written after each size, so a run stopped early keeps what it measured.
        _write(args.out, device, rows)


if __name__ == "__main__":
    main()
