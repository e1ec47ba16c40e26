"""Contrastive training with the InvCLR gradient penalty on Spirograph.

Each step takes a batch of target parameters of the train split (held on the training
device), renders two views there with fresh nuisance
([`SpirographTransform`][spirograph.transform.SpirographTransform]), and minimises
``NT-Xent + lambda P`` ([`nt_xent()`][spirograph.baselines.losses.nt_xent],
[`gradient_penalty()`][spirograph.baselines.penalty.gradient_penalty]) with LARS. The defaults
train what the paper's released code trains (see
[`TrainConfig`][spirograph.baselines.train.TrainConfig]); ``penalty_weight=0`` is the plain
SimCLR baseline.

Runs on one CPU, one GPU, or many processes under ``torchrun`` with
DistributedDataParallel::

    python -m spirograph.baselines config.json
    torchrun --nproc_per_node 4 -m spirograph.baselines config.json

Reproducibility: the model is initialised from ``seed`` without touching torch's
global generator; each epoch reseeds the sampler, the nuisance generator and the
Rademacher generator from ``(seed, epoch, rank)``. A run resumed from an epoch
checkpoint therefore ends with the same weights as an uninterrupted one.

Under DistributedDataParallel, ``batch_size`` is the global batch (split evenly over
the processes) and NT-Xent compares every view with the views of all processes (an
all-gather with gradients), as a single process would. BatchNorm statistics are
per process unless ``sync_batchnorm`` (CUDA only).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import sys
import time
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal, NoReturn, cast

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DistributedSampler
from tqdm.auto import tqdm

from spirograph._version import __version__
from spirograph.baselines.encoders import ENCODER_INITS, ENCODERS, EncoderInit, build_encoder
from spirograph.baselines.losses import ProjectionHead, nt_xent
from spirograph.baselines.optim import LARS, capped_cosine, parameter_groups, scaled_learning_rate, warmup_cosine
from spirograph.baselines.penalty import gradient_penalty
from spirograph.dataset import SPLITS, Spirograph
from spirograph.errors import CheckpointError, ConfigError, SpirographError, TrainingError
from spirograph.files import atomic_write, atomic_write_text, parse_json, read_json
from spirograph.render import NORMALIZE_MODES, Normalize, RenderSettings, check_settings
from spirograph.space import DEFAULT_TARGETS, ParameterSpace
from spirograph.transform import SpirographTransform

__all__ = [
    "BATCH_STATISTICS",
    "CHECKPOINT_FORMAT",
    "LR_SCHEDULES",
    "PRECISIONS",
    "TrainConfig",
    "TrainResult",
    "load_checkpoint",
    "load_encoder",
    "train",
]

CHECKPOINT_FORMAT = "spirograph.baselines.checkpoint/2"
"""The ``format`` entry of every checkpoint written by [`train()`][spirograph.baselines.train.train]."""

LAST_CHECKPOINT = "last.pt"

# Settings that may differ between a checkpoint and the run resuming it: they do not
# change what is computed.
_RESUME_FREE = frozenset(
    {
        "device",
        "checkpoint_dir",
        "keep_checkpoints",
        "checkpoint_every",
        "log_every",
        "progress",
        "time_limit",
        "channels_last",
        "cudnn_benchmark",
    }
)
_STREAM_NUISANCE, _STREAM_SIGNS = 1, 2


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


LR_SCHEDULES: tuple[str, ...] = ("capped-cosine", "warmup-cosine")
"""Learning-rate schedules: ``"capped-cosine"`` is the paper's released code (one rate per
epoch, [`capped_cosine()`][spirograph.baselines.optim.capped_cosine]); ``"warmup-cosine"`` changes the
rate every step, a linear warm-up to the full rate and a cosine over the remaining steps
([`warmup_cosine()`][spirograph.baselines.optim.warmup_cosine], SimCLR's convention)."""

BATCH_STATISTICS: tuple[str, ...] = ("per-view", "joint")
"""How the two views meet BatchNorm: ``"per-view"`` runs the encoder and the projection head
once per view of ``n`` images (the paper's released code); ``"joint"`` runs them once over
all ``2n`` views, mixing both views' statistics."""

PRECISIONS: tuple[str, ...] = ("float32", "bfloat16")
"""``"bfloat16"`` runs the encoder and the projection head under autocast; rendering, the
loss, the penalty's reductions and the optimizer stay in float32."""

LRSchedule = Literal["capped-cosine", "warmup-cosine"]
BatchStatistics = Literal["per-view", "joint"]
Precision = Literal["float32", "bfloat16"]

# torch.manual_seed and DistributedSampler (seed + epoch) take seeds below 2**64; numpy's SeedSequence any.
_SEED_MAX = 2**63 - 1
_POSITIVE_INTS = ("projection_dim", "penalty_samples", "epochs", "checkpoint_every", "log_every", "size", "n_points")
_BOOLS = (
    "penalty_normalize",
    "exclude_bias_and_norm",
    "drop_last",
    "channels_last",
    "cudnn_benchmark",
    "keep_checkpoints",
    "progress",
    "sync_batchnorm",
)
_CHOICES: dict[str, tuple[str, ...]] = {
    "encoder": tuple(sorted(ENCODERS)),
    "encoder_init": ENCODER_INITS,
    "lr_schedule": LR_SCHEDULES,
    "batch_statistics": BATCH_STATISTICS,
    "precision": PRECISIONS,
    "normalize": NORMALIZE_MODES,
}


@dataclass
class TrainConfig:
    """Everything that defines a training run, validated on construction.

    The defaults are the paper's Spirograph settings as its released code trains them
    (InvCLR, lambda = 1e-2, ResNet-18, batch 512, 50 epochs): the per-epoch capped cosine
    rate, LARS on every tensor, BatchNorm statistics per view, Kaiming fan-out
    initialisation, and the last smaller batch of each epoch kept. Set
    ``penalty_weight=0`` for the SimCLR baseline. ``docs/baselines.md`` tabulates these
    against the alternatives offered here.

    Args:
        encoder: a name of [`ENCODERS`][spirograph.baselines.encoders.ENCODERS].
        representation_dim: representation size; ``None`` takes the encoder's default.
        projection_dim: output size of the projection head.
        encoder_init: ``"kaiming-fan-out"`` (the released code) or ``"pytorch"``
            (PyTorch's default initialisation).
        temperature: NT-Xent temperature.
        penalty_weight: ``lambda``; 0 trains without the penalty (and skips computing it).
        penalty_samples: ``K`` extra nuisance draws per example.
        penalty_clamp: upper bound of the penalty (``None``: none).
        penalty_normalize: penalise the normalised representation ``h / ||h||``.
        batch_size: the global batch (examples; ``2 * batch_size`` views).
        epochs: passes over the training targets.
        warmup_epochs: epochs of the learning-rate ramp.
        lr_schedule: ``"capped-cosine"`` (the released code, one rate per epoch) or
            ``"warmup-cosine"`` (per step); see `LR_SCHEDULES`.
        base_lr: the learning rate is ``base_lr * batch_size / 256``.
        momentum: momentum of LARS's SGD.
        weight_decay: weight decay, added to the gradient before the trust ratio.
        trust_coefficient: ``eta`` of the LARS trust ratio.
        exclude_bias_and_norm: give biases and BatchNorm parameters plain SGD without
            weight decay (SimCLR's convention); ``False`` adapts and decays every tensor,
            as the released code does.
        batch_statistics: ``"per-view"`` (the released code) or ``"joint"``; see
            `BATCH_STATISTICS`.
        drop_last: drop the last, smaller batch of each epoch (the released code keeps it).
        n_train: train on the first ``n_train`` targets of the train split (``None``: all 100,000).
        targets: the target parameters; every other parameter is nuisance.
        normalize: the renderer's normalisation (``"row"``, the paper's, or ``"image"``).
        size: image size in pixels (renderer setting).
        n_points: points on each curve (renderer setting).
        precision: ``"float32"`` or ``"bfloat16"`` (autocast of the encoder and head).
        channels_last: run the encoder on channels-last tensors (faster convolutions on GPUs).
        cudnn_benchmark: let cuDNN time and pick its convolution algorithms (CUDA only).
        seed: seeds the initialisation and every draw; an int in ``[0, 2**63 - 1]``.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (CUDA when available).
            Under torchrun, ``"cuda"`` means the process's ``LOCAL_RANK`` device.
        time_limit: stop training cleanly after this many seconds (``None``: no limit); the
            result records how far it got.
        checkpoint_dir: where checkpoints go (``None``: none are written).
        keep_checkpoints: keep ``epoch_NNNN.pt`` files beside ``last.pt``.
        checkpoint_every: write a checkpoint every this many epochs (and after the last).
        log_every: steps between progress-bar updates and step records.
        progress: show a tqdm progress bar (rank 0 only).
        sync_batchnorm: under DistributedDataParallel on CUDA, synchronise BatchNorm
            statistics across processes.

    Raises:
        ConfigError: any invalid value, before anything is trained.

    Examples:
        >>> config = TrainConfig(encoder="small", batch_size=64, epochs=2, warmup_epochs=1, n_train=256)
        >>> TrainConfig.from_dict(config.to_dict()) == config
        True
    """

    encoder: str = "resnet18"
    representation_dim: int | None = None
    projection_dim: int = 128
    encoder_init: EncoderInit = "kaiming-fan-out"
    temperature: float = 0.5
    penalty_weight: float = 1e-2
    penalty_samples: int = 100
    penalty_clamp: float | None = 1000.0
    penalty_normalize: bool = True
    batch_size: int = 512
    epochs: int = 50
    warmup_epochs: int = 10
    lr_schedule: LRSchedule = "capped-cosine"
    base_lr: float = 1.5
    momentum: float = 0.9
    weight_decay: float = 1e-6
    trust_coefficient: float = 1e-3
    exclude_bias_and_norm: bool = False
    batch_statistics: BatchStatistics = "per-view"
    drop_last: bool = False
    n_train: int | None = None
    targets: tuple[str, ...] = DEFAULT_TARGETS
    normalize: Normalize = "row"
    size: int = 32
    n_points: int = 40
    precision: Precision = "float32"
    channels_last: bool = False
    cudnn_benchmark: bool = False
    seed: int = 0
    device: str = "cpu"
    time_limit: float | None = None
    checkpoint_dir: str | None = None
    keep_checkpoints: bool = False
    checkpoint_every: int = 1
    log_every: int = 50
    progress: bool = True
    sync_batchnorm: bool = True

    def __post_init__(self) -> None:
        _check_kinds(self)
        _check_ranges(self)
        check_settings(self.size, self.n_points, 6.0, self.normalize, where="TrainConfig", error=ConfigError)
        self.targets = tuple(self.targets)
        try:
            ParameterSpace(targets=self.targets)
        except SpirographError as error:
            raise ConfigError(f"TrainConfig: `targets` is invalid: {error}") from None
        _check_device(self)
        if self.checkpoint_dir is not None:
            self.checkpoint_dir = os.fspath(self.checkpoint_dir)

    # ------------------------------------------------------------------ derived values
    @property
    def learning_rate(self) -> float:
        """The scaled rate ``base_lr * batch_size / 256`` that the schedule is applied to."""
        return scaled_learning_rate(self.batch_size, self.base_lr)

    @property
    def render_settings(self) -> RenderSettings:
        """The renderer settings of the run's images: `size`, `n_points` and `normalize` (extent 6).

        Examples:
            >>> TrainConfig(size=16).render_settings
            RenderSettings(size=16, n_points=40, extent=6.0, normalize='row')
        """
        return RenderSettings(size=self.size, n_points=self.n_points, normalize=self.normalize)

    @property
    def space(self) -> ParameterSpace:
        """The parameter space with this run's target/nuisance split."""
        return ParameterSpace(targets=self.targets)

    def steps_per_epoch(self, world_size: int = 1) -> int:
        """Optimisation steps in one epoch (196 at the paper's settings: the last batch is kept)."""
        n = self.n_train if self.n_train is not None else SPLITS["train"].num_examples
        per_process = n // world_size if self.drop_last else -(-n // world_size)
        local_batch = self.batch_size // world_size
        return per_process // local_batch if self.drop_last else -(-per_process // local_batch)

    def epoch_learning_rate(self, epoch: int, step_in_epoch: int = 0, world_size: int = 1) -> float:
        """The rate of step ``step_in_epoch`` of ``epoch`` (both from 0) under this config's schedule."""
        if self.lr_schedule == "capped-cosine":
            return capped_cosine(
                epoch, epochs=self.epochs, warmup_epochs=self.warmup_epochs, base_lr=self.learning_rate
            )
        per_epoch = self.steps_per_epoch(world_size)
        return warmup_cosine(
            epoch * per_epoch + step_in_epoch,
            total_steps=self.epochs * per_epoch,
            warmup_steps=self.warmup_epochs * per_epoch,
            base_lr=self.learning_rate,
        )

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary of every setting."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["targets"] = list(self.targets)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Build from [`to_dict()`][spirograph.baselines.train.TrainConfig.to_dict]'s output; unknown keys raise
        [`ConfigError`][spirograph.errors.ConfigError]."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"TrainConfig.from_dict: `data` must be a mapping, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"TrainConfig.from_dict: unknown keys {unknown}; valid keys are {sorted(known)}")
        return cls(**dict(data))

    def to_json(self) -> str:
        """The settings as a JSON string (see `save` to write a file)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the settings as JSON to ``path``, atomically.

        Raises:
            ConfigError: ``path`` cannot be written (a folder, a read-only place).
        """
        try:
            return atomic_write_text(path, self.to_json() + "\n")
        except OSError as error:
            raise ConfigError(f"TrainConfig.save: cannot write `path` {os.fspath(path)!r}: {error}") from error

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        """Parse settings from a JSON string (never a path: see `load`)."""
        if not isinstance(text, str):
            raise ConfigError(f"TrainConfig.from_json: `text` must be a JSON string, got {type(text).__name__}")
        return cls.from_dict(parse_json(text, where="TrainConfig.from_json", what="`text`", error=ConfigError))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TrainConfig:
        """Read settings from a JSON file."""
        if not isinstance(path, (str, os.PathLike)):
            raise ConfigError(f"TrainConfig.load: `path` must be a path, got {type(path).__name__}")
        what = f"`path` {os.fspath(path)!r}"
        return cls.from_dict(read_json(path, where="TrainConfig.load", what=what, error=ConfigError))


