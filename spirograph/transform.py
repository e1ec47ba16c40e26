"""On-device nuisance sampling and rendering, with gradients to the nuisance.

Contrastive training on Spirograph renders every view afresh: the target parameters
come from the dataset (``Spirograph(..., mode="targets")``), the nuisance block is
drawn on the training device, and the image is rendered there.
[`SpirographTransform`][spirograph.transform.SpirographTransform] does the three steps and hands back the nuisance
tensor
with ``requires_grad`` so that a loss (the gradient regularizer of
[`spirograph.baselines`][spirograph.baselines]) can be differentiated with respect to it.
"""

from __future__ import annotations

import secrets

import torch
from torch import nn

from spirograph._checks import check_int, check_tensor
from spirograph.errors import ParameterError
from spirograph.render import Normalize, RenderSettings, SettingsView, render, resolve_settings
from spirograph.space import ParameterSpace, check_space

__all__ = ["SpirographTransform"]


class SpirographTransform(SettingsView, nn.Module):
    """Sample nuisance on the targets' device and render, differentiably.

    Args:
        space: the parameter space whose nuisance prior is sampled (the paper's by
            default). Pass another to [`forward()`][spirograph.transform.SpirographTransform.forward] for robustness
            shifts.
        settings: the renderer settings, a [`RenderSettings`][spirograph.render.RenderSettings];
            kept in `settings`. ``None`` takes the defaults or the four keywords below.
        size: renderer setting, see [`render()`][spirograph.render.render].
        n_points: renderer setting, see [`render()`][spirograph.render.render].
        extent: renderer setting, see [`render()`][spirograph.render.render].
        normalize: renderer setting, see [`render()`][spirograph.render.render]. A keyword
            given beside ``settings`` must agree with it.
        seed: seeds one `torch.Generator` per device, created on first use, so a
            run is reproducible on a given device. ``None`` picks a random seed once
            (from the OS, not torch's global generator); it is kept in `seed`.

    Shape:
        ``targets (n, len(space.targets))`` -> ``images (n, 3, size, size)``,
        ``nuisance (n, len(space.nuisance))``.

    Examples:
        >>> transform = SpirographTransform(seed=0)
        >>> targets = ParameterSpace().sample(8, seed=1)[:, [0, 1, 3, 4]]
        >>> images, nuisance = transform(targets)
        >>> images.shape, nuisance.requires_grad
        (torch.Size([8, 3, 32, 32]), True)
    """

    def __init__(
        self,
        space: ParameterSpace | None = None,
        *,
        settings: RenderSettings | None = None,
        size: int | None = None,
        n_points: int | None = None,
        extent: float | None = None,
        normalize: Normalize | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        space = check_space(space, where="SpirographTransform")
        if seed is not None:
            seed = check_int(seed, "seed", where="SpirographTransform")
        self.settings = resolve_settings(settings, size, n_points, extent, normalize, where="SpirographTransform")
        self.space = space
        self.seed = secrets.randbits(62) if seed is None else seed  # never the global RNG
        self._generators: dict[torch.device, torch.Generator] = {}

    def generator(self, device: torch.device | str) -> torch.Generator:
        """The generator used on ``device`` (created from `seed` on first use)."""
        device = torch.device(device)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        if device not in self._generators:
            generator = torch.Generator(device=device)
            generator.manual_seed(self.seed)
            self._generators[device] = generator
        return self._generators[device]

    def sample_nuisance(
        self,
        n: int,
        *,
        device: torch.device | str,
        dtype: torch.dtype = torch.float32,
        space: ParameterSpace | None = None,
    ) -> torch.Tensor:
        """Draw ``(n, len(nuisance))`` nuisance values on ``device`` from ``space`` (default: own)."""
        space = self._space(space)
        return space.sample_nuisance_block(n, generator=self.generator(device), dtype=dtype, device=device)

    def render(
        self, targets: torch.Tensor, nuisance: torch.Tensor, *, space: ParameterSpace | None = None
    ) -> torch.Tensor:
        """Render given targets and nuisance (both differentiable) with this module's settings."""
        params = self._space(space).join(targets, nuisance)
        return render(params, self.settings, validate=False)

    def forward(
        self,
        targets: torch.Tensor,
        *,
        nuisance: torch.Tensor | None = None,
        space: ParameterSpace | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Render ``targets`` under fresh (or given) nuisance.

        Args:
            targets: ``(n, len(space.targets))`` target parameters on any device.
            nuisance: use these nuisance values instead of sampling.
            space: sample from this space's nuisance prior instead (robustness shifts).
                It must split the parameters the same way.

        Returns:
            ``(images, nuisance)``; ``nuisance`` is a leaf with ``requires_grad=True``
            (when sampled here) so ``torch.autograd.grad(loss, nuisance)`` works.
        """
        space = self._space(space)
        where = "SpirographTransform"
        check_tensor(targets, "targets", where=where, shape=("n", len(space.targets)), floating=True)
        if nuisance is None:
            nuisance = self.sample_nuisance(targets.shape[0], device=targets.device, dtype=targets.dtype, space=space)
            nuisance.requires_grad_(True)
        else:
            check_tensor(nuisance, "nuisance", where=where, shape=(targets.shape[0], len(space.nuisance_names)))
        return self.render(targets, nuisance, space=space), nuisance

    def _space(self, space: ParameterSpace | None) -> ParameterSpace:
        space = check_space(space, where="SpirographTransform", default=self.space)
        if space.targets != self.space.targets or space.nuisance != self.space.nuisance:
            raise ParameterError(
                "SpirographTransform: `space` must keep the target/nuisance split "
                f"{self.space.targets} / {self.space.nuisance}, got {space.targets} / {space.nuisance}"
            )
        return space

    def extra_repr(self) -> str:
        return (
            f"targets={self.space.targets}, nuisance={self.space.nuisance}, size={self.size}, "
            f"n_points={self.n_points}, extent={self.extent}, normalize={self.normalize!r}, seed={self.seed}"
        )
