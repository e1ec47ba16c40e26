"""Where trained encoders move with the nuisance: the penalty and the observed change, per parameter.

    python baselines/penalty_breakdown.py [NAME=]CHECKPOINT [...] --output FILE [--device cuda]

For each checkpoint written by the training loop, the encoder is rebuilt and
:func:`spirograph.baselines.penalty_breakdown` compares, for each nuisance parameter
redrawn alone (and for all at once), the gradient penalty's first-order estimate of how
far a random projection of the normalised representation moves with the mean square of
how far it actually moves. Every encoder is measured on the same seeded batches, rendered
with the settings it was trained with. The result is written as JSON to ``--output`` and
printed as a table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from spirograph import SpirographTransform
from spirograph.baselines import load_checkpoint, load_encoder, penalty_breakdown
from spirograph.errors import SpirographError
from spirograph.files import atomic_write_text


def measure(path: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The breakdown of one checkpoint's encoder, with what it was trained as."""
    data = load_checkpoint(path, map_location=args.device)
    config = data["config"]
    encoder = load_encoder(data, map_location=args.device)
    result = penalty_breakdown(
        encoder,
        transform=SpirographTransform(seed=args.seed, settings=config.render_settings),
        n_examples=args.n_examples,
        batch_size=args.batch_size,
        n_samples=args.n_samples,
        seed=args.seed,
        device=args.device,
    )
    trained = {
        "encoder": config.encoder,
        "penalty_weight": config.penalty_weight,
        "seed": config.seed,
        "epochs_done": data["epoch"],
        "epochs": config.epochs,
    }
    return {"trained": trained, **result.to_dict()}


def table(encoders: dict[str, dict[str, Any]]) -> str:
    """Rows: nuisance parameters; columns: first-order estimate / observed, per encoder."""
    names = list(next(iter(encoders.values()))["first_order"])
    lines = ["| parameter | " + " | ".join(f"{label}: first order / observed" for label in encoders) + " |"]
    lines.append("|---" * (len(encoders) + 1) + "|")
    for name in names:
        cells = [f"{e['first_order'][name]:.4g} / {e['observed'][name]:.4g}" for e in encoders.values()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse(argv: list[str] | None) -> tuple[argparse.Namespace, dict[str, Path]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoints", nargs="+", metavar="[NAME=]CHECKPOINT", help="checkpoint files (last.pt)")
    parser.add_argument("--output", type=Path, required=True, help="the JSON file to write")
    parser.add_argument("--device", default="cpu", help="where to run (default cpu)")
    parser.add_argument("--n-examples", type=int, default=256, help="test targets (default 256)")
    parser.add_argument("--batch-size", type=int, default=128, help="examples per batch (default 128)")
    parser.add_argument("--n-samples", type=int, default=10, help="redraws per example and parameter (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every draw (default 0)")
    args = parser.parse_args(argv)
    named: dict[str, Path] = {}
    for item in args.checkpoints:
        name, _, path = item.rpartition("=") if "=" in item else ("", "", item)
        label = name or Path(path).parent.name or Path(path).stem
        if label in named:
            parser.error(f"two checkpoints are both named {label!r}: give them names as NAME=CHECKPOINT")
        named[label] = Path(path)
    return args, named


def main(argv: list[str] | None = None) -> int:
    args, named = parse(argv)
    try:
        encoders = {label: measure(path, args) for label, path in named.items()}
    except (SpirographError, OSError) as error:
        print(f"penalty_breakdown: {error}", file=sys.stderr)
        return 1
    settings = {"n_examples": args.n_examples, "n_samples": args.n_samples, "seed": args.seed, "device": args.device}
    atomic_write_text(args.output, json.dumps({"settings": settings, "encoders": encoders}, indent=2) + "\n")
    print(table(encoders))
    return 0


if __name__ == "__main__":
    sys.exit(main())
