"""The paper's released training behaviour, setting by setting, and the alternatives offered."""

from __future__ import annotations

import importlib
import math
import struct
import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from spirograph.baselines import build_encoder, initialize_encoder, nt_xent
from spirograph.baselines.train import TrainConfig, _build_model, load_checkpoint, main, train
from spirograph.errors import CheckpointError, ConfigError, ParameterError, SpirographError, TrainingError
from tests.reference import naive_render, released_rate, torchlars_step

from . import test_train

TINY: dict[str, Any] = {**test_train.TINY, "epochs": 3, "warmup_epochs": 2}


def tiny(**overrides: Any) -> TrainConfig:
    return TrainConfig(**{**TINY, **overrides})


def test_defaults_are_the_released_code() -> None:
    config = TrainConfig()
    assert config.lr_schedule == "capped-cosine"
    assert config.exclude_bias_and_norm is False
    assert config.batch_statistics == "per-view"
    assert config.encoder_init == "kaiming-fan-out"
    assert config.drop_last is False
    assert config.steps_per_epoch() == 196  # 100,000 / 512 with the last, smaller batch kept
    assert TrainConfig(drop_last=True).steps_per_epoch() == 195


def test_paper_schedule_over_fifty_epochs() -> None:
    config = TrainConfig()
    rates = [config.epoch_learning_rate(e) for e in range(50)]
    assert rates == [released_rate(e, 50, 10, 3.0) for e in range(50)]
    # One rate per epoch: the step within the epoch does not matter.
    assert all(config.epoch_learning_rate(e, s) == rates[e] for e in (0, 9, 30) for s in (0, 100, 195))
    assert max(rates) == rates[9] < 3.0


def test_warmup_cosine_option_changes_every_step() -> None:
    config = TrainConfig(lr_schedule="warmup-cosine")
    assert config.epoch_learning_rate(0, 0) == pytest.approx(3.0 / (10 * 196))
    assert config.epoch_learning_rate(10, 0) == pytest.approx(3.0)
    assert config.epoch_learning_rate(0, 1) > config.epoch_learning_rate(0, 0)


def test_trained_rates_are_recorded_and_follow_the_formula() -> None:
    result = train(tiny())
    expected = [released_rate(e, 3, 2, 1.5 * 8 / 256) for e in range(3)]
    assert [h["lr"] for h in result.history] == expected
    assert [h["lr_last"] for h in result.history] == expected
    assert [s["lr"] for s in result.steps] == [rate for rate in expected for _ in range(2)]
    assert result.config.to_dict()["lr_schedule"] == "capped-cosine"  # result files record the choices


def test_last_smaller_batch_is_kept() -> None:
    result = train(tiny(n_train=20, epochs=1, warmup_epochs=1))  # batches of 8, 8 and 4
    assert result.steps_done == result.steps_total == 3
    assert result.history[0]["images_per_second"] * result.history[0]["seconds"] == pytest.approx(40)
    dropped = train(tiny(n_train=20, epochs=1, warmup_epochs=1, drop_last=True))
    assert dropped.steps_done == 2


def test_per_view_forward_equals_two_separate_calls() -> None:
    torch.manual_seed(0)
    config = tiny()
    model = _build_model(config).train()
    first, second = torch.rand(6, 3, 16, 16), torch.rand(6, 3, 16, 16)
    features, z1, z2 = model(first, second)
    torch.manual_seed(0)
    reference = _build_model(config).train()
    h1 = reference.encoder(first)
    h2 = reference.encoder(second)
    torch.testing.assert_close(features, h1, rtol=0, atol=0)
    loss = nt_xent(z1, z2, temperature=0.5)
    expected = nt_xent(reference.head(h1), reference.head(h2), temperature=0.5)
    torch.testing.assert_close(loss, expected, rtol=0, atol=0)
    # One pass over both views mixes their BatchNorm statistics: another loss.
    joint = _build_model(tiny(batch_statistics="joint")).train()
    joint.load_state_dict(model.state_dict())
    _, j1, j2 = joint(first, second)
    assert not torch.allclose(nt_xent(j1, j2, temperature=0.5), loss)


