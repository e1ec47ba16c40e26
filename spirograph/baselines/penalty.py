r"""The gradient regularizer of InvCLR.

Foster, Pukdee & Rainforth, "Improving Transformation Invariance in Contrastive
Representation Learning", ICLR 2021 (arXiv 2010.09515), section 3.

A representation $h(t(x, \alpha))$ is invariant to the nuisance $\alpha$ when its
derivative in $\alpha$ vanishes. The regularizer estimates how much a random
projection of the normalised representation moves, to first order, when $\alpha$ is
replaced by a fresh draw $\alpha'$ from the nuisance prior. With $\hat h_i = h_i / \lVert h_i \rVert$
(switchable), Rademacher signs $l_{ij} \in \{-1, +1\}$ drawn fresh each batch, and the graph
kept (the penalty is differentiated again):

$$
s = \sum_{i, j} l_{ij} \hat h_{ij}, \qquad g_i = \frac{\partial s}{\partial \alpha_i}, \qquad
P = \min\left(\frac{1}{B K} \sum_{i=1}^{B} \sum_{k=1}^{K} \left((\alpha'_{ik} - \alpha_i)^\top g_i\right)^2,
\ \mathrm{clamp}\right),
$$

and training minimises $\mathcal{L}_{\text{NT-Xent}} + \lambda P$. Any differentiable transformation and
any encoder work: only ``features`` computed from inputs rendered with ``nuisance`` are
needed.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from spirograph.dataset import Spirograph
from spirograph.errors import ParameterError
from spirograph.transform import SpirographTransform

__all__ = ["gradient_penalty", "penalty_statistic", "rademacher"]


def rademacher(
    shape: tuple[int, ...],
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Independent +1/-1 signs with probability 1/2 each.

    Args:
        shape: shape of the result.
        generator: the random generator (on ``device``); ``None`` uses torch's global one.
        device: where to draw; defaults to the generator's device (or the CPU).
        dtype: dtype of the result.

    Returns:
        A tensor of ``shape`` with values in ``{-1, 1}``.
    """
    if device is None:
        device = generator.device if generator is not None else torch.device("cpu")
    bits = torch.randint(0, 2, shape, generator=generator, device=device)
    return (2 * bits - 1).to(dtype)


def gradient_penalty(
    features: torch.Tensor,
    nuisance: torch.Tensor,
    sample_nuisance: Callable[[int], torch.Tensor] | torch.Tensor,
    *,
    n_samples: int = 100,
    normalize: bool = True,
    clamp: float | None = 1000.0,
    generator: torch.Generator | None = None,
    create_graph: bool = True,
) -> torch.Tensor:
    """The InvCLR gradient penalty ``P`` of one batch.

    Args:
        features: the encoder's output ``h`` for inputs transformed with ``nuisance``,
            still attached to the graph that produced it.
        nuisance: the nuisance values ``alpha`` used for those inputs; must require grad.
        sample_nuisance: either a callable ``n -> (n, p)`` drawing ``n`` independent
            nuisance values from the prior (it is called once with ``n = batch * n_samples``),
            or a tensor of draws ``(batch, K, p)``.
        n_samples: ``K``, the extra draws per example when ``sample_nuisance`` is callable
            (100 in the paper).
        normalize: project ``h / ||h||`` (the paper's default) instead of ``h``.
        clamp: upper bound of ``P`` (1000 for Spirograph, 1 for CIFAR-10); ``None`` keeps it
            unbounded. Above the bound the penalty carries no gradient.
        generator: draws the Rademacher signs (on the features' device).
        create_graph: keep the graph of ``g`` so that ``P`` can be differentiated (needed
            for training; ``False`` is cheaper for measuring).

    Returns:
        The scalar penalty, differentiable in the encoder's weights when ``create_graph``.

    Shape:
        ``features (batch, ...)``, ``nuisance (batch, p)``, tensor ``sample_nuisance
        (batch, K, p)`` -> ``()``.

    Examples:
        >>> from spirograph import SpirographTransform
        >>> transform = SpirographTransform(seed=0)
        >>> targets = torch.tensor([[3.0, 0.5, 0.5, 0.7]]).repeat(4, 1)
        >>> images, alpha = transform(targets)
        >>> encoder = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 8))
        >>> sample = lambda n: transform.sample_nuisance(n, device="cpu")
        >>> gradient_penalty(encoder(images), alpha, sample, n_samples=10).shape
        torch.Size([])
    """
    others = _check_penalty_inputs(features, nuisance, sample_nuisance, n_samples, clamp)
    batch = nuisance.shape[0]
    h = features.reshape(batch, -1)
    if normalize:
        h = h / h.norm(dim=1, keepdim=True).clamp_min(1e-12)
    signs = rademacher(tuple(h.shape), generator=generator, device=h.device, dtype=h.dtype)
    s = (signs * h).sum()
    g: torch.Tensor | None = None
    if s.requires_grad:
        (g,) = torch.autograd.grad(s, nuisance, create_graph=create_graph, allow_unused=True)
    if g is None:  # the features do not depend on the nuisance at all
        g = torch.zeros_like(nuisance)
    # (batch, K, p) . (batch, 1, p) -> (batch, K)
    directional = ((others.detach().to(nuisance) - nuisance.detach()[:, None, :]) * g[:, None, :]).sum(-1)
    penalty = directional.square().mean()
    if clamp is not None:
        penalty = penalty.clamp(max=float(clamp))
    return penalty


