"""Speed of the renderer against the naive formula, measured in one process.

[`benchmark_render()`][spirograph.bench.benchmark_render] times [`render()`][spirograph.render.render] and a direct
implementation of
the generative process (one ``(T, B, S, S)`` tensor of squared distances, as the formula
reads) on the same parameters, forward and forward + backward, and reports images per
second, median times and the speed-up. Both run in the same process, one after the
other for each batch size, so a noisy machine slows both alike; quote the ratios.

Examples:
    >>> rows = benchmark_render(batch_sizes=(8,), repeats=2, size=8, n_points=5)
    >>> sorted(rows[0])[:3]
    ['batch_size', 'device', 'dtype']
    >>> print(format_table(rows))  # doctest: +SKIP
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from spirograph.errors import ParameterError
from spirograph.render import NORMALIZE_MODES, Normalize, render
from spirograph.space import PARAMETER_NAMES, ParameterSpace

__all__ = ["benchmark_render", "format_table", "naive_render"]

_NAIVE_CHUNK = 512


def naive_render(
    params: torch.Tensor, *, size: int = 32, n_points: int = 40, extent: float = 6.0, normalize: Normalize = "row"
) -> torch.Tensor:
    """The generative process written directly, the baseline of the benchmark.

    Builds the ``(T, B, S, S)`` tensor of squared distances between every curve point and
    every pixel, exactly as the formula reads, in chunks of at most 512 images (the
    per-image work is the same; the chunks only bound the memory). Differentiable; it
    checks nothing.

    Args:
        params: parameters in canonical order.
        size: as in [`render()`][spirograph.render.render].
        n_points: as in [`render()`][spirograph.render.render].
        extent: as in [`render()`][spirograph.render.render].
        normalize: as in [`render()`][spirograph.render.render].

    Returns:
        The images.

    Shape:
        ``(B, 10) -> (B, 3, size, size)``.
    """
    if params.ndim != 2 or params.shape[1] != len(PARAMETER_NAMES):
        raise ParameterError(f"naive_render: `params` must have shape (B, 10), got {tuple(params.shape)}")
    if len(params) > _NAIVE_CHUNK:
        chunks = [
            naive_render(chunk, size=size, n_points=n_points, extent=extent, normalize=normalize)
            for chunk in params.split(_NAIVE_CHUNK)
        ]
        return torch.cat(chunks)
    m, b, h, sigma = (params[:, k] for k in range(4))
    fore, back = params[:, 4:7], params[:, 7:10]
    t = torch.linspace(0, 2 * math.pi, n_points, dtype=params.dtype, device=params.device)
    grid = torch.linspace(-extent, extent, size, dtype=params.dtype, device=params.device)
    # (T, B) curve points
    x = (m - h)[None] * torch.cos(t)[:, None] + h[None] * torch.cos(t[:, None] * ((m - h) / b)[None])
    y = (m - h)[None] * torch.sin(t)[:, None] - h[None] * torch.sin(t[:, None] * ((m - h) / b)[None])
    # (T, B, S, S): row index i against x_k, column index j against y_k
    squared = (grid[None, None, :, None] - x[:, :, None, None]) ** 2 + (
        grid[None, None, None, :] - y[:, :, None, None]
    ) ** 2
    value = torch.exp(-squared / sigma[None, :, None, None]).mean(dim=0)  # (B, S, S)
    if normalize == "row":
        value = value / (value.amax(dim=2, keepdim=True) + 1e-8)
    else:
        value = value / (value.amax(dim=(1, 2), keepdim=True) + 1e-8)
    return value[:, None] * fore[:, :, None, None] + (1 - value[:, None]) * back[:, :, None, None]


def _check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ParameterError(f"benchmark_render: `{name}` must be an int >= 1, got {value!r}")
    return value


def _time_interleaved(
    steps: Sequence[Callable[[], object]],
    repeats: Sequence[int],
    warmup: int,
    synchronize: Callable[[], None],
) -> list[list[float]]:
    """Wall-clock seconds of each step, its timed calls spread evenly over the same rounds.

    On a shared, noisy machine the slow baseline and the fast renderer are then measured
    in the same stretches of time, so their ratio is fair even when the load changes.
    """
    for step in steps:
        for _ in range(warmup):
            step()
    synchronize()
    rounds = max(repeats)
    times: list[list[float]] = [[] for _ in steps]
    for round_index in range(rounds):
        for k, step in enumerate(steps):
            # Step k runs repeats[k] times in all, spread over the rounds.
            due = (round_index + 1) * repeats[k] // rounds - round_index * repeats[k] // rounds
            for _ in range(due):
                start = time.perf_counter()
                step()
                synchronize()
                times[k].append(time.perf_counter() - start)
    return times


def _step(
    fn: Callable[[torch.Tensor], torch.Tensor], params: torch.Tensor, cotangent: torch.Tensor | None
) -> Callable[[], object]:
    # forward only, or forward + the vector-Jacobian product with `cotangent`
    if cotangent is None:
        return lambda: fn(params)

    def step() -> object:
        leaf = params.detach().requires_grad_(True)
        return torch.autograd.grad(fn(leaf), leaf, cotangent)

    return step


def benchmark_render(
    batch_sizes: Sequence[int] = (64, 512, 4096),
    *,
    threads: int | None = 2,
    repeats: int = 20,
    naive_repeats: int = 3,
    warmup: int = 2,
    backward: bool = True,
    naive: bool = True,
    normalize: Normalize = "row",
    size: int = 32,
    n_points: int = 40,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Time [`render()`][spirograph.render.render] against [`naive_render()`][spirograph.bench.naive_render] on the
    same parameters.

    The library renderer runs with ``validate=False`` (as in a training loop). The
    backward pass is a vector-Jacobian product with a fixed random cotangent (as a loss
    would send), with respect to all ten parameters.

    Args:
        batch_sizes: images per call.
        threads: ``torch.set_num_threads`` during the run (restored after); ``None``
            leaves it as it is.
        repeats: timed calls of the library renderer per measurement (the median is
            reported).
        naive_repeats: timed calls of the naive formula (slow) per measurement. The calls
            of both are interleaved in rounds, so both see the same machine load.
        warmup: untimed calls of each before each measurement.
        backward: also time forward + backward.
        naive: also time the naive formula (and report the speed-up).
        normalize: renderer settings.
        size: renderer settings.
        n_points: renderer settings.
        device: where to render; CUDA timings synchronise around every call.
        dtype: floating dtype of the parameters.
        seed: seed of the prior draw and the cotangent.

    Returns:
        One dict per batch size and pass (``"forward"``, ``"forward+backward"``) with
        ``batch_size``, ``pass``, ``library_ms`` (median), ``library_min_ms``,
        ``library_images_per_s``, ``naive_ms``, ``naive_min_ms``,
        ``naive_images_per_s``, ``speedup`` (naive median / library median; ``None``
        without ``naive``), ``repeats``, ``naive_repeats``, ``threads``, ``device``,
        ``dtype``, ``normalize``, ``size``, ``n_points``.

    Raises:
        ParameterError: a batch size, ``repeats``, ``naive_repeats`` or ``threads``
            below 1, a negative ``warmup``, a non-floating ``dtype``, or an unknown
            ``normalize``.
    """
    if isinstance(batch_sizes, (int, str)) or not isinstance(batch_sizes, Sequence) or not batch_sizes:
        raise ParameterError(
            f"benchmark_render: `batch_sizes` must be a non-empty sequence of ints, got {batch_sizes!r}"
        )
    for batch_size in batch_sizes:
        _check_positive_int(batch_size, "batch_sizes")
    _check_positive_int(repeats, "repeats")
    _check_positive_int(naive_repeats, "naive_repeats")
    if threads is not None:
        _check_positive_int(threads, "threads")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ParameterError(f"benchmark_render: `warmup` must be an int >= 0, got {warmup!r}")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ParameterError(f"benchmark_render: `dtype` must be a floating torch.dtype, got {dtype!r}")
    if normalize not in NORMALIZE_MODES:
        raise ParameterError(f"benchmark_render: `normalize` must be one of {list(NORMALIZE_MODES)}, got {normalize!r}")
    device = torch.device(device)
    synchronize: Callable[[], None] = (
        (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    )
    options: dict[str, Any] = {"size": size, "n_points": n_points, "normalize": normalize}

    def library(p: torch.Tensor) -> torch.Tensor:
        return render(p, validate=False, **options)

    def reference(p: torch.Tensor) -> torch.Tensor:
        return naive_render(p, **options)

    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    rows: list[dict[str, Any]] = []
    try:
        for batch_size in batch_sizes:
            params = ParameterSpace().sample(batch_size, seed=seed, dtype=dtype, device=device)
            generator = torch.Generator().manual_seed(seed)
            cotangent = torch.randn(batch_size, 3, size, size, generator=generator, dtype=dtype).to(device)
            passes = ["forward", "forward+backward"] if backward else ["forward"]
            for name in passes:
                direction = cotangent if name != "forward" else None
                steps = [_step(library, params, direction)]
                if naive:
                    steps.append(_step(reference, params, direction))
                with torch.no_grad() if name == "forward" else torch.enable_grad():
                    times = _time_interleaved(steps, [repeats, naive_repeats][: len(steps)], warmup, synchronize)
                library_median, library_min = statistics.median(times[0]), min(times[0])
                if naive:
                    naive_median, naive_min = statistics.median(times[1]), min(times[1])
                rows.append(
                    {
                        "batch_size": batch_size,
                        "pass": name,
                        "library_ms": library_median * 1e3,
                        "library_min_ms": library_min * 1e3,
                        "library_images_per_s": batch_size / library_median,
                        "naive_ms": naive_median * 1e3 if naive else None,
                        "naive_min_ms": naive_min * 1e3 if naive else None,
                        "naive_images_per_s": batch_size / naive_median if naive else None,
                        "speedup": naive_median / library_median if naive else None,
                        "repeats": repeats,
                        "naive_repeats": naive_repeats if naive else 0,
                        "threads": torch.get_num_threads(),
                        "device": str(device),
                        "dtype": str(dtype).removeprefix("torch."),
                        "normalize": normalize,
                        "size": size,
                        "n_points": n_points,
                    }
                )
    finally:
        torch.set_num_threads(previous_threads)
    return rows


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Render [`benchmark_render()`][spirograph.bench.benchmark_render] rows as a fixed-width text table.

    Args:
        rows: the dicts returned by [`benchmark_render()`][spirograph.bench.benchmark_render].

    Returns:
        A header line and one line per row: batch size, pass, library median ms and
        images/s, naive median ms and images/s, speed-up.
    """
    header = (
        f"{'batch':>6}  {'pass':<17}{'library ms':>11}{'images/s':>12}{'naive ms':>11}{'images/s':>11}{'speedup':>9}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        naive = row.get("naive_ms") is not None
        lines.append(
            f"{row['batch_size']:>6}  {row['pass']:<17}{row['library_ms']:>11.3f}{row['library_images_per_s']:>12,.0f}"
            + (
                f"{row['naive_ms']:>11.2f}{row['naive_images_per_s']:>11,.0f}{row['speedup']:>8.1f}x"
                if naive
                else f"{'-':>11}{'-':>11}{'-':>9}"
            )
        )
    return "\n".join(lines)
