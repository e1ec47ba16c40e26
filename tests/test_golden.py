"""The v1 data, pinned: parameter tables and pixels computed once from the released code.

Like the registered checksums of tensorflow-datasets: a change to the seeds, the sampler, the
priors or the renderer that would silently change every split fails here. If such a change is
meant, it is a new dataset version (``spirograph.DATASET_VERSION``), not an edit of these literals.
"""

from __future__ import annotations

import hashlib

import pytest
import torch

from spirograph import DATASET_VERSION, SPLITS, Spirograph

# SHA-256 of the row-major float32 bytes of Spirograph(split).params, shape (size, 10).
PARAMETER_TABLES = {
    "train": (20211001, 100_000, "1b5714def67378528a1ff43cef8348ea90ef7edd4af5745c7844adef6c6be6bd"),
    "val": (20211002, 10_000, "2980371b540cc59466655e147e085ca8db14cb8ed4b6eb7623415a72929bca61"),
    "test": (20211003, 20_000, "4365eb99529c09ece06ac8f0ab034f3506f1dae8c5d36b858bf8079dda3de946"),
}

ITEMS = {"train": 0, "val": 1234, "test": 19999}
PIXELS = [(0, 16, 16), (1, 5, 20), (2, 28, 3), (0, 10, 9)]  # (channel, row, column)
# image[c, i, j] of item ITEMS[split] for each normalisation, float32 values as rendered on CPU.
PIXEL_VALUES = {
    ("row", "train"): [0.4106132984161377, 0.4931563436985016, 0.34607261419296265, 0.4116676449775696],
    ("row", "val"): [0.6964399814605713, 0.15653792023658752, 0.050183698534965515, 0.5124773383140564],
    ("row", "test"): [0.16078923642635345, 0.051975149661302567, 0.09876850992441177, 0.2955987751483917],
    ("image", "train"): [0.3055999279022217, 0.49381956458091736, 0.34607261419296265, 0.31725525856018066],
    ("image", "val"): [0.6964399814605713, 0.14637799561023712, 0.05018369480967522, 0.33706778287887573],
    ("image", "test"): [0.16036605834960938, 0.03882024064660072, 0.09871791303157806, 0.29503971338272095],
}
# Rendering sums 40 Gaussians with a matrix product, whose rounding may differ with the BLAS.
PIXEL_TOLERANCE = 1e-5


def test_version_and_splits_are_v1() -> None:
    assert DATASET_VERSION == "v1"
    assert {name: (info.seed, info.num_examples) for name, info in SPLITS.items()} == {
        name: (seed, size) for name, (seed, size, _) in PARAMETER_TABLES.items()
    }


@pytest.mark.parametrize("split", list(PARAMETER_TABLES))
def test_parameter_table_is_pinned(split: str) -> None:
    _, size, digest = PARAMETER_TABLES[split]
    params = Spirograph(split).params
    assert params.dtype == torch.float32 and params.shape == (size, 10)
    assert hashlib.sha256(params.contiguous().numpy().tobytes()).hexdigest() == digest


@pytest.mark.parametrize("normalize,split", list(PIXEL_VALUES))
def test_pixels_are_pinned(normalize: str, split: str) -> None:
    image, _ = Spirograph(split, normalize=normalize)[ITEMS[split]]
    values = torch.tensor([image[c, i, j].item() for c, i, j in PIXELS], dtype=torch.float64)
    expected = torch.tensor(PIXEL_VALUES[normalize, split], dtype=torch.float64)
    assert torch.allclose(values, expected, rtol=0, atol=PIXEL_TOLERANCE), (values - expected).abs().max()