def _fail(config: TrainConfig, name: str, expected: str) -> NoReturn:
    raise ConfigError(f"TrainConfig: `{name}` must be {expected}, got {getattr(config, name)!r}")


def _check_kinds(config: TrainConfig) -> None:
    """Types and choices of every field."""
    for name, choices in _CHOICES.items():
        if getattr(config, name) not in choices:
            _fail(config, name, f"one of {list(choices)}")
    for name in (*_POSITIVE_INTS, "batch_size", "seed", "warmup_epochs"):
        if not _is_int(getattr(config, name)):
            _fail(config, name, "an int")
    for name in _BOOLS:
        if not isinstance(getattr(config, name), bool):
            _fail(config, name, "a bool")
    for name in ("temperature", "penalty_weight", "base_lr", "momentum", "weight_decay", "trust_coefficient"):
        if not _is_number(getattr(config, name)):
            _fail(config, name, "a finite number")
    for name in ("penalty_clamp", "time_limit"):
        if getattr(config, name) is not None and not _is_number(getattr(config, name)):
            _fail(config, name, "a finite number or None")
    if isinstance(config.targets, str) or not isinstance(config.targets, (list, tuple)):
        _fail(config, "targets", "a list of parameter names")
    if not isinstance(config.device, str):
        _fail(config, "device", "a string such as 'cpu', 'cuda', 'cuda:0' or 'auto'")
    if config.checkpoint_dir is not None and not isinstance(config.checkpoint_dir, (str, os.PathLike)):
        _fail(config, "checkpoint_dir", "a path or None")


