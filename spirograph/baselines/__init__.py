"""The InvCLR method as a library: encoders, NT-Xent, the gradient penalty, LARS and training.

Foster, Pukdee & Rainforth, "Improving Transformation Invariance in Contrastive
Representation Learning", ICLR 2021 (arXiv 2010.09515). The top-level ``baselines/``
folder of the repository is the leaderboard that runs this library; the library never
imports it. ``python -m spirograph.baselines CONFIG.json`` trains from a configuration file.
"""

from __future__ import annotations

from spirograph.baselines.checkpoints import CHECKPOINT_FORMAT, load_checkpoint, load_encoder
from spirograph.baselines.config import BATCH_STATISTICS, LR_SCHEDULES, PRECISIONS, TrainConfig
from spirograph.baselines.encoders import (
    ENCODER_INITS,
    ENCODERS,
    EncoderInit,
    EncoderName,
    ResNet18,
    SmallConvEncoder,
    build_encoder,
    initialize_encoder,
)
from spirograph.baselines.losses import NTXentLoss, ProjectionHead, nt_xent
from spirograph.baselines.optim import LARS, capped_cosine, parameter_groups, scaled_learning_rate, warmup_cosine
from spirograph.baselines.penalty import (
    PenaltyBreakdown,
    gradient_penalty,
    penalty_breakdown,
    penalty_statistic,
    rademacher,
)
from spirograph.baselines.results import LeaderboardResult
from spirograph.baselines.train import TrainResult, train

__all__ = [
    "BATCH_STATISTICS",
    "CHECKPOINT_FORMAT",
    "ENCODERS",
    "ENCODER_INITS",
    "LARS",
    "LR_SCHEDULES",
    "PRECISIONS",
    "EncoderInit",
    "EncoderName",
    "LeaderboardResult",
    "NTXentLoss",
    "PenaltyBreakdown",
    "ProjectionHead",
    "ResNet18",
    "SmallConvEncoder",
    "TrainConfig",
    "TrainResult",
    "build_encoder",
    "capped_cosine",
    "gradient_penalty",
    "initialize_encoder",
    "load_checkpoint",
    "load_encoder",
    "nt_xent",
    "parameter_groups",
    "penalty_breakdown",
    "penalty_statistic",
    "rademacher",
    "scaled_learning_rate",
    "train",
    "warmup_cosine",
]
