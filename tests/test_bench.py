"""Tests of the benchmark core ``spirograph.bench`` (tiny sizes, nothing timed is asserted)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from spirograph.bench import benchmark_render, format_table, naive_render
from spirograph.errors import ParameterError, ParameterTypeError
from spirograph.render import render
from spirograph.space import ParameterSpace

KEYS = {
    "batch_size",
    "pass",
    "library_ms",
    "library_min_ms",
    "library_images_per_s",
    "naive_ms",
    "naive_min_ms",
    "naive_images_per_s",
    "speedup",
    "repeats",
    "naive_repeats",
    "threads",
    "device",
    "dtype",
    "normalize",
    "size",
    "n_points",
}


@pytest.mark.parametrize("normalize", ["row", "image"])
def test_naive_baseline_equals_render(normalize: str) -> None:
    # The baseline must compute the same images, or the speed-up means nothing. More than
    # 512 images exercises its chunking.
    params = ParameterSpace().sample(520, seed=0, dtype=torch.float64)
    naive = naive_render(params, size=6, n_points=5, normalize=normalize)  # type: ignore[arg-type]
    ours = render(params, size=6, n_points=5, normalize=normalize)  # type: ignore[arg-type]
    torch.testing.assert_close(naive, ours, rtol=0, atol=1e-12)


def test_benchmark_rows(device: torch.device) -> None:
    threads = torch.get_num_threads()
    rows = benchmark_render((3, 5), threads=1, repeats=2, naive_repeats=1, warmup=1, size=6, n_points=4, device=device)
    assert torch.get_num_threads() == threads  # restored
    assert [(row["batch_size"], row["pass"]) for row in rows] == [
        (3, "forward"),
        (3, "forward+backward"),
        (5, "forward"),
        (5, "forward+backward"),
    ]
    for row in rows:
        assert set(row) == KEYS
        assert row["library_ms"] > 0 and row["naive_ms"] > 0 and row["speedup"] > 0
        assert row["library_images_per_s"] == pytest.approx(row["batch_size"] / row["library_ms"] * 1e3)
        assert row["library_min_ms"] <= row["library_ms"]
        assert row["threads"] == 1 and row["device"] == str(device) and row["dtype"] == "float32"
    table = format_table(rows)
    assert table.splitlines()[0].split()[:3] == ["batch", "pass", "library"]
    assert len(table.splitlines()) == 2 + len(rows)


def test_benchmark_without_naive_or_backward() -> None:
    rows = benchmark_render([4], threads=None, repeats=1, warmup=0, backward=False, naive=False, size=5, n_points=3)
    assert len(rows) == 1 and rows[0]["pass"] == "forward"
    assert rows[0]["naive_ms"] is None and rows[0]["speedup"] is None and rows[0]["naive_repeats"] == 0
    assert format_table(rows).splitlines()[-1].split()[-3:] == ["-", "-", "-"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_sizes": ()}, r"`batch_sizes` must be a non-empty sequence of ints, got \(\)"),
        ({"batch_sizes": (8, 0)}, r"`batch_sizes` must be an int >= 1, got 0"),
        ({"repeats": 0}, r"`repeats` must be an int >= 1, got 0"),
        ({"naive_repeats": -1}, r"`naive_repeats` must be an int >= 1, got -1"),
        ({"threads": 0}, r"`threads` must be an int in \[1, 1024\], got 0"),
        ({"threads": 100_000}, r"`threads` must be an int in \[1, 1024\], got 100000"),
        ({"warmup": -1}, r"`warmup` must be an int >= 0, got -1"),
        ({"dtype": torch.int32}, r"`dtype` must be a floating torch.dtype, got torch.int32"),
        ({"normalize": "max"}, r"`normalize` must be one of \['row', 'image'\], got 'max'"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        benchmark_render(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_sizes": 64}, r"`batch_sizes` must be a non-empty sequence of ints, got 64"),
        ({"batch_sizes": (8, 2.0)}, r"`batch_sizes` must be an int >= 1, got float 2.0"),
        ({"repeats": "3"}, r"`repeats` must be an int >= 1, got str '3'"),
        ({"dtype": "float32"}, r"`dtype` must be a floating torch.dtype, got str 'float32'"),
        ({"device": 0}, r"`device` must be a torch.device or a device name"),
    ],
)
def test_arguments_of_the_wrong_type(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ParameterTypeError, match="benchmark_render: " + match):
        benchmark_render(**kwargs)  # type: ignore[arg-type]


def test_batches_beyond_memory_are_refused_before_any_timing() -> None:
    # 10**9 images of 32x32 would need terabytes: refused before the first (small) size is timed.
    with pytest.raises(ParameterError, match=r"benchmark_render: 1000000000 images of 32x32 pixels .* GiB"):
        benchmark_render((8, 10**9), repeats=1, naive=False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_cuda_without_cuda_is_a_clear_error() -> None:
    with pytest.raises(ParameterError, match=r"benchmark_render: `device` is 'cuda' but CUDA is not available"):
        benchmark_render((8,), device="cuda")


def test_naive_render_bad_shape() -> None:
    with pytest.raises(ParameterError, match=r"naive_render: `params` must have shape \(B, 10\), got \(10,\)"):
        naive_render(torch.zeros(10))


@pytest.mark.parametrize(("repeats", "warmup"), [((7, 3), 1), ((2, 5), 0), ((4, 4), 2), ((1, 1), 0)])
def test_interleaved_timing_calls_each_step_its_repeats(repeats: tuple[int, int], warmup: int) -> None:
    from spirograph.bench import _time_interleaved

    calls = [0, 0]
    order: list[int] = []

    def make(k: int) -> Callable[[], object]:
        def step() -> None:
            calls[k] += 1
            order.append(k)

        return step

    times = _time_interleaved([make(0), make(1)], list(repeats), warmup, lambda: None)
    assert [len(t) for t in times] == list(repeats)
    assert calls == [r + warmup for r in repeats]
    # Interleaved: the slower-repeated step is not all at the end.
    timed = order[2 * warmup :]
    assert timed.index(1) < len(timed) - repeats[1] or repeats[0] <= 1