def _check_ranges(config: TrainConfig) -> None:
    """Values, once the types are right."""
    if config.representation_dim is not None:
        if not _is_int(config.representation_dim) or config.representation_dim < 1:
            _fail(config, "representation_dim", "an int >= 1 or None")
        if config.encoder == "resnet18" and config.representation_dim != 512:
            _fail(config, "representation_dim", "512 (or None) for encoder 'resnet18'")
    for name in _POSITIVE_INTS:
        if getattr(config, name) < 1:
            _fail(config, name, "an int >= 1")
    if config.batch_size < 2:
        _fail(config, "batch_size", "an int >= 2 (NT-Xent needs negatives and BatchNorm needs a batch)")
    if not 0 <= config.seed <= _SEED_MAX:
        _fail(config, "seed", f"an int in [0, {_SEED_MAX}]")
    if not 0 <= config.warmup_epochs <= config.epochs:
        _fail(config, "warmup_epochs", f"an int in [0, epochs={config.epochs}]")
    for name, low in (("temperature", 0.0), ("trust_coefficient", 0.0), ("penalty_clamp", 0.0), ("time_limit", 0.0)):
        if getattr(config, name) is not None and getattr(config, name) <= low:
            _fail(config, name, f"a number > {low:g}")
    for name in ("penalty_weight", "base_lr", "momentum", "weight_decay"):
        if getattr(config, name) < 0:
            _fail(config, name, "a number >= 0")
    full = SPLITS["train"].num_examples
    if config.n_train is not None and (not _is_int(config.n_train) or not config.batch_size <= config.n_train <= full):
        _fail(config, "n_train", f"None or an int in [batch_size={config.batch_size}, {full}]")
    n = config.n_train if config.n_train is not None else full
    if config.batch_size > n:  # the same rule with or without n_train: a batch never exceeds the examples
        _fail(config, "batch_size", f"an int in [2, {n}] (the training examples)")
    if not config.drop_last and n % config.batch_size == 1:
        _fail(config, "n_train", f"a count whose last batch of {config.batch_size} holds more than one example")


