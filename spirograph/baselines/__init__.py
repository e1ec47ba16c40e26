"""The InvCLR method as a library: encoders, NT-Xent, the gradient penalty, LARS and training.

Foster, Pukdee & Rainforth, "Improving Transformation Invariance in Contrastive
Representation Learning", ICLR 2021 (arXiv 2010.09515). The top-level ``baselines/``
folder of the repository is the leaderboard that runs this library; the library never
imports it.
"""

from __future__ import annotations

from spirograph.baselines.encoders import ENCODERS, EncoderName, ResNet18, SmallConvEncoder, build_encoder
from spirograph.baselines.losses import NTXentLoss, ProjectionHead, nt_xent
from spirograph.baselines.optim import LARS, parameter_groups, scaled_learning_rate, warmup_cosine
from spirograph.baselines.penalty import gradient_penalty, penalty_statistic, rademacher
from spirograph.baselines.train import (
    CHECKPOINT_FORMAT,
    TrainConfig,
    TrainResult,
    load_checkpoint,
    load_encoder,
    train,
)

__all__ = [
    "CHECKPOINT_FORMAT",
    "ENCODERS",
    "LARS",
    "EncoderName",
    "NTXentLoss",
    "ProjectionHead",
    "ResNet18",
    "SmallConvEncoder",
    "TrainConfig",
    "TrainResult",
    "build_encoder",
    "gradient_penalty",
    "load_checkpoint",
    "load_encoder",
    "nt_xent",
    "parameter_groups",
    "penalty_statistic",
    "rademacher",
    "scaled_learning_rate",
    "train",
    "warmup_cosine",
]
