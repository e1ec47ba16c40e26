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
from dataclasses import dataclass
from typing import Any

import torch

from spirograph._checks import check_bool, check_device, check_instance, check_int, check_tensor
from spirograph.errors import ParameterError, ParameterTypeError
from spirograph.render import Normalize, RenderSettings, check_memory, check_settings, render
from spirograph.space import PARAMETER_NAMES, ParameterSpace

__all__ = ["benchmark_render", "format_table", "naive_render"]

_NAIVE_CHUNK = 512
_MAX_THREADS = 1024  # torch starts one OS thread each; far beyond any core count it only fails or thrashes


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
    check_tensor(params, "params", where="naive_render", shape=("B", len(PARAMETER_NAMES)))
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
        threads: ``torch.set_num_threads`` during the run (restored after), at most 1024; ``None``
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
        ParameterTypeError: an argument of the wrong type.
        ParameterError: a batch size, ``repeats``, ``naive_repeats`` or ``threads``
            below 1, ``threads`` above 1024, a negative ``warmup``, a non-floating ``dtype``, an unknown
            ``normalize``, an unavailable ``device``, or a batch size whose render would
            not fit the device's memory (checked for every size before any is timed).
    """
    where = "benchmark_render"
    if isinstance(batch_sizes, (int, str)) or not isinstance(batch_sizes, Sequence):
        raise ParameterTypeError(f"{where}: `batch_sizes` must be a non-empty sequence of ints, got {batch_sizes!r}")
    if not batch_sizes:
        raise ParameterError(f"{where}: `batch_sizes` must be a non-empty sequence of ints, got {batch_sizes!r}")
    for batch_size in batch_sizes:
        check_int(batch_size, "batch_sizes", where=where, minimum=1)
    check_int(repeats, "repeats", where=where, minimum=1)
    check_int(naive_repeats, "naive_repeats", where=where, minimum=1)
    if threads is not None:
        check_int(threads, "threads", where=where, minimum=1, maximum=_MAX_THREADS)
    check_int(warmup, "warmup", where=where, minimum=0)
    check_int(seed, "seed", where=where)
    check_bool(backward, "backward", where=where)
    check_bool(naive, "naive", where=where)
    check_instance(dtype, "dtype", torch.dtype, where=where, expected="a floating torch.dtype")
    if not dtype.is_floating_point:
        raise ParameterError(f"{where}: `dtype` must be a floating torch.dtype, got {dtype!r}")
    render_settings = check_settings(size, n_points, 6.0, normalize, where=where)
    device = check_device(device, where=where)
    for batch_size in batch_sizes:  # every size, before the first is timed
        check_memory(batch_size, size, n_points, dtype, device, where=where)
    settings = _Settings(repeats, naive_repeats if naive else 0, warmup, naive, render_settings, device, dtype)

    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        passes = ["forward", "forward+backward"] if backward else ["forward"]
        return [_measure(batch_size, name, seed, settings) for batch_size in batch_sizes for name in passes]
    finally:
        torch.set_num_threads(previous_threads)


@dataclass(frozen=True)
class _Settings:
    """What [`benchmark_render()`][spirograph.bench.benchmark_render] holds fixed across batch sizes and passes."""

    repeats: int
    naive_repeats: int
    warmup: int
    naive: bool
    render: RenderSettings
    device: torch.device
    dtype: torch.dtype


def _measure(batch_size: int, name: str, seed: int, settings: _Settings) -> dict[str, Any]:
    """One row of `benchmark_render()`: one batch size and one pass, both renderers interleaved."""
    device, dtype, size = settings.device, settings.dtype, settings.render.size
    synchronize: Callable[[], None] = (
        (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    )
    params = ParameterSpace().sample(batch_size, seed=seed, dtype=dtype, device=device)
    generator = torch.Generator().manual_seed(seed)
    cotangent = torch.randn(batch_size, 3, size, size, generator=generator, dtype=dtype).to(device)
    direction = cotangent if name != "forward" else None
    steps = [_step(lambda p: render(p, settings.render, validate=False), params, direction)]
    if settings.naive:
        steps.append(_step(lambda p: naive_render(p, **settings.render.to_dict()), params, direction))
    with torch.no_grad() if name == "forward" else torch.enable_grad():
        counts = [settings.repeats, settings.naive_repeats][: len(steps)]
        times = _time_interleaved(steps, counts, settings.warmup, synchronize)
    library_median = statistics.median(times[0])
    naive_median = statistics.median(times[1]) if settings.naive else None
    return {
        "batch_size": batch_size,
        "pass": name,
        "library_ms": library_median * 1e3,
        "library_min_ms": min(times[0]) * 1e3,
        "library_images_per_s": batch_size / library_median,
        "naive_ms": naive_median * 1e3 if naive_median is not None else None,
        "naive_min_ms": min(times[1]) * 1e3 if naive_median is not None else None,
        "naive_images_per_s": batch_size / naive_median if naive_median is not None else None,
        "speedup": naive_median / library_median if naive_median is not None else None,
        "repeats": settings.repeats,
        "naive_repeats": settings.naive_repeats,
        "threads": torch.get_num_threads(),
        "device": str(device),
        "dtype": str(dtype).removeprefix("torch."),
        "normalize": settings.render.normalize,
        "size": size,
        "n_points": settings.render.n_points,
    }


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
