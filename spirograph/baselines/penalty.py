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

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from spirograph._checks import check_bool, check_device, check_instance, check_int, is_int, is_number
from spirograph.dataset import Spirograph
from spirograph.errors import ParameterError
from spirograph.transform import SpirographTransform

__all__ = ["PenaltyBreakdown", "gradient_penalty", "penalty_breakdown", "penalty_statistic", "rademacher"]


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
    _, _, g = _projection_gradient(features, nuisance, normalize, generator, create_graph)
    # (batch, K, p) . (batch, 1, p) -> (batch, K)
    directional = ((others.detach().to(nuisance) - nuisance.detach()[:, None, :]) * g[:, None, :]).sum(-1)
    penalty = directional.square().mean()
    if clamp is not None:
        penalty = penalty.clamp(max=float(clamp))
    return penalty


def _projection_gradient(
    features: torch.Tensor,
    nuisance: torch.Tensor,
    normalize: bool,
    generator: torch.Generator | None,
    create_graph: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The random projection of the penalty and its gradient in the nuisance.

    Returns ``(signs, h, g)``: the Rademacher signs ``l`` and the (normalised)
    representation ``h``, both ``(batch, d)``, and ``g = d(sum l * h) / d alpha``,
    ``(batch, p)`` (zeros where the features do not depend on the nuisance).
    """
    h = features.reshape(nuisance.shape[0], -1)
    if normalize:
        h = h / h.norm(dim=1, keepdim=True).clamp_min(1e-12)
    signs = rademacher(tuple(h.shape), generator=generator, device=h.device, dtype=h.dtype)
    s = (signs * h).sum()
    g: torch.Tensor | None = None
    if s.requires_grad:
        (g,) = torch.autograd.grad(s, nuisance, create_graph=create_graph, allow_unused=True)
    if g is None:  # the features do not depend on the nuisance at all
        g = torch.zeros_like(nuisance)
    return signs, h, g


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
    if not is_int(n_samples) or n_samples < 1:
        raise ParameterError(f"gradient_penalty: `n_samples` must be an int >= 1, got {n_samples!r}")
    if clamp is not None and (not is_number(clamp) or not clamp > 0):
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


@dataclass(frozen=True)
class _FixedBatches:
    """The checked inputs of a diagnostic pass over fixed evaluation batches."""

    encoder: nn.Module
    transform: SpirographTransform
    batches: list[torch.Tensor]
    signs: torch.Generator
    device: torch.device


@contextmanager
def _fixed_batches(
    encoder: Any,
    transform: Any,
    n_examples: Any,
    batch_size: Any,
    seed: Any,
    device: Any,
    where: str,
) -> Iterator[_FixedBatches]:
    """Check the arguments, reseed every draw from ``seed`` and hold the encoder in eval mode.

    The first ``n_examples`` targets of the test split, in batches of ``batch_size``, on
    ``device``; the transform's generator and a generator of Rademacher signs are both
    seeded with ``seed``. The encoder's training mode is restored on exit.
    """
    check_instance(encoder, "encoder", nn.Module, where=where, expected="an nn.Module")
    n_examples = check_int(n_examples, "n_examples", where=where, minimum=1)
    batch_size = check_int(batch_size, "batch_size", where=where, minimum=1)
    seed = check_int(seed, "seed", where=where, minimum=0)
    torch_device = check_device(device, where=where)
    if transform is None:
        transform = SpirographTransform(seed=seed)
    check_instance(transform, "transform", SpirographTransform, where=where, expected="a SpirographTransform")
    targets = Spirograph(
        "test", mode="targets", subset=n_examples, space=transform.space, settings=transform.settings
    ).targets.to(torch_device)
    transform.generator(torch_device).manual_seed(seed)
    signs = torch.Generator(device=torch_device)
    signs.manual_seed(seed)
    batches = [targets[start : start + batch_size] for start in range(0, n_examples, batch_size)]
    was_training = encoder.training
    encoder.eval()
    try:
        with torch.enable_grad():
            yield _FixedBatches(encoder, transform, batches, signs, torch_device)
    finally:
        encoder.train(was_training)


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

    Raises:
        ParameterTypeError: an argument of the wrong type.
        ParameterError: a count below 1 or a negative seed.
    """
    total = 0.0
    with _fixed_batches(encoder, transform, n_examples, batch_size, seed, device, "penalty_statistic") as run:
        for batch in run.batches:
            images, nuisance = run.transform(batch)
            batch_penalty = gradient_penalty(
                run.encoder(images),
                nuisance,
                lambda n: run.transform.sample_nuisance(n, device=run.device),
                n_samples=n_samples,
                normalize=normalize,
                clamp=clamp,
                generator=run.signs,
                create_graph=False,
            )
            total += float(batch_penalty) * batch.shape[0]
    return total / n_examples


@dataclass(frozen=True)
class PenaltyBreakdown:
    r"""Where an encoder's sensitivity to the nuisance lies, one nuisance parameter at a time.

    For each example, draw ``K`` fresh values $\alpha'_k$ from the nuisance prior and
    replace one coordinate $j$ of $\alpha$ by that of $\alpha'_k$ (or, for ``"all"``,
    the whole vector). With the Rademacher signs $l$ and the normalised representation
    $\hat h$ of the penalty, two mean squares of the projection's change are reported:

    - ``first_order``: the penalty's linear estimate, the mean of
      $((\alpha'_{kj} - \alpha_j)\, g_j)^2$; its ``"all"`` entry is the penalty $P$ itself
      (unclamped) on the same draws;
    - ``observed``: the mean of $(l \cdot (\hat h(\alpha^{(j)}_k) - \hat h(\alpha)))^2$,
      measured by rendering and encoding the changed inputs.

    Where the two agree, the representation is close to linear in that parameter over
    its prior and the penalty measures its sensitivity faithfully; where ``first_order``
    is much larger, the representation changes fast locally but little over the prior.

    Attributes:
        first_order: nuisance name (and ``"all"``) -> the penalty's estimate.
        observed: nuisance name (and ``"all"``) -> the measured mean square.
        n_examples: test targets used.
        n_samples: ``K``, redraws per example and parameter.
        normalize: whether ``h`` was L2-normalised (as in the penalty).
        seed: the seed of every draw.
    """

    first_order: dict[str, float]
    observed: dict[str, float]
    n_examples: int
    n_samples: int
    normalize: bool
    seed: int

    def to_dict(self) -> dict[str, Any]:
        """The record as a JSON-ready dictionary."""
        return dataclasses.asdict(self)


def penalty_breakdown(
    encoder: nn.Module,
    *,
    transform: SpirographTransform | None = None,
    n_examples: int = 256,
    batch_size: int = 128,
    n_samples: int = 10,
    normalize: bool = True,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> PenaltyBreakdown:
    """The penalty and the observed change of the representation, per nuisance parameter.

    Uses the same fixed batches as [`penalty_statistic()`][spirograph.baselines.penalty.penalty_statistic]
    (the first ``n_examples`` test targets, every draw seeded by ``seed``, the encoder in eval
    mode), so ``first_order["all"]`` equals ``penalty_statistic(..., n_samples=n_samples)``.
    Costs ``(p + 1) * n_samples`` renders and encodes per example, ``p`` the nuisance count.

    Args:
        encoder: maps ``(n, 3, S, S)`` images to ``(n, d)`` features.
        transform: renders the inputs (the paper's settings by default); its generator on
            ``device`` is reseeded with ``seed``.
        n_examples: how many test targets to use.
        batch_size: examples per batch.
        n_samples: ``K``, redraws per example and parameter.
        normalize: project ``h / ||h||`` (as the penalty does by default) instead of ``h``.
        seed: seeds every draw.
        device: where to run.

    Returns:
        The [`PenaltyBreakdown`][spirograph.baselines.penalty.PenaltyBreakdown].

    Raises:
        ParameterTypeError: an argument of the wrong type.
        ParameterError: a count below 1 or a negative seed.

    Examples:
        >>> from spirograph import SpirographTransform
        >>> encoder = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 8))
        >>> result = penalty_breakdown(encoder, transform=SpirographTransform(size=16), n_examples=8, n_samples=2)
        >>> sorted(result.observed)
        ['all', 'back_b', 'back_g', 'back_r', 'fore_b', 'fore_g', 'h']
    """
    where = "penalty_breakdown"
    n_samples = check_int(n_samples, "n_samples", where=where, minimum=1)
    normalize = check_bool(normalize, "normalize", where=where)
    with _fixed_batches(encoder, transform, n_examples, batch_size, seed, device, where) as run:
        names = [*run.transform.space.nuisance_names, "all"]
        first = torch.zeros(len(names), dtype=torch.float64, device=run.device)
        observed = torch.zeros_like(first)
        for batch in run.batches:
            batch_first, batch_observed = _breakdown_batch(run, batch, n_samples, normalize)
            first += batch_first
            observed += batch_observed
    count = n_examples * n_samples
    return PenaltyBreakdown(
        first_order=dict(zip(names, (first / count).tolist(), strict=True)),
        observed=dict(zip(names, (observed / count).tolist(), strict=True)),
        n_examples=n_examples,
        n_samples=n_samples,
        normalize=normalize,
        seed=int(seed),
    )


def _breakdown_batch(
    run: _FixedBatches, targets: torch.Tensor, n_samples: int, normalize: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sums over one batch of the squared estimates and changes, ``(p + 1,)`` each."""
    images, nuisance = run.transform(targets)
    signs, h, g = _projection_gradient(run.encoder(images), nuisance, normalize, run.signs, False)
    batch, p = nuisance.shape
    alpha = nuisance.detach()
    others = run.transform.sample_nuisance(batch * n_samples, device=run.device).reshape(batch, n_samples, p)
    delta = others - alpha[:, None, :]  # (batch, K, p)
    terms = delta * g.detach()[:, None, :]
    first = torch.cat([terms.square().sum((0, 1)), terms.sum(-1).square().sum()[None]]).double()
    observed = torch.zeros(p + 1, dtype=torch.float64, device=run.device)
    with torch.no_grad():
        base = (signs * h).sum(1)  # (batch,)
        for k in range(n_samples):
            for j in range(p + 1):
                moved = others[:, k].clone() if j == p else alpha.clone()
                if j < p:
                    moved[:, j] = others[:, k, j]
                features = run.encoder(run.transform.render(targets, moved)).reshape(batch, -1)
                if normalize:
                    features = features / features.norm(dim=1, keepdim=True).clamp_min(1e-12)
                observed[j] += ((signs * features).sum(1) - base).double().square().sum()
    return first, observed
