"""Checkpoints of a training run: their format, writing, reading and checking.

A checkpoint is a ``torch.save`` zip of tensors, numbers and JSON strings (the configuration,
the history); [`load_checkpoint()`][spirograph.baselines.checkpoints.load_checkpoint] reads one
with ``weights_only=True`` after checking every member against its CRC-32.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spirograph._checks import is_int
from spirograph._version import __version__
from spirograph.baselines.config import TrainConfig
from spirograph.baselines.model import _build_model, _ContrastiveModel
from spirograph.errors import CheckpointError, ConfigError
from spirograph.files import atomic_write, parse_json

__all__ = [
    "CHECKPOINT_FORMAT",
    "load_checkpoint",
    "load_encoder",
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


def load_checkpoint(path: str | os.PathLike[str], *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and check a checkpoint written by [`train()`][spirograph.baselines.train.train].

    The file is read with ``torch.load(weights_only=True)``: it holds only tensors,
    numbers and strings (the configuration and history are JSON strings).

    Args:
        path: the checkpoint file.
        map_location: where to load the tensors.

    Returns:
        The checkpoint dictionary with ``"config"`` parsed into a
        [`TrainConfig`][spirograph.baselines.config.TrainConfig]
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
    _check_metadata(data, str(path))
    return data


def _check_metadata(data: dict[str, Any], path: str) -> None:
    """The history, step records and counters of a checkpoint: JSON lists of records, counts in range."""
    for key in ("history", "steps"):
        what = f"entry {key!r} of {path!r}"
        data[key] = parse_json(data[key], where="load_checkpoint", what=what, error=CheckpointError)
        if not isinstance(data[key], list) or not all(isinstance(record, dict) for record in data[key]):
            raise CheckpointError(f"load_checkpoint: {what} must be a JSON list of records")
    for key in ("epoch", "step"):
        value = data[key]
        if not is_int(value) or value < 0:
            raise CheckpointError(
                f"load_checkpoint: {path!r} entry {key!r} must be an int >= 0, got {type(value).__name__} {value!r:.40}"
            )
    if data["epoch"] > data["config"].epochs:
        raise CheckpointError(
            f"load_checkpoint: {path!r} entry 'epoch' must be at most its configuration's "
            f"{data['config'].epochs} epochs, got {data['epoch']}"
        )


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
            [`load_checkpoint()`][spirograph.baselines.checkpoints.load_checkpoint] returned.
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


def _resume_source(config: TrainConfig, resume: bool, resume_from: str | os.PathLike[str] | None) -> Path | None:
    if resume_from is not None:
        return Path(resume_from)
    if resume and config.checkpoint_dir is not None and (Path(config.checkpoint_dir) / LAST_CHECKPOINT).exists():
        return Path(config.checkpoint_dir) / LAST_CHECKPOINT
    return None


def _check_resumable(saved: TrainConfig, config: TrainConfig, path: Path) -> None:
    a, b = saved.to_dict(), config.to_dict()
    changed = sorted(k for k in a if k not in _RESUME_FREE and a[k] != b[k])
    if changed:
        details = ", ".join(f"{k}: {a[k]!r} -> {b[k]!r}" for k in changed)
        raise CheckpointError(f"train: checkpoint {str(path)!r} was written by a different configuration ({details})")


def _write_checkpoint(
    directory: Path,
    *,
    config: TrainConfig,
    epoch: int,
    step: int,
    model: _ContrastiveModel,
    optimizer: torch.optim.Optimizer,
    history: list[dict[str, Any]],
    steps: list[dict[str, Any]],
) -> None:
    """Write ``last.pt`` (and ``epoch_NNNN.pt`` when ``config.keep_checkpoints``) after epoch ``epoch``."""
    state = {
        "format": CHECKPOINT_FORMAT,
        "spirograph_version": __version__,
        "config": config.to_json(),
        "epoch": epoch,
        "step": step,
        "encoder": model.encoder.state_dict(),
        "head": model.head.state_dict(),
        "optimizer": optimizer.state_dict(),
        "history": json.dumps(history),
        "steps": json.dumps(steps),
    }
    if config.keep_checkpoints:
        atomic_write(directory / f"epoch_{epoch:04d}.pt", partial(torch.save, state))
    atomic_write(directory / LAST_CHECKPOINT, partial(torch.save, state))
