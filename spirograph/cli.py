"""The ``spirograph`` command line.

Commands: ``info``, ``preview``, ``traverse``, ``export``, ``verify``, ``push``, ``bench``, ``evaluate``.

Run ``spirograph --help`` (or ``python -m spirograph --help``) and ``spirograph COMMAND --help``.
Every failure is one line on stderr, never a traceback: exit status 2 for bad arguments
(and library errors caused by bad values), 1 for failures at run time (a file that cannot
be written, the Hub, a missing optional part).

Nothing heavy is imported before the arguments are parsed, so ``--help`` answers at once:
the choices below are literals, pinned to the library's by the tests.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from spirograph._version import __version__
from spirograph.errors import ParameterError, SpirographError
from spirograph.files import parse_json

if TYPE_CHECKING:
    import torch

    from spirograph.space import ParameterSpace

__all__ = ["build_parser", "main"]

EXPORT_FORMATS = ("parquet",)

# The library's names, as literals so that parsing imports no torch (tests compare them).
_PARAMETER_NAMES = ("m", "b", "h", "sigma", "fore_r", "fore_g", "fore_b", "back_r", "back_g", "back_b")
_SPLIT_NAMES = ("train", "val", "test")
_SPLIT_ALIASES = {"validation": "val"}  # the Hub's (and HF datasets') name of the validation split
_NORMALIZE_MODES = ("row", "image")
_HUB_CONFIGS = {
    "v1": "32x32, row normalisation (the paper's released generator)",
    "v1-image": "32x32, image normalisation (the equation as printed)",
    "v1-64": "64x64, row normalisation",
    "v1-64-image": "64x64, image normalisation",
}
_DEFAULT_CONFIG = "v1"
_PROTOCOL_NAMES = ("cpu", "paper")
_MAX_BENCH_BATCH = 16_384  # larger batches time the allocator, and the naive baseline would need gigabytes


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


class _UsageError(Exception):
    """A combination of arguments that argparse cannot check on its own."""


# ---------------------------------------------------------------------------------------------- argument types
def _int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer ``>= minimum``, with the error message argparse prints."""
    expected = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)
_int_at_least_two = _int_at_least(2)


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _int_list(text: str) -> list[int]:
    items = [item for item in text.replace(",", " ").split() if item]
    if not items:
        raise argparse.ArgumentTypeError(f"expected positive integers separated by commas, got {text!r}")
    values = [_positive_int(item) for item in items]
    for value in values:
        if value > _MAX_BENCH_BATCH:
            raise argparse.ArgumentTypeError(f"expected batch sizes of at most {_MAX_BENCH_BATCH:,}, got {value:,}")
    return values


def _path_name(text: str, expected: str) -> Path:
    """``text`` as a path, refused when empty or blank: ``Path("")`` is the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected the name of {expected}, got {text!r}")
    return Path(text)


def _input_file(text: str) -> Path:
    """An argparse type: the name of a file to read, not empty."""
    return _path_name(text, "a file to read")


def _input_folder(text: str) -> Path:
    """An argparse type: the name of a folder to read, not empty."""
    return _path_name(text, "a folder to read")


def _output_folder(text: str) -> Path:
    """An argparse type: the name of a folder to write, not empty."""
    return _path_name(text, "a folder to write")


def _encoder_spec(text: str) -> str:
    """An argparse type: ``package.module:callable`` or ``path/to/file.py:callable``, not empty."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected package.module:callable or path/to/file.py:callable, got {text!r}")
    return text


def _output_file(text: str) -> Path:
    """An argparse type: the name of a file to write, neither empty nor an existing folder."""
    path = _path_name(text, "a file to write")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"expected a file, got the folder {text!r}")
    return path


def _parameter_spec(text: str) -> dict[str, float]:
    """Parse ``"m=3,b=0.5,sigma=0.4"`` into ``{"m": 3.0, "b": 0.5, "sigma": 0.4}``."""
    values: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, number = part.partition("=")
        name = name.strip()
        if not sep:
            raise argparse.ArgumentTypeError(f"expected NAME=VALUE pairs separated by commas, got {part!r}")
        if name not in _PARAMETER_NAMES:
            raise argparse.ArgumentTypeError(
                f"unknown parameter {name!r}; valid names are {', '.join(_PARAMETER_NAMES)}"
            )
        if name in values:
            raise argparse.ArgumentTypeError(f"parameter {name!r} is given twice in {text!r}")
        try:
            values[name] = _finite_float(number.strip())
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(f"value of {name!r} must be a finite number, got {number!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE pairs separated by commas, got {text!r}")
    return values


