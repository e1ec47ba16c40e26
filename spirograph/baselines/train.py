"""Contrastive training with the InvCLR gradient penalty on Spirograph.

Each step takes a batch of target parameters from ``Spirograph("train",
mode="targets")``, renders two views on the training device with fresh nuisance
([`spirograph.SpirographTransform`][spirograph.transform.SpirographTransform]), and minimises ``NT-Xent + lambda P``
([`nt_xent()`][spirograph.baselines.losses.nt_xent],
[`gradient_penalty()`][spirograph.baselines.penalty.gradient_penalty]) with LARS, a linear warm-up
and a cosine decay. ``penalty_weight=0`` is the plain SimCLR baseline.

Runs on one CPU, one GPU, or many processes under ``torchrun`` with
DistributedDataParallel::

    python -m spirograph.baselines.train config.json
    torchrun --nproc_per_node 4 -m spirograph.baselines.train config.json

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
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler
from tqdm.auto import tqdm

from spirograph._files import atomic_write, atomic_write_text
from spirograph._version import __version__
from spirograph.baselines.encoders import ENCODERS, build_encoder
from spirograph.baselines.losses import ProjectionHead, nt_xent
from spirograph.baselines.optim import LARS, parameter_groups, scaled_learning_rate, warmup_cosine
from spirograph.baselines.penalty import gradient_penalty
from spirograph.dataset import SPLITS, Spirograph
from spirograph.errors import CheckpointError, ConfigError, SpirographError
from spirograph.render import NORMALIZE_MODES, Normalize
from spirograph.space import DEFAULT_TARGETS, ParameterSpace
from spirograph.transform import SpirographTransform

__all__ = [
    "CHECKPOINT_FORMAT",
    "TrainConfig",
    "TrainResult",
    "load_checkpoint",
    "load_encoder",
    "train",
]

CHECKPOINT_FORMAT = "spirograph.baselines.checkpoint/1"
"""The ``format`` entry of every checkpoint written by [`train()`][spirograph.baselines.train.train]."""

LAST_CHECKPOINT = "last.pt"

# Settings that may differ between a checkpoint and the run resuming it: they do not
# change what is computed.
_RESUME_FREE = frozenset(
    {"device", "checkpoint_dir", "keep_checkpoints", "checkpoint_every", "log_every", "num_workers", "progress"}
)
_SEED_STREAMS = {"nuisance": 1, "signs": 2}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class TrainConfig:
    """Everything that defines a training run, validated on construction.

    The defaults are the paper's Spirograph settings (InvCLR, lambda = 1e-2); set
    ``penalty_weight=0`` for the SimCLR baseline.

    Args:
        encoder: a name of [`ENCODERS`][spirograph.baselines.encoders.ENCODERS].
        representation_dim: representation size; ``None`` takes the encoder's default.
        projection_dim: output size of the projection head.
        temperature: NT-Xent temperature.
        penalty_weight: ``lambda``; 0 trains without the penalty (and skips computing it).
        penalty_samples: ``K`` extra nuisance draws per example.
        penalty_clamp: upper bound of the penalty (``None``: none).
        penalty_normalize: penalise the normalised representation ``h / ||h||``.
        batch_size: the global batch (examples; ``2 * batch_size`` views).
        epochs: passes over the training targets.
        warmup_epochs: epochs of linear learning-rate warm-up.
        base_lr: the learning rate is ``base_lr * batch_size / 256``.
        momentum: of [`LARS`][spirograph.baselines.optim.LARS].
        weight_decay: of [`LARS`][spirograph.baselines.optim.LARS].
        trust_coefficient: of [`LARS`][spirograph.baselines.optim.LARS].
        exclude_bias_and_norm: biases and BatchNorm parameters get no weight decay and
            no trust ratio.
        n_train: train on the first ``n_train`` targets of the train split (``None``: all 100,000).
        targets: the target parameters; every other parameter is nuisance.
        normalize: the renderer's normalisation (``"row"``, the paper's, or ``"image"``).
        size: renderer settings.
        n_points: renderer settings.
        seed: seeds the initialisation and every draw.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (CUDA when available).
            Under torchrun, ``"cuda"`` means the process's ``LOCAL_RANK`` device.
        checkpoint_dir: where checkpoints go (``None``: none are written).
        keep_checkpoints: keep ``epoch_NNNN.pt`` files beside ``last.pt``.
        checkpoint_every: write a checkpoint every this many epochs (and after the last).
        log_every: steps between progress-bar updates and step records.
        num_workers: DataLoader workers.
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
    temperature: float = 0.5
    penalty_weight: float = 1e-2
    penalty_samples: int = 100
    penalty_clamp: float | None = 1000.0
    penalty_normalize: bool = True
    batch_size: int = 512
    epochs: int = 50
    warmup_epochs: int = 10
    base_lr: float = 1.5
    momentum: float = 0.9
    weight_decay: float = 1e-6
    trust_coefficient: float = 1e-3
    exclude_bias_and_norm: bool = True
    n_train: int | None = None
    targets: tuple[str, ...] = DEFAULT_TARGETS
    normalize: Normalize = "row"
    size: int = 32
    n_points: int = 40
    seed: int = 0
    device: str = "cpu"
    checkpoint_dir: str | None = None
    keep_checkpoints: bool = False
    checkpoint_every: int = 1
    log_every: int = 50
    num_workers: int = 0
    progress: bool = True
    sync_batchnorm: bool = True

    def __post_init__(self) -> None:
        where = "TrainConfig"

        def fail(name: str, expected: str) -> None:
            raise ConfigError(f"{where}: `{name}` must be {expected}, got {getattr(self, name)!r}")

        if self.encoder not in ENCODERS:
            raise ConfigError(f"{where}: `encoder` must be one of {sorted(ENCODERS)}, got {self.encoder!r}")
        if self.representation_dim is not None:
            if not _is_int(self.representation_dim) or self.representation_dim < 1:
                fail("representation_dim", "an int >= 1 or None")
            if self.encoder == "resnet18" and self.representation_dim != 512:
                fail("representation_dim", "512 (or None) for encoder 'resnet18'")
        for name in (
            "projection_dim",
            "penalty_samples",
            "epochs",
            "checkpoint_every",
            "log_every",
            "size",
            "n_points",
        ):
            if not _is_int(getattr(self, name)) or getattr(self, name) < 1:
                fail(name, "an int >= 1")
        if not _is_int(self.batch_size) or self.batch_size < 2:
            fail("batch_size", "an int >= 2 (NT-Xent needs negatives and BatchNorm needs a batch)")
        for name in ("warmup_epochs", "num_workers", "seed"):
            if not _is_int(getattr(self, name)) or getattr(self, name) < 0:
                fail(name, "an int >= 0")
        if self.warmup_epochs > self.epochs:
            fail("warmup_epochs", f"<= epochs ({self.epochs})")
        if not _is_number(self.temperature) or self.temperature <= 0:
            fail("temperature", "a number > 0")
        if not _is_number(self.penalty_weight) or self.penalty_weight < 0:
            fail("penalty_weight", "a number >= 0 (0 is the SimCLR baseline)")
        if self.penalty_clamp is not None and (not _is_number(self.penalty_clamp) or self.penalty_clamp <= 0):
            fail("penalty_clamp", "a number > 0 or None")
        for name in ("base_lr", "momentum", "weight_decay"):
            if not _is_number(getattr(self, name)) or getattr(self, name) < 0:
                fail(name, "a number >= 0")
        if not _is_number(self.trust_coefficient) or self.trust_coefficient <= 0:
            fail("trust_coefficient", "a number > 0")
        for name in ("penalty_normalize", "exclude_bias_and_norm", "keep_checkpoints", "progress", "sync_batchnorm"):
            if not isinstance(getattr(self, name), bool):
                fail(name, "a bool")
        full = SPLITS["train"].size
        if self.n_train is not None and (not _is_int(self.n_train) or not self.batch_size <= self.n_train <= full):
            fail("n_train", f"None or an int in [batch_size={self.batch_size}, {full}]")
        if self.normalize not in NORMALIZE_MODES:
            fail("normalize", f"one of {list(NORMALIZE_MODES)}")
        if isinstance(self.targets, str) or not isinstance(self.targets, (list, tuple)):
            fail("targets", "a list of parameter names")
        self.targets = tuple(self.targets)
        try:
            ParameterSpace(targets=self.targets)
        except SpirographError as error:
            raise ConfigError(f"{where}: `targets` is invalid: {error}") from None
        if not isinstance(self.device, str):
            fail("device", "a string such as 'cpu', 'cuda', 'cuda:0' or 'auto'")
        if self.device != "auto":
            try:
                torch.device(self.device)
            except (RuntimeError, ValueError):
                fail("device", "'cpu', 'cuda', 'cuda:N' or 'auto'")
        if self.checkpoint_dir is not None and not isinstance(self.checkpoint_dir, (str, os.PathLike)):
            fail("checkpoint_dir", "a path or None")
        if self.checkpoint_dir is not None:
            self.checkpoint_dir = os.fspath(self.checkpoint_dir)

    # ------------------------------------------------------------------ derived values
    @property
    def learning_rate(self) -> float:
        """The peak learning rate ``base_lr * batch_size / 256``."""
        return scaled_learning_rate(self.batch_size, self.base_lr)

    @property
    def space(self) -> ParameterSpace:
        """The parameter space with this run's target/nuisance split."""
        return ParameterSpace(targets=self.targets)

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

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """The settings as JSON; also written (atomically) to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True)
        if path is not None:
            atomic_write_text(path, text + "\n")
        return text

    @classmethod
    def from_json(cls, source: str | os.PathLike[str]) -> TrainConfig:
        """Read a JSON file (a path) or a JSON string starting with ``{``."""
        text = str(source)
        if not text.lstrip().startswith("{"):
            try:
                text = Path(source).read_text()
            except OSError as error:
                raise ConfigError(f"TrainConfig.from_json: cannot read `source` {str(source)!r}: {error}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(f"TrainConfig.from_json: `source` is not valid JSON: {error}") from None
        return cls.from_dict(data)


@dataclass
class TrainResult:
    """What [`train()`][spirograph.baselines.train.train] returns.

    Attributes:
        encoder: the trained encoder (unwrapped, eval mode, on the training device).
        head: the trained projection head.
        config: the run's configuration.
        history: one record per epoch (mean loss, NT-Xent, penalty, learning rate, time).
        steps: one record every ``log_every`` steps.
        checkpoint: the last checkpoint written, if any.
        wall_time: seconds spent in this call.
    """

    encoder: nn.Module
    head: nn.Module
    config: TrainConfig
    history: list[dict[str, Any]]
    steps: list[dict[str, Any]]
    checkpoint: Path | None
    wall_time: float


class _ContrastiveModel(nn.Module):
    """Encoder and projection head as one module, so one DDP wrapper covers both."""

    def __init__(self, encoder: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.encoder(images)
        return features, self.head(features)


def _build_model(config: TrainConfig) -> _ContrastiveModel:
    # Seeded initialisation that leaves torch's global generator as it was.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        encoder = build_encoder(config.encoder, representation_dim=config.representation_dim)  # type: ignore[arg-type]
        dim = cast(int, encoder.representation_dim)
        head = ProjectionHead(dim, dim, config.projection_dim)
    return _ContrastiveModel(encoder, head)


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
    try:
        data["config"] = TrainConfig.from_json(data["config"])
        data["history"] = json.loads(data["history"])
        data["steps"] = json.loads(data["steps"])
    except (ConfigError, TypeError, json.JSONDecodeError) as error:
        raise CheckpointError(
            f"load_checkpoint: {str(path)!r} has an invalid configuration or history: {error}"
        ) from None
    return data


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

    Args:
        config: the run's settings.
        resume: continue from ``checkpoint_dir/last.pt`` when it exists.
        resume_from: continue from this checkpoint instead (its configuration must match
            ``config`` apart from device, paths, logging and workers).

    Returns:
        A [`TrainResult`][spirograph.baselines.train.TrainResult] (on every process under torchrun).

    Raises:
        ConfigError: an invalid configuration or an unavailable device.
        CheckpointError: a corrupt or foreign checkpoint, or one from another configuration.
    """
    if not isinstance(config, TrainConfig):
        raise ConfigError(f"train: `config` must be a TrainConfig, got {type(config).__name__}")
    start_time = time.perf_counter()
    ctx = _setup_distributed(config)
    try:
        return _train(config, ctx, resume, resume_from, start_time)
    finally:
        if ctx.owns_group:
            dist.destroy_process_group()


def _train(
    config: TrainConfig, ctx: _Dist, resume: bool, resume_from: str | os.PathLike[str] | None, start_time: float
) -> TrainResult:
    if config.batch_size % ctx.world_size:
        raise ConfigError(
            f"train: `batch_size` must be divisible by the number of processes ({ctx.world_size}), "
            f"got {config.batch_size}"
        )
    device = _resolve_device(config, ctx)
    space = config.space
    dataset = Spirograph(
        "train", mode="targets", subset=config.n_train, space=space, normalize=config.normalize, size=config.size
    )
    local_batch = config.batch_size // ctx.world_size
    sampler: DistributedSampler[Any] = DistributedSampler(
        dataset, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=config.seed, drop_last=True
    )
    loader = DataLoader(
        dataset,
        batch_size=local_batch,
        sampler=sampler,
        drop_last=True,
        num_workers=config.num_workers,
        pin_memory=device.type == "cuda",
        persistent_workers=config.num_workers > 0,
        generator=torch.Generator().manual_seed(config.seed),  # worker seeds, not torch's global generator
    )
    steps_per_epoch = len(loader)
    if steps_per_epoch == 0:
        raise ConfigError(
            f"train: `n_train` ({len(dataset)}) gives no full batch of {local_batch} per process ({ctx.world_size})"
        )
    total_steps = config.epochs * steps_per_epoch
    warmup_steps = config.warmup_epochs * steps_per_epoch

    transform = SpirographTransform(
        space, size=config.size, n_points=config.n_points, normalize=config.normalize, seed=config.seed
    )
    model = _build_model(config).to(device)
    optimizer = LARS(
        parameter_groups(model, weight_decay=config.weight_decay, exclude_bias_and_norm=config.exclude_bias_and_norm),
        lr=config.learning_rate,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
        trust_coefficient=config.trust_coefficient,
    )

    history: list[dict[str, Any]] = []
    step_records: list[dict[str, Any]] = []
    start_epoch = 0
    checkpoint_dir = Path(config.checkpoint_dir) if config.checkpoint_dir is not None else None
    source: Path | None = Path(resume_from) if resume_from is not None else None
    if source is None and resume and checkpoint_dir is not None and (checkpoint_dir / LAST_CHECKPOINT).exists():
        source = checkpoint_dir / LAST_CHECKPOINT
    if source is not None:
        saved = load_checkpoint(source, map_location=device)
        _check_resumable(saved["config"], config, source)
        try:
            model.encoder.load_state_dict(saved["encoder"])
            model.head.load_state_dict(saved["head"])
            optimizer.load_state_dict(saved["optimizer"])
        except (RuntimeError, KeyError, ValueError) as error:
            raise CheckpointError(f"train: checkpoint {str(source)!r} does not fit this model: {error}") from None
        start_epoch = int(saved["epoch"])
        history, step_records = list(saved["history"]), list(saved["steps"])

    net: nn.Module = model
    if ctx.enabled:
        if config.sync_batchnorm and device.type == "cuda":
            net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
        net = nn.parallel.DistributedDataParallel(net, device_ids=[device] if device.type == "cuda" else None)
    signs = torch.Generator(device=device)
    step = start_epoch * steps_per_epoch
    last_checkpoint: Path | None = source if source is not None and source.parent == checkpoint_dir else None
    bar = tqdm(
        total=total_steps,
        initial=step,
        disable=not (config.progress and ctx.main),
        desc="invclr" if config.penalty_weight > 0 else "simclr",
        unit="step",
        dynamic_ncols=True,
    )

    def draw_nuisance(count: int) -> torch.Tensor:
        return transform.sample_nuisance(count, device=device)

    net.train()
    for epoch in range(start_epoch, config.epochs):
        sampler.set_epoch(epoch)
        transform.generator(device).manual_seed(_derived_seed(config.seed, epoch, ctx.rank, _SEED_STREAMS["nuisance"]))
        signs.manual_seed(_derived_seed(config.seed, epoch, ctx.rank, _SEED_STREAMS["signs"]))
        sums = torch.zeros(4, dtype=torch.float64)  # loss, nt-xent, penalty, batches
        epoch_start = time.perf_counter()
        lr = config.learning_rate
        for targets in loader:
            lr = warmup_cosine(step, total_steps=total_steps, warmup_steps=warmup_steps, base_lr=config.learning_rate)
            for group in optimizer.param_groups:
                group["lr"] = lr
            targets = targets.to(device, non_blocking=True)
            n = targets.shape[0]
            alpha1 = transform.sample_nuisance(n, device=device, dtype=targets.dtype)
            alpha2 = transform.sample_nuisance(n, device=device, dtype=targets.dtype)
            use_penalty = config.penalty_weight > 0
            alpha1.requires_grad_(use_penalty)
            images = torch.cat([transform.render(targets, alpha1), transform.render(targets, alpha2)])
            features, z = net(images)
            contrastive = nt_xent(_gather(z[:n], ctx), _gather(z[n:], ctx), temperature=config.temperature)
            loss = contrastive
            penalty_value = float("nan")
            if use_penalty:
                penalty = gradient_penalty(
                    features[:n],
                    alpha1,
                    draw_nuisance,
                    n_samples=config.penalty_samples,
                    normalize=config.penalty_normalize,
                    clamp=config.penalty_clamp,
                    generator=signs,
                )
                loss = contrastive + config.penalty_weight * penalty
                penalty_value = float(penalty.detach())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            values = (float(loss.detach()), float(contrastive.detach()), penalty_value)
            sums += torch.tensor([values[0], values[1], 0.0 if math.isnan(values[2]) else values[2], 1.0])
            if not math.isfinite(values[0]):
                raise FloatingPointError(f"train: the loss became {values[0]} at step {step} (epoch {epoch + 1})")
            if step % config.log_every == 0 or step == total_steps:
                record = {
                    "step": step,
                    "epoch": epoch + 1,
                    "lr": lr,
                    "loss": values[0],
                    "nt_xent": values[1],
                    "penalty": None if math.isnan(values[2]) else values[2],
                }
                step_records.append(record)
                bar.set_postfix(
                    {k: f"{v:.4g}" for k, v in record.items() if k in ("loss", "nt_xent", "penalty") and v is not None}
                )
            bar.update(1)
        if ctx.enabled:
            dist.all_reduce(sums)  # gloo and nccl both reduce float64 CPU/GPU tensors
        seconds = time.perf_counter() - epoch_start
        batches = max(float(sums[3]), 1.0)
        history.append(
            {
                "epoch": epoch + 1,
                "step": step,
                "lr": lr,
                "loss": float(sums[0]) / batches,
                "nt_xent": float(sums[1]) / batches,
                "penalty": float(sums[2]) / batches if config.penalty_weight > 0 else None,
                "seconds": seconds,
                "images_per_second": 2 * config.batch_size * steps_per_epoch / seconds,
            }
        )
        done = epoch + 1
        if checkpoint_dir is not None and (done % config.checkpoint_every == 0 or done == config.epochs):
            if ctx.main:
                state = {
                    "format": CHECKPOINT_FORMAT,
                    "spirograph_version": __version__,
                    "config": config.to_json(),
                    "epoch": done,
                    "step": step,
                    "encoder": model.encoder.state_dict(),
                    "head": model.head.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "history": json.dumps(history),
                    "steps": json.dumps(step_records),
                }
                if config.keep_checkpoints:
                    atomic_write(checkpoint_dir / f"epoch_{done:04d}.pt", partial(torch.save, state))
                atomic_write(checkpoint_dir / LAST_CHECKPOINT, partial(torch.save, state))
            last_checkpoint = checkpoint_dir / LAST_CHECKPOINT
            if ctx.enabled:
                dist.barrier()
    bar.close()
    model.eval()
    return TrainResult(
        encoder=model.encoder,
        head=model.head,
        config=config,
        history=history,
        steps=step_records,
        checkpoint=last_checkpoint,
        wall_time=time.perf_counter() - start_time,
    )


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m spirograph.baselines.train CONFIG.json [--device D] [--checkpoint-dir P]``."""
    parser = argparse.ArgumentParser(prog="python -m spirograph.baselines.train", description=__doc__.split("\n")[0])
    parser.add_argument("config", help="a JSON file of TrainConfig settings")
    parser.add_argument("--device", help="override the configured device")
    parser.add_argument("--checkpoint-dir", help="override the configured checkpoint directory")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    config = TrainConfig.from_json(Path(args.config))
    overrides: dict[str, Any] = {}
    if args.device:
        overrides["device"] = args.device
    if args.checkpoint_dir:
        overrides["checkpoint_dir"] = args.checkpoint_dir
    if args.no_progress:
        overrides["progress"] = False
    if overrides:
        config = TrainConfig.from_dict({**config.to_dict(), **overrides})
    result = train(config)
    if int(os.environ.get("RANK", "0")) == 0:
        summary = {"checkpoint": str(result.checkpoint) if result.checkpoint else None, "history": result.history[-1:]}
        print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
