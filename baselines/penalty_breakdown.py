"""Where trained encoders move with the nuisance: the penalty and the observed change, per parameter.

    python baselines/penalty_breakdown.py [NAME=]CHECKPOINT [...] --output FILE [--device cuda]

For each checkpoint written by the training loop, the encoder is rebuilt and
:func:`spirograph.baselines.penalty_breakdown` compares, for each nuisance parameter
redrawn alone (and for all at once), the gradient penalty's first-order estimate of how
far a random projection of the normalised representation moves with the mean square of
how far it actually moves. Every encoder is measured on the same seeded batches, rendered
with the settings it was trained with. The result is written as JSON to ``--output`` and
printed as a table.

Errors are one line on stderr, as for the ``spirograph`` command: exit status 2 for a bad
command line (an unknown or unavailable device, an output that is a folder, a malformed
``NAME=CHECKPOINT``, a count below 1), checked before any checkpoint is loaded; 1 for a failure
while running (a checkpoint that cannot be read, an output that cannot be written).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from spirograph import SpirographTransform
from spirograph.baselines import load_checkpoint, load_encoder, penalty_breakdown
from spirograph.errors import SpirographError
from spirograph.files import atomic_write_text
from spirograph.leaderboard import resolve_device

PROG = "penalty_breakdown"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


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


class _Parser(argparse.ArgumentParser):
    """Errors in one line on stderr, exit status 2 (as the ``spirograph`` command)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {_one_line(message)} (see `{PROG} --help`)\n")


def _one_line(message: object) -> str:
    return " ".join(str(message).split()) or type(message).__name__


def _count(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer ``>= minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value

    return parse


def _output_file(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected the name of a file to write, got {text!r}")
    if Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"expected a file, got the folder {text!r}")
    return Path(text)


def _device(text: str) -> str:
    """An argparse type: a device this machine has (``spirograph.leaderboard.resolve_device``)."""
    try:
        resolve_device(text)
    except SpirographError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def _checkpoint(item: str) -> tuple[str, Path]:
    """``NAME=CHECKPOINT`` or ``CHECKPOINT`` as ``(label, path)``; the label defaults to the file's folder."""
    name, equals, path = item.partition("=")
    if not equals:
        name, path = "", item
    elif not _NAME.fullmatch(name):
        raise ValueError(
            f"expected [NAME=]CHECKPOINT with a NAME of letters, digits, '.', '_' or '-', got {item!r} "
            "(a path that holds '=' needs a NAME=)"
        )
    if not path.strip():
        raise ValueError(f"expected [NAME=]CHECKPOINT with a checkpoint file after '=', got {item!r}")
    return name or Path(path).parent.name or Path(path).stem, Path(path)


def parse(argv: list[str] | None) -> tuple[argparse.Namespace, dict[str, Path]]:
    parser = _Parser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("checkpoints", nargs="+", metavar="[NAME=]CHECKPOINT", help="checkpoint files (last.pt)")
    parser.add_argument("--output", type=_output_file, required=True, help="the JSON file to write")
    parser.add_argument("--device", type=_device, default="cpu", help="where to run (default cpu)")
    parser.add_argument("--n-examples", type=_count(1), default=256, help="test targets (default 256)")
    parser.add_argument("--batch-size", type=_count(1), default=128, help="examples per batch (default 128)")
    parser.add_argument(
        "--n-samples", type=_count(1), default=10, help="redraws per example and parameter (default 10)"
    )
    parser.add_argument("--seed", type=_count(0), default=0, help="seed of every draw (default 0)")
    args = parser.parse_args(argv)
    named: dict[str, Path] = {}
    for item in args.checkpoints:
        try:
            label, path = _checkpoint(item)
        except ValueError as error:
            parser.error(str(error))
        if label in named:
            parser.error(f"two checkpoints are both named {label!r}: give them names as NAME=CHECKPOINT")
        named[label] = path
    return args, named


def main(argv: list[str] | None = None) -> int:
    """Measure every checkpoint and write the JSON; the exit status.

    Returns:
        0 on success; 2 for a bad command line (parsed before anything is loaded); 1 for a
        failure while running (a checkpoint that cannot be read, a file that cannot be
        written). Every failure is one line on stderr, never a traceback.
    """
    args, named = parse(argv)
    try:
        encoders = {label: measure(path, args) for label, path in named.items()}
        settings = {"n_examples": args.n_examples, "n_samples": args.n_samples, "seed": args.seed}
        document = {"settings": {**settings, "device": args.device}, "encoders": encoders}
        atomic_write_text(args.output, json.dumps(document, indent=2) + "\n")
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # one line, never a traceback: the policy of the `spirograph` command
        described = _one_line(error)
        if not isinstance(error, (SpirographError, OSError)):
            described = f"{type(error).__name__}: {described}"
        print(f"{PROG}: error: {described}", file=sys.stderr)
        return 1
    print(table(encoders))
    return 0


if __name__ == "__main__":
    sys.exit(main())