def _conv_layers(encoder: nn.Module) -> list[nn.Conv2d]:
    return [m for m in encoder.modules() if isinstance(m, nn.Conv2d)]


def test_kaiming_fan_out_initialisation_of_resnet18() -> None:
    torch.manual_seed(0)
    encoder = build_encoder("resnet18")
    for conv in _conv_layers(encoder):
        out_channels, _, kh, kw = conv.weight.shape
        expected = math.sqrt(2.0 / (out_channels * kh * kw))
        tolerance = 5 * expected / math.sqrt(2 * conv.weight.numel())  # about five standard errors
        assert abs(float(conv.weight.detach().std()) - expected) < tolerance, conv
    for norm in (m for m in encoder.modules() if isinstance(m, nn.BatchNorm2d)):
        assert torch.equal(norm.weight, torch.ones_like(norm.weight))
        assert torch.equal(norm.bias, torch.zeros_like(norm.bias))
    default = build_encoder("resnet18", init="pytorch")
    last = _conv_layers(default)[-2]  # a 3x3 convolution of layer 4
    assert float(last.weight.detach().std()) < 0.5 * math.sqrt(2.0 / (512 * 9))


def test_initialisation_is_seeded_and_checked() -> None:
    a, b = tiny(), tiny()
    assert all(
        torch.equal(x, y) for x, y in zip(_build_model(a).parameters(), _build_model(b).parameters(), strict=True)
    )
    with pytest.raises(ParameterError, match=r"`init` must be one of \['kaiming-fan-out', 'pytorch'\], got 'he'"):
        initialize_encoder(nn.Conv2d(1, 1, 1), "he")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "overrides",
    [
        {"lr_schedule": "warmup-cosine", "exclude_bias_and_norm": True, "batch_statistics": "joint"},
        {"encoder_init": "pytorch", "drop_last": True, "penalty_weight": 0.0},
        {"precision": "bfloat16", "channels_last": True},
    ],
)
def test_other_settings_train(overrides: dict[str, Any]) -> None:
    result = train(tiny(epochs=1, warmup_epochs=1, **overrides))
    assert all(math.isfinite(h["loss"]) for h in result.history)
    for key, value in overrides.items():
        assert result.config.to_dict()[key] == value


def test_bfloat16_loss_is_close_to_float32() -> None:
    full = train(tiny(epochs=1, warmup_epochs=1))
    half = train(tiny(epochs=1, warmup_epochs=1, precision="bfloat16"))
    assert half.steps[0]["loss"] == pytest.approx(full.steps[0]["loss"], rel=0.05)
    assert half.steps[0]["loss"] != full.steps[0]["loss"]


def test_time_limit_stops_cleanly_and_records_how_far(tmp_path: Path) -> None:
    result = train(tiny(time_limit=1e-9, checkpoint_dir=str(tmp_path)))
    assert result.stopped_early and result.steps_done == 1 and result.steps_total == 6
    assert result.history == [result.history[0]] and result.history[0]["complete"] is False
    assert result.checkpoint is None and not (tmp_path / "last.pt").exists()  # no epoch completed
    whole = train(tiny(time_limit=3600.0))
    assert not whole.stopped_early and all(h["complete"] for h in whole.history)