def _check_device(config: TrainConfig) -> None:
    if config.device != "auto":
        try:
            torch.device(config.device)
        except (RuntimeError, ValueError):
            _fail(config, "device", "'cpu', 'cuda', 'cuda:N' or 'auto'")
    cuda = _is_cuda_name(config.device) and torch.cuda.is_available()
    if config.precision == "bfloat16" and cuda and not torch.cuda.is_bf16_supported():
        _fail(config, "precision", f"'float32' on {torch.cuda.get_device_name()}, which lacks bfloat16")


def _is_cuda_name(device: str) -> bool:
    return device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())


@dataclass
class TrainResult:
    """What [`train()`][spirograph.baselines.train.train] returns.

    Attributes:
        encoder: the trained encoder (unwrapped, eval mode, on the training device).
        head: the trained projection head.
        config: the run's configuration.
        history: one record per epoch (mean loss, NT-Xent, penalty, the learning rates
            used, time); an epoch cut short by ``time_limit`` has ``"complete": False``.
        steps: one record every ``log_every`` steps, with the learning rate of that step.
        checkpoint: the last checkpoint written, if any.
        wall_time: seconds spent in this call.
        stopped_early: ``True`` when ``time_limit`` ended training before the last step.
        steps_done: optimisation steps taken, over all calls (resumed runs included).
        steps_total: steps a complete run takes.
    """

    encoder: nn.Module
    head: nn.Module
    config: TrainConfig
    history: list[dict[str, Any]]
    steps: list[dict[str, Any]]
    checkpoint: Path | None
    wall_time: float
    stopped_early: bool = False
    steps_done: int = 0
    steps_total: int = 0


