from __future__ import annotations

import importlib

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


def test_the_training_names_stay_importable_from_the_train_module() -> None:
    # The configuration and the checkpoints moved out of `train.py`; their old import path works.
    # (`import spirograph.baselines.train as m` would give the function the package exports.)
    train_module = importlib.import_module("spirograph.baselines.train")

    assert train_module.__all__ == [
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
    for name in train_module.__all__:
        assert getattr(train_module, name) is getattr(baselines, name), name
    assert callable(train_module.main)
