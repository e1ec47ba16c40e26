from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from spirograph.baselines.optim import LARS, capped_cosine, parameter_groups, scaled_learning_rate, warmup_cosine
from spirograph.errors import ConfigError
from tests.reference import released_rate, torchlars_step


def _step(optimizer: torch.optim.Optimizer, param: nn.Parameter, grad: list[float]) -> None:
    param.grad = torch.tensor(grad, dtype=param.dtype)
    optimizer.step()


def test_lars_matches_hand_computation() -> None:
    w = nn.Parameter(torch.tensor([3.0, 4.0], dtype=torch.float64))
    optimizer = LARS([w], lr=0.5, momentum=0.9, weight_decay=0.1, trust_coefficient=0.01, eps=0.0)
    # Step 1: ||w|| = 5, ||g|| = 1, ratio = 0.01 * 5 / (1 + 0.1 * 5) = 1/30,
    # d = (g + 0.1 w) / 30 = (0.9, 1.2) / 30 = (0.03, 0.04), v = d, w = w - 0.5 v.
    _step(optimizer, w, [0.6, 0.8])
    torch.testing.assert_close(w.detach(), torch.tensor([2.985, 3.98], dtype=torch.float64))
    # Step 2 with g = (1, 0): ||w|| = sqrt(2.985^2 + 3.98^2), ||g|| = 1.
    norm = math.hypot(2.985, 3.98)
    ratio = 0.01 * norm / (1.0 + 0.1 * norm)
    d = [ratio * (1.0 + 0.1 * 2.985), ratio * (0.0 + 0.1 * 3.98)]
    v = [0.9 * 0.03 + d[0], 0.9 * 0.04 + d[1]]
    _step(optimizer, w, [1.0, 0.0])
    torch.testing.assert_close(w.detach(), torch.tensor([2.985 - 0.5 * v[0], 3.98 - 0.5 * v[1]], dtype=torch.float64))


def test_excluded_group_is_plain_sgd_with_momentum() -> None:
    w = nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    optimizer = LARS([{"params": [w], "exclude": True, "weight_decay": 0.0}], lr=0.1, momentum=0.9)
    _step(optimizer, w, [1.0, 1.0])  # v = g; w = w - 0.1 g
    _step(optimizer, w, [2.0, 0.0])  # v = 0.9 (1, 1) + (2, 0) = (2.9, 0.9)
    torch.testing.assert_close(w.detach(), torch.tensor([1.0 - 0.1 - 0.29, -2.0 - 0.1 - 0.09], dtype=torch.float64))


def test_zero_weight_uses_unit_ratio() -> None:
    w = nn.Parameter(torch.zeros(2, dtype=torch.float64))
    optimizer = LARS([w], lr=1.0, momentum=0.0, weight_decay=0.0)
    _step(optimizer, w, [1.0, 2.0])
    torch.testing.assert_close(w.detach(), torch.tensor([-1.0, -2.0], dtype=torch.float64))


def test_lars_matches_torch_sgd_when_ratio_is_one() -> None:
    # With ||w|| = 0 the ratio is 1 and LARS (no decay) is torch's SGD with momentum.
    torch.manual_seed(0)
    a = nn.Parameter(torch.zeros(3))
    b = nn.Parameter(torch.zeros(3))
    lars = LARS([{"params": [a], "exclude": True}], lr=0.1, momentum=0.9, weight_decay=0.0)
    sgd = torch.optim.SGD([b], lr=0.1, momentum=0.9)
    for _ in range(3):
        g = torch.randn(3)
        a.grad, b.grad = g.clone(), g.clone()
        lars.step()
        sgd.step()
    torch.testing.assert_close(a, b)


def test_state_dict_round_trip() -> None:
    w = nn.Parameter(torch.tensor([1.0, 2.0]))
    optimizer = LARS([w], lr=0.1)
    _step(optimizer, w, [0.5, 0.5])
    restored = LARS([nn.Parameter(w.detach().clone())], lr=0.1)
    restored.load_state_dict(optimizer.state_dict())
    torch.testing.assert_close(
        restored.state[restored.param_groups[0]["params"][0]]["momentum_buffer"], optimizer.state[w]["momentum_buffer"]
    )


def test_parameter_groups_split_biases_and_norms() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2))
    # a module listed twice counts once
    groups = parameter_groups(model, model[3], weight_decay=1e-4, exclude_bias_and_norm=True)
    adapted, excluded = groups
    assert {id(p) for p in adapted["params"]} == {id(model[0].weight), id(model[3].weight)}
    assert {id(p) for p in excluded["params"]} == {
        id(model[0].bias),
        id(model[1].weight),
        id(model[1].bias),
        id(model[3].bias),
    }
    assert adapted["weight_decay"] == 1e-4 and not adapted["exclude"]
    assert excluded["weight_decay"] == 0.0 and excluded["exclude"]
    (single,) = parameter_groups(model)  # the default adapts every tensor, as torchlars does
    assert len(single["params"]) == 6 and single["weight_decay"] == 1e-6 and not single["exclude"]


def test_parameter_groups_bad_module() -> None:
    with pytest.raises(ConfigError, match=r"`modules` must be nn\.Module instances, got Tensor"):
        parameter_groups(torch.zeros(2))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lr": -1.0}, "`lr` must be a finite number >= 0.0, got -1.0"),
        ({"lr": 0.1, "momentum": float("nan")}, "`momentum` must be a finite number"),
        ({"lr": 0.1, "trust_coefficient": 0.0}, r"`trust_coefficient` must be a finite number > 0.0, got 0.0"),
        ({"lr": 0.1, "weight_decay": "1e-6"}, "`weight_decay` must be a finite number >= 0.0, got '1e-6'"),
    ],
)
def test_lars_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        LARS([nn.Parameter(torch.zeros(1))], **kwargs)  # type: ignore[arg-type]


