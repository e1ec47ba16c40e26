r"""The differentiable Spirograph renderer.

``render(params)`` maps ``(..., 10)`` parameters (canonical order, see
[`spirograph.PARAMETER_NAMES`][spirograph.space.PARAMETER_NAMES]) to ``(..., 3, size, size)`` images, exactly the
generative process of Foster, Pukdee & Rainforth, "Improving Transformation
Invariance in Contrastive Representation Learning" (ICLR 2021):

with $T$ curve points $t_k$ evenly spaced over $[0, 2\pi]$ (both ends included) and a grid
$g$ of ``size`` points evenly spaced over $[-\mathrm{extent}, \mathrm{extent}]$ on both axes,

$$
x_k = (m - h) \cos t_k + h \cos\left(\frac{m - h}{b}\, t_k\right), \qquad
y_k = (m - h) \sin t_k - h \sin\left(\frac{m - h}{b}\, t_k\right),
$$

$$
v_{ij} = \frac{1}{T} \sum_{k=1}^{T} \exp\left(-\frac{(g_i - x_k)^2 + (g_j - y_k)^2}{\sigma}\right),
\qquad
\mathrm{image}_{c,i,j} = \hat v_{ij}\, \mathrm{fore}_c + (1 - \hat v_{ij})\, \mathrm{back}_c,
$$

where $\hat v_{ij} = v_{ij} / (\max_{j'} v_{ij'} + 10^{-8})$ for ``normalize="row"`` (the
released generator; the default) and $\hat v_{ij} = v_{ij} / (\max_{i',j'} v_{i'j'} + 10^{-8})$
for ``normalize="image"`` (the equation as printed).

The Gaussian is separable, so ``v`` is a ``(size, T) @ (T, size)`` product per image:
two small exponentials per curve point and one batched matrix product, never a
``(T, batch, size, size)`` tensor. The exponentials are taken in base 2 on coordinates
scaled by ``sqrt(log2(e) / sigma)`` (``exp(-u^2) = 2^-(u sqrt(log2 e))^2``), because
PyTorch's ``exp2`` was faster than ``exp`` on the CPU of the benchmarks, at the same
accuracy (the measurements are in ``benchmarks/README.md``).
The Gaussian factors and the normalize-and-paint step are autograd Functions with
hand-written backward (and forward-mode) derivatives, which make far fewer passes over
memory than autograd of the plain expressions; their backwards are themselves
differentiable, for double backward.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

import torch
from torch import nn
from torch.autograd import forward_ad

from spirograph._checks import check_bool, check_choice, check_instance, check_int, check_number, check_tensor
from spirograph.errors import ParameterError
from spirograph.space import PARAMETER_NAMES

__all__ = ["Normalize", "RenderSettings", "Renderer", "SettingsView", "render"]

Normalize = Literal["row", "image"]
NORMALIZE_MODES: tuple[str, ...] = get_args(Normalize)

_EPS = 1e-8
_CPU_CHUNK = 512  # images per chunk on CPU (see render)
_LOG2_E = math.log2(math.e)
_LN_2 = math.log(2.0)

# Lowest exponent kept per dtype. Each Gaussian factor is clamped at exp(floor) so that
# the product of two factors inside the matrix product stays a normal number: float32
# denormals make x86 matrix products many times slower. exp(-40)**2 = 1.8e-35 > 1.2e-38 and
# exp(-340)**2 = 1e-295 > 2.2e-308. The largest change this makes to a pixel is
# exp(floor) / (row maximum + 1e-8) <= 4e-18 / 1e-8 = 4e-10 in float32 (far below its
# 6e-5 rounding error) and ~1e-140 in float64.
_EXPONENT_FLOOR = {torch.float32: -40.0, torch.float64: -340.0}


def _under_vmap(tensor: torch.Tensor) -> bool:
    # vmap cannot branch on values, so value checks are skipped under it, also when it is
    # wrapped in other transforms (vmap(jacrev(render)) wraps the batched tensor for grad).
    functorch = getattr(torch._C, "_functorch", None)
    if functorch is None:
        return False
    while functorch.is_functorch_wrapped_tensor(tensor):
        if functorch.is_batchedtensor(tensor):
            return True
        tensor = functorch.get_unwrapped(tensor)
    return False


def _tracks_derivatives(tensor: torch.Tensor) -> bool:
    # Whether autograd, forward-mode AD or a torch.func transform may differentiate through
    # a render of `tensor`. When none can, the autograd Functions below are skipped and their
    # forwards called directly, which saves their bookkeeping (benchmarks/README.md).
    if tensor.requires_grad and torch.is_grad_enabled():
        return True
    functorch = getattr(torch._C, "_functorch", None)
    if functorch is not None and functorch.is_functorch_wrapped_tensor(tensor):
        return True
    return forward_ad.unpack_dual(tensor).tangent is not None


MAX_SIZE = 4096
"""The largest canvas side [`render()`][spirograph.render.render] accepts (one float32 image is then 200 MB)."""

MAX_POINTS = 65536
"""The most curve points [`render()`][spirograph.render.render] accepts."""


_FIELDS = ("size", "n_points", "extent", "normalize")


def _checked_fields(
    size: Any, n_points: Any, extent: Any, normalize: Any, where: str, error: type[ParameterError]
) -> tuple[int, int, float, Normalize]:
    return (
        check_int(size, "size", where=where, minimum=2, maximum=MAX_SIZE, error=error),
        check_int(n_points, "n_points", where=where, minimum=2, maximum=MAX_POINTS, error=error),
        check_number(extent, "extent", where=where, above=0, error=error),
        check_choice(normalize, "normalize", NORMALIZE_MODES, where=where, error=error),
    )


@dataclass(frozen=True)
class RenderSettings:
    """The settings of [`render()`][spirograph.render.render], validated once and frozen.

    The renderer, the datasets, the transform, the hub configs, the training config and
    the evaluation records each hold one, so the four values travel together and are
    checked where they are made, not wherever they are used.

    Args:
        size: canvas side in pixels, in ``[2, MAX_SIZE]`` (4096).
        n_points: curve points ``T``, in ``[2, MAX_POINTS]`` (65536).
        extent: the grid spans ``[-extent, extent]`` on both axes; a finite number ``> 0``.
        normalize: ``"row"`` divides each image row by its own maximum (the paper's
            released generator, which made its figures and numbers); ``"image"`` divides
            by the image maximum (the equation as printed in the paper).

    Raises:
        ParameterTypeError: a setting of the wrong type.
        ParameterError: a setting out of its range, or an unknown ``normalize``.

    Examples:
        >>> settings = RenderSettings(size=64, normalize="image")
        >>> settings
        RenderSettings(size=64, n_points=40, extent=6.0, normalize='image')
        >>> RenderSettings.from_dict(settings.to_dict()) == settings
        True
    """

    size: int = 32
    n_points: int = 40
    extent: float = 6.0
    normalize: Normalize = "row"

    def __post_init__(self) -> None:
        where = "RenderSettings"
        values = _checked_fields(self.size, self.n_points, self.extent, self.normalize, where, ParameterError)
        for name, value in zip(_FIELDS, values, strict=True):
            object.__setattr__(self, name, value)  # int and float, whatever numeric type arrived

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-ready dictionary, ``{"size": ..., "n_points": ..., "extent": ..., "normalize": ...}``.

        Examples:
            >>> RenderSettings().to_dict()
            {'size': 32, 'n_points': 40, 'extent': 6.0, 'normalize': 'row'}
        """
        return {name: getattr(self, name) for name in _FIELDS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RenderSettings:
        """Build settings from [`to_dict()`][spirograph.render.RenderSettings.to_dict]'s output.

        Args:
            data: a mapping of some of ``size``, ``n_points``, ``extent`` and ``normalize``;
                missing keys take their defaults.

        Returns:
            The settings.

        Raises:
            ParameterTypeError: ``data`` is not a mapping, or a value has the wrong type.
            ParameterError: an unknown key, or a value out of its range.

        Examples:
            >>> RenderSettings.from_dict({"size": 64})
            RenderSettings(size=64, n_points=40, extent=6.0, normalize='row')
        """
        where = "RenderSettings.from_dict"
        check_instance(data, "data", Mapping, where=where, expected="a mapping")
        unknown = sorted(str(key) for key in data if key not in _FIELDS)
        if unknown:
            raise ParameterError(f"{where}: `data` has unknown keys {unknown}; valid keys are {list(_FIELDS)}")
        values = {**_DEFAULT_SETTINGS.to_dict(), **data}
        return check_settings(**values, where=where)


def check_settings(
    size: Any, n_points: Any, extent: Any, normalize: Any, *, where: str, error: type[ParameterError] = ParameterError
) -> RenderSettings:
    """Check loose renderer settings and build their [`RenderSettings`][spirograph.render.RenderSettings].

    For holders that take the four values as arguments: an error names the holder
    (``where``), not `RenderSettings`.

    Args:
        size: as in [`RenderSettings`][spirograph.render.RenderSettings].
        n_points: as in [`RenderSettings`][spirograph.render.RenderSettings].
        extent: as in [`RenderSettings`][spirograph.render.RenderSettings].
        normalize: as in [`RenderSettings`][spirograph.render.RenderSettings].
        where: the caller, for the message.
        error: the class of a bad value (a configuration object passes ``ConfigError``).

    Returns:
        The settings.

    Raises:
        ParameterTypeError: a setting of the wrong type.
        ParameterError: ``size`` outside ``[2, MAX_SIZE]``, ``n_points`` outside
            ``[2, MAX_POINTS]``, ``extent`` not a finite number ``> 0``, an unknown ``normalize``.

    Examples:
        >>> check_settings(64, 40, 6, "row", where="Spirograph")
        RenderSettings(size=64, n_points=40, extent=6.0, normalize='row')
    """
    values = _checked_fields(size, n_points, extent, normalize, where, error)
    # Checked just above: built without `__post_init__`, which would repeat the checks on every
    # `render(params, size=...)` call.
    settings = object.__new__(RenderSettings)
    settings.__dict__.update(zip(_FIELDS, values, strict=True))
    return settings


def resolve_settings(
    settings: RenderSettings | None,
    size: Any = None,
    n_points: Any = None,
    extent: Any = None,
    normalize: Any = None,
    *,
    where: str,
) -> RenderSettings:
    """The settings of a call that takes a [`RenderSettings`][spirograph.render.RenderSettings] and the four keywords.

    A keyword left at ``None`` takes its value from ``settings`` (the defaults when
    ``settings`` is ``None``). A keyword given beside ``settings`` must agree with it.

    Args:
        settings: the settings object, or ``None``.
        size: as in [`RenderSettings`][spirograph.render.RenderSettings], or ``None``.
        n_points: as in [`RenderSettings`][spirograph.render.RenderSettings], or ``None``.
        extent: as in [`RenderSettings`][spirograph.render.RenderSettings], or ``None``.
        normalize: as in [`RenderSettings`][spirograph.render.RenderSettings], or ``None``.
        where: the caller, for the message.

    Returns:
        ``settings`` itself when no keyword is given, else the checked settings.

    Raises:
        ParameterTypeError: ``settings`` is not a `RenderSettings`, or a keyword has the wrong type.
        ParameterError: a keyword out of its range, or one that disagrees with ``settings``.

    Examples:
        >>> resolve_settings(None, size=64, where="render").size
        64
    """
    keywords = zip(_FIELDS, (size, n_points, extent, normalize), strict=True)
    given = {name: value for name, value in keywords if value is not None}
    if settings is not None:
        check_instance(settings, "settings", RenderSettings, where=where, expected="a RenderSettings or None")
    base = _DEFAULT_SETTINGS if settings is None else settings
    if not given:
        return base
    merged = check_settings(**{**base.to_dict(), **given}, where=where)
    if settings is not None and merged != settings:
        conflicts = ", ".join(
            f"`{name}={given[name]!r}` against `settings.{name}={getattr(settings, name)!r}`"
            for name in given
            if getattr(merged, name) != getattr(settings, name)
        )
        raise ParameterError(f"{where}: give each renderer setting once, in `settings` or a keyword; got {conflicts}")
    return merged


_DEFAULT_SETTINGS = RenderSettings()


def _memory_bytes(batch: int, size: int, n_points: int, itemsize: int, chunk: int) -> int:
    # The result, plus what one chunk of `chunk` images holds while it is rendered: the two
    # (chunk, S, T) Gaussian factors, the (chunk, S, S) intensity and a painted (chunk, 3, S, S)
    # copy (torch.cat of differentiable chunks).
    working = chunk * (2 * size * n_points + 4 * size * size)
    return (batch * 3 * size * size + working + n_points + size) * itemsize


@functools.lru_cache(maxsize=1)
def _host_memory() -> int | None:
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return None


def _device_memory(device: torch.device) -> int | None:
    if device.type == "cpu":
        return _host_memory()
    if device.type == "cuda" and torch.cuda.is_available():
        return int(torch.cuda.get_device_properties(device).total_memory)
    return None


def check_memory(
    batch: int, size: int, n_points: int, dtype: torch.dtype, device: torch.device | str, *, where: str
) -> None:
    """Refuse a render whose memory would exceed the device's, before anything is allocated.

    The estimate counts the result and one chunk's working tensors (see [`render()`][spirograph.render.render]);
    the device's memory is the machine's physical memory for the CPU and the GPU's total
    memory for CUDA (other devices are not checked).

    Raises:
        ParameterError: the estimate exceeds the device's memory.
    """
    device = torch.device(device)
    itemsize = torch.empty((), dtype=dtype).element_size()
    chunk = min(batch, _CPU_CHUNK) if device.type == "cpu" else batch
    needed = _memory_bytes(batch, size, n_points, max(itemsize, 4), chunk)
    available = _device_memory(device)
    if available is not None and needed > available:
        raise ParameterError(
            f"{where}: {batch} images of {size}x{size} pixels with {n_points} curve points need about "
            f"{needed / 2**30:.1f} GiB, more than the {available / 2**30:.1f} GiB of {device}; "
            "render fewer images per call"
        )


def _check_params(params: Any) -> torch.Tensor:
    check_tensor(params, "params", where="render", shape=(..., len(PARAMETER_NAMES)))
    if not params.dtype.is_floating_point:
        raise ParameterError(f"render: `params` must have a floating dtype, got {params.dtype}")
    return params


def _check_values(flat: torch.Tensor, n_points: int, extent: float, where: str = "render") -> None:
    """Refuse parameters that are not finite, ``b <= 0``, ``sigma <= 0``, or that would overflow.

    ``flat`` is ``(B, 10)`` in the dtype the renderer computes in. Beyond ``b > 0`` and
    ``sigma > 0``, every quantity the renderer forms must be finite in that dtype:

    - the phase ``|m - h| / b * 2 pi`` (otherwise ``cos`` of inf gives NaN);
    - the scaled curve reach ``(|m - h| + |h|) * s`` and grid reach ``extent * s``, with
      ``s = sqrt(log2(e) / sigma)``;
    - the colour step ``|fore - back| / (n_points * 1e-8)``.

    Within these bounds every pixel is finite; beyond them the image holds NaN or inf.
    """
    values = flat.detach()
    m, b, h, sigma = values[:, 0], values[:, 1], values[:, 2], values[:, 3]
    finite = torch.isfinite(values)
    b_min, sigma_min, all_finite = torch.stack([b.min(), sigma.min(), finite.all().to(values.dtype)]).tolist()
    if not all_finite:
        bad = sorted({PARAMETER_NAMES[int(i)] for i in (~finite).nonzero()[:, -1].tolist()}, key=PARAMETER_NAMES.index)
        raise ParameterError(f"{where}: `params` must be finite, got NaN or inf in {bad}")
    if b_min <= 0:
        raise ParameterError(f"{where}: `params` b (index 1) must be > 0, got min {b_min:g}")
    if sigma_min <= 0:
        raise ParameterError(f"{where}: `params` sigma (index 3) must be > 0, got min {sigma_min:g}")
    scale = torch.rsqrt(sigma) * math.sqrt(_LOG2_E)
    radius = (m - h).abs()
    reaches = torch.stack(
        [
            radius / b * (2.0 * math.pi),
            (radius + h.abs()) * scale,
            scale * extent,
            (values[:, 4:7] - values[:, 7:10]).abs().amax(dim=1) / (n_points * _EPS),
        ]
    )  # (4, B)
    representable = torch.isfinite(reaches)
    if bool(representable.all()):
        return
    which, row = (~representable).nonzero()[0].tolist()
    quantity = [
        "|m - h| / b * 2 pi",
        "(|m - h| + |h|) * sqrt(log2(e) / sigma)",
        "extent * sqrt(log2(e) / sigma)",
        "|fore - back| / (n_points * 1e-8)",
    ]
    row_values = ", ".join(f"{n}={v:g}" for n, v in zip(PARAMETER_NAMES, values[row].tolist(), strict=True))
    raise ParameterError(
        f"{where}: `params` row {row} ({row_values}) overflows {flat.dtype}: {quantity[which]} is not finite, "
        "so the image would hold NaN or inf"
    )


class _GaussianFactor(torch.autograd.Function):
    """``2^-min((a_p - b_q)^2, limit)`` for every pair ``(p, q)``, with a hand-written backward.

    Autograd of the plain expression would keep and revisit five ``(B, P, Q)`` tensors
    (difference, square, clamp, negation, exponential); here the forward makes one and
    works in place, and the backward recomputes the difference once.

    Shape:
        ``a (B, P), b (B, Q) -> (B, P, Q)``.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(a: torch.Tensor, b: torch.Tensor, limit: float) -> torch.Tensor:
        factor = torch.sub(a[..., :, None], b[..., None, :])
        if _under_vmap(factor):
            # In place, with ops that have vmap batching rules (square_, clamp_ and out=
            # have none).
            return factor.mul_(factor).clamp_max_(limit).neg_().exp2_()
        # -(a - b)^2 in one pass.
        torch.addcmul(factor.new_zeros(()), factor, factor, value=-1.0, out=factor)
        return factor.clamp_min_(-limit).exp2_()

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        a, b, _ = inputs
        ctx.save_for_backward(a, b, output)
        ctx.save_for_forward(a, b, output)

    @staticmethod
    def jvp(ctx: Any, tangent_a: torch.Tensor | None, tangent_b: torch.Tensor | None, _: None) -> torch.Tensor:
        # Forward mode (torch.func.jacfwd, jvp): d factor = -2 ln 2 (a - b) factor (da - db).
        a, b, factor = ctx.saved_tensors
        zero = torch.zeros((), dtype=factor.dtype, device=factor.device)
        ta = zero if tangent_a is None else tangent_a[..., :, None]
        tb = zero if tangent_b is None else tangent_b[..., None, :]
        return factor * torch.sub(a[..., :, None], b[..., None, :]) * (ta - tb) * (-2.0 * _LN_2)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None]:
        a, b, factor = ctx.saved_tensors
        # d/da 2^-(a - b)^2 = -2 ln 2 (a - b) 2^-(a - b)^2 = -d/db. Where the exponent was
        # clamped this is the unclamped derivative, below 2 ln 2 |a - b| 2^-limit ~ 1e-15 in
        # float32, instead of exactly zero.
        difference = torch.sub(a[..., :, None], b[..., None, :])
        # Under create_graph=True (gradient penalties) grad mode is on: stay out of place.
        differentiable = torch.is_grad_enabled()
        weighted = grad * factor * difference if differentiable else difference.mul_(factor).mul_(grad)
        grad_a = weighted.sum(-1).mul_(-2.0 * _LN_2) if ctx.needs_input_grad[0] else None
        grad_b = weighted.sum(-2).mul_(2.0 * _LN_2) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b, None


class _Shade(torch.autograd.Function):
    """Normalize the intensity and paint it: ``back + (fore - back) * v``, ``v = I / (max I + eps)``.

    Written by hand because autograd of the batched outer product takes a slow
    matrix-vector path for the colour gradient. As with `torch.amax()`, the gradient
    of a maximum is split evenly between tied maximal pixels.

    Shape:
        ``intensity (B, S, S), fore (B, 3), back (B, 3) -> (B, 3, S, S)``.
    """

    generate_vmap_rule = True

    @staticmethod
    def _normalized(intensity: torch.Tensor, row: bool, eps: float) -> tuple[torch.Tensor, ...]:
        # -> v (B, S, S), and the maximum and 1 / (maximum + eps), both (B, S, 1) or (B, 1, 1)
        peak = intensity.amax(dim=-1, keepdim=True) if row else intensity.amax(dim=(-2, -1), keepdim=True)
        inverse = torch.reciprocal(peak + eps)
        return intensity * inverse, peak, inverse

    @staticmethod
    def forward(intensity: torch.Tensor, fore: torch.Tensor, back: torch.Tensor, row: bool, eps: float) -> torch.Tensor:
        return _Shade.paint(intensity, fore, back, row, eps)

    @staticmethod
    def paint(
        intensity: torch.Tensor,
        fore: torch.Tensor,
        back: torch.Tensor,
        row: bool,
        eps: float,
        out: torch.Tensor | None = None,
    ) -> torch.Tensor:
        # The forward, optionally into `out` (plain forwards only: out= has no autograd).
        if row:
            # The row maxima through a 2-d view: a faster reduction than over the last of 3 dims.
            peak = intensity.reshape(-1, intensity.shape[-1]).amax(dim=-1).reshape(*intensity.shape[:-1], 1)
        else:
            peak = intensity.amax(dim=(-2, -1), keepdim=True)
        # (fore - back) / (peak + eps) per channel and row, (B, 3, S or 1, 1), so the image is
        # written in two passes and v is never formed:
        # (B, 1, S, S) * (B, 3, S, 1) + (B, 3, 1, 1) -> (B, 3, S, S)
        scale = (fore - back)[..., :, None, None] * torch.reciprocal(peak + eps)[..., None, :, :]
        return torch.mul(intensity[..., None, :, :], scale, out=out).add_(back[..., :, None, None])

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        intensity, fore, back, row, eps = inputs
        ctx.save_for_backward(intensity, fore, back)
        ctx.save_for_forward(intensity, fore, back)
        ctx.row, ctx.eps = row, eps

    @staticmethod
    def _maximal(intensity: torch.Tensor, peak: torch.Tensor) -> torch.Tensor:
        # 1 where intensity == peak, else 0 (intensity <= peak). Cheaper than a boolean mask
        # converted to floats, or an argmax.
        return torch.sub(intensity, peak).sign_().add_(1.0)

    @staticmethod
    def jvp(
        ctx: Any,
        tangent_intensity: torch.Tensor | None,
        tangent_fore: torch.Tensor | None,
        tangent_back: torch.Tensor | None,
        _row: None,
        _eps: None,
    ) -> torch.Tensor:
        # Forward mode (torch.func.jacfwd, jvp) of back + (fore - back) v, v = I / (peak + eps).
        intensity, fore, back = ctx.saved_tensors
        row, eps = ctx.row, ctx.eps
        value, peak, inverse = _Shade._normalized(intensity, row, eps)
        tangent = torch.zeros((*intensity.shape[:-2], 3, 1, 1), dtype=intensity.dtype, device=intensity.device)
        if tangent_back is not None:
            tangent = tangent + tangent_back[..., :, None, None]
        if tangent_fore is not None or tangent_back is not None:
            tangent_difference = torch.zeros_like(fore) if tangent_fore is None else tangent_fore
            if tangent_back is not None:
                tangent_difference = tangent_difference - tangent_back
            tangent = tangent + tangent_difference[..., :, None, None] * value[..., None, :, :]
        if tangent_intensity is not None:
            dims = (-1,) if row else (-2, -1)
            maximal = _Shade._maximal(intensity, peak)
            tangent_peak = (maximal * tangent_intensity).sum(dim=dims, keepdim=True) / maximal.sum(
                dim=dims, keepdim=True
            )
            tangent_value = (tangent_intensity - value * tangent_peak) * inverse
            tangent = tangent + (fore - back)[..., :, None, None] * tangent_value[..., None, :, :]
        return tangent.expand(*intensity.shape[:-2], 3, *intensity.shape[-2:])

    @staticmethod
    def backward(
        ctx: Any, grad: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None, None, None]:
        intensity, fore, back = ctx.saved_tensors
        row, eps = ctx.row, ctx.eps
        batch, size = intensity.shape[0], intensity.shape[-1]
        differentiable = torch.is_grad_enabled()  # create_graph=True: no in-place ops
        # The forward's intermediates, recomputed: two cheap passes instead of keeping them alive.
        value, peak, inverse = _Shade._normalized(intensity, row, eps)
        # Contiguous for the batched products below (a sum's gradient arrives expanded, and
        # bmm would then copy batch by batch).
        grad_flat = grad.reshape(batch, 3, size * size).contiguous()

        grad_fore = grad_back = grad_intensity = None
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            # (B, 1, S*S) @ (B, S*S, 3) -> (B, 3); as a product, not an elementwise temporary
            grad_difference = torch.bmm(value.reshape(batch, 1, size * size), grad_flat.transpose(1, 2))[:, 0]
            grad_fore = grad_difference if ctx.needs_input_grad[1] else None
            grad_back = grad_flat.sum(-1) - grad_difference if ctx.needs_input_grad[2] else None
        if ctx.needs_input_grad[0]:
            # (B, 1, 3) @ (B, 3, S*S) -> (B, 1, S*S): the gradient reaching v
            grad_value = torch.bmm((fore - back)[:, None, :], grad_flat).reshape(batch, size, size)
            # v = I * inverse, inverse = 1 / (peak + eps): d v / d peak = -v * inverse
            dims = (-1,) if row else (-2, -1)
            grad_peak = (grad_value * value).sum(dim=dims, keepdim=True).mul(inverse).neg()
            grad_intensity = grad_value * inverse if differentiable else grad_value.mul_(inverse)
            # The maximum's gradient goes to the maximal pixels, split evenly between ties.
            maximal = _Shade._maximal(intensity, peak)
            share = grad_peak / maximal.sum(dim=dims, keepdim=True)
            if differentiable:
                grad_intensity = torch.addcmul(grad_intensity, maximal, share)
            else:
                grad_intensity.addcmul_(maximal, share)
        return grad_intensity, grad_fore, grad_back, None, None


def _render_flat(
    flat: torch.Tensor,
    size: int,
    n_points: int,
    extent: float,
    row: bool,
    limit: float,
    differentiable: bool,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    # (B, 10) -> (B, 3, S, S), float32 or float64, options already checked; `limit` in base 2.
    # `out` only when not differentiable.
    dtype, device = flat.dtype, flat.device
    m, b, h, sigma = flat[:, 0:1], flat[:, 1:2], flat[:, 2:3], flat[:, 3:4]

    t = torch.linspace(0.0, 2.0 * math.pi, n_points, dtype=dtype, device=device)
    grid = torch.linspace(-extent, extent, size, dtype=dtype, device=device)

    # exp(-(g - x)^2 / sigma) = 2^-(g s - x s)^2 with s = sqrt(log2(e) / sigma): scale the
    # curve and the grid, (B, T) and (B, S), never a (B, S, T) tensor.
    scale = torch.rsqrt(sigma) * math.sqrt(_LOG2_E)  # (B, 1)
    radius = m - h
    radius_scaled, pen_scaled = radius * scale, h * scale  # (B, 1)
    phase = t * (radius / b)  # (B, T)
    x = torch.addcmul(radius_scaled * torch.cos(t), pen_scaled, torch.cos(phase))  # (B, T)
    y = torch.addcmul(radius_scaled * torch.sin(t), pen_scaled, torch.sin(phase), value=-1.0)
    grid_scaled = grid * scale  # (B, S)

    gaussian_factor = _GaussianFactor.apply if differentiable else _GaussianFactor.forward
    rows = gaussian_factor(grid_scaled, x, limit)  # (B, S, T): pixel row i against x_k
    columns = gaussian_factor(y, grid_scaled, limit)  # (B, T, S): y_k against pixel column j
    # The sum over curve points; the 1/T of the mean moves into the normalizer's epsilon:
    # (I / T) / (max I / T + eps) = I / (max I + T eps).
    intensity = torch.bmm(rows, columns)  # (B, S, S)
    fore, back, eps = flat[:, 4:7], flat[:, 7:10], n_points * _EPS
    if differentiable:
        return _Shade.apply(intensity, fore, back, row, eps)
    return _Shade.paint(intensity, fore, back, row, eps, out=out)


def render(
    params: torch.Tensor,
    settings: RenderSettings | None = None,
    *,
    size: int | None = None,
    n_points: int | None = None,
    extent: float | None = None,
    normalize: Normalize | None = None,
    validate: bool = True,
) -> torch.Tensor:
    """Render Spirograph images from their ten parameters.

    A pure, differentiable function of ``params``: it works on any device, in float32
    and float64 (float16/bfloat16 are computed in float32), for any leading batch shape
    including none, under autograd (double backward included, as gradient penalties
    need), `torch.func.vmap()`, `torch.func.jacrev()`, `torch.func.jacfwd()`
    and `torch.func.hessian()`. Where several pixels tie for a maximum, its gradient
    is split evenly between them, as for `torch.amax()`.

    Args:
        params: parameters in canonical order ``(m, b, h, sigma, fore_r, fore_g, fore_b,
            back_r, back_g, back_b)``. ``b`` and ``sigma`` must be ``> 0``.
        settings: the renderer settings, a [`RenderSettings`][spirograph.render.RenderSettings]
            (validated when it was made); ``None`` takes the defaults (32 pixels, 40 points,
            extent 6, ``"row"``), or the keywords below.
        size: canvas side in pixels (32 by default); ``None`` takes ``settings.size``.
        n_points: curve points ``T`` (40 by default); ``None`` takes ``settings.n_points``.
        extent: the grid spans ``[-extent, extent]`` on both axes (6 by default); ``None``
            takes ``settings.extent``.
        normalize: ``"row"`` (the default) divides each image row by its own maximum (the
            paper's released generator, which made its figures and numbers); ``"image"``
            divides by the image maximum (the equation as printed in the paper). ``None``
            takes ``settings.normalize``. A keyword given beside ``settings`` must agree with it.
        validate: check values: finite, ``b > 0``, ``sigma > 0``, and no overflow in the
            renderer's dtype (``|m - h| / b * 2 pi``, ``(|m - h| + |h|) * sqrt(log2(e) / sigma)``,
            ``extent * sqrt(log2(e) / sigma)`` and ``|fore - back| / (n_points * 1e-8)``
            must be finite, below about ``3.4e38`` in float32: beyond, the image would hold
            NaN or inf). This needs one device-to-host sync; pass ``False`` in training
            loops. Shape, dtype, settings and memory are always checked; value checks are
            skipped under ``vmap``.

    Returns:
        Images with values in ``[0, 1]`` when colours lie in ``[0, 1]``.

    Shape:
        ``(..., 10) -> (..., 3, size, size)``.

    Raises:
        ParameterTypeError: ``params`` is not a tensor, or a setting has the wrong type.
        ParameterError: wrong last dimension, non-floating dtype, NaN/inf, ``b <= 0``,
            ``sigma <= 0``, values that would overflow (see ``validate``), ``size``
            outside ``[2, MAX_SIZE]`` (4096), ``n_points`` outside ``[2, MAX_POINTS]``
            (65536), ``extent <= 0``, an unknown ``normalize``, a keyword that disagrees with
            ``settings``, or a batch whose result and working memory would exceed the device's memory.

    Examples:
        >>> from spirograph import ParameterSpace, render
        >>> images = render(ParameterSpace().sample(4, seed=0))
        >>> images.shape
        torch.Size([4, 3, 32, 32])
        >>> render(ParameterSpace().sample(4, seed=0), RenderSettings(size=64)).shape
        torch.Size([4, 3, 64, 64])
    """
    settings = resolve_settings(settings, size, n_points, extent, normalize, where="render")
    validate = check_bool(validate, "validate", where="render")
    _check_params(params)
    size, n_points, extent = settings.size, settings.n_points, settings.extent

    out_dtype = params.dtype
    if out_dtype not in _EXPONENT_FLOOR:
        params = params.to(torch.float32)
    dtype, device = params.dtype, params.device

    batch_shape = params.shape[:-1]
    flat = params.reshape(-1, len(PARAMETER_NAMES))
    check_memory(flat.shape[0], size, n_points, out_dtype, device, where="render")
    if validate and flat.shape[0] and not _under_vmap(flat):
        _check_values(flat, n_points, extent)
    limit = -_EXPONENT_FLOOR[dtype] * _LOG2_E
    differentiable = _tracks_derivatives(flat)
    options = (size, n_points, extent, settings.normalize == "row", limit, differentiable)
    if device.type == "cpu" and flat.shape[0] > _CPU_CHUNK:
        # Chunks whose (B, S, T) buffers stay in cache: forward + backward were faster on CPU
        # batches of thousands (benchmarks/README.md). GPUs want the whole batch at once.
        if differentiable:
            image = torch.cat([_render_flat(chunk, *options) for chunk in flat.split(_CPU_CHUNK)])
        else:  # each chunk painted straight into its slice of the result
            image = flat.new_empty(flat.shape[0], 3, size, size)
            for start in range(0, flat.shape[0], _CPU_CHUNK):
                stop = start + _CPU_CHUNK
                _render_flat(flat[start:stop], *options, out=image[start:stop])
    else:
        image = _render_flat(flat, *options)

    image = image.reshape(*batch_shape, 3, size, size)
    return image if image.dtype == out_dtype else image.to(out_dtype)


class SettingsView:
    """Read-only ``size``, ``n_points``, ``extent`` and ``normalize`` of an object's `settings`.

    Shared by everything that holds a [`RenderSettings`][spirograph.render.RenderSettings]
    (the renderer module, the dataset, the transform), so that each reads one object.
    """

    settings: RenderSettings

    @property
    def size(self) -> int:
        """Image side in pixels (``settings.size``)."""
        return self.settings.size

    @property
    def n_points(self) -> int:
        """Curve points (``settings.n_points``)."""
        return self.settings.n_points

    @property
    def extent(self) -> float:
        """Half-width of the canvas (``settings.extent``)."""
        return self.settings.extent

    @property
    def normalize(self) -> Normalize:
        """The normalization (``settings.normalize``)."""
        return self.settings.normalize


class Renderer(SettingsView, nn.Module):
    """A thin module holding the settings of [`render()`][spirograph.render.render].

    Args:
        settings: as in [`render()`][spirograph.render.render]; kept in `settings`.
        size: as in [`render()`][spirograph.render.render].
        n_points: as in [`render()`][spirograph.render.render].
        extent: as in [`render()`][spirograph.render.render].
        normalize: as in [`render()`][spirograph.render.render].
        validate: as in [`render()`][spirograph.render.render].

    Shape:
        ``(..., 10) -> (..., 3, size, size)``.

    Examples:
        >>> renderer = Renderer(normalize="image")
        >>> renderer(torch.tensor([3.0, 0.5, 1.0, 0.5, 1, 1, 1, 0, 0, 0])).shape
        torch.Size([3, 32, 32])
        >>> renderer.settings
        RenderSettings(size=32, n_points=40, extent=6.0, normalize='image')
    """

    def __init__(
        self,
        settings: RenderSettings | None = None,
        *,
        size: int | None = None,
        n_points: int | None = None,
        extent: float | None = None,
        normalize: Normalize | None = None,
        validate: bool = True,
    ) -> None:
        super().__init__()
        self.settings = resolve_settings(settings, size, n_points, extent, normalize, where="Renderer")
        self.validate = check_bool(validate, "validate", where="Renderer")

    def forward(self, params: torch.Tensor) -> torch.Tensor:
        return render(params, self.settings, validate=self.validate)

    def extra_repr(self) -> str:
        return f"size={self.size}, n_points={self.n_points}, extent={self.extent}, normalize={self.normalize!r}"
