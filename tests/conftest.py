"""Shared fixtures: the same tests run on every available device and floating dtype."""

from __future__ import annotations

import os

import pytest
import torch
from hypothesis import settings

# The same examples on every run by default, so that a check run cannot fail by chance;
# HYPOTHESIS_PROFILE=explore searches new ones (as it found the float32 rounding of the paint step).
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

DEVICES: tuple[str, ...] = ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)
DTYPES: tuple[torch.dtype, ...] = (torch.float32, torch.float64)


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> torch.device:
    """Each available device: CPU always, CUDA when present."""
    return torch.device(request.param)


@pytest.fixture(params=DTYPES, ids=["float32", "float64"])
def dtype(request: pytest.FixtureRequest) -> torch.dtype:
    """Both floating dtypes the renderer computes in."""
    return request.param