class _ContrastiveModel(nn.Module):
    """Encoder and projection head as one module, so one DDP wrapper covers both.

    ``per_view`` runs both once per view, so BatchNorm normalises each view by its own
    statistics; otherwise one pass covers both views.
    """

    def __init__(self, encoder: nn.Module, head: nn.Module, *, per_view: bool) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.per_view = per_view

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Features of the first view and projections of both: ``(n, d), (n, p), (n, p)``."""
        if self.per_view:
            features = self.encoder(first)
            return features, self.head(features), self.head(self.encoder(second))
        n = first.shape[0]
        features = self.encoder(torch.cat([first, second]))
        z = self.head(features)
        return features[:n], z[:n], z[n:]


def _build_model(config: TrainConfig) -> _ContrastiveModel:
    # Seeded initialisation that leaves torch's global generator as it was.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        encoder = build_encoder(
            config.encoder,  # type: ignore[arg-type]
            representation_dim=config.representation_dim,
            init=config.encoder_init,
        )
        dim = cast(int, encoder.representation_dim)
        head = ProjectionHead(dim, dim, config.projection_dim)
    return _ContrastiveModel(encoder, head, per_view=config.batch_statistics == "per-view")


def _derived_seed(seed: int, epoch: int, rank: int, stream: int) -> int:
    return int(np.random.SeedSequence([seed, epoch, rank, stream]).generate_state(1, dtype=np.uint64)[0] >> 1)


def load_checkpoint(path: str | os.PathLike[str], *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and check a checkpoint written by [`train()`][spirograph.baselines.train.train].

    The file is read with ``torch.load(weights_only=True)``: it holds only tensors,
    numbers and strings (the configuration and history are JSON strings).

    Args:
        path: the checkpoint file.
        map_location: where to load the tensors.

    Returns:
        The checkpoint dictionary with ``"config"`` parsed into a
        [`TrainConfig`][spirograph.baselines.train.TrainConfig]
        and ``"history"`` / ``"steps"`` into lists.

    Raises:
        CheckpointError: the file is missing, unreadable, corrupt or not a checkpoint of
            this package.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"load_checkpoint: `path` must be an existing checkpoint file, got {str(path)!r}")
    _check_integrity(path)
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises many types for corrupt files
        raise CheckpointError(
            f"load_checkpoint: {str(path)!r} is not a readable checkpoint ({type(error).__name__}: {error})"
        ) from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(
            f"load_checkpoint: {str(path)!r} must be a checkpoint with format {CHECKPOINT_FORMAT!r}, got {found!r}"
        )
    missing = [
        k for k in ("config", "epoch", "step", "encoder", "head", "optimizer", "history", "steps") if k not in data
    ]
    if missing:
        raise CheckpointError(f"load_checkpoint: {str(path)!r} is incomplete: missing {missing}")
    for key in ("config", "history", "steps"):
        if not isinstance(data[key], str):
            raise CheckpointError(
                f"load_checkpoint: {str(path)!r} entry {key!r} must be a JSON string, got {type(data[key]).__name__}"
            )
    try:
        data["config"] = TrainConfig.from_json(data["config"])
    except ConfigError as error:
        raise CheckpointError(
            f"load_checkpoint: {str(path)!r} has an invalid configuration or history: {error}"
        ) from None
    for key in ("history", "steps"):
        what = f"entry {key!r} of {str(path)!r}"
        data[key] = parse_json(data[key], where="load_checkpoint", what=what, error=CheckpointError)
        if not isinstance(data[key], list) or not all(isinstance(record, dict) for record in data[key]):
            raise CheckpointError(f"load_checkpoint: {what} must be a JSON list of records")
    for key in ("epoch", "step"):
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise CheckpointError(
                f"load_checkpoint: {str(path)!r} entry {key!r} must be an int >= 0, got {type(value).__name__} "
                f"{value!r:.40}"
            )
    if data["epoch"] > data["config"].epochs:
        raise CheckpointError(
            f"load_checkpoint: {str(path)!r} entry 'epoch' must be at most its configuration's "
            f"{data['config'].epochs} epochs, got {data['epoch']}"
        )
    return data


def _check_integrity(path: Path) -> None:
    """Check every member of the checkpoint's zip container against its stored CRC-32.

    ``torch.load`` does not: a flipped byte in a tensor's storage loads as a changed weight.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise CheckpointError(f"load_checkpoint: {str(path)!r} is not an intact checkpoint file: {error}") from None
    if bad is not None:
        raise CheckpointError(
            f"load_checkpoint: {str(path)!r} is corrupt: member {bad!r} does not match its CRC-32 checksum"
        )


def load_encoder(
    checkpoint: str | os.PathLike[str] | Mapping[str, Any], *, map_location: str | torch.device = "cpu"
) -> nn.Module:
    """Rebuild the trained encoder from a checkpoint (eval mode).

    Args:
        checkpoint: a checkpoint path or the dictionary
            [`load_checkpoint()`][spirograph.baselines.train.load_checkpoint] returned.
        map_location: where to put the weights.

    Returns:
        The encoder, with ``representation_dim`` set.

    Raises:
        CheckpointError: unreadable file, or weights that do not fit the configured encoder.
    """
    data = checkpoint if isinstance(checkpoint, Mapping) else load_checkpoint(checkpoint, map_location=map_location)
    config = data.get("config")
    if not isinstance(config, TrainConfig):
        raise CheckpointError("load_encoder: `checkpoint` must come from load_checkpoint (no parsed 'config' entry)")
    model = _build_model(config)
    try:
        model.encoder.load_state_dict(data["encoder"])
    except (RuntimeError, KeyError, TypeError) as error:
        raise CheckpointError(f"load_encoder: the weights do not fit encoder {config.encoder!r}: {error}") from None
    return model.encoder.to(map_location).eval()


# ---------------------------------------------------------------------- distributed helpers
@dataclass
class _Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def _setup_distributed(config: TrainConfig) -> _Dist:
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if dist.is_available() and dist.is_initialized():
        return _Dist(dist.get_rank(), dist.get_world_size(), local_rank, False)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        if not dist.is_available():
            raise ConfigError("train: WORLD_SIZE > 1 but torch.distributed is not available in this build")
        backend = "nccl" if config.device != "cpu" and torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
        return _Dist(dist.get_rank(), dist.get_world_size(), local_rank, True)
    return _Dist()


def _resolve_device(config: TrainConfig, ctx: _Dist) -> torch.device:
    name = config.device
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"train: `device` {config.device!r} needs CUDA, which is not available")
        if device.index is None:
            device = torch.device("cuda", ctx.local_rank if ctx.enabled else torch.cuda.current_device())
        torch.cuda.set_device(device)
    return device


