"""Contrastive training with the InvCLR gradient penalty on Spirograph.

Each step takes a batch of target parameters of the train split (held on the training
device), renders two views there with fresh nuisance
([`SpirographTransform`][spirograph.transform.SpirographTransform]), and minimises
``NT-Xent + lambda P`` ([`nt_xent()`][spirograph.baselines.losses.nt_xent],
[`gradient_penalty()`][spirograph.baselines.penalty.gradient_penalty]) with LARS. The defaults
train what the paper's released code trains (see
[`TrainConfig`][spirograph.baselines.config.TrainConfig]); ``penalty_weight=0`` is the plain
SimCLR baseline.

Runs on one CPU, one GPU, or many processes under ``torchrun`` with
DistributedDataParallel:

```bash
python -m spirograph.baselines config.json
torchrun --nproc_per_node 4 -m spirograph.baselines config.json
```

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
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DistributedSampler
from tqdm.auto import tqdm

from spirograph.baselines.checkpoints import (
    CHECKPOINT_FORMAT,
    LAST_CHECKPOINT,
    _check_resumable,
    _resume_source,
    _write_checkpoint,
    load_checkpoint,
    load_encoder,
)
from spirograph.baselines.config import BATCH_STATISTICS, LR_SCHEDULES, PRECISIONS, TrainConfig
from spirograph.baselines.distributed import _Dist, _gather, _resolve_device, _setup_distributed
from spirograph.baselines.losses import nt_xent
from spirograph.baselines.model import _build_model, _ContrastiveModel
from spirograph.baselines.optim import LARS, parameter_groups
from spirograph.baselines.penalty import gradient_penalty
from spirograph.dataset import Spirograph
from spirograph.errors import CheckpointError, ConfigError, SpirographError, TrainingError
from spirograph.transform import SpirographTransform

# The configuration and checkpoint names have their own modules; they stay importable from
# here, where they lived before the split.
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

_STREAM_NUISANCE, _STREAM_SIGNS = 1, 2


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


def _derived_seed(seed: int, epoch: int, rank: int, stream: int) -> int:
    return int(np.random.SeedSequence([seed, epoch, rank, stream]).generate_state(1, dtype=np.uint64)[0] >> 1)


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
        _write_checkpoint(
            checkpoint_dir,
            config=run.config,
            epoch=done,
            step=run.step,
            model=run.model,
            optimizer=run.optimizer,
            history=run.history,
            steps=run.step_records,
        )
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
