"""The model a run trains: the encoder and the projection head as one module."""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from spirograph.baselines.config import TrainConfig
from spirograph.baselines.encoders import build_encoder
from spirograph.baselines.losses import ProjectionHead

__all__: list[str] = []


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