def _check_penalty_inputs(
    features: torch.Tensor,
    nuisance: torch.Tensor,
    sample_nuisance: Callable[[int], torch.Tensor] | torch.Tensor,
    n_samples: int,
    clamp: float | None,
) -> torch.Tensor:
    """Check the arguments of `gradient_penalty`; returns the extra draws ``(batch, K, p)``."""
    if not isinstance(features, torch.Tensor) or features.ndim < 1:
        raise ParameterError(f"gradient_penalty: `features` must be a tensor (batch, ...), got {features!r:.80}")
    if not isinstance(nuisance, torch.Tensor) or nuisance.ndim != 2 or nuisance.shape[0] != features.shape[0]:
        shape = tuple(nuisance.shape) if isinstance(nuisance, torch.Tensor) else type(nuisance).__name__
        raise ParameterError(
            f"gradient_penalty: `nuisance` must have shape ({features.shape[0]}, p) to match `features`, got {shape}"
        )
    if not nuisance.requires_grad:
        raise ParameterError(
            "gradient_penalty: `nuisance` must require grad (render the features from it with requires_grad=True)"
        )
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ParameterError(f"gradient_penalty: `n_samples` must be an int >= 1, got {n_samples!r}")
    if clamp is not None and (isinstance(clamp, bool) or not isinstance(clamp, (int, float)) or not clamp > 0):
        raise ParameterError(f"gradient_penalty: `clamp` must be a number > 0 or None, got {clamp!r}")
    batch, p = nuisance.shape
    if isinstance(sample_nuisance, torch.Tensor):
        others = sample_nuisance
        if others.ndim != 3 or others.shape[0] != batch or others.shape[2] != p:
            raise ParameterError(
                f"gradient_penalty: `sample_nuisance` as a tensor must have shape ({batch}, K, {p}), "
                f"got {tuple(others.shape)}"
            )
    elif callable(sample_nuisance):
        draws = sample_nuisance(batch * n_samples)
        if not isinstance(draws, torch.Tensor) or tuple(draws.shape) != (batch * n_samples, p):
            got = tuple(draws.shape) if isinstance(draws, torch.Tensor) else type(draws).__name__
            raise ParameterError(
                f"gradient_penalty: `sample_nuisance({batch * n_samples})` must return shape "
                f"({batch * n_samples}, {p}), got {got}"
            )
        others = draws.reshape(batch, n_samples, p)
    else:
        raise ParameterError(
            f"gradient_penalty: `sample_nuisance` must be a callable or a tensor, got {type(sample_nuisance).__name__}"
        )
    return others


def penalty_statistic(
    encoder: nn.Module,
    *,
    transform: SpirographTransform | None = None,
    n_examples: int = 1024,
    batch_size: int = 256,
    n_samples: int = 100,
    normalize: bool = True,
    clamp: float | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> float:
    """The penalty of a trained encoder on fixed evaluation batches (a diagnostic).

    The first ``n_examples`` targets of the test split are rendered with nuisance,
    extra nuisance draws and Rademacher signs all drawn from ``seed``, so two encoders
    are compared on exactly the same batches. The encoder runs in eval mode (its
    training mode is restored afterwards); its weights receive no gradient.

    Args:
        encoder: maps ``(n, 3, S, S)`` images to ``(n, d)`` features.
        transform: renders the views (the paper's settings by default); its generator on
            ``device`` is reseeded with ``seed``.
        n_examples: how many test targets to use.
        batch_size: examples per batch.
        n_samples: ``K`` extra nuisance draws per example.
        normalize: as in [`gradient_penalty()`][spirograph.baselines.penalty.gradient_penalty].
        clamp: as in [`gradient_penalty()`][spirograph.baselines.penalty.gradient_penalty]; unbounded by default for
            a diagnostic.
        seed: seeds every draw.
        device: where to run.

    Returns:
        The example-weighted mean of ``P`` over the batches.
    """
    if not isinstance(encoder, nn.Module):
        raise ParameterError(f"penalty_statistic: `encoder` must be an nn.Module, got {type(encoder).__name__}")
    for name, value in (("n_examples", n_examples), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ParameterError(f"penalty_statistic: `{name}` must be an int >= 1, got {value!r}")
    if transform is None:
        transform = SpirographTransform(seed=seed)
    elif not isinstance(transform, SpirographTransform):
        raise ParameterError(
            f"penalty_statistic: `transform` must be a SpirographTransform, got {type(transform).__name__}"
        )
    device = torch.device(device)
    targets = Spirograph(
        "test", mode="targets", subset=n_examples, space=transform.space, settings=transform.settings
    ).targets.to(device)
    transform.generator(device).manual_seed(seed)
    signs = torch.Generator(device=device)
    signs.manual_seed(seed)
    was_training = encoder.training
    encoder.eval()
    total = 0.0
    try:
        with torch.enable_grad():
            for start in range(0, n_examples, batch_size):
                batch = targets[start : start + batch_size]
                images, nuisance = transform(batch)
                batch_penalty = gradient_penalty(
                    encoder(images),
                    nuisance,
                    lambda n: transform.sample_nuisance(n, device=device),
                    n_samples=n_samples,
                    normalize=normalize,
                    clamp=clamp,
                    generator=signs,
                    create_graph=False,
                )
                total += float(batch_penalty) * batch.shape[0]
    finally:
        encoder.train(was_training)
    return total / n_examples