class _GatherWithGradient(torch.autograd.Function):
    """All-gather along dim 0 whose backward sums the gradients of every process's copy."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        ctx.rank, ctx.world_size = dist.get_rank(), dist.get_world_size()
        parts = [torch.empty_like(tensor) for _ in range(ctx.world_size)]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        # Every process computes the same global loss; DDP later averages the weight
        # gradients, so the sum here makes the result the single-process gradient.
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad.chunk(ctx.world_size)[ctx.rank]


def _gather(tensor: torch.Tensor, ctx: _Dist) -> torch.Tensor:
    if not ctx.enabled:
        return tensor
    return cast(torch.Tensor, _GatherWithGradient.apply(tensor))


def _check_resumable(saved: TrainConfig, config: TrainConfig, path: Path) -> None:
    a, b = saved.to_dict(), config.to_dict()
    changed = sorted(k for k in a if k not in _RESUME_FREE and a[k] != b[k])
    if changed:
        details = ", ".join(f"{k}: {a[k]!r} -> {b[k]!r}" for k in changed)
        raise CheckpointError(f"train: checkpoint {str(path)!r} was written by a different configuration ({details})")


# ---------------------------------------------------------------------- training
def train(
    config: TrainConfig, *, resume: bool = True, resume_from: str | os.PathLike[str] | None = None
) -> TrainResult:
    """Train an encoder with NT-Xent and (when ``penalty_weight > 0``) the gradient penalty.

    Each step renders two views of a batch of training targets on the device with fresh
    nuisance, runs the encoder and projection head (per view by default), and minimises
    ``NT-Xent + lambda P`` with LARS at the epoch's learning rate. On CUDA a step never
    waits for the device: losses are summed on it and read every ``log_every`` steps.

    Args:
        config: the run's settings.
        resume: continue from ``checkpoint_dir/last.pt`` when it exists.
        resume_from: continue from this checkpoint instead (its configuration must match
            ``config`` apart from device, paths, logging and speed settings).

    Returns:
        A [`TrainResult`][spirograph.baselines.train.TrainResult] (on every process under torchrun).

    Raises:
        ConfigError: an invalid configuration or an unavailable device.
        CheckpointError: a corrupt or foreign checkpoint, or one from another configuration.
        TrainingError: the loss became NaN or infinite.
    """
    if not isinstance(config, TrainConfig):
        raise ConfigError(f"train: `config` must be a TrainConfig, got {type(config).__name__}")
    start_time = time.perf_counter()
    ctx = _setup_distributed(config)
    try:
        run = _prepare(config, ctx, start_time)
        _restore(run, _resume_source(config, resume, resume_from))
        with _cuda_settings(config, run.device):
            _fit(run)
        run.model.eval()
        return TrainResult(
            encoder=run.model.encoder,
            head=run.model.head,
            config=config,
            history=run.history,
            steps=run.step_records,
            checkpoint=run.last_checkpoint,
            wall_time=time.perf_counter() - start_time,
            stopped_early=run.stopped_early,
            steps_done=run.step,
            steps_total=config.epochs * run.steps_per_epoch,
        )
    finally:
        if ctx.owns_group:
            dist.destroy_process_group()


@dataclass
class _Run:
    """One training run's state, read and updated by the named steps below."""

    config: TrainConfig
    ctx: _Dist
    device: torch.device
    targets: torch.Tensor  # (n_train, n_targets), on the training device
    sampler: DistributedSampler[Any]
    local_batch: int
    steps_per_epoch: int
    transform: SpirographTransform
    model: _ContrastiveModel
    optimizer: LARS
    signs: torch.Generator
    start_time: float
    net: nn.Module | None = None
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    step_records: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    start_epoch: int = 0
    step: int = 0
    last_checkpoint: Path | None = None
    stopped_early: bool = False
    nonfinite_step: torch.Tensor | None = None  # () long on the device: first step with a non-finite loss, or -1


def _prepare(config: TrainConfig, ctx: _Dist, start_time: float) -> _Run:
    """Build the data, model, optimizer and generators of a run."""
    if config.batch_size % ctx.world_size:
        raise ConfigError(
            f"train: `batch_size` must be divisible by the number of processes ({ctx.world_size}), "
            f"got {config.batch_size}"
        )
    device = _resolve_device(config, ctx)
    dataset = Spirograph(
        "train", mode="targets", subset=config.n_train, space=config.space, settings=config.render_settings
    )
    local_batch = config.batch_size // ctx.world_size
    sampler: DistributedSampler[Any] = DistributedSampler(
        dataset, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=config.seed, drop_last=config.drop_last
    )
    full, last = divmod(len(sampler), local_batch)
    steps_per_epoch = full if config.drop_last else full + (last > 0)
    if steps_per_epoch == 0:
        raise ConfigError(
            f"train: `n_train` ({len(dataset)}) gives no full batch of {local_batch} per process ({ctx.world_size})"
        )
    if not config.drop_last and last == 1:
        raise ConfigError(
            f"train: the last batch of each epoch would hold one example per process (n_train={len(dataset)}, "
            f"{ctx.world_size} processes); BatchNorm needs two: change `n_train` or set `drop_last`"
        )
    model = _build_model(config).to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    optimizer = LARS(
        parameter_groups(model, weight_decay=config.weight_decay, exclude_bias_and_norm=config.exclude_bias_and_norm),
        lr=config.learning_rate,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
        trust_coefficient=config.trust_coefficient,
    )
    transform = SpirographTransform(config.space, settings=config.render_settings, seed=config.seed)
    return _Run(
        config=config,
        ctx=ctx,
        device=device,
        targets=dataset.targets.to(device),
        sampler=sampler,
        local_batch=local_batch,
        steps_per_epoch=steps_per_epoch,
        transform=transform,
        model=model,
        optimizer=optimizer,
        signs=torch.Generator(device=device),
        start_time=start_time,
    )


def _resume_source(config: TrainConfig, resume: bool, resume_from: str | os.PathLike[str] | None) -> Path | None:
    if resume_from is not None:
        return Path(resume_from)
    if resume and config.checkpoint_dir is not None and (Path(config.checkpoint_dir) / LAST_CHECKPOINT).exists():
        return Path(config.checkpoint_dir) / LAST_CHECKPOINT
    return None


