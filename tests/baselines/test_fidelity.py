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

from . import test_train

TINY: dict[str, Any] = {**test_train.TINY, "epochs": 3, "warmup_epochs": 2}


def tiny(**overrides: Any) -> TrainConfig:
    return TrainConfig(**{**TINY, **overrides})


def released_rate(epoch: int, epochs: int, warmup: int, base: float) -> float:
    return min(base * (1 + math.cos(math.pi * epoch / epochs)) / 2, base * (1 + epoch) / warmup)


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
