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

from spirograph.errors import ParameterError
from spirograph.render import Normalize, render
from spirograph.space import ParameterSpace

__all__ = ["SpirographTransform"]


class SpirographTransform(nn.Module):
    """Sample nuisance on the targets' device and render, differentiably.

    Args:
        space: the parameter space whose nuisance prior is sampled (the paper's by
            default). Pass another to [`forward()`][spirograph.transform.SpirographTransform.forward] for robustness
            shifts.
        size: renderer settings, see [`render()`][spirograph.render.render].
        n_points: renderer settings, see [`render()`][spirograph.render.render].
        extent: renderer settings, see [`render()`][spirograph.render.render].
        normalize: renderer settings, see [`render()`][spirograph.render.render].
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
        size: int = 32,
        n_points: int = 40,
        extent: float = 6.0,
        normalize: Normalize = "row",
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if space is None:
            space = ParameterSpace()
        elif not isinstance(space, ParameterSpace):
            raise ParameterError(f"SpirographTransform: `space` must be a ParameterSpace, got {type(space).__name__}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ParameterError(f"SpirographTransform: `seed` must be an int or None, got {seed!r}")
        # Checks the renderer settings now rather than at the first batch.
        render(torch.zeros(0, 10), size=size, n_points=n_points, extent=extent, normalize=normalize)
        self.space = space
        self.size = size
        self.n_points = n_points
        self.extent = float(extent)
        self.normalize: Normalize = normalize
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
        return render(
            params, size=self.size, n_points=self.n_points, extent=self.extent, normalize=self.normalize, validate=False
        )

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
        if not isinstance(targets, torch.Tensor) or targets.ndim != 2 or targets.shape[1] != len(space.targets):
            shape = tuple(targets.shape) if isinstance(targets, torch.Tensor) else type(targets).__name__
            raise ParameterError(
                f"SpirographTransform: `targets` must have shape (n, {len(space.targets)}), got {shape}"
            )
        if not targets.dtype.is_floating_point:
            raise ParameterError(f"SpirographTransform: `targets` must have a floating dtype, got {targets.dtype}")
        if nuisance is None:
            nuisance = self.sample_nuisance(targets.shape[0], device=targets.device, dtype=targets.dtype, space=space)
            nuisance.requires_grad_(True)
        elif nuisance.shape != (targets.shape[0], len(space.nuisance_names)):
            raise ParameterError(
                f"SpirographTransform: `nuisance` must have shape ({targets.shape[0]}, {len(space.nuisance_names)}), "
                f"got {tuple(nuisance.shape)}"
            )
        return self.render(targets, nuisance, space=space), nuisance

    def _space(self, space: ParameterSpace | None) -> ParameterSpace:
        if space is None:
            return self.space
        if not isinstance(space, ParameterSpace):
            raise ParameterError(f"SpirographTransform: `space` must be a ParameterSpace, got {type(space).__name__}")
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
