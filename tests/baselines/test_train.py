from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from spirograph.baselines.train import (
    CHECKPOINT_FORMAT,
    TrainConfig,
    load_checkpoint,
    load_encoder,
    main,
    train,
)
from spirograph.errors import CheckpointError, ConfigError

TINY: dict[str, Any] = {
    "encoder": "small",
    "representation_dim": 16,
    "projection_dim": 8,
    "batch_size": 8,
    "epochs": 2,
    "warmup_epochs": 1,
    "n_train": 16,
    "size": 16,
    "n_points": 12,
    "penalty_samples": 4,
    "progress": False,
    "log_every": 1,
    "seed": 3,
}


def tiny(**overrides: Any) -> TrainConfig:
    return TrainConfig(**{**TINY, **overrides})


def assert_same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


# ---------------------------------------------------------------------- configuration
def test_defaults_are_the_papers() -> None:
    config = TrainConfig()
    assert (config.encoder, config.batch_size, config.epochs, config.warmup_epochs) == ("resnet18", 512, 50, 10)
    assert config.learning_rate == 3.0
    assert (config.penalty_weight, config.penalty_samples, config.penalty_clamp) == (1e-2, 100, 1000.0)
    assert (config.temperature, config.projection_dim, config.normalize) == (0.5, 128, "row")
    assert config.space.nuisance == ("h", "fore_g", "fore_b", "back_r", "back_g", "back_b")


