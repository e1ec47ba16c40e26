from __future__ import annotations

from typing import get_args

import pytest
import torch
from torch import nn

from spirograph.baselines.encoders import ENCODERS, EncoderName, ResNet18, SmallConvEncoder, build_encoder
from spirograph.errors import ParameterError, ParameterTypeError
from spirograph.references import RandomEncoder


def test_registry_matches_literal() -> None:
    assert set(get_args(EncoderName)) == set(ENCODERS)


@pytest.mark.parametrize(("name", "dim"), [("resnet18", 512), ("small", 128)])
def test_build_encoder_shapes(name: str, dim: int) -> None:
    encoder = build_encoder(name)  # type: ignore[arg-type]
    out = encoder(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, dim)
    assert encoder.representation_dim == dim
    assert torch.isfinite(out).all()


def test_small_encoder_custom_size_and_image_size() -> None:
    encoder = build_encoder("small", representation_dim=24)
    assert encoder(torch.rand(3, 3, 16, 16)).shape == (3, 24)
    assert sum(isinstance(m, nn.Conv2d) for m in encoder.modules()) == 4


def test_resnet18_has_cifar_stem_and_standard_size() -> None:
    model = ResNet18()
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert not any(isinstance(m, nn.MaxPool2d) for m in model.modules())
    # torchvision-style CIFAR ResNet-18 without its classifier: 11,168,832 weights.
    assert sum(p.numel() for p in model.parameters()) == 11_168_832
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 1 + 16 + 3  # stem, 8 blocks of 2, 3 projection shortcuts


def test_resnet18_keeps_spatial_size_in_first_stage() -> None:
    model = ResNet18().eval()
    x = torch.rand(1, 3, 32, 32)
    stem = model.layer1(torch.relu(model.bn1(model.conv1(x))))
    assert stem.shape == (1, 64, 32, 32)


def test_build_encoder_unknown_name() -> None:
    with pytest.raises(ParameterError, match=r"`name` must be one of \['resnet18', 'small'\], got 'vit'"):
        build_encoder("vit")  # type: ignore[arg-type]


def test_resnet18_rejects_other_sizes() -> None:
    with pytest.raises(ParameterError, match=r"`representation_dim` must be 512.*got 256"):
        build_encoder("resnet18", representation_dim=256)


@pytest.mark.parametrize("argument", ["in_channels", "representation_dim", "width"])
def test_small_encoder_rejects_bad_sizes(argument: str) -> None:
    with pytest.raises(ParameterError, match=f"SmallConvEncoder: `{argument}` must be an int >= 1, got 0"):
        SmallConvEncoder(**{argument: 0})
    with pytest.raises(ParameterTypeError, match=f"SmallConvEncoder: `{argument}` must be an int >= 1, got float 2.0"):
        SmallConvEncoder(**{argument: 2.0})


def test_encoder_widths_are_checked_alike() -> None:
    # The reference encoder and the method's encoder refuse the same mistake with the same class.
    with pytest.raises(ParameterError, match=r"RandomEncoder: `width` must be an int >= 1, got 0"):
        RandomEncoder(width=0)
    with pytest.raises(ParameterError, match=r"SmallConvEncoder: `width` must be an int >= 1, got 0"):
        SmallConvEncoder(width=0)
