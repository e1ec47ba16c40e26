"""The configuration of a training run and its checks.

[`TrainConfig`][spirograph.baselines.config.TrainConfig] holds every setting of a run of
[`train()`][spirograph.baselines.train.train], checks them all on construction and reads and
writes them as JSON; the tuples below name the options of its string settings.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn

import torch

from spirograph._checks import is_int, is_number
from spirograph.baselines.encoders import ENCODER_INITS, ENCODERS, EncoderInit
from spirograph.baselines.optim import capped_cosine, scaled_learning_rate, warmup_cosine
from spirograph.dataset import SPLITS
from spirograph.errors import ConfigError, SpirographError
from spirograph.files import atomic_write_text, parse_json, read_json
from spirograph.render import NORMALIZE_MODES, Normalize, RenderSettings, check_settings
from spirograph.space import DEFAULT_TARGETS, ParameterSpace

__all__ = [
    "BATCH_STATISTICS",
    "LR_SCHEDULES",
    "PRECISIONS",
    "TrainConfig",
]


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
        """Build from [`to_dict()`][spirograph.baselines.config.TrainConfig.to_dict]'s output; unknown keys raise
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
        if not is_int(getattr(config, name)):
            _fail(config, name, "an int")
    for name in _BOOLS:
        if not isinstance(getattr(config, name), bool):
            _fail(config, name, "a bool")
    for name in ("temperature", "penalty_weight", "base_lr", "momentum", "weight_decay", "trust_coefficient"):
        if not is_number(getattr(config, name), finite=True):
            _fail(config, name, "a finite number")
    for name in ("penalty_clamp", "time_limit"):
        if getattr(config, name) is not None and not is_number(getattr(config, name), finite=True):
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
        if not is_int(config.representation_dim) or config.representation_dim < 1:
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
    if config.n_train is not None and (not is_int(config.n_train) or not config.batch_size <= config.n_train <= full):
        _fail(config, "n_train", f"None or an int in [batch_size={config.batch_size}, {full}]")
    n = config.n_train if config.n_train is not None else full
    if config.batch_size > n:  # the same rule with or without n_train: a batch never exceeds the examples
        _fail(config, "batch_size", f"an int in [2, {n}] (the training examples)")
    if not config.drop_last and n % config.batch_size == 1:
        _fail(config, "n_train", f"a count whose last batch of {config.batch_size} holds more than one example")


def _check_device(config: TrainConfig) -> None:
    if config.device != "auto":
        try:
            kind = torch.device(config.device).type
        except (RuntimeError, ValueError):
            kind = ""
        if kind in ("", "meta"):  # the meta device holds no data: nothing could train on it
            _fail(config, "device", "'cpu', 'cuda', 'cuda:N' or 'auto'")
    cuda = _is_cuda_name(config.device) and torch.cuda.is_available()
    if config.precision == "bfloat16" and cuda and not torch.cuda.is_bf16_supported():
        _fail(config, "precision", f"'float32' on {torch.cuda.get_device_name()}, which lacks bfloat16")


def _is_cuda_name(device: str) -> bool:
    return device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
