"""Contract, determinism and bad-input tests of ``spirograph.Spirograph`` and its views."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler, default_collate

from spirograph import (
    PARAMETER_NAMES,
    SPLITS,
    IndexOutOfRangeError,
    ParameterError,
    ParameterSpace,
    ParameterTypeError,
    Spirograph,
    SpirographViews,
    _loader,
    render,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=sorted(SPLITS))
def split(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# ---------------------------------------------------------------------------------- contract
def test_lengths_match_the_canonical_splits(split: str) -> None:
    dataset = Spirograph(split)
    assert len(dataset) == SPLITS[split].num_examples
    assert dataset.params.shape == (SPLITS[split].num_examples, 10)
    assert dataset.params.dtype == torch.float32


def test_paper_sizes() -> None:
    assert SPLITS["train"].num_examples == 100_000
    assert SPLITS["test"].num_examples == 20_000
    assert len({info.seed for info in SPLITS.values()}) == len(SPLITS)


def test_item_types_shapes_and_ranges(split: str) -> None:
    dataset = Spirograph(split, subset=16)
    for i in range(len(dataset)):
        image, target = dataset[i]
        assert isinstance(image, torch.Tensor) and isinstance(target, torch.Tensor)
        assert image.shape == (3, 32, 32) and image.dtype == torch.float32
        assert target.shape == (4,) and target.dtype == torch.float32
        assert image.min() >= 0.0 and image.max() <= 1.0
        assert torch.equal(target, dataset.params[i, [0, 1, 3, 4]])


def test_params_lie_inside_the_prior() -> None:
    dataset = Spirograph("val")
    low = torch.tensor(dataset.space.low(), dtype=torch.float32)
    high = torch.tensor(dataset.space.high(), dtype=torch.float32)
    assert bool(((dataset.params >= low) & (dataset.params <= high)).all())
    # Uniform draws: every column's mean is near the prior mean.
    mean = torch.tensor(dataset.space.prior_mean(), dtype=torch.float32)
    assert torch.allclose(dataset.params.mean(0), mean, atol=0.05 * float((high - low).max()))


def test_names_and_space_are_exposed() -> None:
    dataset = Spirograph("test", subset=4)
    assert dataset.parameter_names == PARAMETER_NAMES
    assert dataset.target_names == ("m", "b", "sigma", "fore_r")
    assert dataset.nuisance_names == ("h", "fore_g", "fore_b", "back_r", "back_g", "back_b")
    assert isinstance(dataset.space, ParameterSpace)


def test_every_image_equals_render_of_its_params() -> None:
    dataset = Spirograph("test", subset=64, normalize="image", size=20, n_points=30)
    images, _ = DataLoader(dataset, batch_size=64).__iter__().__next__()
    expected = render(dataset.params, size=20, n_points=30, normalize="image")
    assert torch.equal(images, expected)
    assert torch.equal(dataset.images(), expected)
    assert torch.equal(dataset.images(10, 20), expected[10:20])


def test_row_and_image_normalisation_differ() -> None:
    row = Spirograph("test", subset=8).images()
    image = Spirograph("test", subset=8, normalize="image").images()
    assert (row - image).abs().max() > 0.05


def test_transforms_are_called() -> None:
    calls: list[str] = []

    def transform(image: torch.Tensor) -> torch.Tensor:
        calls.append("image")
        return image * 2

    def target_transform(target: torch.Tensor) -> torch.Tensor:
        calls.append("target")
        return target[:1]

    plain = Spirograph("val", subset=4)
    dataset = Spirograph("val", subset=4, transform=transform, target_transform=target_transform)
    image, target = dataset[1]
    assert calls == ["image", "target"]
    assert torch.equal(image, plain[1][0] * 2)
    assert target.shape == (1,)
    batch = next(iter(DataLoader(dataset, batch_size=4)))
    assert batch[0].shape == (4, 3, 32, 32) and batch[1].shape == (4, 1)


def test_repr_names_the_split_and_settings() -> None:
    text = repr(Spirograph("val", subset=10, normalize="image"))
    assert "Number of datapoints: 10" in text
    assert "Split: val" in text
    assert "normalize='image'" in text


def test_subset_reproduces_the_paper_halves() -> None:
    assert len(Spirograph("train", subset=0.5)) == 50_000
    assert len(Spirograph("test", subset=0.5)) == 10_000
    half = Spirograph("test", subset=0.5)
    full = Spirograph("test")
    assert torch.equal(half.params, full.params[:10_000])
    assert len(Spirograph("test", subset=123)) == 123


def test_changing_a_bound_keeps_the_random_stream() -> None:
    space = ParameterSpace().replace(bounds={"h": (1.0, 3.0)})
    base = Spirograph("test", subset=32)
    shifted = Spirograph("test", subset=32, space=space)
    h = PARAMETER_NAMES.index("h")
    assert torch.allclose(shifted.params[:, h], base.params[:, h] + 0.5, atol=1e-6)
    others = [i for i in range(10) if i != h]
    assert torch.equal(shifted.params[:, others], base.params[:, others])


def test_moving_a_parameter_between_sets_changes_the_targets() -> None:
    space = ParameterSpace().replace(targets=("m", "b", "h"))
    dataset = Spirograph("val", subset=8, space=space)
    assert dataset.target_names == ("m", "b", "h")
    assert dataset[0][1].shape == (3,)
    assert torch.equal(dataset.params, Spirograph("val", subset=8).params)


def test_materialize_keeps_items_identical() -> None:
    lazy = Spirograph("val", subset=50)
    eager = Spirograph("val", subset=50).materialize()
    for i in (0, 17, 49):
        assert torch.equal(lazy[i][0], eager[i][0])
    assert torch.equal(next(iter(DataLoader(eager, batch_size=50)))[0], lazy.images())


def test_targets_mode_yields_only_targets() -> None:
    dataset = Spirograph("val", subset=10, mode="targets")
    assert torch.equal(dataset[3], dataset.targets[3])
    batch = next(iter(DataLoader(dataset, batch_size=5)))
    assert batch.shape == (5, 4)


def test_construction_renders_nothing() -> None:
    dataset = Spirograph("train")
    assert dataset._images is None


# ---------------------------------------------------------------------------------- determinism
def test_two_constructions_are_identical() -> None:
    a, b = Spirograph("test", subset=200), Spirograph("test", subset=200)
    assert torch.equal(a.params, b.params)
    assert torch.equal(a.images(), b.images())


def test_splits_differ() -> None:
    assert not torch.equal(Spirograph("train", subset=10).params, Spirograph("test", subset=10).params)


def test_global_rng_is_neither_read_nor_changed() -> None:
    torch.manual_seed(1)
    state = torch.get_rng_state()
    first = Spirograph("val", subset=20)
    items = [first[i][0] for i in range(3)]
    views = first.views(2)[0][0]
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(999)
    second = Spirograph("val", subset=20)
    assert all(torch.equal(x, second[i][0]) for i, x in enumerate(items))
    assert torch.equal(views, second.views(2)[0][0])


def test_fresh_subprocess_gives_identical_bytes() -> None:
    code = (
        "import hashlib, spirograph;"
        "d = spirograph.Spirograph('test', subset=64);"
        "print(hashlib.sha256(d.params.numpy().tobytes()).hexdigest());"
        "print(hashlib.sha256(d.images().numpy().tobytes()).hexdigest())"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    import hashlib

    here = Spirograph("test", subset=64)
    assert out.stdout.split() == [
        hashlib.sha256(here.params.numpy().tobytes()).hexdigest(),
        hashlib.sha256(here.images().numpy().tobytes()).hexdigest(),
    ]


def test_table_is_the_split_seed_draw_of_the_space() -> None:
    params = Spirograph("train", subset=2).params.double()
    reference = ParameterSpace().sample(2, seed=SPLITS["train"].seed, dtype=torch.float64).float().double()
    assert torch.equal(params, reference)


@pytest.mark.slow
def test_dataloader_with_zero_and_two_workers_agree() -> None:
    dataset = Spirograph("val", subset=300)
    single = list(DataLoader(dataset, batch_size=64))
    multi = list(DataLoader(dataset, batch_size=64, num_workers=2))
    assert len(single) == len(multi) == 5
    for (xa, ya), (xb, yb) in zip(single, multi, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_distributed_sampler_covers_every_item_once() -> None:
    dataset = Spirograph("val", subset=101)
    seen: list[int] = []
    for rank in range(3):
        sampler = DistributedSampler(dataset, num_replicas=3, rank=rank, shuffle=True, seed=4, drop_last=True)
        seen.extend(sampler)
        batches = list(DataLoader(dataset, batch_size=8, sampler=sampler))
        assert sum(len(b[0]) for b in batches) == len(list(sampler))
    assert len(seen) == len(set(seen)) == 99


# ---------------------------------------------------------------------------------- views
def test_views_share_targets_and_differ_in_nuisance() -> None:
    dataset = Spirograph("val", subset=20)
    views = dataset.views(3)
    assert isinstance(views, SpirographViews) and len(views) == 20
    images, target = views[5]
    assert images.shape == (3, 3, 32, 32)
    assert torch.equal(target, dataset.targets[5])
    params = dataset.view_params([5], 3)[0]
    space = dataset.space
    targets, nuisance = space.split(params)
    assert torch.equal(targets, dataset.targets[5].expand(3, -1))
    assert (nuisance[0] - nuisance[1]).abs().min() > 0
    assert torch.equal(images, render(params))


def test_views_are_reproducible_and_change_with_epoch() -> None:
    dataset = Spirograph("val", subset=20)
    a = dataset.views(2, epoch=0)[3][0]
    b = Spirograph("val", subset=20).views(2, epoch=0)[3][0]
    assert torch.equal(a, b)
    views = dataset.views(2)
    views.set_epoch(1)
    assert not torch.equal(views[3][0], a)
    batch = next(iter(DataLoader(views, batch_size=4)))
    assert batch[0].shape == (4, 2, 3, 32, 32) and batch[1].shape == (4, 4)
    assert torch.equal(batch[0][3], views[3][0])


def test_views_apply_transforms_per_view() -> None:
    dataset = Spirograph("val", subset=4, transform=lambda x: x[:1], target_transform=lambda y: y * 0)
    images, target = dataset.views(2)[0]
    assert images.shape == (2, 1, 32, 32)
    assert torch.equal(target, torch.zeros(4))


# ---------------------------------------------------------------------------------- bad input
def test_unknown_split_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"`split` must be one of \['train', 'val', 'test', 'validation'\], got 'dev'"):
        Spirograph("dev")


@pytest.mark.parametrize(
    ("subset", "match"),
    [
        (0, r"`subset` as a count must be in \[1, 10000\], got 0"),
        (-5, r"`subset` as a count must be in \[1, 10000\], got -5"),
        (10_001, r"`subset` as a count must be in \[1, 10000\], got 10001"),
        (1.5, r"`subset` as a fraction must be in \(0, 1\], got 1.5"),
        (0.0, r"`subset` as a fraction must be in \(0, 1\], got 0.0"),
        (float("nan"), r"`subset` as a fraction must be in \(0, 1\], got nan"),
    ],
)
def test_bad_subset(subset: object, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        Spirograph("val", subset=subset)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("subset", "match"),
    [
        ("half", r"`subset` must be an int count or a float fraction, got str 'half'"),
        (True, r"`subset` must be an int count or a float fraction, got bool True"),
    ],
)
def test_subset_of_the_wrong_type(subset: object, match: str) -> None:
    with pytest.raises(ParameterTypeError, match=match):
        Spirograph("val", subset=subset)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": "pixels"}, r"`mode` must be one of \['images', 'targets'\], got 'pixels'"),
        ({"normalize": "global"}, r"`normalize` must be one of \['row', 'image'\], got 'global'"),
        ({"size": 1}, r"`size` must be an int in \[2, 4096\], got 1"),
        ({"n_points": 1}, r"`n_points` must be an int in \[2, 65536\], got 1"),
        ({"extent": -1.0}, r"`extent` must be a finite number > 0, got -1.0"),
    ],
)
def test_bad_options(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        Spirograph("val", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"space": "paper"}, r"`space` must be a ParameterSpace or None, got str 'paper'"),
        ({"transform": 3}, r"`transform` must be callable or None, got int 3"),
        ({"seed": 1.5}, r"`seed` must be an int in \[0, 18446744073709551615\], got float 1.5"),
        ({"mode": 0}, r"`mode` must be one of \['images', 'targets'\], got int 0"),
    ],
)
def test_options_of_the_wrong_type(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ParameterTypeError, match="Spirograph: " + match):
        Spirograph("val", **kwargs)  # type: ignore[arg-type]


def test_out_of_range_and_bad_index_types() -> None:
    dataset = Spirograph("val", subset=10)
    with pytest.raises(IndexError, match="index 10 is out of range for 10 items"):
        dataset[10]
    with pytest.raises(IndexError, match="index -11 is out of range for 10 items"):
        dataset[-11]
    assert torch.equal(dataset[-1][1], dataset[9][1])
    with pytest.raises(TypeError, match="index must be an int, got float"):
        dataset[1.0]  # type: ignore[index]
    with pytest.raises(TypeError, match="index must be an int, got str"):
        dataset["0"]  # type: ignore[index]
    with pytest.raises(IndexError, match="index 12 is out of range"):
        dataset.__getitems__([0, 12])
    with pytest.raises(TypeError, match=r"indices must be ints, got dtype float64"):
        dataset.__getitems__([0.5, 1.5])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"indices must be ints, got dtype bool"):
        dataset.__getitems__([True, False])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"indices must be ints, got \[\[0\], \[1, 2\]\]"):
        dataset.__getitems__([[0], [1, 2]])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"indices must be ints, got dtype object"):
        dataset.__getitems__([None])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"indices must be ints, got dtype torch\.float32"):
        dataset.__getitems__(torch.tensor([0.0, 1.0]))  # type: ignore[arg-type]
    with pytest.raises(IndexError, match="out of range for 10 items"):
        dataset.__getitems__(np.array([0, 2**64 - 1], dtype=np.uint64))  # type: ignore[arg-type]
    batch = dataset.__getitems__(np.array([9, -1, 0], dtype=np.int32))  # type: ignore[arg-type]
    assert torch.equal(torch.stack([image for image, _ in batch]), dataset.images()[[9, 9, 0]])
    assert dataset.__getitems__([]) == []


def test_index_errors_are_package_errors() -> None:
    dataset = Spirograph("val", subset=10, mode="targets")
    with pytest.raises(IndexOutOfRangeError, match="Spirograph: index 10 is out of range for 10 items"):
        dataset[10]
    with pytest.raises(ParameterTypeError, match=r"Spirograph: index must be an int, got float 1\.0"):
        dataset[1.0]  # type: ignore[index]
    # Iteration through __getitem__ still stops at the first IndexError.
    assert len(list(dataset)) == 10


def test_index_tensors_on_the_meta_device_are_refused() -> None:
    # They hold no values to index with: torch raised NotImplementedError or RuntimeError.
    dataset = Spirograph("val", subset=10)
    message = r"^Spirograph: indices must hold values, got a tensor on the meta device \(no data\)$"
    for index in (torch.tensor(1, device="meta"), torch.tensor([1, 2], device="meta")):
        with pytest.raises(ParameterError, match=message):
            dataset[index]
    with pytest.raises(ParameterError, match=message):
        dataset.__getitems__(torch.tensor([1, 2], device="meta"))  # type: ignore[arg-type]


def test_a_boolean_tensor_is_refused_like_a_bool() -> None:
    dataset = Spirograph("val", subset=10)
    with pytest.raises(ParameterTypeError, match="index must be an int, got bool True"):
        dataset[True]  # type: ignore[index]
    with pytest.raises(ParameterTypeError, match="index must be an int, got bool True"):
        dataset[torch.tensor(True)]  # type: ignore[index]
    with pytest.raises(ParameterTypeError, match="index must be an int, got bool"):
        dataset.views(2)[torch.tensor(False)]  # type: ignore[index]
    assert torch.equal(dataset[torch.tensor(3)][1], dataset[3][1])


def test_view_params_checks_its_arguments() -> None:
    dataset = Spirograph("val", subset=10)
    with pytest.raises(ParameterTypeError, match=r"Spirograph.view_params: indices must be ints, got dtype float64"):
        dataset.view_params([1.5], 2)  # type: ignore[list-item]
    with pytest.raises(IndexOutOfRangeError, match=r"Spirograph.view_params: index 10 is out of range for 10 items"):
        dataset.view_params([10], 2)
    with pytest.raises(ParameterError, match=r"Spirograph.view_params: `n_draws` must be an int in \[1, 1024\], got 0"):
        dataset.view_params([1], 0)
    with pytest.raises(ParameterError, match=r"Spirograph.view_params: `epoch` must be an int in \[0, \d+\], got -1"):
        dataset.view_params([1], 2, epoch=-1)
    assert torch.equal(dataset.view_params([-1], 2), dataset.view_params([9], 2))


def test_images_checks_its_range() -> None:
    dataset = Spirograph("val", subset=10)
    with pytest.raises(ParameterTypeError, match=r"Spirograph.images: `start` must be an int, got float 0\.5"):
        dataset.images(0.5)  # type: ignore[arg-type]
    with pytest.raises(ParameterTypeError, match=r"Spirograph.images: `stop` must be an int, got str '3'"):
        dataset.images(0, "3")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"need 0 <= start <= stop <= 10, got \[3, 2\)"):
        dataset.images(3, 2)


@pytest.mark.parametrize(
    ("n_draws", "error"),
    [(0, ParameterError), (-1, ParameterError), (1.5, ParameterTypeError), (True, ParameterTypeError)],
)
def test_bad_view_count(n_draws: object, error: type[Exception]) -> None:
    with pytest.raises(error, match=r"SpirographViews: `n_draws` must be an int in \[1, 1024\], got"):
        Spirograph("val", subset=4).views(n_draws)  # type: ignore[arg-type]


def test_bad_epoch() -> None:
    with pytest.raises(ParameterError, match=r"`epoch` must be an int in \[0, 9223372036854775807\], got -1"):
        Spirograph("val", subset=4).views(2, epoch=-1)


def test_images_range_is_checked() -> None:
    with pytest.raises(ParameterError, match=r"need 0 <= start <= stop <= 4, got \[2, 9\)"):
        Spirograph("val", subset=4).images(2, 9)


def test_images_can_enter_a_graph() -> None:
    # Rendered under no_grad, never inference_mode: a model may save them for backward.
    image, _ = Spirograph("val", subset=2)[0]
    weight = torch.ones(3, requires_grad=True)
    (image * weight[:, None, None]).square().sum().backward()
    assert weight.grad is not None and bool((weight.grad > 0).all())


def _all_views(loader: DataLoader) -> torch.Tensor:
    return torch.cat([views for views, _ in loader])


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_set_epoch_reaches_persistent_workers(context: str) -> None:
    views = Spirograph("val", subset=12).views(2)
    loader = DataLoader(views, batch_size=3, num_workers=2, persistent_workers=True, multiprocessing_context=context)
    first = _all_views(loader)
    views.set_epoch(1)
    second = _all_views(loader)
    fresh = Spirograph("val", subset=12).views(2, epoch=1)
    reference = _all_views(DataLoader(fresh, batch_size=3, num_workers=2, multiprocessing_context=context))
    assert first.shape == second.shape == (12, 2, 3, 32, 32)
    assert not torch.equal(first, second)
    assert torch.equal(second, reference)
    assert torch.equal(first, _all_views(DataLoader(Spirograph("val", subset=12).views(2, epoch=0), batch_size=3)))
    views.set_epoch(0)
    assert torch.equal(_all_views(loader), first) and views.epoch == 0


def test_validation_is_an_alias_of_val() -> None:
    from spirograph.dataset import SPLIT_ALIASES

    assert SPLIT_ALIASES == {"validation": "val"}
    alias, canonical = Spirograph("validation", subset=4), Spirograph("val", subset=4)
    assert alias.split == "val" and torch.equal(alias.params, canonical.params)
    with pytest.raises(ParameterError, match=r"`split` must be one of \['train', 'val', 'test', 'validation'\]"):
        Spirograph("dev")


def test_the_dataset_holds_one_render_settings() -> None:
    from spirograph import RenderSettings

    made = RenderSettings(size=16, normalize="image")
    dataset = Spirograph("val", subset=4, settings=made)
    assert dataset.settings is made
    assert (dataset.size, dataset.n_points, dataset.extent, dataset.normalize) == (16, 40, 6.0, "image")
    keywords = Spirograph("val", subset=4, size=16, normalize="image")
    assert keywords.settings == made
    assert torch.equal(dataset.images(), keywords.images())
    assert Spirograph("val", subset=4).settings == RenderSettings()
    with pytest.raises(ParameterError, match=r"^Spirograph: give each renderer setting once.*`size=32` against"):
        Spirograph("val", subset=4, settings=made, size=32)
    with pytest.raises(ParameterTypeError, match=r"^Spirograph: `settings` must be a RenderSettings or None, got"):
        Spirograph("val", subset=4, settings=(16, 40, 6.0, "row"))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------- from_rows
def test_the_constructor_reads_nothing_from_elsewhere() -> None:
    import inspect

    names = set(inspect.signature(Spirograph).parameters)
    assert not names & {"source", "repo_id", "revision", "path"}
    assert Spirograph("val", subset=2).source == "render"


def test_from_rows_without_images_renders_the_rows() -> None:
    rendered = Spirograph("test", subset=16, normalize="image")
    rows = Spirograph.from_rows("test", rendered.params, normalize="image")
    assert rows.source == "render" and rows.seed == SPLITS["test"].seed and len(rows) == 16
    assert rows._images is None
    assert torch.equal(rows.targets, rendered.targets)
    assert torch.equal(rows.images(), rendered.images())
    # Views draw the same nuisance as the rendered split's: the seed is the split's.
    assert torch.equal(rows.view_params([0, 5], 3), rendered.view_params([0, 5], 3))


def test_from_rows_with_images_serves_them_as_floats() -> None:
    rendered = Spirograph("val", subset=8)
    stored = rendered.images().mul(255).round().to(torch.uint8)
    rows = Spirograph.from_rows("validation", rendered.params, stored, source="local")
    assert rows.split == "val" and rows.source == "local"
    image, target = rows[3]
    assert image.dtype == torch.float32 and torch.equal(image, stored[3].float() / 255)
    assert torch.equal(target, rendered.targets[3])
    assert "source local" in repr(rows)
    assert torch.equal(rows.images(2, 5), stored[2:5].float() / 255)


def test_from_rows_applies_transforms_and_modes() -> None:
    rendered = Spirograph("val", subset=4)
    stored = rendered.images().mul(255).round().to(torch.uint8)
    calls: list[str] = []

    def transform(image: torch.Tensor) -> torch.Tensor:
        calls.append("image")
        return image * 2

    def target_transform(target: torch.Tensor) -> torch.Tensor:
        calls.append("target")
        return target[:1]

    rows = Spirograph.from_rows(
        "val", rendered.params, stored, source="hub", transform=transform, target_transform=target_transform
    )
    image, target = rows[1]
    assert calls == ["image", "target"]
    assert torch.equal(image, stored[1].float() / 255 * 2) and target.shape == (1,)
    targets = Spirograph.from_rows("val", rendered.params, stored, mode="targets")
    assert torch.equal(targets[2], rendered.targets[2])
    other = ParameterSpace(targets=("m", "h"))
    assert torch.equal(Spirograph.from_rows("val", rendered.params, space=other).targets, rendered.params[:, [0, 2]])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"params": [[0.0] * 10]}, ParameterTypeError, r"`params` must be a torch.Tensor of shape \(n, 10\), got list"),
        ({"params": torch.zeros(4, 9)}, ParameterError, r"`params` must have shape \(n, 10\), got \(4, 9\)"),
        (
            {"params": torch.zeros(4, 10, dtype=torch.float64)},
            ParameterError,
            r"`params` must have dtype torch.float32, got .*64",
        ),
        ({"params": torch.zeros(0, 10)}, ParameterError, r"`params` must hold between 1 and 10000 rows.*, got 0"),
        (
            {"params": torch.zeros(10_001, 10)},
            ParameterError,
            r"`params` must hold between 1 and 10000 .*10001",
        ),
        ({"params": torch.full((2, 10), float("nan"))}, ParameterError, r"`params` must be finite"),
        (
            {"images": torch.zeros(4, 3, 32, 32)},
            ParameterError,
            r"`images` must have dtype torch.uint8, got .*32",
        ),
        (
            {"images": torch.zeros(4, 3, 16, 16, dtype=torch.uint8)},
            ParameterError,
            r"`images` must have shape \(4, 3, 32, 32\), got \(4, 3, 16, 16\)",
        ),
        ({"images": [1, 2]}, ParameterTypeError, r"`images` must be a torch.Tensor"),
        ({"source": "disk"}, ParameterError, r"`source` must be one of \['render', 'hub', 'local'\], got 'disk'"),
        ({"source": 3}, ParameterTypeError, r"`source` must be one of \['render', 'hub', 'local'\], got int 3"),
        ({"split": "dev"}, ParameterError, r"`split` must be one of \['train', 'val', 'test', 'validation'\]"),
        ({"mode": "pixels"}, ParameterError, r"`mode` must be one of \['images', 'targets'\], got 'pixels'"),
        ({"transform": 3}, ParameterTypeError, r"`transform` must be callable or None, got int 3"),
        ({"seed": 1.5}, ParameterTypeError, r"`seed` must be an int in \[0, 18446744073709551615\], got float 1.5"),
        ({"size": 1}, ParameterError, r"`size` must be an int in \[2, 4096\], got 1"),
    ],
)
def test_from_rows_checks_its_arguments(kwargs: dict[str, object], error: type[Exception], match: str) -> None:
    arguments: dict[str, object] = {"split": "val", "params": Spirograph("val", subset=4).params, **kwargs}
    with pytest.raises(error, match="^Spirograph.from_rows: " + match):
        Spirograph.from_rows(**arguments)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------- batched path
def _same_batches(first: list[object], second: list[object]) -> None:
    assert len(first) == len(second) > 0
    for a, b in zip(first, second, strict=True):
        assert type(a) is type(b)
        if isinstance(a, torch.Tensor):
            assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
        else:
            assert isinstance(a, list) and isinstance(b, list) and len(a) == len(b)
            for x, y in zip(a, b, strict=True):
                assert x.dtype == y.dtype and torch.equal(x, y)


def _stored() -> Spirograph:
    rendered = Spirograph("val", subset=40)
    pixels = rendered.images().mul(255).round().to(torch.uint8)
    return Spirograph.from_rows("val", rendered.params, pixels, source="local")


@pytest.mark.parametrize(
    "make",
    [
        lambda: Spirograph("val", subset=40),
        lambda: Spirograph("val", subset=40, mode="targets"),
        lambda: Spirograph("val", subset=40, transform=lambda x: x[:1] * 2, target_transform=lambda y: y.sum()),
        lambda: Spirograph("val", subset=40, mode="targets", target_transform=lambda y: y[:2]),
        _stored,
        lambda: Spirograph("val", subset=40).views(3, epoch=2),
        lambda: Spirograph("val", subset=40, transform=lambda x: x.flip(-1)).views(2),
    ],
    ids=["images", "targets", "transforms", "targets-transform", "stored", "views", "views-transform"],
)
def test_a_list_of_indices_gives_the_collated_batch(make: Callable[[], Spirograph | SpirographViews]) -> None:
    dataset = make()
    indices = [7, 0, 39, -1, 7]
    expected = default_collate([dataset[i] for i in indices])
    for index in (indices, tuple(indices), np.array(indices), torch.tensor(indices)):
        batch = dataset[index]  # type: ignore[index]
        got = batch if isinstance(batch, torch.Tensor) else list(batch)
        _same_batches([expected], [got])


def test_a_batch_is_rendered_in_one_call(monkeypatch: pytest.MonkeyPatch) -> None:
    dataset = Spirograph("val", subset=20)
    calls: list[int] = []
    original = Spirograph.render_params

    def counting(self: Spirograph, params: torch.Tensor) -> torch.Tensor:
        calls.append(len(params))
        return original(self, params)

    monkeypatch.setattr(Spirograph, "render_params", counting)
    images, targets = dataset[list(range(3, 15))]
    assert calls == [12] and images.shape == (12, 3, 32, 32) and targets.shape == (12, 4)


def test_batch_indices_are_checked() -> None:
    dataset = Spirograph("val", subset=10)
    with pytest.raises(IndexOutOfRangeError, match="Spirograph: index 10 is out of range for 10 items"):
        dataset[[0, 10]]
    with pytest.raises(ParameterTypeError, match=r"Spirograph: indices must be ints, got dtype float64"):
        dataset[[0.5]]  # type: ignore[index]
    with pytest.raises(ParameterTypeError, match=r"SpirographViews: indices must be ints, got dtype bool"):
        dataset.views()[[True]]  # type: ignore[index]
    images, targets = dataset[[]]
    assert images.shape == (0, 3, 32, 32) and targets.shape == (0, 4)


@pytest.mark.parametrize(
    ("kwargs", "make_sampler"),
    [
        ({}, None),
        ({"drop_last": True}, None),
        ({"shuffle": True}, None),
        ({"shuffle": True, "drop_last": True}, None),
        ({}, lambda dataset: DistributedSampler(dataset, num_replicas=3, rank=1, shuffle=True, seed=5)),
    ],
    ids=["sequential", "drop-last", "shuffle", "shuffle-drop-last", "sampler"],
)
def test_the_loader_yields_the_default_loaders_batches(
    kwargs: dict[str, bool], make_sampler: Callable[[Spirograph], DistributedSampler[int]] | None
) -> None:
    dataset = Spirograph("val", subset=103)
    sampler = None if make_sampler is None else make_sampler(dataset)
    ours, theirs = torch.Generator().manual_seed(11), torch.Generator().manual_seed(11)
    default = DataLoader(dataset, batch_size=16, sampler=sampler, generator=theirs, **kwargs)
    batched = dataset.loader(16, sampler=sampler, generator=ours, **kwargs)
    for _ in range(2):  # a second epoch draws a new order from the advanced generator
        _same_batches(list(batched), list(default))
    assert torch.equal(ours.get_state(), theirs.get_state())


def test_the_loader_of_views_yields_the_default_loaders_batches() -> None:
    views = Spirograph("val", subset=30).views(2, epoch=1)
    default = DataLoader(views, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(2))
    batched = views.loader(8, shuffle=True, generator=torch.Generator().manual_seed(2))
    _same_batches(list(batched), list(default))


def test_the_loader_follows_the_global_rng_without_a_generator() -> None:
    dataset = Spirograph("val", subset=50, mode="targets")
    torch.manual_seed(4)
    default = list(DataLoader(dataset, batch_size=8, shuffle=True))
    torch.manual_seed(4)
    _same_batches(list(dataset.loader(8, shuffle=True)), default)


@pytest.mark.parametrize("context", ["fork", pytest.param("spawn", marks=pytest.mark.slow)])
def test_the_loader_with_workers_yields_the_default_loaders_batches(context: str) -> None:
    dataset = Spirograph("val", subset=70)
    options = {"num_workers": 2, "multiprocessing_context": context}
    default = DataLoader(dataset, batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(9), **options)
    batched = dataset.loader(16, shuffle=True, generator=torch.Generator().manual_seed(9), **options)
    _same_batches(list(batched), list(default))


def _clones(loader: Iterable[list[torch.Tensor]], stop: int | None = None) -> list[list[torch.Tensor]]:
    """The batches of one pass, each copied and dropped before the next is fetched (as a training loop does)."""
    out = []
    for number, batch in enumerate(loader):
        if number == stop:
            break
        out.append([part.clone() for part in batch])
    return out


def _ring(loader: DataLoader) -> _loader._Slots:
    assert isinstance(loader, _loader._SlotLoader)
    slots = loader._requests.slots
    assert slots is not None
    return slots


@pytest.mark.parametrize("persistent", [False, True], ids=["fresh-workers", "persistent-workers"])
def test_the_loader_passes_the_workers_batches_through_shared_slots(persistent: bool) -> None:
    dataset = Spirograph("val", subset=150)
    options = {"num_workers": 2, "persistent_workers": persistent}
    default = DataLoader(dataset, batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(3), **options)
    batched = dataset.loader(16, shuffle=True, generator=torch.Generator().manual_seed(3), **options)
    for _ in range(3):  # epochs: new orders, and with persistent workers the same ring and workers
        ours = _clones(batched)
        _same_batches(ours, _clones(default))
        gc.collect()
        slots = _ring(batched)
        assert slots.free == slots.images.shape[0]  # every slot came back
    # The batches came out of the ring: the yielded images view its shared memory.
    images, _ = next(iter(batched))
    ring = _ring(batched).images
    start = ring.untyped_storage().data_ptr()
    assert start <= images.untyped_storage().data_ptr() < start + ring.untyped_storage().nbytes()


def test_a_batch_kept_from_the_loader_is_never_overwritten() -> None:
    dataset = Spirograph("val", subset=200)
    loader = dataset.loader(8, num_workers=2, persistent_workers=True)
    batches = iter(loader)
    first_images, first_targets = next(batches)
    kept = first_images[2:5]  # a view outlives the batch it came from
    held = [next(batches) for _ in range(3)]
    expected = [dataset[list(range(8 * n, 8 * n + 8))] for n in range(4)]
    del first_images
    for _ in range(2):  # the rest of this epoch and all of the next: the ring cycles many times
        for _ in batches:
            pass
        batches = iter(loader)
    assert torch.equal(kept, expected[0][0][2:5]) and torch.equal(first_targets, expected[0][1])
    for (images, targets), (want_images, want_targets) in zip(held, expected[1:], strict=True):
        assert torch.equal(images, want_images) and torch.equal(targets, want_targets)
    # Keeping every batch runs the ring dry; the rest travel the ordinary way, unchanged.
    everything = list(dataset.loader(8, num_workers=2))
    _same_batches(everything, list(DataLoader(dataset, batch_size=8)))


@pytest.mark.parametrize("persistent", [False, True], ids=["fresh-workers", "persistent-workers"])
def test_a_pass_left_early_gives_its_slots_back(persistent: bool) -> None:
    dataset = Spirograph("val", subset=160)
    loader = dataset.loader(8, num_workers=2, persistent_workers=persistent, prefetch_factor=3)
    assert len(_clones(loader, stop=2)) == 2  # leaves with 6 batches in flight
    _same_batches(_clones(loader), _clones(DataLoader(dataset, batch_size=8)))
    gc.collect()
    slots = _ring(loader)
    assert slots.free == slots.images.shape[0] == 3 * 2 + 2


def test_two_passes_over_one_loader_at_once_both_get_their_batches() -> None:
    dataset = Spirograph("val", subset=120)
    loader = dataset.loader(8, num_workers=2)
    first, second = iter(loader), iter(loader)
    ours: tuple[list[list[torch.Tensor]], list[list[torch.Tensor]]] = ([], [])
    for a, b in zip(first, second, strict=True):
        ours[0].append([part.clone() for part in a])
        ours[1].append([part.clone() for part in b])
    expected = _clones(DataLoader(dataset, batch_size=8))
    _same_batches(ours[0], expected)
    _same_batches(ours[1], expected)


def test_the_loader_with_workers_out_of_order_yields_every_batch_once() -> None:
    dataset = Spirograph("val", subset=100)
    ours = _clones(dataset.loader(8, num_workers=2, in_order=False))
    expected = _clones(DataLoader(dataset, batch_size=8))

    def key(batch: list[torch.Tensor]) -> float:
        return float(batch[1][0, 0])

    _same_batches(sorted(ours, key=key), sorted(expected, key=key))


def test_the_loader_of_views_with_workers_uses_the_slots() -> None:
    views = Spirograph("val", subset=40).views(3, epoch=2)
    loader = views.loader(8, num_workers=2, persistent_workers=True)
    _same_batches(_clones(loader), _clones(DataLoader(views, batch_size=8)))
    assert _ring(loader).images.shape == (2 * 2 + 2, 8, 3, 3, 32, 32)


def test_the_loader_without_a_ring_warns_and_uses_the_ordinary_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_loader, "_MAX_RING_BYTES", 1000)
    dataset = Spirograph("val", subset=40)
    loader = dataset.loader(8, num_workers=2)
    with pytest.warns(RuntimeWarning, match=r"loader: no shared slots for the workers' batches \(\d+ bytes exceed"):
        ours = _clones(loader)
    _same_batches(ours, _clones(DataLoader(dataset, batch_size=8)))
    assert isinstance(loader, _loader._SlotLoader) and loader._requests.slots is None


def test_slots_are_lent_handed_out_copied_out_and_reclaimed() -> None:
    slots = _loader._Slots(3, 4, (2,))
    first, second = object(), object()
    lent = [slots.lend(first), slots.lend(first), slots.lend(second)]
    assert sorted(lent) == [0, 1, 2] and slots.lend(second) is None and slots.free == 0  # type: ignore[type-var]
    slots.images[lent[0], :3] = torch.arange(6.0).view(3, 2)
    slots.images[lent[1], :2] = 7.0
    copied = slots.copy_out(lent[0], 3, pin=False)  # the pin_memory path, without pinning
    assert torch.equal(copied, torch.arange(6.0).view(3, 2)) and slots.free == 1
    handed = slots.hand_out(lent[1], 2)  # a tensor over the slot, no copy
    assert handed.data_ptr() == slots.images[lent[1]].data_ptr()
    slots.reclaim(first)  # nothing left lent to `first`: the handed-out slot stays taken
    assert slots.free == 1
    view = handed[1:]
    del handed
    gc.collect()
    assert slots.free == 1 and torch.equal(view, torch.full((1, 2), 7.0))  # a view still holds it
    del view
    gc.collect()
    assert slots.free == 2
    slots.reclaim(second)  # lent to `second` and never yielded
    assert slots.free == 3


def test_the_loader_with_a_transform_or_no_workers_is_a_plain_dataloader() -> None:
    with_transform = Spirograph("val", subset=20, transform=lambda image: image * 2)
    assert type(with_transform.loader(4, num_workers=2)) is DataLoader
    assert type(Spirograph("val", subset=20).loader(4)) is DataLoader
    assert type(Spirograph("val", subset=20, mode="targets").loader(4, num_workers=2)) is DataLoader


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"batch_size": 0}, ParameterError, r"`batch_size` must be an int >= 1, got 0"),
        ({"batch_size": 2.0}, ParameterTypeError, r"`batch_size` must be an int >= 1, got float 2\.0"),
        ({"shuffle": 1}, ParameterTypeError, r"`shuffle` must be a bool"),
        ({"drop_last": "no"}, ParameterTypeError, r"`drop_last` must be a bool"),
        ({"generator": 3}, ParameterTypeError, r"`generator` must be a torch\.Generator or None, got int 3"),
        ({"shuffle": True, "sampler": [0, 1]}, ParameterError, r"`sampler` and `shuffle=True` exclude each other"),
        ({"collate_fn": list}, ParameterError, r"`collate_fn` is set by the loader itself"),
        ({"batch_sampler": [[0]]}, ParameterError, r"`batch_sampler` is set by the loader itself"),
    ],
)
def test_the_loader_checks_its_arguments(kwargs: dict[str, object], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match="Spirograph.loader: " + match):
        Spirograph("val", subset=10).loader(**kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------- the second safety sweep
@pytest.mark.parametrize(
    ("column", "value", "match"),
    [
        (3, -1.0, r"sigma \(index 3\) must be > 0"),
        (1, 0.0, r"b \(index 1\) must be > 0"),
        (0, 3e38, r"row 0 .* overflows torch.float32"),
    ],
)
def test_from_rows_refuses_rows_that_cannot_render(column: int, value: float, match: str) -> None:
    params = Spirograph("test", subset=3).params.clone()
    params[0, column] = value
    with pytest.raises(ParameterError, match=r"^Spirograph.from_rows: `params` " + match):
        Spirograph.from_rows("test", params)
    with pytest.raises(ParameterError, match=r"^Spirograph.from_rows: `params` " + match):
        Spirograph.from_rows("test", params, torch.zeros(3, 3, 32, 32, dtype=torch.uint8))


def test_the_extent_of_the_settings_is_checked_against_the_space() -> None:
    # sigma's bound is fine for the default extent, not for an extent of 3e38.
    with pytest.raises(ParameterError, match=r"^Spirograph: `params` row 0 .* extent \* sqrt"):
        Spirograph("test", subset=2, extent=3e38)


def test_seeds_outside_the_sampler_range_are_refused() -> None:
    for seed in (2**64, -1):
        with pytest.raises(ParameterError, match=r"Spirograph: `seed` must be an int in \[0, 18446744073709551615\]"):
            Spirograph("test", subset=2, seed=seed)
    assert not torch.equal(Spirograph("test", subset=2, seed=0).params, Spirograph("test", subset=2, seed=1).params)


def test_view_counts_and_epochs_are_bounded() -> None:
    dataset = Spirograph("test", subset=4)
    for count in (10**6, 10**9):
        with pytest.raises(ParameterError, match=r"SpirographViews: `n_draws` must be an int in \[1, 1024\]"):
            dataset.views(count)
    views = dataset.views(2)
    with pytest.raises(ParameterError, match=r"set_epoch: `epoch` must be an int in \[0, 9223372036854775807\]"):
        views.set_epoch(2**63)
    with pytest.raises(ParameterTypeError, match=r"SpirographViews: `dataset` must be a Spirograph, got list"):
        SpirographViews([1, 2], 2)  # type: ignore[arg-type]


@pytest.mark.parametrize("indices", [[[0, 1], [2, 3]], torch.tensor([[0, 1], [2, 3]])])
def test_nested_index_lists_are_refused(indices: object) -> None:
    dataset = Spirograph("test", subset=4)
    with pytest.raises(ParameterError, match=r"Spirograph: indices must be a flat sequence of ints, got shape"):
        dataset.__getitems__(indices)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"SpirographViews: indices must be a flat sequence"):
        dataset.views(2).__getitems__(indices)  # type: ignore[arg-type]