def test_scaled_learning_rate() -> None:
    assert scaled_learning_rate(512) == 3.0
    assert scaled_learning_rate(256, base=0.3) == pytest.approx(0.3)
    with pytest.raises(ConfigError, match="`batch_size` must be an int >= 1, got 0"):
        scaled_learning_rate(0)


def test_warmup_cosine_values() -> None:
    kwargs = {"total_steps": 110, "warmup_steps": 10, "base_lr": 3.0}
    assert warmup_cosine(0, **kwargs) == pytest.approx(0.3)
    assert warmup_cosine(4, **kwargs) == pytest.approx(1.5)
    assert warmup_cosine(9, **kwargs) == pytest.approx(3.0)
    assert warmup_cosine(10, **kwargs) == pytest.approx(3.0)
    assert warmup_cosine(60, **kwargs) == pytest.approx(1.5)  # half way through the cosine
    assert warmup_cosine(110, **kwargs) == 0.0
    decay = [warmup_cosine(s, **kwargs) for s in range(10, 110)]
    assert all(a >= b for a, b in itertools.pairwise(decay))
    assert warmup_cosine(5, total_steps=5, warmup_steps=0, base_lr=1.0, final_lr=0.1) == 0.1
    assert warmup_cosine(0, total_steps=4, warmup_steps=0, base_lr=1.0) == 1.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"step": -1}, "`step` must be an int >= 0, got -1"),
        ({"warmup_steps": 20}, r"`warmup_steps` must be <= `total_steps` \(10\), got 20"),
        ({"base_lr": -3.0}, "`base_lr` must be a finite number >= 0.0, got -3.0"),
        ({"total_steps": 2.5}, "`total_steps` must be an int >= 0, got 2.5"),
    ],
)
def test_warmup_cosine_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    arguments: dict[str, object] = {"step": 0, "total_steps": 10, "warmup_steps": 2, "base_lr": 1.0, **kwargs}
    with pytest.raises(ConfigError, match=match):
        warmup_cosine(**arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize("foreach", [False, True])
def test_lars_on_every_tensor_matches_torchlars(foreach: bool) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(64, 2))
    model = model.double()
    reference = _clone(model)
    lars = LARS(parameter_groups(model, weight_decay=1e-2), lr=0.7, weight_decay=1e-2, foreach=foreach)
    sgd = torch.optim.SGD(reference.parameters(), lr=0.7, momentum=0.9, weight_decay=0.0)
    assert len(lars.param_groups) == 1 and len(lars.param_groups[0]["params"]) == 6  # BatchNorm tensors included
    for _ in range(3):
        x = torch.randn(5, 3, 6, 6, dtype=torch.float64)
        for net in (model, reference):
            net.zero_grad()
            net(x).square().sum().backward()
        lars.step()
        torchlars_step(reference.parameters(), sgd, weight_decay=1e-2, trust=1e-3, eps=1e-8)
    for a, b in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def _clone(model: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(model)


def test_lars_foreach_equals_loop_with_excluded_group() -> None:
    torch.manual_seed(1)
    models = [nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 2)) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    optimizers = [
        LARS(parameter_groups(m, exclude_bias_and_norm=True), lr=0.3, foreach=flag)
        for m, flag in zip(models, (False, True), strict=True)
    ]
    for _ in range(4):
        x = torch.randn(6, 4)
        for model, optimizer in zip(models, optimizers, strict=True):
            optimizer.zero_grad()
            model(x).pow(2).mean().backward()
            optimizer.step()
    for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_lars_foreach_bad_value() -> None:
    with pytest.raises(ConfigError, match="`foreach` must be a bool or None, got 'yes'"):
        LARS([nn.Parameter(torch.zeros(1))], lr=0.1, foreach="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize(("epochs", "warmup", "base"), [(50, 10, 3.0), (6, 1, 0.75), (3, 2, 1.5)])
def test_capped_cosine_is_the_released_formula(epochs: int, warmup: int, base: float) -> None:
    rates = [capped_cosine(e, epochs=epochs, warmup_epochs=warmup, base_lr=base) for e in range(epochs)]
    assert rates == [released_rate(e, epochs, warmup, base) for e in range(epochs)]


def test_capped_cosine_at_paper_settings_peaks_below_the_base_rate() -> None:
    rates = [capped_cosine(e, epochs=50, warmup_epochs=10, base_lr=3.0) for e in range(50)]
    assert max(rates) == rates[9] == pytest.approx(2.7664, abs=1e-4)
    assert rates[:9] == pytest.approx([0.3 * (e + 1) for e in range(9)])
    assert capped_cosine(50, epochs=50, warmup_epochs=10, base_lr=3.0) == 0.0
    assert capped_cosine(0, epochs=4, warmup_epochs=0, base_lr=2.0) == 2.0  # no ramp: the cosine alone


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"epoch": -1}, "`epoch` must be an int >= 0, got -1"),
        ({"epochs": 0}, "`epochs` must be an int >= 1, got 0"),
        ({"warmup_epochs": 1.5}, "`warmup_epochs` must be an int >= 0, got 1.5"),
        ({"base_lr": float("inf")}, "`base_lr` must be a finite number >= 0.0, got inf"),
    ],
)
def test_capped_cosine_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    arguments: dict[str, object] = {"epoch": 0, "epochs": 10, "warmup_epochs": 2, "base_lr": 1.0, **kwargs}
    with pytest.raises(ConfigError, match=match):
        capped_cosine(**arguments)  # type: ignore[arg-type]
