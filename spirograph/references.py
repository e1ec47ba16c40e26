"""Reference encoders that need no training: raw pixels, a random network, an oracle.

They bracket a leaderboard: any learned representation should beat
[`PixelEncoder`][spirograph.references.PixelEncoder] and [`RandomEncoder`][spirograph.references.RandomEncoder], and
none can beat the oracle.

[`OracleEncoder`][spirograph.references.OracleEncoder] is handed the true parameters instead of the image. It sets
``encodes_parameters = True``, which tells [`spirograph.evaluation.evaluate()`][spirograph.evaluation.evaluate] to
call it with the ``(B, 10)`` parameters of each rendered input (the same rows and the
same nuisance draws an image encoder would see) rather than the images; everything
else (probe, splits, scores) is identical, so its score is an honest ceiling.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils import skip_init

from spirograph._checks import check_int, check_names, check_tensor
from spirograph.space import PARAMETER_NAMES, ParameterSpace, check_space

__all__ = ["OracleEncoder", "PixelEncoder", "RandomEncoder"]


def _check_images(images: object, where: str) -> torch.Tensor:
    return check_tensor(images, "images", where=where, shape=("B", "C", "H", "W"))


class PixelEncoder(nn.Module):
    """The raw pixels as features: ``(B, 3, S, S) -> (B, 3 * S * S)``.

    Examples:
        >>> PixelEncoder()(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 3072])
    """

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Flatten each image.

        Shape:
            ``(B, C, H, W) -> (B, C * H * W)``.
        """
        return _check_images(images, "PixelEncoder").flatten(1)


class RandomEncoder(nn.Module):
    """A randomly initialised, never trained convolutional network.

    Three 3x3 convolutions with ReLU (``3 -> width``, ``width -> 2 width`` stride 2,
    ``2 width -> 4 width`` stride 2), then average pooling to a ``2 x 2`` grid:
    ``16 * width`` features. Weights are Kaiming-normal (fan-in, ReLU gain) drawn from
    a private `torch.Generator` seeded with ``seed``, biases zero, so the
    network is a pure function of ``(seed, width)`` and the global RNG is untouched.

    Args:
        seed: the initialisation seed.
        width: channels of the first convolution, ``>= 1``.

    Examples:
        >>> RandomEncoder(seed=0, width=8)(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 128])
    """

    def __init__(self, seed: int = 0, *, width: int = 32) -> None:
        super().__init__()
        seed = check_int(seed, "seed", where="RandomEncoder")
        width = check_int(width, "width", where="RandomEncoder", minimum=1)
        self.seed = seed
        self.width = width
        # skip_init: no default initialisation, which would draw from the global RNG.
        self.layers = nn.Sequential(
            skip_init(nn.Conv2d, 3, width, 3, padding=1),
            nn.ReLU(),
            skip_init(nn.Conv2d, width, 2 * width, 3, stride=2, padding=1),
            nn.ReLU(),
            skip_init(nn.Conv2d, 2 * width, 4 * width, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(1),
        )
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for layer in self.layers:
                if isinstance(layer, nn.Conv2d):
                    nn.init.kaiming_normal_(layer.weight, nonlinearity="relu", generator=generator)
                    assert layer.bias is not None
                    layer.bias.zero_()
        self.requires_grad_(False)

    @property
    def dim(self) -> int:
        """Number of output features."""
        return 16 * self.width

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Encode images.

        Shape:
            ``(B, 3, H, W) -> (B, 16 * width)``.
        """
        return self.layers(_check_images(images, "RandomEncoder"))

    def extra_repr(self) -> str:
        return f"seed={self.seed}, width={self.width}"


class OracleEncoder(nn.Module):
    """The true parameters as features: an upper bound that no image encoder can beat.

    It is called with parameters, not images (``encodes_parameters = True``; see
    [`spirograph.references`][spirograph.references]). With the default ``names`` (the targets) a linear
    probe recovers every target exactly. With ``names`` set to nuisance parameters it
    gives features independent of the targets, which score about the prior variance.

    Args:
        names: parameters to expose, in order (default: the targets of ``space``).
        space: the parameter space whose targets are the default ``names``.

    Examples:
        >>> oracle = OracleEncoder()
        >>> oracle(ParameterSpace().sample(3, seed=0)).shape
        torch.Size([3, 4])
    """

    encodes_parameters = True

    def __init__(self, names: Sequence[str] | None = None, *, space: ParameterSpace | None = None) -> None:
        super().__init__()
        space = check_space(space, where="OracleEncoder")
        chosen = (
            space.targets
            if names is None
            else check_names(names, "names", where="OracleEncoder", allowed=PARAMETER_NAMES)
        )
        self.names = chosen
        self.index = [PARAMETER_NAMES.index(n) for n in chosen]

    def forward(self, params: torch.Tensor) -> torch.Tensor:
        """Select the named parameters.

        Shape:
            ``(B, 10) -> (B, len(names))``.
        """
        check_tensor(params, "params", where="OracleEncoder", shape=("B", len(PARAMETER_NAMES)))
        return params[:, self.index]

    def extra_repr(self) -> str:
        return f"names={self.names}"