# ---------------------------------------------------------------------------------------------- helpers
_MAX_PIXELS = 100_000_000  # a larger picture is almost surely a typo in --scale, --rows or --steps


def _check_picture_size(count: int, nrow: int, side: int, args: argparse.Namespace) -> None:
    # Width and height of image_grid's output, checked before rendering anything.
    columns, rows = min(nrow, count), -(-count // nrow)
    width = columns * side * args.scale + (columns + 1) * args.padding
    height = rows * side * args.scale + (rows + 1) * args.padding
    if width * height > _MAX_PIXELS:
        raise _UsageError(
            f"the picture would be {width}x{height} pixels, more than {_MAX_PIXELS:,}; lower --scale or the grid size"
        )


def _progress(iterable: Sequence[Any], *, quiet: bool, desc: str) -> Any:
    from tqdm import tqdm

    # A bar is only worth drawing for more than one step.
    return tqdm(iterable, desc=desc, disable=quiet or len(iterable) < 2, leave=False, file=sys.stderr, unit="step")


def _vector(values: dict[str, float], space: ParameterSpace) -> list[float]:
    vector = list(space.prior_mean())
    for name, value in values.items():
        vector[_PARAMETER_NAMES.index(name)] = value
    return vector


def _read_params_file(path: Path, space: ParameterSpace) -> torch.Tensor:
    """Rows of parameters from a JSON or CSV file; parameters not given take the prior mean.

    JSON: a list of objects ``{"m": 3, ...}`` or of lists of ten numbers. CSV: a header of
    parameter names, then one row per image (or rows of ten numbers without a header).
    """
    import torch

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise _UsageError(f"--params-file: cannot read {str(path)!r}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise _UsageError(
            f"--params-file: {str(path)!r} is not UTF-8 text: {error.reason} at byte {error.start}"
        ) from None
    rows: list[list[float]] = []
    if path.suffix.lower() == ".json":
        try:
            data = parse_json(text, where="--params-file", what=repr(str(path)), error=ParameterError)
        except ParameterError as error:  # too long, too deep, not JSON
            raise _UsageError(str(error)) from None
        if not isinstance(data, list) or not data:
            raise _UsageError(f"--params-file: expected a non-empty JSON list of rows, got {type(data).__name__}")
        for number, row in enumerate(data):
            if isinstance(row, dict):
                rows.append(_vector(_checked_mapping(row, f"row {number}"), space))
            elif isinstance(row, list):
                rows.append(_checked_list(row, f"row {number}"))
            else:
                raise _UsageError(f"--params-file: row {number} must be an object or a list, got {type(row).__name__}")
    else:
        lines = [line for line in csv.reader(io.StringIO(text)) if line and any(cell.strip() for cell in line)]
        if not lines:
            raise _UsageError(f"--params-file: {str(path)!r} holds no rows")
        header = [cell.strip() for cell in lines[0]]
        if all(cell in _PARAMETER_NAMES for cell in header):
            for number, line in enumerate(lines[1:], start=1):
                if len(line) != len(header):
                    raise _UsageError(
                        f"--params-file: line {number + 1} has {len(line)} values, expected {len(header)}"
                    )
                rows.append(
                    _vector(_checked_mapping(dict(zip(header, line, strict=True)), f"line {number + 1}"), space)
                )
        else:
            for number, line in enumerate(lines):
                rows.append(_checked_list(line, f"line {number + 1}"))
        if not rows:
            raise _UsageError(f"--params-file: {str(path)!r} has a header but no rows")
    return torch.tensor(rows, dtype=torch.float32)


def _number(value: Any, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _UsageError(f"--params-file: {where} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(number):
        raise _UsageError(f"--params-file: {where} must be a finite number, got {value!r}")
    return number


def _checked_mapping(row: dict[str, Any], where: str) -> dict[str, float]:
    unknown = [name for name in row if name not in _PARAMETER_NAMES]
    if unknown:
        raise _UsageError(
            f"--params-file: {where} has unknown names {unknown}; valid names are {list(_PARAMETER_NAMES)}"
        )
    return {name: _number(value, f"{where} `{name}`") for name, value in row.items()}


def _checked_list(row: Sequence[Any], where: str) -> list[float]:
    if len(row) != len(_PARAMETER_NAMES):
        raise _UsageError(f"--params-file: {where} must hold 10 values {list(_PARAMETER_NAMES)}, got {len(row)}")
    return [_number(value, f"{where} value {k}") for k, value in enumerate(row)]


def _say(quiet: bool, message: str) -> None:
    if not quiet:
        print(message)


# ---------------------------------------------------------------------------------------------- info
def _info_data() -> dict[str, Any]:
    from spirograph.dataset import DATASET_VERSION, SPLITS
    from spirograph.render import RenderSettings
    from spirograph.space import PARAMETER_MEANINGS, ParameterSpace

    space = ParameterSpace()
    return {
        "version": __version__,
        "dataset_version": DATASET_VERSION,
        "parameters": [
            {
                "name": name,
                "meaning": PARAMETER_MEANINGS[name],
                "low": space.bounds[name][0],
                "high": space.bounds[name][1],
                "role": "target" if name in space.targets else "nuisance",
            }
            for name in _PARAMETER_NAMES
        ],
        "targets": list(space.targets),
        "nuisance": list(space.nuisance_names),
        "splits": [{"name": info.name, "size": info.num_examples, "seed": info.seed} for info in SPLITS.values()],
        "renderer": RenderSettings().to_dict(),
    }


def _run_info(args: argparse.Namespace) -> int:
    data = _info_data()
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    priors = [f"U({row['low']:g}, {row['high']:g})" for row in data["parameters"]]
    # Each column as wide as its longest entry, so every row lines up.
    name_width = max(len("name"), *(len(row["name"]) for row in data["parameters"]))
    meaning_width = max(len("meaning"), *(len(row["meaning"]) for row in data["parameters"]))
    prior_width = max(len("prior"), *(len(prior) for prior in priors))
    lines = [
        f"spirograph {data['version']} (dataset {data['dataset_version']})",
        "",
        "Parameters (canonical order; prior U(low, high)):",
        f"  {'name':<{name_width}}  {'meaning':<{meaning_width}}  {'prior':<{prior_width}}  role",
    ]
    for row, prior in zip(data["parameters"], priors, strict=True):
        lines.append(
            f"  {row['name']:<{name_width}}  {row['meaning']:<{meaning_width}}  {prior:<{prior_width}}  {row['role']}"
        )
    lines += ["", "Splits:", f"  {'name':<6} {'size':>8} {'seed':>10}"]
    for split in data["splits"]:
        lines.append(f"  {split['name']:<6} {split['size']:>8,} {split['seed']:>10}")
    renderer = data["renderer"]
    lines += [
        "",
        f"Renderer: {renderer['size']}x{renderer['size']} RGB, {renderer['n_points']} curve points, "
        f"grid [-{renderer['extent']:g}, {renderer['extent']:g}], normalize={renderer['normalize']!r} "
        "(the paper's released generator; 'image' is the equation as printed)",
    ]
    print("\n".join(lines))
    return 0


# ---------------------------------------------------------------------------------------------- preview
def _render_chunks(
    params: torch.Tensor, render_one: Callable[[torch.Tensor], torch.Tensor], *, quiet: bool
) -> torch.Tensor:
    # params (n, 10) or (n, k, 10) -> images (n, [k,] 3, S, S), rendered in chunks under a progress bar.
    import torch

    chunk = 256
    starts = list(range(0, params.shape[0], chunk))
    parts = [render_one(params[start : start + chunk]) for start in _progress(starts, quiet=quiet, desc="render")]
    return torch.cat(parts)


def _run_preview(args: argparse.Namespace) -> int:
    import torch

    from spirograph.dataset import SPLITS, Spirograph
    from spirograph.render import render
    from spirograph.space import ParameterSpace
    from spirograph.viz import image_grid, nuisance_variations, save_png

    space = ParameterSpace()
    explicit = args.params is not None or args.params_file is not None
    if explicit and (args.offset != 0 or args.split_given):
        raise _UsageError("--params/--params-file replace the split; do not combine them with --split or --offset")
    if explicit:
        rows = [_vector(values, space) for values in args.params or []]
        params = torch.tensor(rows, dtype=torch.float32).reshape(-1, len(_PARAMETER_NAMES))
        if args.params_file is not None:
            params = torch.cat([params, _read_params_file(args.params_file, space)])
    else:
        count = args.rows if args.nuisance_draws else args.rows * args.cols
        available = SPLITS[args.split].num_examples
        if args.offset + count > available:
            raise _UsageError(
                f"--offset {args.offset} plus {count} images runs past the {available:,} items of {args.split!r}"
            )
        # The first items of a split are the same whatever the subset, so draw only those needed.
        dataset = Spirograph(args.split, subset=args.offset + count, size=args.size, normalize=args.normalize)
        params = dataset.params[args.offset :]

    def render_one(chunk: torch.Tensor) -> torch.Tensor:
        return render(chunk, size=args.size, normalize=args.normalize)

    count = params.shape[0] * (args.nuisance_draws or 1)
    nrow = args.nuisance_draws or (min(args.cols, params.shape[0]) if explicit else args.cols)
    _check_picture_size(count, nrow, args.size, args)
    if args.nuisance_draws:
        # One grid row per item: its targets under K nuisance draws.
        variations = nuisance_variations(params, args.nuisance_draws, space=space, seed=args.seed)  # (n, K, 10)
        images = _render_chunks(variations, render_one, quiet=args.quiet).flatten(0, 1)  # (n * K, 3, S, S)
    else:
        images = _render_chunks(params, render_one, quiet=args.quiet)
    picture = image_grid(images, nrow=nrow, scale=args.scale, padding=args.padding)
    path = save_png(picture, args.out)
    _say(args.quiet, f"wrote {path} ({picture.width}x{picture.height}, {images.shape[0]} images)")
    return 0


# ---------------------------------------------------------------------------------------------- traverse
def _run_traverse(args: argparse.Namespace) -> int:
    import torch

    from spirograph.space import ParameterSpace
    from spirograph.viz import MAX_GIF_FRAMES, image_grid, save_gif, save_png, traversal

    space = ParameterSpace()
    names = list(_PARAMETER_NAMES) if args.all else [args.parameter]
    if args.all and (args.low is not None or args.high is not None):
        raise _UsageError("--low/--high set the range of one parameter; do not combine them with --all")
    frame_count = 2 * args.steps - 2 if args.bounce else args.steps
    if args.gif is not None and frame_count > MAX_GIF_FRAMES:
        raise _UsageError(
            f"--gif would hold {frame_count:,} frames, more than {MAX_GIF_FRAMES:,}; lower --steps"
            + (" or drop --bounce" if args.bounce else "")
        )
    base = args.base or {}
    _check_picture_size(len(names) * args.steps, args.steps, args.size, args)
    strips = []
    for name in _progress(names, quiet=args.quiet, desc="traverse"):
        strips.append(
            traversal(
                name,
                args.steps,
                base,
                space=space,
                low=args.low,
                high=args.high,
                size=args.size,
                normalize=args.normalize,
            )
        )
    images = torch.stack(strips)  # (P, steps, 3, S, S)
    labels = names if args.all else None  # name each strip when there are several
    picture = image_grid(
        images.flatten(0, 1), nrow=args.steps, scale=args.scale, padding=args.padding, row_labels=labels
    )
    path = save_png(picture, args.out)
    _say(args.quiet, f"wrote {path} ({picture.width}x{picture.height}, {len(names)} x {args.steps} images)")
    if args.gif is not None:
        # Frame s shows step s of every swept parameter side by side.
        order = list(range(args.steps))
        if args.bounce:
            order += list(range(args.steps - 2, 0, -1))
        frames = [
            image_grid(images[:, step], nrow=len(names), scale=args.scale, padding=args.padding) for step in order
        ]
        gif = save_gif(frames, args.gif, duration=args.duration)
        _say(args.quiet, f"wrote {gif} ({len(frames)} frames)")
    return 0


# ---------------------------------------------------------------------------------------------- export / push / bench
def _run_export(args: argparse.Namespace) -> int:
    from spirograph.hub import export

    folder = export(
        args.out,
        splits=args.split,
        subset=args.subset,
        config=args.config or _DEFAULT_CONFIG,
        repo_id=args.repo_id,
        progress=not args.quiet,
        num_proc=args.num_proc,
    )
    if not args.quiet:  # the summary reads the manifest; skip that too
        print(f"wrote {folder} ({_export_summary(folder)})")
    return 0


def _export_summary(folder: Path) -> str:
    """``"config v1: train 100,000, val 10,000 rows; 7 files"``, from the export's manifest."""
    manifest = json.loads((Path(folder) / "manifest.json").read_text(encoding="utf-8"))
    configs = [
        f"config {name}: " + ", ".join(f"{split} {info['num_rows']:,}" for split, info in layout["splits"].items())
        for name, layout in manifest["configs"].items()
    ]
    return f"{'; '.join(configs)} rows; {len(manifest['files'])} files"


def _run_verify(args: argparse.Namespace) -> int:
    if not args.folder.is_dir():
        raise _UsageError(f"DIR must be a folder written by `spirograph export`, got {str(args.folder)!r}")
    from spirograph.errors import ExportError, MissingDependencyError
    from spirograph.hub import verify_export

    try:
        manifest = verify_export(args.folder)
    except (ExportError, MissingDependencyError) as error:
        # The export does not match (exit 1, like `sha256sum --check`), not a bad argument. The
        # message names the command, not the library function that ran it.
        print(f"spirograph verify: error: {_one_line(error).removeprefix('verify_export: ')}", file=sys.stderr)
        return 1
    _say(args.quiet, f"{args.folder}: all {len(manifest['files'])} files match manifest.json")
    return 0


def _run_push(args: argparse.Namespace) -> int:
    if not args.folder.is_dir():
        raise _UsageError(f"DIR must be a folder written by `spirograph export`, got {str(args.folder)!r}")
    from spirograph.hub import push

    if args.quiet:
        try:
            from huggingface_hub.utils import disable_progress_bars
        except ImportError:
            pass  # push() itself says how to install the hub extra
        else:
            disable_progress_bars()
    url = push(
        args.folder,
        args.repo_id,
        revision=args.revision,
        private=args.private,
        commit_message=args.message,
    )
    print(url)
    return 0


def _run_bench(args: argparse.Namespace) -> int:
    from spirograph.bench import benchmark_render, format_table
    from spirograph.files import atomic_write_text

    batch_sizes = tuple(size for group in args.batch_sizes for size in group)
    rows = benchmark_render(batch_sizes, threads=args.threads)
    print(format_table(rows))
    if args.json is not None:
        payload = {"benchmark": "render", "version": __version__, "threads": args.threads, "rows": rows}
        atomic_write_text(args.json, json.dumps(payload, indent=2, default=str) + "\n")
        _say(args.quiet, f"wrote {args.json}")
    return 0


# ---------------------------------------------------------------------------------------------- parser
def _protocol_argument(text: str) -> str | Path:
    if text in _PROTOCOL_NAMES:
        return text
    if text.endswith(".json"):
        return Path(text)
    raise argparse.ArgumentTypeError(f"must be one of {list(_PROTOCOL_NAMES)} or a .json file, got {text!r}")


def _read_protocol(value: str | Path) -> Any:
    from spirograph.leaderboard import Protocol

    if isinstance(value, str):
        return value
    if not value.is_file():
        raise _UsageError(f"--protocol: {str(value)!r} is not a file")
    if value.stat().st_size > 1 << 20:
        raise _UsageError(f"--protocol: {str(value)!r} is larger than 1 MiB; a protocol file is a few lines")
    try:
        data = json.loads(value.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise _UsageError(f"--protocol: {str(value)!r} is not JSON: {error}") from None
    return Protocol.from_dict(data, name=value.stem)


def _run_evaluate(args: argparse.Namespace) -> int:
    from spirograph.leaderboard import build_submission, check_entry_name, compare_with_references, score

    name = args.name or args.encoder.rpartition(":")[2]
    try:
        check_entry_name(name, "evaluate")
    except SpirographError as error:
        raise _UsageError(f"--name: {_one_line(error)}") from None
    out = args.out if args.out is not None else Path(f"{name}.json")
    if out.is_dir():
        raise _UsageError(f"--out must be a file, got the folder {str(out)!r}")
    if not out.parent.is_dir():
        raise _UsageError(f"--out must be in a folder that exists, got {str(out)!r}")
    protocol = _read_protocol(args.protocol)
    encoder, provenance = build_submission(args.encoder, args.weights, device=args.device)
    result = score(
        encoder,
        protocol,
        device=args.device,
        seed=args.seed,
        robustness=args.robustness,
        progress=not args.quiet,
        name=name,
        title=args.title or name,
        submission=provenance,
    )
    result.save(out)
    print(compare_with_references(result))
    _say(args.quiet, f"wrote {out}")
    return 0


def _split_name(text: str) -> str:
    """An argparse type: a split name, ``"validation"`` accepted for ``"val"``."""
    name = _SPLIT_ALIASES.get(text, text)
    if name not in _SPLIT_NAMES:
        choices = ", ".join(repr(choice) for choice in (*_SPLIT_NAMES, *_SPLIT_ALIASES))
        raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from {choices})")
    return name


class _Formatter(argparse.HelpFormatter):
    """Wraps the description to the terminal; keeps the lines of the examples epilog as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("examples:"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def _quiet_option() -> argparse.ArgumentParser:
    """The ``--quiet`` option every command takes, as a parent parser."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no summary line")
    return parent


def _example_parser(commands: Any, name: str, summary: str, description: str, examples: Sequence[str]) -> Any:
    """A sub-command parser with a one-line summary, a description and an examples epilog."""
    epilog = "examples:\n" + "\n".join(f"  {line}" for line in examples) if examples else None
    return commands.add_parser(
        name,
        help=summary,
        description=description,
        epilog=epilog,
        formatter_class=_Formatter,
        parents=[_quiet_option()],
    )


def _add_render_options(parser: argparse.ArgumentParser, *, scale: int) -> None:
    parser.add_argument(
        "--normalize",
        choices=_NORMALIZE_MODES,
        default="row",
        help="'row' (default): each image row divided by its maximum, the paper's released generator; "
        "'image': divided by the image maximum, the equation as printed",
    )
    parser.add_argument("--size", type=_positive_int, default=32, help="canvas side in pixels (default 32)")
    parser.add_argument(
        "--scale", type=_positive_int, default=scale, help=f"nearest-neighbour upscaling (default {scale})"
    )
    parser.add_argument(
        "--padding", type=_non_negative_int, default=2, help="pixels between images in the grid (default 2)"
    )


class _SplitAction(argparse.Action):
    """Stores ``--split`` and remembers that it was given (it conflicts with ``--params``)."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option: str | None = None
    ) -> None:
        setattr(namespace, self.dest, values)
        namespace.split_given = True


def _add_info(commands: Any) -> None:
    info = _example_parser(
        commands,
        "info",
        "version, parameters with priors and roles, splits with seeds and sizes",
        "Print the package and dataset versions, the ten parameters (meaning, prior range, target or "
        "nuisance), the canonical splits (size and seed) and the renderer's settings. Nothing is rendered.",
        ["spirograph info", "spirograph info --json"],
    )
    info.add_argument("--json", action="store_true", help="print JSON instead of tables")
    info.set_defaults(handler=_run_info)


def _add_preview(commands: Any) -> None:
    preview = _example_parser(
        commands,
        "preview",
        "a PNG grid of samples from a split or of given parameters",
        "Write a PNG grid of images: the first rows*cols items of a split (from --offset), or the "
        "parameters given with --params / --params-file. With --nuisance-draws K each row shows one item's "
        "targets under K nuisance draws.",
        [
            "spirograph preview --split test --rows 4 --cols 8 --out preview.png",
            "spirograph preview --nuisance-draws 8 --rows 4 --out same-targets.png",
            "spirograph preview --params 'm=3,b=0.5,sigma=0.4' --params 'm=4.5,b=0.2' --out mine.png",
        ],
    )
    preview.add_argument(
        "--split", type=_split_name, default="train", action=_SplitAction, metavar="{train,val,test}",
        help="split to sample (default train; 'validation' is accepted for 'val')",
    )  # fmt: skip
    preview.add_argument("--offset", type=_non_negative_int, default=0, help="index of the first item (default 0)")
    preview.add_argument("--rows", type=_positive_int, default=4, help="grid rows (default 4)")
    preview.add_argument("--cols", type=_positive_int, default=8, help="grid columns (default 8)")
    preview.add_argument(
        "--params", type=_parameter_spec, action="append", metavar="SPEC",
        help="one image's parameters as NAME=VALUE pairs, e.g. 'm=3,b=0.5,sigma=0.4'; parameters not named "
        "take their prior mean; repeat for more images",
    )  # fmt: skip
    preview.add_argument(
        "--params-file", type=_input_file, metavar="FILE",
        help="parameters from a file: JSON list of objects (or of 10-number lists), or CSV with a header of names",
    )  # fmt: skip
    preview.add_argument(
        "--nuisance-draws", type=_positive_int, metavar="K",
        help="show each item's targets under K fresh nuisance draws: one grid row of K images per item "
        "(replaces --cols)",
    )  # fmt: skip
    preview.add_argument("--seed", type=_non_negative_int, default=0, help="seed of the nuisance draws (default 0)")
    preview.add_argument(
        "--out", type=_output_file, default=Path("preview.png"), help="PNG to write (default preview.png)"
    )
    _add_render_options(preview, scale=4)
    preview.set_defaults(handler=_run_preview, split_given=False)


def _add_traverse(commands: Any) -> None:
    traverse = _example_parser(
        commands,
        "traverse",
        "a PNG strip (and optional GIF) sweeping one parameter over its range",
        "Sweep one parameter over its prior range with the others fixed (at their prior means, or "
        "at --base). --all writes one labelled strip per parameter, one row each; its GIF frames show every "
        "parameter side by side.",
        [
            "spirograph traverse --parameter m --steps 9 --out m.png --gif m.gif",
            "spirograph traverse -p b --base 'm=4,h=1' --low 0.2 --high 0.9 --out b.png",
            "spirograph traverse --all --out all.png",
        ],
    )
    which = traverse.add_mutually_exclusive_group(required=True)
    which.add_argument("--parameter", "-p", choices=_PARAMETER_NAMES, help="the parameter to sweep")
    which.add_argument("--all", action="store_true", help="one strip per parameter")
    traverse.add_argument("--steps", type=_int_at_least_two, default=9, help="values in the sweep (default 9)")
    traverse.add_argument(
        "--base", type=_parameter_spec, metavar="SPEC", help="values of the fixed parameters, e.g. 'm=4,h=1'"
    )
    traverse.add_argument("--low", type=_finite_float, help="start of the sweep (default: the prior's low)")
    traverse.add_argument("--high", type=_finite_float, help="end of the sweep (default: the prior's high)")
    traverse.add_argument(
        "--out", type=_output_file, default=Path("traverse.png"), help="PNG to write (default traverse.png)"
    )
    traverse.add_argument(
        "--gif", type=_output_file, metavar="PATH", help="also write an animated GIF, one frame per step"
    )
    traverse.add_argument(
        "--duration", type=_positive_int, default=120, help="milliseconds per GIF frame (default 120)"
    )
    traverse.add_argument("--bounce", action="store_true", help="GIF goes there and back (2*steps-2 frames)")
    _add_render_options(traverse, scale=4)
    traverse.set_defaults(handler=_run_traverse)


def _add_export(commands: Any) -> None:
    export = _example_parser(
        commands,
        "export",
        "write the splits as a Hugging Face dataset folder (Parquet + card + manifest)",
        "Render the canonical splits and write them as Parquet shards with a dataset card and a "
        "checksum manifest, ready for `spirograph push`. Needs the hub extra "
        '(python -m pip install "spirograph-dataset[hub]").',
        [
            "spirograph export --out hf/ --repo-id you/spirograph",
            "spirograph export --out hf/ --repo-id you/spirograph --config v1 --config v1-image",
            "spirograph export --out hf/ --split test --subset 1000",
        ],
    )
    export.add_argument("--format", choices=EXPORT_FORMATS, default="parquet", help="file format (default parquet)")
    export.add_argument("--out", type=_output_folder, required=True, metavar="DIR", help="folder to write")
    export.add_argument(
        "--repo-id", metavar="R", help="the dataset repository the copy is for, e.g. you/spirograph; the card's "
        "loading snippets name it (default: a placeholder to replace)",
    )  # fmt: skip
    export.add_argument(
        "--split", type=_split_name, action="append", metavar="{train,val,test}",
        help="a split to export (repeat; default: all)",
    )  # fmt: skip
    export.add_argument("--subset", type=_positive_int, metavar="N", help="only the first N items of each split")
    export.add_argument(
        "--config", choices=list(_HUB_CONFIGS), action="append",
        help=f"a config to export (repeat for several; default {_DEFAULT_CONFIG}): "
        + "; ".join(f"{name}: {description}" for name, description in _HUB_CONFIGS.items()),
    )  # fmt: skip
    export.add_argument("--num-proc", type=_positive_int, default=1, metavar="N", help="worker processes (default 1)")
    export.set_defaults(handler=_run_export)


def _add_verify(commands: Any) -> None:
    verify = _example_parser(
        commands,
        "verify",
        "check every file of an exported folder against its manifest",
        "Check that every file listed in DIR/manifest.json is present with its SHA-256, size and rows, and "
        "that no unlisted data file is there. Exit status 0 if all match, 1 naming the first file that does not. "
        'Needs the hub extra (python -m pip install "spirograph-dataset[hub]").',
        ["spirograph verify hf/"],
    )
    verify.add_argument("folder", type=_input_folder, metavar="DIR", help="the exported folder")
    verify.set_defaults(handler=_run_verify)


def _add_push(commands: Any) -> None:
    push = _example_parser(
        commands,
        "push",
        "upload an exported folder to the Hugging Face Hub",
        "Upload a folder written by `spirograph export` to a dataset repository. The token comes "
        "from `hf auth login` or the HF_TOKEN environment variable. Needs the hub extra.",
        ["spirograph push hf/ --repo-id you/spirograph"],
    )
    push.add_argument("folder", type=_input_folder, metavar="DIR", help="the exported folder")
    push.add_argument("--repo-id", required=True, metavar="R", help="dataset repository, e.g. you/spirograph")
    push.add_argument("--revision", help="branch to push to (default: the main branch)")
    push.add_argument("--private", action="store_true", help="create the repository as private")
    push.add_argument("--message", metavar="TEXT", help="commit message")
    push.set_defaults(handler=_run_push)


def _add_bench(commands: Any) -> None:
    bench = _example_parser(
        commands,
        "bench",
        "time the renderer at several batch sizes",
        "Time render() at several batch sizes against a naive baseline and print a table.",
        ["spirograph bench --batch-sizes 64,512,4096 --json render.json"],
    )
    bench.add_argument(
        "--batch-sizes", type=_int_list, nargs="+", default=[[64, 512, 4096]], metavar="N",
        help=f"batch sizes, separated by commas or spaces, each at most {_MAX_BENCH_BATCH:,} (default 64,512,4096)",
    )  # fmt: skip
    bench.add_argument("--threads", type=_positive_int, default=2, help="torch CPU threads (default 2)")
    bench.add_argument("--json", type=_output_file, metavar="OUT", help="also write the rows as JSON")
    bench.set_defaults(handler=_run_bench)


def _add_evaluate(commands: Any) -> None:
    evaluate = _example_parser(
        commands,
        "evaluate",
        "score your encoder with the leaderboard's protocol",
        "Build an encoder from ENCODER ('package.module:callable' or 'path/to/file.py:callable', a callable "
        "that takes no arguments and returns an nn.Module mapping a float batch (B, 3, 32, 32) in [0, 1] to "
        "features (B, d)), score it with a leaderboard protocol (the linear probe, the feature-averaging "
        "curve, the invariance diagnostics and the penalty), write the result file and print it beside the "
        "reference rows of the same protocol. Drop the file into baselines/results/ to put it on the leaderboard.",
        [
            "spirograph evaluate mypackage.models:build_encoder --weights encoder.pt --name my-encoder",
            "spirograph evaluate ./encoder.py:make --protocol paper --device cuda --out results/mine.json",
        ],
    )
    evaluate.add_argument(
        "encoder", type=_encoder_spec, metavar="ENCODER", help="package.module:callable or path/to/file.py:callable"
    )
    evaluate.add_argument(
        "--weights", type=_input_file, metavar="FILE", help="a state dict (loaded with weights_only=True)"
    )
    evaluate.add_argument(
        "--protocol", type=_protocol_argument, default="cpu", metavar="{cpu,paper,FILE.json}",
        help="the protocol: cpu (default), paper, or a JSON file of protocol settings (the keys of an "
        "entry file's `evaluation`; the file's stem names it)",
    )  # fmt: skip
    evaluate.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    evaluate.add_argument("--seed", type=_int_at_least(0), default=0, help="seed of the nuisance draws (default 0)")
    evaluate.add_argument("--name", metavar="NAME", help="the result's entry name (default: the callable's name)")
    evaluate.add_argument("--title", metavar="TEXT", help="the leaderboard row's title (default: NAME)")
    evaluate.add_argument("--robustness", action="store_true", help="also compute the robustness table")
    evaluate.add_argument("--out", type=_output_file, metavar="FILE", help="the result file (default: NAME.json)")
    evaluate.set_defaults(handler=_run_evaluate)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``spirograph`` command (exposed for documentation and tests).

    Returns:
        The parser; each sub-command sets ``handler``, the function that runs it.
    """
    parser = _Parser(
        prog="spirograph",
        description="The Spirograph dataset (Foster, Pukdee & Rainforth, ICLR 2021): inspect, picture, export.",
    )
    parser.add_argument("--version", action="version", version=f"spirograph {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    for add in (_add_info, _add_preview, _add_traverse, _add_export, _add_verify, _add_push, _add_bench, _add_evaluate):
        add(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``spirograph`` command.

    Args:
        argv: the arguments after the program name (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success; 2 for bad arguments or values; 1 for a failure at run
        time (a file that cannot be written, the Hub, a missing optional part); 130 when
        interrupted. Every failure is one line on stderr, never a traceback.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version and argument errors
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    prog = f"spirograph {args.command}"
    try:
        return int(args.handler(args))
    except BrokenPipeError:
        # The reader went away (e.g. `spirograph info | head`); stop quietly, as the Python docs advise.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # one line, never a traceback: the contract of a command-line tool
        print(f"{prog}: error: {_describe(error)}", file=sys.stderr)
        return _exit_status(error)


def _exit_status(error: Exception) -> int:
    """2 when the arguments were wrong, 1 when running failed."""
    if isinstance(error, _UsageError):
        return 2
    # A library error about a value or type the user passed; I/O, Hub and import errors are run time.
    if isinstance(error, SpirographError) and isinstance(error, (ValueError, TypeError)):
        return 2
    return 1


def _describe(error: Exception) -> str:
    if isinstance(error, (_UsageError, SpirographError, OSError)):
        return _one_line(error)
    if isinstance(error, ImportError):
        return f"this command needs a part of spirograph that is not installed: {_one_line(error)}"
    if isinstance(error, MemoryError) or "can't allocate memory" in str(error):
        return f"out of memory: {_one_line(error)}"
    return f"{type(error).__name__}: {_one_line(error)}"


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