def test_diverging_loss_raises_training_error(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def diverging(z1: torch.Tensor, z2: torch.Tensor, *, temperature: float) -> torch.Tensor:
        calls.append(1)
        loss = nt_xent(z1, z2, temperature=temperature)
        return loss * float("nan") if len(calls) == 3 else loss

    # The module, not the function of the same name that spirograph.baselines exports.
    monkeypatch.setattr(importlib.import_module("spirograph.baselines.train"), "nt_xent", diverging)
    with pytest.raises(TrainingError, match=r"the loss became NaN or infinite at step 3 \(epoch 2\)") as info:
        train(tiny(penalty_weight=0.0, log_every=100))
    assert isinstance(info.value, FloatingPointError) and isinstance(info.value, SpirographError)


def test_command_line_time_limit_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.json"
    tiny().save(path)
    assert main([str(path), "--time-limit", "1e-9", "--quiet"]) == 0
    assert '"stopped_early": true' in capsys.readouterr().out
    assert main([str(path), "--time-limit", "0"]) == 2
    assert "`time_limit` must be a number > 0, got 0.0" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.json")]) == 2


# ---------------------------------------------------------------------- checkpoints read from disk
def _checkpoint(tmp_path: Path) -> Path:
    result = train(tiny(epochs=1, warmup_epochs=1, checkpoint_dir=str(tmp_path / "run")))
    assert result.checkpoint is not None
    return result.checkpoint


def test_flipped_byte_in_a_weight_is_refused(tmp_path: Path) -> None:
    path = _checkpoint(tmp_path)
    with zipfile.ZipFile(path) as archive:
        member = next(i for i in archive.infolist() if "/data/" in i.filename and i.file_size > 64)
    data = bytearray(path.read_bytes())
    # The local header (30 bytes) ends with the name and extra-field lengths; the data follows.
    name_length, extra_length = struct.unpack_from("<HH", data, member.header_offset + 26)
    offset = member.header_offset + 30 + name_length + extra_length + 8
    data[offset] ^= 0x01
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(bytes(data))
    assert torch.load(damaged, weights_only=True)["format"]  # torch alone would load it
    with pytest.raises(CheckpointError, match=r"is corrupt: member .* does not match its CRC-32"):
        load_checkpoint(damaged)


@pytest.mark.parametrize("stored", ["/dev/zero", "/dev/stdin", "other.json"])
def test_stored_config_is_never_read_as_a_path(tmp_path: Path, stored: str) -> None:
    path = _checkpoint(tmp_path)
    (tmp_path / "other.json").write_text(tiny(seed=99).to_json())
    state = torch.load(path, weights_only=True)
    state["config"] = str(tmp_path / stored) if stored == "other.json" else stored
    crafted = tmp_path / "crafted.pt"
    torch.save(state, crafted)
    with pytest.raises(CheckpointError, match=r"has an invalid configuration or history: .*not valid JSON"):
        load_checkpoint(crafted)


def test_stored_config_of_another_type_is_refused(tmp_path: Path) -> None:
    state = torch.load(_checkpoint(tmp_path), weights_only=True)
    state["config"] = {"encoder": "small"}
    crafted = tmp_path / "crafted.pt"
    torch.save(state, crafted)
    with pytest.raises(CheckpointError, match="entry 'config' must be a JSON string, got dict"):
        load_checkpoint(crafted)


def test_bfloat16_on_a_gpu_without_it_is_refused_before_training(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *args, **kwargs: "Old GPU")
    with pytest.raises(ConfigError, match=r"`precision` must be 'float32' on Old GPU, which lacks bfloat16"):
        tiny(device="cuda", precision="bfloat16")
    with pytest.raises(ConfigError, match="which lacks bfloat16"):
        tiny(device="auto", precision="bfloat16")
    assert tiny(device="cuda", precision="float32").precision == "float32"
    assert tiny(device="cpu", precision="bfloat16").precision == "bfloat16"  # CPUs autocast to bfloat16


def _host_reads(monkeypatch: pytest.MonkeyPatch, config: TrainConfig) -> int:
    """How many times training reads a tensor's value on the host (each one a wait on a GPU)."""
    reads = []
    for name in ("item", "tolist", "__float__", "__int__", "__bool__", "numpy"):
        original = getattr(torch.Tensor, name)

        def counted(self: torch.Tensor, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            reads.append(1)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    train(config)
    monkeypatch.undo()
    return len(reads)


def test_steps_read_nothing_from_the_device(monkeypatch: pytest.MonkeyPatch) -> None:
    # Host reads happen at log steps and epoch ends only: doubling the steps per epoch adds none.
    short = _host_reads(monkeypatch, tiny(n_train=16, log_every=1000))
    long = _host_reads(monkeypatch, tiny(n_train=32, log_every=1000))
    assert short == long
    logged = _host_reads(monkeypatch, tiny(n_train=32, log_every=1))
    assert logged > long  # a step record reads the step's losses


# ---------------------------------------------------------------------- whole steps
def _released_critic(head: nn.Module) -> nn.Module:
    """The released code's projection (TwoLayerCritic.project), holding ``head``'s weights."""
    hidden, dim = head.net[0].weight.shape
    projection = head.net[3].weight.shape[0]
    critic = nn.Sequential(
        nn.Linear(dim, hidden, bias=False),
        nn.BatchNorm1d(hidden),
        nn.ReLU(),
        nn.Linear(hidden, projection, bias=False),
        nn.BatchNorm1d(projection, affine=False),
    )
    critic.load_state_dict({key.removeprefix("net."): value for key, value in head.state_dict().items()})
    return critic


def _released_scores(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """TwoLayerCritic.forward: cosine similarities over temperature, self-pairs masked, (2N, 2N)."""
    cos = nn.CosineSimilarity(dim=-1)
    sim11 = cos(z1.unsqueeze(-2), z1.unsqueeze(-3)) / temperature
    sim22 = cos(z2.unsqueeze(-2), z2.unsqueeze(-3)) / temperature
    sim12 = cos(z1.unsqueeze(-2), z2.unsqueeze(-3)) / temperature
    d = sim12.shape[-1]
    sim11[..., range(d), range(d)] = float("-inf")
    sim22[..., range(d), range(d)] = float("-inf")
    return torch.cat([torch.cat([sim12, sim11], dim=-1), torch.cat([sim22, sim12.transpose(-1, -2)], dim=-1)])


def _render_views(targets: torch.Tensor, nuisance: torch.Tensor, config: TrainConfig) -> torch.Tensor:
    # (m, b, sigma, fore_r) and (h, fore_g, fore_b, back_r, back_g, back_b) -> the ten parameters
    t, n = targets, nuisance
    params = torch.stack([t[:, 0], t[:, 1], n[:, 0], t[:, 2], t[:, 3], *n[:, 1:].unbind(1)], dim=1)
    return naive_render(params, size=config.size, n_points=config.n_points, normalize=config.normalize)


def _released_training(config: TrainConfig, initial: nn.Module, recorded: dict[str, list[torch.Tensor]]) -> nn.Module:
    """The released training loop (invclr.py) on the recorded batches and draws, its optimizer written out."""
    import copy

    model = copy.deepcopy(initial).train()
    net, critic = model.encoder, _released_critic(model.head)
    params = [*net.parameters(), *critic.parameters()]
    k = config.penalty_samples
    steps_per_epoch = len(recorded["targets"]) // config.epochs
    base = 1.5 * config.batch_size / 256
    sgd = torch.optim.SGD(params, lr=1.0, momentum=config.momentum, weight_decay=0.0)
    for step, targets in enumerate(recorded["targets"]):
        for group in sgd.param_groups:  # the scheduler sets one rate per epoch
            group["lr"] = released_rate(step // steps_per_epoch, config.epochs, config.warmup_epochs, base)
        batch = targets.shape[0]  # the last batch of an epoch is smaller, and kept
        rn1, rn2, extra = (draw.clone() for draw in recorded["nuisance"][3 * step : 3 * step + 3])
        rn1.requires_grad_(True)
        rn_extra = extra.reshape(batch, k, -1).transpose(0, 1)  # our pairing of draws, in (K, B, p)
        representation1 = net(_render_views(targets, rn1, config))
        representation2 = net(_render_views(targets, rn2, config))
        raw_scores = _released_scores(critic(representation1), critic(representation2), config.temperature)
        contrastive = nn.functional.cross_entropy(raw_scores, torch.arange(2 * batch))
        h = representation1 / representation1.norm(p=2, dim=-1, keepdim=True)
        projection = (recorded["signs"][step] * h).sum()
        (gradient,) = torch.autograd.grad(projection, rn1, create_graph=True, retain_graph=True)
        penalty = (gradient * (rn_extra - rn1)).sum(-1).pow(2).mean().clamp(max=config.penalty_clamp)
        sgd.zero_grad()
        (contrastive + config.penalty_weight * penalty).backward()
        torchlars_step(params, sgd, weight_decay=config.weight_decay, trust=config.trust_coefficient, eps=1e-8)
    return nn.ModuleDict({"encoder": net, "head": critic})


def test_training_steps_equal_the_released_code(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Two epochs of three steps (the last of 4 examples) through `train`, replayed by the
    # released loop (renderer, critic, penalty, torchlars + SGD, per-epoch rate) on the same
    # batches, nuisance draws and signs: the same updates and BatchNorm statistics come out.
    # A large weight decay, trust coefficient and penalty weight make each visible.
    from spirograph.transform import SpirographTransform

    penalty_module = importlib.import_module("spirograph.baselines.penalty")
    train_module = importlib.import_module("spirograph.baselines.train")

    config = tiny(
        epochs=2, warmup_epochs=2, n_train=20, penalty_weight=0.1, weight_decay=0.05, trust_coefficient=0.1,
        checkpoint_dir=str(tmp_path),
    )  # fmt: skip
    recorded: dict[str, list[torch.Tensor]] = {"targets": [], "nuisance": [], "signs": [], "initial": []}
    build, step, sample, signs = (
        train_module._build_model,
        train_module._train_step,
        SpirographTransform.sample_nuisance,
        penalty_module.rademacher,
    )

    def record(key: str, function: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            value = function(*args, **kwargs)
            recorded[key].append(value.detach().clone() if isinstance(value, torch.Tensor) else value)
            return value

        return wrapper

    def record_step(run: Any, targets: torch.Tensor) -> torch.Tensor:
        recorded["targets"].append(targets.clone())
        return step(run, targets)

    def record_build(config: TrainConfig) -> nn.Module:
        import copy

        model = build(config)
        recorded["initial"].append(copy.deepcopy(model))
        return model

    monkeypatch.setattr(train_module, "_build_model", record_build)
    monkeypatch.setattr(train_module, "_train_step", record_step)
    monkeypatch.setattr(SpirographTransform, "sample_nuisance", record("nuisance", sample))
    monkeypatch.setattr(penalty_module, "rademacher", record("signs", signs))
    result = train(config)
    assert [len(targets) for targets in recorded["targets"]] == [8, 8, 4, 8, 8, 4]
    assert len(recorded["nuisance"]) == 18 and len(recorded["signs"]) == 6

    initial = recorded["initial"][0]
    released = _released_training(config, initial, recorded)
    saved = load_checkpoint(result.checkpoint)
    for part in ("encoder", "head"):
        ours = {key.removeprefix("net."): value for key, value in saved[part].items()}
        theirs = released[part].state_dict()
        start = {key.removeprefix("net."): value for key, value in getattr(initial, part).state_dict().items()}
        assert ours.keys() == theirs.keys() == start.keys()
        for key, value in theirs.items():
            # The updates, not the weights: they are small beside the weights.
            ours_moved, theirs_moved = (ours[key] - start[key]).double(), (value - start[key]).double()
            assert theirs_moved.abs().max() > 0 or key.endswith("num_batches_tracked"), key
            torch.testing.assert_close(ours_moved, theirs_moved, rtol=1e-3, atol=1e-6, msg=f"{part}.{key}")