def _restore(run: _Run, source: Path | None) -> None:
    """Load the weights, optimizer state and history of ``source``, then wrap for DDP."""
    if source is not None:
        saved = load_checkpoint(source, map_location=run.device)
        _check_resumable(saved["config"], run.config, source)
        try:
            run.model.encoder.load_state_dict(saved["encoder"])
            run.model.head.load_state_dict(saved["head"])
            run.optimizer.load_state_dict(saved["optimizer"])
        except (RuntimeError, KeyError, ValueError) as error:
            raise CheckpointError(f"train: checkpoint {str(source)!r} does not fit this model: {error}") from None
        run.start_epoch = int(saved["epoch"])
        run.step = run.start_epoch * run.steps_per_epoch
        run.history, run.step_records = list(saved["history"]), list(saved["steps"])
        if run.config.checkpoint_dir is not None and source.parent == Path(run.config.checkpoint_dir):
            run.last_checkpoint = source
    net: nn.Module = run.model
    if run.ctx.enabled:
        if run.config.sync_batchnorm and run.device.type == "cuda":
            net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
        net = nn.parallel.DistributedDataParallel(net, device_ids=[run.device] if run.device.type == "cuda" else None)
    run.net = net
    run.nonfinite_step = torch.full((), -1, dtype=torch.long, device=run.device)


@contextlib.contextmanager
def _cuda_settings(config: TrainConfig, device: torch.device) -> Iterator[None]:
    """cuDNN's algorithm search for this run only."""
    if device.type != "cuda":
        yield
        return
    previous = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = config.cudnn_benchmark
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = previous


def _fit(run: _Run) -> None:
    """Every remaining epoch, with a checkpoint after each complete one as configured."""
    config = run.config
    bar = tqdm(
        total=config.epochs * run.steps_per_epoch,
        initial=run.step,
        disable=not (config.progress and run.ctx.main),
        desc="invclr" if config.penalty_weight > 0 else "simclr",
        unit="step",
        dynamic_ncols=True,
    )
    run.net.train()  # type: ignore[union-attr]
    try:
        for epoch in range(run.start_epoch, config.epochs):
            if not _train_epoch(run, epoch, bar):
                run.stopped_early = True
                break
            done = epoch + 1
            if config.checkpoint_dir is not None and (done % config.checkpoint_every == 0 or done == config.epochs):
                _save_checkpoint(run, done)
    finally:
        bar.close()


def _train_epoch(run: _Run, epoch: int, bar: tqdm[Any]) -> bool:
    """One epoch; ``False`` when the time limit cut it short."""
    config = run.config
    run.sampler.set_epoch(epoch)
    run.transform.generator(run.device).manual_seed(_derived_seed(config.seed, epoch, run.ctx.rank, _STREAM_NUISANCE))
    run.signs.manual_seed(_derived_seed(config.seed, epoch, run.ctx.rank, _STREAM_SIGNS))
    sums = torch.zeros(3, dtype=torch.float64, device=run.device)  # loss, nt-xent, penalty; summed on the device
    rates: list[float] = []
    examples = 0
    epoch_start = time.perf_counter()
    complete = True
    for index, targets in enumerate(_epoch_batches(run)):
        lr = config.epoch_learning_rate(epoch, index, run.ctx.world_size)
        for group in run.optimizer.param_groups:
            group["lr"] = lr
        values = _train_step(run, targets)
        run.step += 1
        rates.append(lr)
        examples += targets.shape[0] * run.ctx.world_size
        sums += values
        if run.step % config.log_every == 0 or run.step == config.epochs * run.steps_per_epoch:
            _log_step(run, values, lr, epoch, bar)
        bar.update(1)
        if _out_of_time(run):
            complete = False
            break
    if run.ctx.enabled:
        dist.all_reduce(sums)  # gloo and nccl both reduce float64 CPU/GPU tensors
        sums /= run.ctx.world_size
    _check_finite(run)
    means = [value / max(len(rates), 1) for value in sums.tolist()]
    _record_epoch(run, epoch, means, rates, examples, time.perf_counter() - epoch_start, complete)
    return complete


def _epoch_batches(run: _Run) -> Iterator[torch.Tensor]:
    """This process's target batches of the epoch, indexed on the device: ``(local_batch, n_targets)``."""
    order = torch.tensor(list(run.sampler), dtype=torch.long).to(run.device, non_blocking=True)
    for index in range(run.steps_per_epoch):
        yield run.targets.index_select(0, order[index * run.local_batch : (index + 1) * run.local_batch])


def _train_step(run: _Run, targets: torch.Tensor) -> torch.Tensor:
    """One optimisation step; returns ``(loss, nt_xent, penalty)`` as a float64 tensor on the device."""
    config, ctx = run.config, run.ctx
    n = targets.shape[0]
    use_penalty = config.penalty_weight > 0
    alpha1 = run.transform.sample_nuisance(n, device=run.device, dtype=targets.dtype)
    alpha2 = run.transform.sample_nuisance(n, device=run.device, dtype=targets.dtype)
    alpha1.requires_grad_(use_penalty)
    first, second = run.transform.render(targets, alpha1), run.transform.render(targets, alpha2)
    if config.channels_last:
        first, second = (
            first.contiguous(memory_format=torch.channels_last),
            second.contiguous(memory_format=torch.channels_last),
        )
    with torch.autocast(run.device.type, dtype=torch.bfloat16, enabled=config.precision == "bfloat16"):
        features, z1, z2 = cast(nn.Module, run.net)(first, second)
    # The loss, the penalty's reductions and the optimizer work in float32.
    features, z1, z2 = features.float(), z1.float(), z2.float()
    contrastive = nt_xent(_gather(z1, ctx), _gather(z2, ctx), temperature=config.temperature)
    loss, penalty = contrastive, torch.zeros((), device=run.device)
    if use_penalty:
        penalty = gradient_penalty(
            features,
            alpha1,
            partial(run.transform.sample_nuisance, device=run.device),
            n_samples=config.penalty_samples,
            normalize=config.penalty_normalize,
            clamp=config.penalty_clamp,
            generator=run.signs,
        )
        loss = contrastive + config.penalty_weight * penalty
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    run.optimizer.step()
    values = torch.stack([loss.detach(), contrastive.detach(), penalty.detach()]).double()
    nonfinite = ~torch.isfinite(values[0]) & (cast(torch.Tensor, run.nonfinite_step) < 0)
    run.nonfinite_step = torch.where(nonfinite, run.step + 1, cast(torch.Tensor, run.nonfinite_step))
    return values


