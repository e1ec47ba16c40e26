from __future__ import annotations

import spirograph.baselines as baselines


def test_public_names_are_pinned() -> None:
    assert baselines.__all__ == [
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
    for name in baselines.__all__:
        assert hasattr(baselines, name)
