"""Tests of the on-device nuisance transform ``spirograph.SpirographTransform``."""

from __future__ import annotations

import pytest
import torch

from spirograph import ParameterError, ParameterSpace, ParameterTypeError, Spirograph, SpirographTransform, render

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> torch.device:
    return torch.device(request.param)


def _targets(n: int, device: torch.device) -> torch.Tensor:
    return Spirograph("val", subset=n).targets.to(device)


def test_renders_targets_with_fresh_nuisance(device: torch.device) -> None:
    transform = SpirographTransform(seed=0)
    targets = _targets(16, device)
    images, nuisance = transform(targets)
    assert images.shape == (16, 3, 32, 32) and images.device.type == device.type
    assert nuisance.shape == (16, 6) and nuisance.requires_grad and nuisance.is_leaf
    params = transform.space.join(targets, nuisance.detach())
    assert torch.allclose(images, render(params), atol=1e-6)
    low = torch.tensor(transform.space.low(transform.space.nuisance_names), device=device)
    high = torch.tensor(transform.space.high(transform.space.nuisance_names), device=device)
    assert bool(((nuisance >= low) & (nuisance <= high)).all())
    _, again = transform(targets)
    assert not torch.equal(nuisance, again)


def test_seeded_runs_repeat(device: torch.device) -> None:
    targets = _targets(8, device)
    first = SpirographTransform(seed=3)(targets)[1]
    second = SpirographTransform(seed=3)(targets)[1]
    third = SpirographTransform(seed=4)(targets)[1]
    assert torch.equal(first, second) and not torch.equal(first, third)


def test_global_rng_untouched() -> None:
    state = torch.get_rng_state()
    SpirographTransform()(_targets(4, torch.device("cpu")))
    assert torch.equal(torch.get_rng_state(), state)


def test_gradient_reaches_nuisance_for_a_colour_encoder(device: torch.device) -> None:
    transform = SpirographTransform(seed=1)
    images, nuisance = transform(_targets(8, device))
    colour_mean = images.mean(dim=(2, 3))  # an "encoder" that uses colour
    (grad,) = torch.autograd.grad(colour_mean.square().sum(), nuisance)
    assert grad.shape == nuisance.shape
    names = transform.space.nuisance_names
    colours = [names.index(n) for n in ("fore_g", "fore_b", "back_r", "back_g", "back_b")]
    assert bool((grad[:, colours].abs() > 0).all())


def test_given_nuisance_is_used() -> None:
    transform = SpirographTransform(seed=0)
    targets = _targets(4, torch.device("cpu"))
    nuisance = transform.space.sample_nuisance_block(4, seed=9)
    images, returned = transform(targets, nuisance=nuisance)
    assert returned is nuisance
    assert torch.allclose(images, render(transform.space.join(targets, nuisance)))


def test_shifted_prior_at_test_time() -> None:
    transform = SpirographTransform(seed=0)
    shifted = transform.space.replace(bounds={"h": (2.0, 3.0), "back_r": (0.4, 1.0)})
    _, nuisance = transform(_targets(256, torch.device("cpu")), space=shifted)
    names = transform.space.nuisance_names
    assert float(nuisance.detach()[:, names.index("h")].min()) >= 2.0
    assert float(nuisance.detach()[:, names.index("back_r")].min()) >= 0.4
    assert float(nuisance.detach()[:, names.index("fore_g")].max()) <= 1.0


def test_custom_split_of_targets_and_nuisance() -> None:
    space = ParameterSpace().replace(targets=("m", "b", "sigma", "fore_r", "h"))
    transform = SpirographTransform(space, seed=0)
    images, nuisance = transform(Spirograph("val", subset=4, space=space).targets)
    assert nuisance.shape == (4, 5) and images.shape == (4, 3, 32, 32)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda t: t(torch.zeros(4, 3)), r"`targets` must have shape \(n, 4\), got \(4, 3\)"),
        (lambda t: t(torch.ones(2, 4, dtype=torch.long)), r"`targets` must have a floating dtype, got torch.int64"),
        (
            lambda t: t(torch.ones(2, 4), nuisance=torch.ones(2, 5)),
            r"`nuisance` must have shape \(2, 6\), got \(2, 5\)",
        ),
        (
            lambda t: t(torch.ones(2, 4), space=ParameterSpace().replace(targets=("m",))),
            r"`space` must keep the target/nuisance split",
        ),
    ],
)
def test_bad_input(call: object, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        call(SpirographTransform(seed=0))  # type: ignore[operator]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda t: t([1, 2, 3, 4]), r"`targets` must be a torch.Tensor of shape \(n, 4\), got list"),
        (lambda t: t(torch.ones(2, 4), space="shifted"), r"`space` must be a ParameterSpace or None, got str"),
        (lambda t: t(torch.ones(2, 4), nuisance=[0.0] * 6), r"`nuisance` must be a torch.Tensor of shape \(2, 6\)"),
    ],
)
def test_input_of_the_wrong_type(call: object, match: str) -> None:
    with pytest.raises(ParameterTypeError, match="SpirographTransform: " + match):
        call(SpirographTransform(seed=0))  # type: ignore[operator]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"normalize": "both"}, r"`normalize` must be one of"),
        ({"size": 0}, r"`size` must be an int in \[2, 4096\], got 0"),
    ],
)
def test_bad_construction(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        SpirographTransform(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"space": 3}, r"`space` must be a ParameterSpace or None, got int 3"),
        ({"seed": "x"}, r"`seed` must be an int, got str 'x'"),
        ({"size": 32.0}, r"`size` must be an int in \[2, 4096\], got float 32.0"),
    ],
)
def test_construction_with_the_wrong_type(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ParameterTypeError, match="SpirographTransform: " + match):
        SpirographTransform(**kwargs)  # type: ignore[arg-type]


def test_the_transform_holds_one_render_settings() -> None:
    from spirograph import RenderSettings

    made = RenderSettings(size=16, n_points=20, normalize="image")
    transform = SpirographTransform(settings=made, seed=0)
    assert transform.settings is made
    assert (transform.size, transform.n_points, transform.extent, transform.normalize) == (16, 20, 6.0, "image")
    keywords = SpirographTransform(size=16, n_points=20, normalize="image", seed=0)
    assert keywords.settings == made
    targets = ParameterSpace().sample(3, seed=1)[:, [0, 1, 3, 4]]
    assert torch.equal(transform(targets)[0], keywords(targets)[0])
    with pytest.raises(ParameterError, match=r"^SpirographTransform: give each renderer setting once"):
        SpirographTransform(settings=made, n_points=40)
