"""Tests of spirograph.viz: grids, PNG/GIF writers, traversals, nuisance variations, normalisation figure."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from spirograph.errors import ParameterError, ParameterTypeError
from spirograph.render import render
from spirograph.space import PARAMETER_NAMES, ParameterSpace
from spirograph.viz import (
    image_grid,
    normalization_comparison,
    nuisance_variations,
    parameters_from_mapping,
    save_gif,
    save_png,
    to_pil,
    traversal,
    traversal_params,
)


def _naive_grid(images: torch.Tensor, nrow: int, scale: int, padding: int, pad: int) -> np.ndarray:
    # Independent reference: loop over every output pixel of every image.
    n, _, height, width = images.shape
    columns, rows = min(nrow, n), math.ceil(n / nrow)
    out = np.full(
        (rows * height * scale + (rows + 1) * padding, columns * width * scale + (columns + 1) * padding, 3), pad
    )
    as_bytes = np.round(images.clamp(0, 1).numpy() * 255).astype(np.uint8)
    for k in range(n):
        top = padding + (k // nrow) * (height * scale + padding)
        left = padding + (k % nrow) * (width * scale + padding)
        for y in range(height * scale):
            for x in range(width * scale):
                out[top + y, left + x] = as_bytes[k, :, y // scale, x // scale]
    return out.astype(np.uint8)


# ------------------------------------------------------------------ image_grid
@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 7),
    nrow=st.integers(1, 4),
    scale=st.integers(1, 3),
    padding=st.integers(0, 3),
    height=st.integers(1, 5),
    width=st.integers(1, 5),
)
def test_image_grid_matches_naive_layout(n: int, nrow: int, scale: int, padding: int, height: int, width: int) -> None:
    images = torch.rand(n, 3, height, width, generator=torch.Generator().manual_seed(n * 100 + nrow))
    grid = image_grid(images, nrow=nrow, scale=scale, padding=padding, pad_value=0.5)
    expected = _naive_grid(images, nrow, scale, padding, 128)
    assert grid.mode == "RGB"
    assert grid.size == (expected.shape[1], expected.shape[0])
    np.testing.assert_array_equal(np.asarray(grid), expected)


def test_image_grid_single_image_grey_and_clamping() -> None:
    image = torch.tensor([[[-1.0, 0.5], [2.0, 1.0]]])  # (1, 2, 2) grey, out of range values
    picture = image_grid(image, scale=2, padding=0)
    assert picture.size == (4, 4)
    pixels = np.asarray(picture)
    assert pixels[0, 0].tolist() == [0, 0, 0]
    assert pixels[0, 2].tolist() == [128, 128, 128]
    assert pixels[2, 0].tolist() == [255, 255, 255]


def test_to_pil_upscales_crisply() -> None:
    image = render(ParameterSpace().sample(1, seed=0), size=8)[0]
    picture = to_pil(image, scale=3)
    assert picture.size == (24, 24)
    pixels = np.asarray(picture)
    # Each source pixel is a 3x3 block of one colour.
    assert (pixels[::3, ::3] == pixels[2::3, 2::3]).all()


@pytest.mark.parametrize(
    ("kwargs", "match", "error"),
    [
        ({"images": [1, 2]}, r"image_grid: `images` must be a torch.Tensor, got list", ParameterTypeError),
        (
            {"images": torch.rand(2, 4, 8, 8)},
            r"`images` must have shape \(n, 3, H, W\).*got \(2, 4, 8, 8\)",
            ParameterError,
        ),
        ({"images": torch.rand(0, 3, 8, 8)}, r"at least one image, got shape \(0, 3, 8, 8\)", ParameterError),
        ({"images": torch.zeros(2, 3, 4, 4, dtype=torch.uint8)}, r"floating dtype.*got torch.uint8", ParameterError),
        ({"images": torch.rand(2, 3, 4, 4), "nrow": 0}, r"`nrow` must be an int >= 1, got 0", ParameterError),
        (
            {"images": torch.rand(2, 3, 4, 4), "scale": 1.5},
            r"`scale` must be an int >= 1, got float 1.5",
            ParameterTypeError,
        ),
        ({"images": torch.rand(2, 3, 4, 4), "padding": -1}, r"`padding` must be an int >= 0, got -1", ParameterError),
        (
            {"images": torch.rand(2, 3, 4, 4), "pad_value": 2},
            r"`pad_value` must be a finite number in \[0, 1\], got 2",
            ParameterError,
        ),
    ],
)
def test_image_grid_bad_input(kwargs: dict, match: str, error: type[Exception]) -> None:
    with pytest.raises(error, match=match):
        image_grid(**kwargs)


def test_to_pil_bad_shape() -> None:
    with pytest.raises(ParameterError, match=r"to_pil: `image` must have shape \(3, H, W\).*got \(2, 3, 4, 4\)"):
        to_pil(torch.rand(2, 3, 4, 4))


# ------------------------------------------------------------------ save_png / save_gif
def test_save_png_round_trip_is_atomic(tmp_path: Path) -> None:
    picture = image_grid(torch.rand(3, 3, 5, 5), nrow=3, scale=2)
    path = save_png(picture, tmp_path / "deep" / "grid.png")
    assert path == tmp_path / "deep" / "grid.png"
    with Image.open(path) as read:
        assert read.format == "PNG"
        np.testing.assert_array_equal(np.asarray(read.convert("RGB")), np.asarray(picture))
    assert [p.name for p in path.parent.iterdir()] == ["grid.png"]  # no temporary left behind


def test_save_png_tensor_and_bad_input(tmp_path: Path) -> None:
    path = save_png(torch.rand(3, 4, 4), tmp_path / "one.png", scale=2)
    with Image.open(path) as read:
        assert read.size == (8, 8)
    with pytest.raises(ParameterTypeError, match=r"save_png: `image` must be a PIL image or a tensor, got str"):
        save_png("not an image", tmp_path / "x.png")  # type: ignore[arg-type]
    with pytest.raises(ParameterTypeError, match=r"save_png: `path` must be a str or os.PathLike, got int"):
        save_png(to_pil(torch.rand(3, 2, 2)), 3)  # type: ignore[arg-type]


def test_save_png_failure_leaves_no_file(tmp_path: Path) -> None:
    class Broken(Image.Image):
        def save(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        save_png(Broken(), tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []


def test_save_gif_frames_and_timing(tmp_path: Path) -> None:
    images = torch.stack([torch.zeros(3, 4, 4), torch.ones(3, 4, 4), torch.rand(3, 4, 4)])
    path = save_gif(images, tmp_path / "a.gif", duration=50, scale=2)
    with Image.open(path) as read:
        assert read.format == "GIF"
        assert read.n_frames == 3
        assert read.size == (8, 8)
        assert read.info["duration"] == 50
        read.seek(1)
        assert np.asarray(read.convert("RGB")).min() == 255  # the white frame is second


def test_save_gif_merges_identical_neighbours_keeping_playback_time(tmp_path: Path) -> None:
    frames = [to_pil(torch.zeros(3, 2, 2)), to_pil(torch.zeros(3, 2, 2)), to_pil(torch.ones(3, 2, 2))]
    path = save_gif(frames, tmp_path / "b.gif", duration=40)
    with Image.open(path) as read:
        assert read.n_frames == 2
        assert read.info["duration"] == 80


def test_save_gif_bounds_its_size_before_converting_a_frame(tmp_path: Path) -> None:
    # 20,000 frames were converted and held in memory before anything was checked.
    with pytest.raises(ParameterError, match=r"save_gif: `frames` must hold at most 4,096 frames, got 20,000"):
        save_gif(torch.zeros(20_000, 3, 2, 2), tmp_path / "x.gif")
    with pytest.raises(ParameterError, match=r"at most 4,096 frames, got 4,097"):
        save_gif([Image.new("RGB", (2, 2))] * 4097, tmp_path / "x.gif")
    with pytest.raises(ParameterError, match=r"at most 268,435,456 pixels in all, got 2 frames of 12800x12800"):
        save_gif(torch.zeros(2, 3, 32, 32), tmp_path / "x.gif", scale=400)
    assert not (tmp_path / "x.gif").exists()


@pytest.mark.parametrize(
    ("frames", "kwargs", "match", "error"),
    [
        ([], {}, r"save_gif: `frames` must hold at least one PIL image", ParameterError),
        ("abc", {}, r"save_gif: `frames` must be a sequence of PIL images or a tensor, got str", ParameterTypeError),
        (
            [Image.new("RGB", (2, 2)), Image.new("RGB", (3, 2))],
            {},
            r"one size, got \[\(2, 2\), \(3, 2\)\]",
            ParameterError,
        ),
        ([Image.new("RGB", (2, 2))], {"duration": 0}, r"`duration` must be an int >= 1, got 0", ParameterError),
        ([Image.new("RGB", (2, 2))], {"loop": -1}, r"`loop` must be an int >= 0, got -1", ParameterError),
    ],
)
def test_save_gif_bad_input(tmp_path: Path, frames: object, kwargs: dict, match: str, error: type[Exception]) -> None:
    with pytest.raises(error, match=match):
        save_gif(frames, tmp_path / "x.gif", **kwargs)  # type: ignore[arg-type]
    assert not (tmp_path / "x.gif").exists()


# ------------------------------------------------------------------ parameters and traversals
def test_parameters_from_mapping_fills_prior_means() -> None:
    space = ParameterSpace().replace(bounds={"h": (1.0, 2.0)})
    vector = parameters_from_mapping({"m": 3.0, "back_b": 0.1}, space=space)
    expected = list(space.prior_mean())
    expected[0], expected[9] = 3.0, 0.1
    assert vector.dtype == torch.float32
    torch.testing.assert_close(vector, torch.tensor(expected))
    assert vector[2].item() == pytest.approx(1.5)


@pytest.mark.parametrize(
    ("values", "match", "error"),
    [
        ({"q": 1.0}, r"`values` has unknown names \['q'\]", ParameterError),
        ({"m": float("nan")}, r"`m` must be a finite number, got nan", ParameterError),
        ({"m": "3"}, r"`m` must be a finite number, got str '3'", ParameterTypeError),
        ([("m", 3.0)], r"`values` must be a mapping, got list", ParameterTypeError),
    ],
)
def test_parameters_from_mapping_bad_input(values: object, match: str, error: type[Exception]) -> None:
    with pytest.raises(error, match=match):
        parameters_from_mapping(values)  # type: ignore[arg-type]


@pytest.mark.parametrize("parameter", PARAMETER_NAMES)
def test_traversal_params_sweeps_one_parameter(parameter: str) -> None:
    space = ParameterSpace()
    params = traversal_params(parameter, 5, {"m": 4.0}, space=space)
    column = PARAMETER_NAMES.index(parameter)
    low, high = space.bounds[parameter]
    assert params.shape == (5, 10)
    torch.testing.assert_close(params[:, column], torch.linspace(low, high, 5))
    others = [k for k in range(10) if k != column]
    base = parameters_from_mapping({"m": 4.0})
    torch.testing.assert_close(params[:, others], base[others].expand(5, -1))


def test_traversal_renders_the_sweep() -> None:
    base = ParameterSpace().sample(1, seed=3)[0]
    images = traversal("sigma", 4, base, low=0.3, high=0.9, size=12, normalize="image")
    expected = render(traversal_params("sigma", 4, base, low=0.3, high=0.9), size=12, normalize="image")
    assert images.shape == (4, 3, 12, 12)
    torch.testing.assert_close(images, expected)
    # The sweep changes the picture: thicker strokes cover more of the canvas.
    assert not torch.allclose(images[0], images[-1])


@pytest.mark.parametrize(
    ("args", "kwargs", "match", "error"),
    [
        (("q",), {}, r"traversal: `parameter` must be one of \['m', .*got 'q'", ParameterError),
        (("m", 1), {}, r"`steps` must be an int >= 2, got 1", ParameterError),
        (("m", 3, torch.zeros(9)), {}, r"`base_params` must have shape \(10,\), got \(9,\)", ParameterError),
        (("m", 3, torch.zeros(10, dtype=torch.long)), {}, r"`base_params` must have a floating dtype", ParameterError),
        (("m",), {"low": 4.0, "high": 3.0}, r"the sweep of `m` needs low < high, got \(4.0, 3.0\)", ParameterError),
        (("m",), {"low": float("inf")}, r"`low` must be a finite number, got inf", ParameterError),
        (("m",), {"space": "paper"}, r"`space` must be a ParameterSpace or None, got str", ParameterTypeError),
    ],
)
def test_traversal_bad_input(args: tuple, kwargs: dict, match: str, error: type[Exception]) -> None:
    with pytest.raises(error, match=match):
        traversal(*args, **kwargs)


# ------------------------------------------------------------------ nuisance variations
def test_nuisance_variations_keep_targets_and_redraw_nuisance() -> None:
    space = ParameterSpace()
    params = space.sample(3, seed=1)
    variations = nuisance_variations(params, 4, space=space, seed=7)
    assert variations.shape == (3, 4, 10)
    targets = list(space.target_index)
    nuisance = list(space.nuisance_index)
    torch.testing.assert_close(variations[..., targets], params[:, None, targets].expand(3, 4, -1))
    # Draws differ from one another and stay inside the prior.
    assert not torch.allclose(variations[:, 0, nuisance], variations[:, 1, nuisance])
    low = torch.tensor(space.low(space.nuisance_names))
    high = torch.tensor(space.high(space.nuisance_names))
    assert ((variations[..., nuisance] >= low) & (variations[..., nuisance] <= high)).all()
    # A pure function of (seed, row, draw): the same again, different with another seed.
    torch.testing.assert_close(variations, nuisance_variations(params, 4, space=space, seed=7))
    assert not torch.equal(variations, nuisance_variations(params, 4, space=space, seed=8))
    torch.testing.assert_close(nuisance_variations(params[:2], 4, seed=7), variations[:2])


def test_nuisance_variations_follow_a_moved_split() -> None:
    space = ParameterSpace().replace(targets=("m", "h"))
    params = space.sample(2, seed=0)
    variations = nuisance_variations(params, 3, space=space)
    torch.testing.assert_close(variations[..., [0, 2]], params[:, None, [0, 2]].expand(2, 3, -1))
    assert not torch.allclose(variations[:, 0, 1], variations[:, 1, 1])  # b is nuisance now


def test_nuisance_variations_bad_input() -> None:
    with pytest.raises(ParameterError, match=r"nuisance_variations: `params` must have shape \(n, 10\), got \(3, 9\)"):
        nuisance_variations(torch.zeros(3, 9), 2)
    with pytest.raises(ParameterError, match=r"nuisance_variations: `n_draws` must be an int >= 1, got 0"):
        nuisance_variations(torch.zeros(3, 10), 0)


# ------------------------------------------------------------------ normalisation comparison
def test_normalization_comparison_rows_are_the_two_normalizations() -> None:
    params = ParameterSpace().sample(3, seed=2)
    figure = normalization_comparison(params, size=10, scale=2, padding=1, labels=False)
    row = image_grid(render(params, size=10, normalize="row"), nrow=3, scale=2, padding=1)
    image = image_grid(render(params, size=10, normalize="image"), nrow=3, scale=2, padding=1)
    pixels = np.asarray(figure)
    assert figure.size == (3 * 20 + 4, 2 * 20 + 3)
    np.testing.assert_array_equal(pixels[: row.height], np.asarray(row))
    np.testing.assert_array_equal(pixels[21:], np.asarray(image))
    assert not np.array_equal(np.asarray(row), np.asarray(image))


def test_normalization_comparison_labels_add_a_margin() -> None:
    params = ParameterSpace().sample(2, seed=2)
    plain = normalization_comparison(params, size=8, scale=3, labels=False)
    labelled = normalization_comparison(params, size=8, scale=3)
    assert labelled.height == plain.height
    assert labelled.width > plain.width
    np.testing.assert_array_equal(np.asarray(labelled)[:, labelled.width - plain.width :], np.asarray(plain))
    margin = np.asarray(labelled)[:, : labelled.width - plain.width]
    assert (margin < 128).any()  # some text was drawn


def test_image_grid_row_labels() -> None:
    images = torch.rand(4, 3, 5, 5)
    plain = np.asarray(image_grid(images, nrow=2))
    labelled = np.asarray(image_grid(images, nrow=2, row_labels=["short", "a much longer label"]))
    shorter = np.asarray(image_grid(images, nrow=2, row_labels=["a", "b"]))
    assert labelled.shape[0] == plain.shape[0]
    assert labelled.shape[1] > shorter.shape[1] > plain.shape[1]  # the margin fits the longest label
    np.testing.assert_array_equal(labelled[:, -plain.shape[1] :], plain)
    with pytest.raises(ParameterError, match=r"`row_labels` must be 2 strings \(one per grid row\), got \['x'\]"):
        image_grid(images, nrow=2, row_labels=["x"])
    with pytest.raises(ParameterError, match=r"`row_labels` must be 2 strings"):
        image_grid(images, nrow=2, row_labels="ab")


def test_normalization_comparison_bad_input() -> None:
    with pytest.raises(
        ParameterError, match=r"normalization_comparison: `params` must have shape \(n, 10\), got \(10,\)"
    ):
        normalization_comparison(torch.zeros(10))
    with pytest.raises(ParameterError, match=r"at least one row, got 0"):
        normalization_comparison(torch.zeros(0, 10))


def test_captions_add_a_band_under_each_row_with_text() -> None:
    from spirograph.viz import image_grid

    images = torch.zeros(4, 3, 8, 8)  # black images on white padding
    plain = image_grid(images, nrow=2, scale=2, padding=1)
    captioned = image_grid(images, nrow=2, scale=2, padding=1, captions=["1", "2", "3", "4"], font_size=10)
    assert captioned.width == plain.width and captioned.height > plain.height + 2 * 8
    pixels = np.asarray(captioned.convert("L"))
    band = pixels[1 + 16 : 1 + 16 + 10]  # under the first grid row
    assert (band < 128).any(), "no caption text drawn"
    with pytest.raises(ParameterError, match=r"`captions` must be 4 strings \(one per image\)"):
        image_grid(images, nrow=2, captions=["1", "2"])


def test_traversal_grid_labels_rows_and_values() -> None:
    from spirograph.viz import image_grid, traversal, traversal_grid

    picture = traversal_grid(["m", "b"], steps=3, size=8, scale=2, padding=1, font_size=12)
    bare = image_grid(torch.cat([traversal("m", 3, size=8), traversal("b", 3, size=8)]), nrow=3, scale=2, padding=1)
    assert picture.width > bare.width and picture.height > bare.height  # a label margin and caption bands
    with pytest.raises(ParameterError, match="traversal_grid: `names`"):
        traversal_grid("m")