def _log_step(run: _Run, values: torch.Tensor, lr: float, epoch: int, bar: tqdm[Any]) -> None:
    """A step record and the progress bar's numbers (the only host read between epochs)."""
    _check_finite(run)
    loss, contrastive, penalty = values.tolist()
    record = {
        "step": run.step,
        "epoch": epoch + 1,
        "lr": lr,
        "loss": loss,
        "nt_xent": contrastive,
        "penalty": penalty if run.config.penalty_weight > 0 else None,
    }
    run.step_records.append(record)
    bar.set_postfix({k: f"{record[k]:.4g}" for k in ("loss", "nt_xent", "penalty") if record[k] is not None})


def _check_finite(run: _Run) -> None:
    step = int(cast(torch.Tensor, run.nonfinite_step))
    if step >= 0:
        epoch = (step - 1) // run.steps_per_epoch + 1
        raise TrainingError(f"train: the loss became NaN or infinite at step {step} (epoch {epoch})")


def _out_of_time(run: _Run) -> bool:
    limit = run.config.time_limit
    if limit is None:
        return False
    over = time.perf_counter() - run.start_time > limit
    if run.ctx.enabled:  # every process stops at the same step
        flag = torch.tensor(float(over), device=run.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        over = bool(flag.item())
    return over


def _record_epoch(
    run: _Run, epoch: int, means: list[float], rates: list[float], examples: int, seconds: float, complete: bool
) -> None:
    loss, contrastive, penalty = means
    run.history.append(
        {
            "epoch": epoch + 1,
            "step": run.step,
            "lr": rates[0] if rates else None,
            "lr_last": rates[-1] if rates else None,
            "loss": loss,
            "nt_xent": contrastive,
            "penalty": penalty if run.config.penalty_weight > 0 else None,
            "seconds": seconds,
            "images_per_second": 2 * examples / seconds,
            "complete": complete,
        }
    )


def _save_checkpoint(run: _Run, done: int) -> None:
    """Write ``last.pt`` (and ``epoch_NNNN.pt`` when kept) after epoch ``done``; rank 0 writes."""
    checkpoint_dir = Path(cast(str, run.config.checkpoint_dir))
    if run.ctx.main:
        state = {
            "format": CHECKPOINT_FORMAT,
            "spirograph_version": __version__,
            "config": run.config.to_json(),
            "epoch": done,
            "step": run.step,
            "encoder": run.model.encoder.state_dict(),
            "head": run.model.head.state_dict(),
            "optimizer": run.optimizer.state_dict(),
            "history": json.dumps(run.history),
            "steps": json.dumps(run.step_records),
        }
        if run.config.keep_checkpoints:
            atomic_write(checkpoint_dir / f"epoch_{done:04d}.pt", partial(torch.save, state))
        atomic_write(checkpoint_dir / LAST_CHECKPOINT, partial(torch.save, state))
    run.last_checkpoint = checkpoint_dir / LAST_CHECKPOINT
    if run.ctx.enabled:
        dist.barrier()


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m spirograph.baselines CONFIG.json [--device D] [--checkpoint-dir P]``."""
    parser = argparse.ArgumentParser(
        prog="python -m spirograph.baselines", description="Train an encoder from a TrainConfig JSON file."
    )
    parser.add_argument("config", help="a JSON file of TrainConfig settings")
    parser.add_argument("--device", help="override the configured device")
    parser.add_argument("--checkpoint-dir", help="override the configured checkpoint directory")
    parser.add_argument("--time-limit", type=float, help="stop training cleanly after this many seconds")
    parser.add_argument("--quiet", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    overrides: dict[str, Any] = {}
    if args.device:
        overrides["device"] = args.device
    if args.checkpoint_dir:
        overrides["checkpoint_dir"] = args.checkpoint_dir
    if args.time_limit is not None:
        overrides["time_limit"] = args.time_limit
    if args.quiet:
        overrides["progress"] = False
    try:
        config = TrainConfig.load(args.config)
        config = TrainConfig.from_dict({**config.to_dict(), **overrides})
        result = train(config)
    except SpirographError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2 if isinstance(error, ConfigError) else 1
    if int(os.environ.get("RANK", "0")) == 0:
        summary = {
            "checkpoint": str(result.checkpoint) if result.checkpoint else None,
            "stopped_early": result.stopped_early,
            "steps": f"{result.steps_done}/{result.steps_total}",
            "history": result.history[-1:],
        }
        print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":  # `python -m spirograph.baselines` is the documented command
    sys.exit(main())