def test_round_trips(tmp_path: Path) -> None:
    config = tiny(targets=["m", "b", "sigma", "fore_r", "h"], penalty_clamp=None, checkpoint_dir=tmp_path)
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert TrainConfig.from_json(config.to_json()) == config
    config.save(tmp_path / "config.json")
    assert TrainConfig.load(tmp_path / "config.json") == config
    assert json.loads((tmp_path / "config.json").read_text())["targets"] == ["m", "b", "sigma", "fore_r", "h"]
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"encoder": "vit"}, r"`encoder` must be one of \['resnet18', 'small'\], got 'vit'"),
        ({"penalty_weight": -0.1}, "`penalty_weight` must be a number >= 0.*got -0.1"),
        ({"batch_size": 1}, "`batch_size` must be an int >= 2.*got 1"),
        ({"epochs": 0}, "`epochs` must be an int >= 1, got 0"),
        ({"warmup_epochs": 3}, r"`warmup_epochs` must be an int in \[0, epochs=2\], got 3"),
        ({"n_train": 4}, r"`n_train` must be None or an int in \[batch_size=8, 100000\], got 4"),
        ({"normalize": "max"}, r"`normalize` must be one of \['row', 'image'\], got 'max'"),
        ({"targets": ["m", "nope"]}, "`targets` is invalid: .*unknown names \\['nope'\\]"),
        ({"targets": "m"}, "`targets` must be a list of parameter names, got 'm'"),
        ({"device": "tpu9"}, "`device` must be 'cpu', 'cuda', 'cuda:N' or 'auto', got 'tpu9'"),
        ({"device": "meta"}, "`device` must be 'cpu', 'cuda', 'cuda:N' or 'auto', got 'meta'"),
        ({"temperature": 0}, "`temperature` must be a number > 0, got 0"),
        ({"penalty_clamp": 0.0}, "`penalty_clamp` must be a number > 0, got 0.0"),
        ({"penalty_clamp": "1"}, "`penalty_clamp` must be a finite number or None, got '1'"),
        ({"penalty_samples": 0}, "`penalty_samples` must be an int >= 1, got 0"),
        ({"trust_coefficient": 0.0}, "`trust_coefficient` must be a number > 0, got 0.0"),
        ({"progress": "yes"}, "`progress` must be a bool, got 'yes'"),
        ({"encoder": "resnet18", "representation_dim": 128}, "`representation_dim` must be 512"),
        ({"precision": "fp16"}, r"`precision` must be one of \['float32', 'bfloat16'\], got 'fp16'"),
        ({"lr_schedule": "step"}, r"`lr_schedule` must be one of \['capped-cosine', 'warmup-cosine'\], got 'step'"),
        ({"batch_statistics": "mixed"}, r"`batch_statistics` must be one of \['per-view', 'joint'\], got 'mixed'"),
        ({"encoder_init": "xavier"}, r"`encoder_init` must be one of \['kaiming-fan-out', 'pytorch'\]"),
        ({"time_limit": 0}, "`time_limit` must be a number > 0, got 0"),
        ({"time_limit": -5.0}, "`time_limit` must be a number > 0, got -5.0"),
        ({"time_limit": float("nan")}, "`time_limit` must be a finite number or None, got nan"),
        ({"drop_last": 1}, "`drop_last` must be a bool, got 1"),
        ({"n_train": 17}, "`n_train` must be a count whose last batch of 8 holds more than one example, got 17"),
    ],
)
def test_invalid_config(overrides: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        tiny(**overrides)


def test_render_settings_follow_the_config() -> None:
    from spirograph.render import RenderSettings

    config = tiny(size=16, n_points=20, normalize="image")
    assert config.render_settings == RenderSettings(size=16, n_points=20, normalize="image")
    assert TrainConfig().render_settings == RenderSettings()
    assert "render_settings" not in config.to_dict()  # the stored fields stay as they were
    with pytest.raises(ConfigError, match=r"^TrainConfig: `size` must be an int in \[2, 4096\], got 5000$"):
        tiny(size=5000)
    with pytest.raises(ConfigError, match=r"^TrainConfig: `n_points` must be an int in \[2, 65536\], got 1$"):
        tiny(n_points=1)


def test_from_dict_and_json_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown keys \['lamda'\]"):
        TrainConfig.from_dict({"lamda": 0.1})
    with pytest.raises(ConfigError, match="`data` must be a mapping, got list"):
        TrainConfig.from_dict([])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not valid JSON"):
        TrainConfig.from_json("{nope")
    with pytest.raises(ConfigError, match=r"TrainConfig.load: `path` .*missing.json. cannot be read"):
        TrainConfig.load(tmp_path / "missing.json")
    # Text is never taken for a path, and a path is never parsed as text.
    (tmp_path / "other.json").write_text(tiny().to_json())
    with pytest.raises(ConfigError, match="not valid JSON"):
        TrainConfig.from_json(str(tmp_path / "other.json"))
    with pytest.raises(ConfigError, match="`text` must be a JSON string, got PosixPath"):
        TrainConfig.from_json(tmp_path / "other.json")  # type: ignore[arg-type]


def test_train_rejects_non_config() -> None:
    with pytest.raises(ConfigError, match="`config` must be a TrainConfig, got dict"):
        train(TINY)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- training
def test_train_logs_checkpoints_and_reloads(tmp_path: Path) -> None:
    rng = torch.random.get_rng_state()
    result = train(tiny(checkpoint_dir=str(tmp_path)))
    assert torch.equal(rng, torch.random.get_rng_state())  # the global generator is untouched
    assert [h["epoch"] for h in result.history] == [1, 2]
    assert [s["step"] for s in result.steps] == [1, 2, 3, 4]
    for record in result.history:
        assert all(record[k] is not None and record[k] == record[k] for k in ("loss", "nt_xent", "penalty"))
        assert record["loss"] == pytest.approx(record["nt_xent"] + 1e-2 * record["penalty"], rel=1e-5)
    assert result.checkpoint == tmp_path / "last.pt"
    raw = torch.load(result.checkpoint, weights_only=True)
    assert raw["format"] == CHECKPOINT_FORMAT and raw["epoch"] == 2 and raw["step"] == 4
    loaded = load_checkpoint(result.checkpoint)
    assert loaded["config"] == result.config and loaded["history"] == result.history
    encoder = load_encoder(result.checkpoint)
    assert not encoder.training
    images = torch.rand(3, 3, 16, 16)
    torch.testing.assert_close(encoder(images), result.encoder(images))
    assert not list(tmp_path.glob(".*.tmp"))


def test_plain_simclr_has_no_penalty() -> None:
    result = train(tiny(penalty_weight=0.0, epochs=1, warmup_epochs=0))
    assert result.history[0]["penalty"] is None
    assert result.history[0]["loss"] == result.history[0]["nt_xent"]
    assert result.checkpoint is None


def test_penalty_changes_the_weights() -> None:
    with_penalty = train(tiny(epochs=1, warmup_epochs=0, penalty_weight=10.0))
    without = train(tiny(epochs=1, warmup_epochs=0, penalty_weight=0.0))
    weights = [p for p in with_penalty.encoder.state_dict().values() if p.is_floating_point()]
    others = [p for p in without.encoder.state_dict().values() if p.is_floating_point()]
    assert any(not torch.equal(a, b) for a, b in zip(weights, others, strict=True))


def test_resume_equals_uninterrupted_run(tmp_path: Path) -> None:
    full = train(tiny(checkpoint_dir=str(tmp_path / "full"), keep_checkpoints=True))
    assert (tmp_path / "full" / "epoch_0001.pt").exists() and (tmp_path / "full" / "epoch_0002.pt").exists()
    resumed_dir = tmp_path / "resumed"
    resumed_dir.mkdir()
    shutil.copy(tmp_path / "full" / "epoch_0001.pt", resumed_dir / "last.pt")
    resumed = train(tiny(checkpoint_dir=str(resumed_dir)))
    assert_same_state(full.encoder.state_dict(), resumed.encoder.state_dict())
    assert_same_state(full.head.state_dict(), resumed.head.state_dict())
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in full.history]
    # A finished run resumes to itself without training.
    again = train(tiny(checkpoint_dir=str(resumed_dir)))
    assert_same_state(again.encoder.state_dict(), resumed.encoder.state_dict())
    # resume_from= names the checkpoint explicitly; resume=False starts afresh.
    explicit = train(tiny(), resume_from=tmp_path / "full" / "epoch_0001.pt")
    assert_same_state(explicit.encoder.state_dict(), full.encoder.state_dict())


