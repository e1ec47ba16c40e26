"""Pictures of the dataset: image grids, parameter traversals, the two normalizations.

Plain functions. Rendering functions return image tensors ``(..., 3, size, size)`` in
``[0, 1]``; [`image_grid()`][spirograph.viz.image_grid] turns a batch into one `PIL.Image.Image`, upscaled
with nearest-neighbour so every pixel of the 32 x 32 canvas stays a crisp square;
[`save_png()`][spirograph.viz.save_png] and [`save_gif()`][spirograph.viz.save_gif] write atomically (a temporary
file renamed into
place), so a reader never sees half a file.

Examples:
    >>> from spirograph import Spirograph
    >>> from spirograph.viz import image_grid
    >>> picture = image_grid(Spirograph("test", subset=16).images(), nrow=8, scale=2)
    >>> picture.size
    (530, 134)
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont

from spirograph._checks import (
    check_choice,
    check_instance,
    check_int,
    check_names,
    check_number,
    check_tensor,
)
from spirograph.errors import ParameterError, ParameterTypeError
from spirograph.files import atomic_write
from spirograph.render import Normalize, render
from spirograph.space import PARAMETER_NAMES, ParameterSpace, check_space

__all__ = [
    "image_grid",
    "normalization_comparison",
    "nuisance_variations",
    "parameters_from_mapping",
    "save_gif",
    "save_png",
    "to_pil",
    "traversal",
    "traversal_grid",
    "traversal_params",
]


MAX_GIF_FRAMES = 4096
"""Most frames [`save_gif()`][spirograph.viz.save_gif] writes (about 7 minutes at 100 ms a frame)."""

MAX_GIF_PIXELS = 1 << 28
"""Most pixels, summed over frames, that [`save_gif()`][spirograph.viz.save_gif] writes (768 MiB as RGB)."""


def _check_gif_size(count: int, width: int, height: int) -> None:
    # Before any frame is converted: every frame is held in memory as RGB while the GIF is encoded.
    if count > MAX_GIF_FRAMES:
        raise ParameterError(f"save_gif: `frames` must hold at most {MAX_GIF_FRAMES:,} frames, got {count:,}")
    if count * width * height > MAX_GIF_PIXELS:
        raise ParameterError(
            f"save_gif: `frames` must hold at most {MAX_GIF_PIXELS:,} pixels in all, got {count:,} frames of "
            f"{width}x{height}"
        )


def _check_images(images: object, where: str) -> torch.Tensor:
    images = check_tensor(images, "images", where=where)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ParameterError(
            f"{where}: `images` must have shape (n, 3, H, W), (n, 1, H, W) or (3, H, W), got {tuple(images.shape)}"
        )
    if images.shape[0] == 0:
        raise ParameterError(f"{where}: `images` must hold at least one image, got shape {tuple(images.shape)}")
    if not images.dtype.is_floating_point:
        raise ParameterError(f"{where}: `images` must have a floating dtype with values in [0, 1], got {images.dtype}")
    return images


def _to_bytes(images: torch.Tensor) -> torch.Tensor:
    # (n, C, H, W) float in [0, 1] -> (n, H, W, 3) uint8, grey expanded to RGB.
    images = images.detach().to("cpu", torch.float32)
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    return images.clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def to_pil(image: torch.Tensor, *, scale: int = 1) -> Image.Image:
    """One image tensor as an RGB PIL image, upscaled ``scale`` times with nearest-neighbour.

    Args:
        image: values in ``[0, 1]`` (clamped).
        scale: integer upscaling factor, ``>= 1``.

    Returns:
        An RGB image of ``W * scale`` by ``H * scale`` pixels.

    Shape:
        ``image``: ``(3, H, W)`` or ``(1, H, W)``.
    """
    if isinstance(image, torch.Tensor) and image.ndim != 3:
        raise ParameterError(f"to_pil: `image` must have shape (3, H, W) or (1, H, W), got {tuple(image.shape)}")
    return image_grid(_check_images(image, "to_pil"), nrow=1, scale=scale, padding=0)


def image_grid(
    images: torch.Tensor,
    nrow: int = 8,
    scale: int = 1,
    padding: int = 2,
    *,
    pad_value: float = 1.0,
    row_labels: Sequence[str] | None = None,
    captions: Sequence[str] | None = None,
    font_size: int = 14,
) -> Image.Image:
    """Lay a batch of images out on a grid, as one RGB PIL image.

    Each image is upscaled ``scale`` times with nearest-neighbour (crisp pixels), then
    the images are placed ``nrow`` to a row, with ``padding`` pixels of ``pad_value``
    between and around them (as `torchvision.utils.make_grid()`).

    Args:
        images: values in ``[0, 1]`` (clamped). A single ``(3, H, W)`` image is allowed.
        nrow: images per row, ``>= 1``.
        scale: integer upscaling factor, ``>= 1``.
        padding: pixels between and around images (not scaled), ``>= 0``.
        pad_value: grey level of the padding, in ``[0, 1]``.
        row_labels: one text per grid row, written in a white margin added on the left
            (as wide as the longest label).
        captions: one short text per image (a value, say), written in a white band under
            each grid row.
        font_size: pixel height of the text of ``row_labels`` and ``captions``.

    Returns:
        An RGB image of width ``c * W * scale + (c + 1) * padding`` (plus the label
        margin) and height ``r * H * scale + (r + 1) * padding``, where
        ``c = min(nrow, n)`` and ``r = ceil(n / nrow)``.

    Shape:
        ``images``: ``(n, 3, H, W)``, ``(n, 1, H, W)`` or ``(3, H, W)``.

    Examples:
        >>> image_grid(torch.rand(10, 3, 32, 32), nrow=5, scale=2, padding=1).size
        (326, 131)
    """
    images = _check_images(images, "image_grid")
    nrow = check_int(nrow, "nrow", where="image_grid", minimum=1)
    scale = check_int(scale, "scale", where="image_grid", minimum=1)
    padding = check_int(padding, "padding", where="image_grid", minimum=0)
    pad_value = check_number(pad_value, "pad_value", where="image_grid", minimum=0, maximum=1)

    rows = math.ceil(images.shape[0] / nrow)
    if row_labels is not None and (
        isinstance(row_labels, str)
        or not isinstance(row_labels, Sequence)
        or len(row_labels) != rows
        or not all(isinstance(text, str) for text in row_labels)
    ):
        raise ParameterError(f"image_grid: `row_labels` must be {rows} strings (one per grid row), got {row_labels!r}")
    if captions is not None and (
        isinstance(captions, str)
        or not isinstance(captions, Sequence)
        or len(captions) != images.shape[0]
        or not all(isinstance(text, str) for text in captions)
    ):
        raise ParameterError(
            f"image_grid: `captions` must be {images.shape[0]} strings (one per image), got {captions!r}"
        )
    font_size = check_int(font_size, "font_size", where="image_grid", minimum=6)

    pixels = _to_bytes(images)  # (n, H, W, 3)
    if scale > 1:
        pixels = pixels.repeat_interleave(scale, dim=1).repeat_interleave(scale, dim=2)
    n, height, width, _ = pixels.shape
    columns = min(nrow, n)
    canvas = torch.full(
        (rows * height + (rows + 1) * padding, columns * width + (columns + 1) * padding, 3),
        round(pad_value * 255),
        dtype=torch.uint8,
    )
    for k in range(n):
        top = padding + (k // nrow) * (height + padding)
        left = padding + (k % nrow) * (width + padding)
        canvas[top : top + height, left : left + width] = pixels[k]
    grid = Image.fromarray(canvas.numpy(), mode="RGB")
    font = _font(font_size)
    pitch = height + padding  # rows of the grid start every `pitch` pixels
    if captions is not None:
        grid, pitch = _caption_rows(grid, captions, nrow, (width, height), padding, font)
    return grid if row_labels is None else _label_rows(grid, row_labels, pitch, height, padding, font)


_Font = ImageFont.ImageFont | ImageFont.FreeTypeFont


def _font(size: int) -> _Font:
    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1: a scalable font
    except TypeError:
        return ImageFont.load_default()


def _caption_rows(
    grid: Image.Image,
    captions: Sequence[str],
    nrow: int,
    cell: tuple[int, int],
    padding: int,
    font: _Font,
) -> tuple[Image.Image, int]:
    # Inserts a white band under each grid row and writes each image's caption centred in it.
    width, height = cell
    band = math.ceil(font.getbbox("0.9")[3]) + 4
    rows = math.ceil(len(captions) / nrow)
    out = Image.new("RGB", (grid.width, grid.height + rows * band), (255, 255, 255))
    draw = ImageDraw.Draw(out)
    for row in range(rows):
        source_top = row * (height + padding)
        strip = grid.crop((0, source_top, grid.width, source_top + height + 2 * padding))
        out.paste(strip, (0, source_top + row * band))
    for k, text in enumerate(captions):
        row, column = divmod(k, nrow)
        centre = padding + column * (width + padding) + width // 2
        top = padding + row * (height + padding + band) + height + 2
        draw.text((centre, top), text, fill=(0, 0, 0), font=font, anchor="mt")
    return out, height + padding + band


def _label_rows(
    grid: Image.Image, labels: Sequence[str], pitch: int, row_height: int, padding: int, font: _Font
) -> Image.Image:
    # Adds a white margin on the left, as wide as the longest label, with one label centred on each grid row.
    margin = 12 + math.ceil(max(font.getlength(text) for text in labels))
    out = Image.new("RGB", (grid.width + margin, grid.height), (255, 255, 255))
    out.paste(grid, (margin, 0))
    draw = ImageDraw.Draw(out)
    for row, text in enumerate(labels):
        middle = padding + row * pitch + row_height // 2
        draw.text((6, middle), text, fill=(0, 0, 0), font=font, anchor="lm")
    return out


def _atomic_save(path: str | os.PathLike[str], save: object, where: str) -> Path:
    # `save(file_object)` writes the bytes; they land in a temporary file in the
    # destination directory, which is then renamed over `path`.
    check_instance(path, "path", (str, os.PathLike), where=where, expected="a str or os.PathLike")
    return atomic_write(path, save)  # type: ignore[arg-type]


def save_png(image: Image.Image | torch.Tensor, path: str | os.PathLike[str], *, scale: int = 1) -> Path:
    """Write a PIL image (or one image tensor) as a PNG, atomically.

    Args:
        image: a PIL image, or a ``(3, H, W)`` tensor in ``[0, 1]``.
        path: destination; missing parent directories are created.
        scale: nearest-neighbour upscaling of a tensor (ignored for PIL images).

    Returns:
        ``path`` as a `pathlib.Path`.
    """
    if isinstance(image, torch.Tensor):
        image = to_pil(image, scale=scale)
    check_instance(image, "image", Image.Image, where="save_png", expected="a PIL image or a tensor")
    picture = image
    return _atomic_save(path, lambda stream: picture.save(stream, format="PNG", optimize=True), "save_png")


def save_gif(
    frames: Sequence[Image.Image] | torch.Tensor,
    path: str | os.PathLike[str],
    *,
    duration: int = 100,
    loop: int = 0,
    scale: int = 1,
) -> Path:
    """Write frames as an animated GIF, atomically.

    Args:
        frames: PIL images of one size, or an image tensor ``(n, 3, H, W)`` in ``[0, 1]``.
            Identical neighbouring frames are stored once with their durations added
            (Pillow's encoder does this), so playback time is always ``n * duration``.
        path: destination; missing parent directories are created.
        duration: milliseconds per frame, ``>= 1``.
        loop: how many times to loop; ``0`` loops forever.
        scale: nearest-neighbour upscaling of a tensor (ignored for PIL images).

    Returns:
        ``path`` as a `pathlib.Path`.

    Raises:
        ParameterTypeError: ``frames`` of the wrong type, or a setting of the wrong type.
        ParameterError: no frames, frames of different sizes, more than ``MAX_GIF_FRAMES``
            (4096) frames or ``MAX_GIF_PIXELS`` (``2**28``) pixels in all, checked before any
            frame is converted; a ``duration`` below 1 or a negative ``loop``.
    """
    duration = check_int(duration, "duration", where="save_gif", minimum=1)
    loop = check_int(loop, "loop", where="save_gif", minimum=0)
    if isinstance(frames, torch.Tensor):
        images = _check_images(frames, "save_gif")
        scale = check_int(scale, "scale", where="save_gif", minimum=1)
        _check_gif_size(images.shape[0], images.shape[3] * scale, images.shape[2] * scale)
        frames = [to_pil(frame, scale=scale) for frame in images.unbind(0)]
    if isinstance(frames, (Image.Image, str, bytes)) or not isinstance(frames, Sequence):
        raise ParameterTypeError(
            f"save_gif: `frames` must be a sequence of PIL images or a tensor, got {type(frames).__name__}"
        )
    if not frames:
        raise ParameterError("save_gif: `frames` must hold at least one PIL image, got none")
    if len(frames) > MAX_GIF_FRAMES:
        _check_gif_size(len(frames), 1, 1)
    for k, frame in enumerate(frames):
        check_instance(frame, f"frames[{k}]", Image.Image, where="save_gif", expected="a PIL image")
    sizes = {frame.size for frame in frames}
    if len(sizes) != 1:
        raise ParameterError(f"save_gif: `frames` must all have one size, got {sorted(sizes)}")
    _check_gif_size(len(frames), *frames[0].size)
    palette = [frame.convert("RGB") for frame in frames]
    first, rest = palette[0], palette[1:]

    def write(stream: object) -> None:
        first.save(
            stream,  # type: ignore[arg-type]
            format="GIF",
            save_all=True,
            append_images=rest,
            duration=duration,
            loop=loop,
            optimize=False,
            disposal=1,
        )

    return _atomic_save(path, write, "save_gif")


def parameters_from_mapping(values: Mapping[str, float], *, space: ParameterSpace | None = None) -> torch.Tensor:
    """One ``(10,)`` parameter vector from ``name -> value``; unnamed parameters take the prior mean.

    Args:
        values: any subset of [`spirograph.PARAMETER_NAMES`][spirograph.space.PARAMETER_NAMES].
        space: whose prior means fill the gaps (the paper's by default).

    Returns:
        A float32 tensor of shape ``(10,)`` in canonical order.

    Examples:
        >>> parameters_from_mapping({"m": 3.0, "b": 0.5})[:4]
        tensor([3.0000, 0.5000, 1.5000, 0.6250])
    """
    where = "parameters_from_mapping"
    space = check_space(space, where=where)
    check_instance(values, "values", Mapping, where=where, expected="a mapping")
    check_names(list(values), "values", where=where, allowed=PARAMETER_NAMES, allow_empty=True)
    vector = list(space.prior_mean())
    for name, value in values.items():
        vector[PARAMETER_NAMES.index(name)] = check_number(value, name, where=where)
    return torch.tensor(vector, dtype=torch.float32)


def _check_base(
    base_params: torch.Tensor | Mapping[str, float] | None, space: ParameterSpace, where: str
) -> torch.Tensor:
    if base_params is None:
        return torch.tensor(space.prior_mean(), dtype=torch.float32)
    if isinstance(base_params, Mapping):
        return parameters_from_mapping(base_params, space=space)
    check_instance(base_params, "base_params", torch.Tensor, where=where, expected="a (10,) tensor, a mapping or None")
    check_tensor(base_params, "base_params", where=where, shape=(len(PARAMETER_NAMES),), floating=True)
    return base_params.detach()


def traversal_params(
    parameter: str,
    steps: int = 8,
    base_params: torch.Tensor | Mapping[str, float] | None = None,
    *,
    space: ParameterSpace | None = None,
    low: float | None = None,
    high: float | None = None,
) -> torch.Tensor:
    """Parameters that sweep one parameter evenly over its range, the others fixed.

    Args:
        parameter: the name to sweep, one of [`spirograph.PARAMETER_NAMES`][spirograph.space.PARAMETER_NAMES].
        steps: number of values, ``>= 2`` (both ends included).
        base_params: values of the other parameters: a ``(10,)`` tensor, a mapping
            ``name -> value`` (gaps filled with prior means) or ``None`` (all prior means).
        space: whose prior gives the range and the means (the paper's by default).
        low: override the ends of the sweep (default: the prior's bounds).
        high: override the ends of the sweep (default: the prior's bounds).

    Returns:
        Parameters in canonical order, row ``s`` holding the ``s``-th value.

    Shape:
        ``(steps, 10)``.
    """
    space = check_space(space, where="traversal")
    check_choice(parameter, "parameter", PARAMETER_NAMES, where="traversal")
    steps = check_int(steps, "steps", where="traversal", minimum=2)
    base = _check_base(base_params, space, "traversal")
    bound_low, bound_high = space.bounds[parameter]
    start = bound_low if low is None else check_number(low, "low", where="traversal")
    stop = bound_high if high is None else check_number(high, "high", where="traversal")
    if start >= stop:
        raise ParameterError(f"traversal: the sweep of `{parameter}` needs low < high, got ({start}, {stop})")
    params = base.to(torch.float64).repeat(steps, 1)
    params[:, PARAMETER_NAMES.index(parameter)] = torch.linspace(float(start), float(stop), steps, dtype=torch.float64)
    return params.to(base.dtype)


def traversal(
    parameter: str,
    steps: int = 8,
    base_params: torch.Tensor | Mapping[str, float] | None = None,
    *,
    space: ParameterSpace | None = None,
    low: float | None = None,
    high: float | None = None,
    size: int = 32,
    n_points: int = 40,
    extent: float = 6.0,
    normalize: Normalize = "row",
) -> torch.Tensor:
    """Render a sweep of one parameter over its range with the others fixed.

    Args:
        parameter: as in [`traversal_params()`][spirograph.viz.traversal_params].
        steps: as in [`traversal_params()`][spirograph.viz.traversal_params].
        base_params: as in [`traversal_params()`][spirograph.viz.traversal_params].
        space: as in [`traversal_params()`][spirograph.viz.traversal_params].
        low: as in [`traversal_params()`][spirograph.viz.traversal_params].
        high: as in [`traversal_params()`][spirograph.viz.traversal_params].
        size: renderer settings, see [`render()`][spirograph.render.render].
        n_points: renderer settings, see [`render()`][spirograph.render.render].
        extent: renderer settings, see [`render()`][spirograph.render.render].
        normalize: renderer settings, see [`render()`][spirograph.render.render].

    Returns:
        Images in ``[0, 1]``, one per step; ``image_grid(traversal(...), nrow=steps)`` is a strip.

    Shape:
        ``(steps, 3, size, size)``.

    Examples:
        >>> traversal("m", steps=5, size=16).shape
        torch.Size([5, 3, 16, 16])
    """
    params = traversal_params(parameter, steps, base_params, space=space, low=low, high=high)
    return render(params, size=size, n_points=n_points, extent=extent, normalize=normalize)


def traversal_grid(
    names: Sequence[str] = PARAMETER_NAMES,
    steps: int = 9,
    base_params: torch.Tensor | Mapping[str, float] | None = None,
    *,
    space: ParameterSpace | None = None,
    size: int = 32,
    normalize: Normalize = "row",
    scale: int = 3,
    padding: int = 2,
    font_size: int = 14,
) -> Image.Image:
    """One labelled row per parameter, swept over its prior range, with each value written under its image.

    Args:
        names: the parameters to sweep, one grid row each.
        steps: values per sweep, ``>= 2``.
        base_params: as in [`traversal_params()`][spirograph.viz.traversal_params].
        space: as in [`traversal_params()`][spirograph.viz.traversal_params].
        size: renderer settings, see [`render`][spirograph.render.render].
        normalize: renderer settings, see [`render`][spirograph.render.render].
        scale: as in [`image_grid()`][spirograph.viz.image_grid].
        padding: as in [`image_grid()`][spirograph.viz.image_grid].
        font_size: as in [`image_grid()`][spirograph.viz.image_grid].

    Returns:
        An RGB picture: a row label (the parameter's name) left of each sweep and the value
        of the swept parameter under each image.

    Examples:
        >>> traversal_grid(["m", "b"], steps=3, size=8, scale=2).mode
        'RGB'
    """
    if isinstance(names, str) or not names:
        raise ParameterError(f"traversal_grid: `names` must be a non-empty sequence of parameter names, got {names!r}")
    sweeps = [traversal_params(name, steps, base_params, space=space) for name in names]  # each (steps, 10)
    images = torch.cat([render(params, size=size, normalize=normalize) for params in sweeps])
    captions = [
        f"{value:.2f}"
        for name, params in zip(names, sweeps, strict=True)
        for value in params[:, PARAMETER_NAMES.index(name)].tolist()
    ]
    return image_grid(
        images, nrow=steps, scale=scale, padding=padding, row_labels=list(names), captions=captions, font_size=font_size
    )


def nuisance_variations(
    params: torch.Tensor,
    n_draws: int,
    *,
    space: ParameterSpace | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """Keep each row's targets and redraw its nuisance ``n_draws`` times (what the invariance is about).

    Draw ``v`` of row ``i`` is a pure function of ``(seed, i, v)``.

    Args:
        params: parameters in canonical order.
        n_draws: nuisance draws per row, ``>= 1``.
        space: the target/nuisance split and the nuisance prior (the paper's by default).
        seed: seed of the draws.

    Returns:
        Parameters in canonical order, ``[i, v]`` holding draw ``v`` of row ``i``.

    Shape:
        ``(n, 10) -> (n, n_draws, 10)``.
    """
    space = check_space(space, where="nuisance_variations")
    n_draws = check_int(n_draws, "n_draws", where="nuisance_variations", minimum=1)
    check_tensor(params, "params", where="nuisance_variations", shape=("n", len(PARAMETER_NAMES)))
    targets, _ = space.split(params)
    index = torch.arange(params.shape[0])
    draws = [space.sample_nuisance(targets, seed=seed, index=index, stream=(2, draw)) for draw in range(n_draws)]
    return torch.stack(draws, dim=1)


def normalization_comparison(
    params: torch.Tensor,
    *,
    size: int = 32,
    n_points: int = 40,
    extent: float = 6.0,
    scale: int = 4,
    padding: int = 2,
    labels: bool = True,
    font_size: int = 14,
) -> Image.Image:
    """The same parameters under both normalizations, one above the other.

    The top row is ``normalize="row"`` (each image row divided by its own maximum: the
    paper's released generator and this package's default); the bottom row is
    ``normalize="image"`` (divided by the image maximum: the equation as printed).

    Args:
        params: parameters in canonical order, one column of the figure each.
        size: renderer settings, see [`render()`][spirograph.render.render].
        n_points: renderer settings, see [`render()`][spirograph.render.render].
        extent: renderer settings, see [`render()`][spirograph.render.render].
        scale: as in [`image_grid()`][spirograph.viz.image_grid].
        padding: as in [`image_grid()`][spirograph.viz.image_grid].
        labels: name the normalisation of each row in a margin on its left.
        font_size: pixel height of the labels.

    Returns:
        An RGB image: two rows of ``n`` images (plus the label margin).

    Shape:
        ``params``: ``(n, 10)``.
    """
    check_tensor(params, "params", where="normalization_comparison", shape=("n", len(PARAMETER_NAMES)))
    if params.shape[0] == 0:
        raise ParameterError("normalization_comparison: `params` must hold at least one row, got 0")
    modes: tuple[Normalize, ...] = ("row", "image")
    rendered = [render(params, size=size, n_points=n_points, extent=extent, normalize=mode) for mode in modes]
    names = ['"row": each row / its max', '"image": image / its max']
    return image_grid(
        torch.cat(rendered),
        nrow=params.shape[0],
        scale=scale,
        padding=padding,
        row_labels=names if labels else None,
        font_size=font_size,
    )
