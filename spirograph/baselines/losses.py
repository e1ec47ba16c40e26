"""The contrastive objective: the projection head (critic) and the NT-Xent loss.

SimCLR's normalized-temperature cross entropy (Chen et al., 2020) as used by
Foster, Pukdee & Rainforth (ICLR 2021): the ``2N`` projected views of a batch are
compared by cosine similarity divided by a temperature (0.5), each view's positive is
the other view of the same example, and a view is never compared with itself.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from spirograph._checks import check_int, check_number, check_tensor
from spirograph.errors import ParameterError

__all__ = ["NTXentLoss", "ProjectionHead", "nt_xent"]


class ProjectionHead(nn.Module):
    """The critic's projection: Linear -> BatchNorm -> ReLU -> Linear -> BatchNorm(affine=False).

    Both linear layers have no bias (the batch norms that follow make one redundant).

    Args:
        input_dim: the representation size ``d``.
        hidden_dim: width of the hidden layer; ``None`` means ``d``.
        output_dim: size of the projection (128 in the paper).

    Shape:
        ``(n, input_dim)`` -> ``(n, output_dim)``.
    """

    def __init__(self, input_dim: int, hidden_dim: int | None = None, output_dim: int = 128) -> None:
        super().__init__()
        hidden = input_dim if hidden_dim is None else hidden_dim
        for name, value in (("input_dim", input_dim), ("hidden_dim", hidden), ("output_dim", output_dim)):
            check_int(value, name, where="ProjectionHead", minimum=1)
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.net = nn.Sequential(
            nn.Linear(input_dim, hidden, bias=False),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Linear(hidden, output_dim, bias=False),
            nn.BatchNorm1d(output_dim, affine=False),
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, *, temperature: float = 0.5) -> torch.Tensor:
    """NT-Xent loss of two batches of paired embeddings.

    With ``z = [z1; z2]`` (``2N`` rows) and ``s_ij = cos(z_i, z_j) / temperature``, the
    loss is the mean over the ``2N`` rows of
    ``-s_{i,p(i)} + log sum_{j != i} exp(s_ij)``, where ``p(i)`` is the other view of
    row ``i``'s example.

    Args:
        z1: embeddings of the first views.
        z2: embeddings of the second views; row ``i`` pairs with ``z1[i]``.
        temperature: the softmax temperature, ``> 0``.

    Returns:
        The scalar loss.

    Shape:
        ``z1, z2 (N, d)`` with ``N >= 2`` -> ``()``.

    Examples:
        >>> z = torch.randn(4, 8)
        >>> float(nt_xent(z, z)) > 0
        True
    """
    check_tensor(z1, "z1", where="nt_xent", shape=("N", "d"))
    check_tensor(z2, "z2", where="nt_xent", shape=("N", "d"))
    if z1.ndim != 2 or z1.shape != z2.shape or z1.shape[0] < 2:
        raise ParameterError(
            f"nt_xent: `z1` and `z2` must both have shape (N, d) with N >= 2, got {tuple(z1.shape)} and "
            f"{tuple(z2.shape)}"
        )
    check_number(temperature, "temperature", where="nt_xent", above=0)
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.T / temperature  # (2N, 2N)
    self_mask = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(logits, positives)


class NTXentLoss(nn.Module):
    """[`nt_xent()`][spirograph.baselines.losses.nt_xent] as a module holding the temperature.

    Args:
        temperature: the softmax temperature (0.5 in the paper).
    """

    def __init__(self, temperature: float = 0.5) -> None:
        super().__init__()
        self.temperature = check_number(temperature, "temperature", where="NTXentLoss", above=0)

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        return nt_xent(z1, z2, temperature=self.temperature)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"