def test_resume_refuses_other_configuration(tmp_path: Path) -> None:
    train(tiny(checkpoint_dir=str(tmp_path), epochs=1, warmup_epochs=0))
    with pytest.raises(CheckpointError, match=r"different configuration \(penalty_weight: 0.01 -> 0.5\)"):
        train(tiny(checkpoint_dir=str(tmp_path), epochs=1, warmup_epochs=0, penalty_weight=0.5))
    # Logging and paths may change.
    train(tiny(checkpoint_dir=str(tmp_path), epochs=1, warmup_epochs=0, log_every=7))


def test_corrupt_and_foreign_checkpoints(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="is not an intact checkpoint file"):
        load_checkpoint(corrupt)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, foreign)
    with pytest.raises(
        CheckpointError, match=r"must be a checkpoint with format 'spirograph\.baselines\.checkpoint/2'"
    ):
        load_encoder(foreign)
    with pytest.raises(CheckpointError, match="must be an existing checkpoint file"):
        load_checkpoint(tmp_path / "missing.pt")
    run = tmp_path / "run"
    result = train(tiny(checkpoint_dir=str(run), epochs=1, warmup_epochs=0))
    assert result.checkpoint is not None
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(result.checkpoint.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="is not an intact checkpoint file"):
        load_checkpoint(truncated)
    # Weights that do not fit the configured encoder.
    state = torch.load(result.checkpoint, weights_only=True)
    state["config"] = tiny(representation_dim=32).to_json()
    mismatched = tmp_path / "mismatched.pt"
    torch.save(state, mismatched)
    with pytest.raises(CheckpointError, match="the weights do not fit encoder 'small'"):
        load_encoder(mismatched)
    del state["optimizer"]
    torch.save(state, mismatched)
    with pytest.raises(CheckpointError, match=r"is incomplete: missing \['optimizer'\]"):
        load_checkpoint(mismatched)
    # A corrupt last.pt stops a resume with a clear error instead of silently restarting.
    (run / "last.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="is not an intact checkpoint file"):
        train(tiny(checkpoint_dir=str(run), epochs=1, warmup_epochs=0))


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.json"
    tiny(epochs=1, warmup_epochs=0, penalty_weight=0.0).save(path)
    assert main([str(path), "--checkpoint-dir", str(tmp_path / "ckpt"), "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["checkpoint"] == str(tmp_path / "ckpt" / "last.pt")
    assert load_checkpoint(tmp_path / "ckpt" / "last.pt")["epoch"] == 1


# ---------------------------------------------------------------------- distributed
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ddp_worker(rank: int, world_size: int, port: int, config: dict[str, Any], out: str) -> None:
    import torch.distributed as dist

    os.environ["LOCAL_RANK"] = str(rank)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    try:
        result = train(TrainConfig.from_dict(config))
        torch.save({"encoder": result.encoder.state_dict(), "history": json.dumps(result.history)}, f"{out}/{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_distributed_data_parallel_two_processes(tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    config = tiny(checkpoint_dir=str(tmp_path / "ckpt"), batch_size=8, n_train=32).to_dict()
    mp.spawn(_ddp_worker, args=(2, _free_port(), config, str(tmp_path)), nprocs=2, join=True)
    rank0 = torch.load(tmp_path / "0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "1.pt", weights_only=True)
    # DDP keeps the weights identical; BatchNorm running statistics stay per process.
    weights = [k for k in rank0["encoder"] if "running" not in k and "num_batches" not in k]
    assert_same_state({k: rank0["encoder"][k] for k in weights}, {k: rank1["encoder"][k] for k in weights})
    history = json.loads(rank0["history"])
    untimed = [{k: v for k, v in h.items() if k not in ("seconds", "images_per_second")} for h in history]
    other = [
        {k: v for k, v in h.items() if k not in ("seconds", "images_per_second")} for h in json.loads(rank1["history"])
    ]
    assert untimed == other  # epoch means are reduced over processes
    assert [h["step"] for h in history] == [4, 8]  # 32 targets, global batch 8: 4 steps per epoch
    saved = load_checkpoint(tmp_path / "ckpt" / "last.pt")
    assert_same_state(saved["encoder"], rank0["encoder"])
    assert all(h["penalty"] is not None and h["penalty"] >= 0 for h in history)


@pytest.mark.slow
def test_torchrun_launch_matches_spawned_processes(tmp_path: Path) -> None:
    # The documented launch: torchrun sets RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous in
    # the environment and `train` starts the process group itself (on loopback here).
    import torch.multiprocessing as mp

    config = tiny(batch_size=8, n_train=32)
    config.save(tmp_path / "config.json")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    command += ["-m", "spirograph.baselines", str(tmp_path / "config.json")]
    command += ["--device", "cpu", "--checkpoint-dir", str(tmp_path / "torchrun"), "--quiet"]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    done = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)  # printed once, by rank 0
    assert summary["checkpoint"] == str(tmp_path / "torchrun" / "last.pt")
    launched = load_checkpoint(tmp_path / "torchrun" / "last.pt")
    assert launched["epoch"] == 2

    spawned_dir = tmp_path / "spawned"
    spawned_dir.mkdir()
    spawned_config = tiny(batch_size=8, n_train=32, checkpoint_dir=str(tmp_path / "spawn-ckpt")).to_dict()
    mp.spawn(_ddp_worker, args=(2, _free_port(), spawned_config, str(spawned_dir)), nprocs=2, join=True)
    spawned = load_checkpoint(tmp_path / "spawn-ckpt" / "last.pt")
    assert_same_state(launched["encoder"], spawned["encoder"])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_train_on_gpu_and_reload_on_cpu(tmp_path: Path) -> None:
    result = train(tiny(device="cuda", checkpoint_dir=str(tmp_path)))
    assert next(result.encoder.parameters()).device.type == "cuda"
    assert all(h["penalty"] is not None and h["loss"] == h["loss"] for h in result.history)
    assert result.checkpoint is not None
    encoder = load_encoder(result.checkpoint)
    images = torch.rand(4, 3, 16, 16)
    torch.testing.assert_close(encoder(images), result.encoder(images.cuda()).cpu(), atol=1e-4, rtol=1e-4)


def test_documented_training_command_runs_without_warnings() -> None:
    command = [sys.executable, "-W", "error", "-m", "spirograph.baselines", "--help"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert "usage: python -m spirograph.baselines" in done.stdout and "--time-limit" in done.stdout


# ---------------------------------------------------------------------- the second safety sweep
def test_batch_size_never_exceeds_the_examples_with_or_without_n_train() -> None:
    with pytest.raises(ConfigError, match=r"`batch_size` must be an int in \[2, 100000\] \(the training examples\)"):
        TrainConfig(batch_size=10**9)
    with pytest.raises(ConfigError, match=r"`n_train` must be None or an int in \[batch_size=10000000"):
        TrainConfig(batch_size=10**7, n_train=16)


@pytest.mark.parametrize("seed", [2**70, 2**63, -1])
def test_seeds_are_refused_up_front_outside_the_range_train_uses(seed: int) -> None:
    with pytest.raises(ConfigError, match=r"`seed` must be an int in \[0, 9223372036854775807\]"):
        tiny(seed=seed)


@pytest.mark.parametrize(
    "text", ["[" * 100_000 + "]" * 100_000, '{"seed": 1' + "0" * 5000 + "}", '{"epochs": ' + "[" * 70 + "]" * 70 + "}"]
)
def test_deep_or_huge_json_configs_are_config_errors(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match=r"TrainConfig.from_json: `text` (nests|is not valid JSON)"):
        TrainConfig.from_json(text)
    (tmp_path / "config.json").write_text(text)
    with pytest.raises(ConfigError, match=r"TrainConfig.load: `path` .* (nests|is not valid JSON)"):
        TrainConfig.load(tmp_path / "config.json")


def test_config_files_are_read_within_limits(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"TrainConfig.load: `path` '/dev/zero' must be a regular file"):
        TrainConfig.load("/dev/zero")
    with pytest.raises(ConfigError, match=r"TrainConfig.save: cannot write `path`"):
        tiny().save(tmp_path)  # a folder


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("history", json.dumps({"not": "a list"}), r"entry 'history' .* must be a JSON list of records"),
        ("history", "[" * 100_000, r"entry 'history' .* nests lists or objects deeper"),
        ("steps", "[1, 2]", r"entry 'steps' .* must be a JSON list of records"),
        ("epoch", "1", r"entry 'epoch' must be an int >= 0, got str '1'"),
        ("epoch", torch.tensor(1), r"entry 'epoch' must be an int >= 0, got Tensor"),
        ("epoch", -1, r"entry 'epoch' must be an int >= 0, got int -1"),
        ("epoch", 99, r"entry 'epoch' must be at most its configuration's 1 epochs, got 99"),
        ("step", 2.5, r"entry 'step' must be an int >= 0, got float 2.5"),
    ],
)
def test_tampered_checkpoint_metadata_is_a_checkpoint_error(tmp_path: Path, key: str, value: Any, match: str) -> None:
    run = tmp_path / "run"
    result = train(tiny(checkpoint_dir=str(run), epochs=1, warmup_epochs=0))
    assert result.checkpoint is not None
    state = torch.load(result.checkpoint, weights_only=True)
    state[key] = value
    torch.save(state, run / "last.pt")
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(run / "last.pt")
    with pytest.raises(CheckpointError, match=match):  # and a resume stops on it
        train(tiny(checkpoint_dir=str(run), epochs=1, warmup_epochs=0))
