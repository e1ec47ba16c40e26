"""Where the time of scoring an encoder goes: render, encode, probe, diagnostics.

Scores the CPU track's small CNN (randomly initialised; training does not change the cost)
with ``spirograph.leaderboard.score`` and a protocol (default ``cpu``), then splits the
probe's encoding pass into rendering and the encoder's own forward passes by rendering the
same nuisance draws again without encoding them (``Spirograph.render_params`` on the same
counter-based draws). Stages:

- **render**: rendering every image of the feature-averaging pass (``max(n_draws)`` draws of
  the probe's train and test items);
- **encode**: the encoder on those images (the pass's time less ``render``);
- **probe**: the ridge (or L-BFGS) fits at every M;
- **invariance**, **penalty**: the diagnostics, as ``score`` times them.

The share of each stage is the figure to quote (the machine's load moves all of them).
Results go to ``benchmarks/results/score.json``.

    PYTHONPATH=$PWD python benchmarks/bench_score.py                 # the cpu protocol, 2 threads
    PYTHONPATH=$PWD python benchmarks/bench_score.py --n-train 500 --n-test 200   # a quick check
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time
from pathlib import Path

import torch

import spirograph
from spirograph.baselines import build_encoder
from spirograph.dataset import Spirograph
from spirograph.evaluation import EVALUATION_STREAM
from spirograph.files import atomic_write_text
from spirograph.leaderboard import PROTOCOLS, Protocol, score

RESULTS = Path(__file__).resolve().parent / "results" / "score.json"


def render_only(protocol: Protocol) -> float:
    """Seconds to render the images of the probe's encoding pass, without encoding them."""
    sets = [Spirograph("train", subset=protocol.n_train or 0.5), Spirograph("test", subset=protocol.n_test or 0.5)]
    start = time.perf_counter()
    for data in sets:
        index = torch.arange(len(data))
        for draw in range(max(protocol.n_draws)):
            stream = (EVALUATION_STREAM, data.seed, draw)
            params = data.space.sample_nuisance(data.targets, seed=protocol.seed, index=index, stream=stream)
            for begin in range(0, len(data), protocol.batch_size):
                with torch.no_grad():
                    data.render_params(params[begin : begin + protocol.batch_size])
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--protocol", choices=sorted(PROTOCOLS), default="cpu")
    parser.add_argument("--n-train", type=int, help="override the protocol's probe training items")
    parser.add_argument("--n-test", type=int, help="override the protocol's probe test items")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    protocol = PROTOCOLS[args.protocol]
    if args.n_train or args.n_test:
        protocol = dataclasses.replace(
            protocol, name="custom", n_train=args.n_train or protocol.n_train, n_test=args.n_test or protocol.n_test
        )
    torch.manual_seed(0)
    encoder = build_encoder("small", representation_dim=128)
    result = score(encoder, protocol, progress=False, name="small-cnn")
    timings = result.evaluation["timings"]
    rendering = render_only(protocol)
    stages = {
        "render": rendering,
        "encode": max(timings["encode"] - rendering, 0.0),
        "probe": timings["fit"],
        "invariance": result.wall_time["invariance"],
        "penalty": result.wall_time["penalty"],
    }
    total = result.wall_time["total"]
    print(f"protocol {protocol.name!r}, {args.threads} threads: {total:.1f} s in all")
    for stage, seconds in stages.items():
        print(f"  {stage:<11} {seconds:8.1f} s  {100 * seconds / total:5.1f} %")
    payload = {
        "benchmark": "score",
        "version": spirograph.__version__,
        "torch": torch.__version__,
        "platform": platform.platform(),
        "threads": args.threads,
        "protocol": protocol.to_dict(),
        "total_seconds": total,
        "stages_seconds": stages,
        "note": "encode = the probe pass's encode time less render_only(); its share is the figure to quote",
    }
    atomic_write_text(args.output, json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
