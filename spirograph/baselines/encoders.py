"""Encoders for contrastive learning on Spirograph: ResNet-18 (CIFAR stem) and a small CNN.

Every encoder maps ``(n, 3, size, size)`` images to ``(n, representation_dim)``
features and exposes `representation_dim`. [`build_encoder()`][spirograph.baselines.encoders.build_encoder] builds
one by name from [`ENCODERS`][spirograph.baselines.encoders.ENCODERS] and initialises it by one of
[`ENCODER_INITS`][spirograph.baselines.encoders.ENCODER_INITS].
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

from spirograph._checks import check_choice, check_int
from spirograph.errors import ParameterError

__all__ = [
    "ENCODERS",
    "ENCODER_INITS",
    "EncoderInit",
    "EncoderName",
    "ResNet18",
    "SmallConvEncoder",
    "build_encoder",
    "initialize_encoder",
]

EncoderName = Literal["resnet18", "small"]
EncoderInit = Literal["kaiming-fan-out", "pytorch"]
ENCODER_INITS: tuple[str, ...] = ("kaiming-fan-out", "pytorch")
"""Initialisations of [`initialize_encoder()`][spirograph.baselines.encoders.initialize_encoder]:
``"kaiming-fan-out"`` is the paper's released code (every convolution Kaiming-normal with
``mode="fan_out"`` for ReLU, every BatchNorm scale 1 and shift 0); ``"pytorch"`` keeps
PyTorch's default initialisation."""


class _BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (He et al., 2016)."""

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18 with the CIFAR stem: a 3x3 stride-1 first convolution and no max-pool.

    Four stages of two basic blocks (64, 128, 256, 512 channels; strides 1, 2, 2, 2),
    global average pooling, no classification layer. The representation is the
    pooled 512-dimensional vector, as in SimCLR's CIFAR-10 setting and the paper.

    Args:
        in_channels: image channels.
        representation_dim: must be 512 (the width of the last stage); accepted so that
            every encoder is built the same way.

    Shape:
        ``(n, in_channels, H, W)`` -> ``(n, 512)``.

    Examples:
        >>> ResNet18()(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 512])
    """

    def __init__(self, in_channels: int = 3, representation_dim: int = 512) -> None:
        super().__init__()
        check_int(in_channels, "in_channels", where="ResNet18", minimum=1)
        if representation_dim != 512:
            raise ParameterError(
                f"ResNet18: `representation_dim` must be 512 (the last stage's width), got {representation_dim!r}"
            )
        self.representation_dim = 512
        self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        layers: list[nn.Module] = []
        in_planes = 64
        for planes, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers.append(nn.Sequential(_BasicBlock(in_planes, planes, stride), _BasicBlock(planes, planes, 1)))
            in_planes = planes
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return torch.flatten(self.pool(out), 1)


class SmallConvEncoder(nn.Module):
    """A four-layer convolutional encoder for CPU-sized runs.

    Conv(3x3) -> BatchNorm -> ReLU, four times, with widths ``width, 2 width, 4 width,
    representation_dim`` and strides 1, 2, 2, 2 (32 -> 4 pixels), then global average
    pooling.

    Args:
        in_channels: image channels.
        representation_dim: width of the last layer, the representation size.
        width: channels of the first layer.

    Shape:
        ``(n, in_channels, H, W)`` -> ``(n, representation_dim)``.

    Examples:
        >>> SmallConvEncoder()(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 128])
    """

    def __init__(self, in_channels: int = 3, representation_dim: int = 128, width: int = 32) -> None:
        super().__init__()
        check_int(in_channels, "in_channels", where="SmallConvEncoder", minimum=1)
        check_int(representation_dim, "representation_dim", where="SmallConvEncoder", minimum=1)
        check_int(width, "width", where="SmallConvEncoder", minimum=1)
        self.representation_dim = representation_dim
        channels = (in_channels, width, 2 * width, 4 * width, representation_dim)
        strides = (1, 2, 2, 2)
        layers: list[nn.Module] = []
        for c_in, c_out, stride in zip(channels[:-1], channels[1:], strides, strict=True):
            layers += [
                nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(),
            ]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.pool(self.features(x)), 1)


ENCODERS: dict[str, tuple[Callable[..., nn.Module], int]] = {
    "resnet18": (ResNet18, 512),
    "small": (SmallConvEncoder, 128),
}
"""Encoder name -> (class, default representation size)."""


def initialize_encoder(encoder: nn.Module, init: EncoderInit = "kaiming-fan-out") -> nn.Module:
    """Re-initialise ``encoder``'s convolutions and BatchNorms in place.

    ``"kaiming-fan-out"`` draws every ``Conv2d`` weight from
    ``N(0, 2 / (out_channels * kernel_height * kernel_width))`` (Kaiming-normal, fan-out
    mode, ReLU gain), sets every BatchNorm/GroupNorm scale to 1 and shift to 0, and leaves
    other layers alone; this is what the paper's released ResNet-18 does. ``"pytorch"``
    changes nothing. Draws come from torch's global generator (seed it, or wrap the call
    in ``torch.random.fork_rng``).

    Args:
        encoder: the module to initialise.
        init: one of [`ENCODER_INITS`][spirograph.baselines.encoders.ENCODER_INITS].

    Returns:
        ``encoder``, for chaining.

    Raises:
        ParameterError: an unknown ``init``.

    Examples:
        >>> encoder = initialize_encoder(SmallConvEncoder(width=8), "kaiming-fan-out")
    """
    check_choice(init, "init", ENCODER_INITS, where="initialize_encoder")
    if init == "pytorch":
        return encoder
    for module in encoder.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)) and module.weight is not None:
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    return encoder


def build_encoder(
    name: EncoderName,
    *,
    representation_dim: int | None = None,
    in_channels: int = 3,
    init: EncoderInit = "kaiming-fan-out",
) -> nn.Module:
    """Build an encoder by name.

    Args:
        name: ``"resnet18"`` (the paper's, representation 512) or ``"small"`` (a
            four-layer CNN, representation 128 by default).
        representation_dim: the representation size; ``None`` takes the encoder's default.
        in_channels: image channels.
        init: the initialisation
            ([`initialize_encoder()`][spirograph.baselines.encoders.initialize_encoder]); the default
            is the paper's released code.

    Returns:
        A freshly initialised module with a ``representation_dim`` attribute.

    Raises:
        ParameterError: an unknown name or an invalid size.

    Examples:
        >>> build_encoder("small", representation_dim=64).representation_dim
        64
    """
    check_choice(name, "name", sorted(ENCODERS), where="build_encoder")
    check_choice(init, "init", ENCODER_INITS, where="build_encoder")
    cls, default = ENCODERS[name]
    dim = default if representation_dim is None else representation_dim
    return initialize_encoder(cls(in_channels=in_channels, representation_dim=dim), init)
