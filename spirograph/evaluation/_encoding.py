"""Encoding for the protocol: nuisance draws of a dataset's rows, checked encoder calls, batches.

Draw ``m`` of row ``i`` of a split with seed ``s_split`` is ``space.sample_nuisance(targets,
seed=seed, index=i, stream=(stream, s_split, m))``: a pure function of ``(seed, s_split, i,
m)``, identical on every machine and device, whatever the batch size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from spirograph._checks import check_callable, check_device
from spirograph.dataset import Spirograph
from spirograph.errors import ParameterError, ParameterTypeError
from spirograph.space import ParameterSpace

__all__ = ["EVALUATION_STREAM", "INVARIANCE_STREAM", "Encoder"]

EVALUATION_STREAM = 0x5E7A1
"""First key of the sampler stream of the evaluation's nuisance draws."""

INVARIANCE_STREAM = 0x1A7A2
"""First key of the sampler stream of the invariance diagnostics' nuisance draws."""

Encoder = Callable[[torch.Tensor], torch.Tensor]


def encoder_device(encoder: Any, device: Any, where: str) -> torch.device:
    """``device`` checked, or by default the device of the encoder's first parameter or buffer.

    An encoder without any (a plain function, a parameter-free module) runs on the CPU. A
    module with a tensor on the ``meta`` device (no data: weights never loaded) is refused.
    """
    tensors = [*encoder.parameters(), *encoder.buffers()] if isinstance(encoder, nn.Module) else []
    if any(tensor.is_meta for tensor in tensors):
        raise ParameterError(
            f"{where}: `encoder` has weights on the meta device, which holds no data; materialise them first "
            f"(module.to_empty(device=...) and load_state_dict(...))"
        )
    if device is not None:
        return check_device(device, where=where)
    return tensors[0].device if tensors else torch.device("cpu")


@contextmanager
def _frozen(encoder: Any) -> Iterator[None]:
    # Eval mode for the duration, then every submodule's own mode back.
    if not isinstance(encoder, nn.Module):
        yield
        return
    modes = [(module, module.training) for module in encoder.modules()]
    encoder.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


class _Features:
    """Calls the encoder on one batch of parameters and checks what comes back."""

    def __init__(self, encoder: Any, device: torch.device, where: str) -> None:
        check_callable(encoder, "encoder", where=where, expected="an nn.Module or a callable")
        self.encoder = encoder
        self.device = device
        self.where = where
        self.uses_parameters = bool(getattr(encoder, "encodes_parameters", False))
        self.dim: int | None = None

    def __call__(self, params: torch.Tensor, dataset: Spirograph) -> torch.Tensor:
        """Checked features of the items with parameters ``params`` ``(B, 10)``: ``(B, d)`` on ``device``.

        In the encoder's dtype: callers accumulate in float64 (adding in place into a float64
        sum promotes without a float64 copy of the batch).
        """
        params = params.to(self.device)
        inputs = params if self.uses_parameters else self._images(dataset, params)
        with torch.no_grad():
            output = self.encoder(inputs)
        return self.check(output, params.shape[0])

    def _images(self, dataset: Spirograph, params: torch.Tensor) -> torch.Tensor:
        # NaN images would otherwise surface as NaN features and be blamed on the encoder; one
        # float64 sum finds them (the values are only looked at if it is not finite).
        images = dataset.render_params(params)
        if not torch.isfinite(images.sum(dtype=torch.float64)):
            bad = ~torch.isfinite(images)
            if bad.any():
                rows = torch.nonzero(bad.flatten(1).any(dim=1)).flatten()
                raise ParameterError(
                    f"{self.where}: the images of the dataset must be finite, got {int(bad.sum())} NaN/inf values in "
                    f"{rows.numel()} of {images.shape[0]} images (first: the one with parameters "
                    f"{params[int(rows[0])].tolist()}); the dataset's parameters or renderer are at fault, "
                    f"not the encoder"
                )
        return images

    def check(self, output: Any, batch: int) -> torch.Tensor:
        if not isinstance(output, torch.Tensor):
            raise ParameterTypeError(
                f"{self.where}: the encoder output must be a torch.Tensor of shape (B, d), got {type(output).__name__}"
            )
        if output.ndim != 2 or output.shape[0] != batch:
            raise ParameterError(
                f"{self.where}: the encoder output must have shape (B, d) = ({batch}, d) for a batch of {batch} "
                f"inputs, got {tuple(output.shape)} (flatten extra dimensions in the encoder)"
            )
        if output.shape[1] == 0:
            raise ParameterError(
                f"{self.where}: the encoder output must have at least one feature, (B, d) with d >= 1, "
                f"got {tuple(output.shape)}"
            )
        if not (output.dtype.is_floating_point or output.dtype in (torch.int32, torch.int64, torch.uint8)):
            raise ParameterError(f"{self.where}: the encoder output must hold real numbers, got dtype {output.dtype}")
        if self.dim is None:
            self.dim = int(output.shape[1])
        elif output.shape[1] != self.dim:
            raise ParameterError(
                f"{self.where}: the encoder output changed width between batches: d = {self.dim} before, "
                f"got {tuple(output.shape)}"
            )
        # One float64 reduction instead of a boolean mask of the batch: NaN and inf reach the
        # sum. Only if it is not finite (or overflowed) are the values themselves checked.
        if output.dtype.is_floating_point and not torch.isfinite(output.sum(dtype=torch.float64)):
            bad = ~torch.isfinite(output)
            if bad.any():
                raise ParameterError(
                    f"{self.where}: the encoder output must be finite, got {int(bad.sum())} NaN/inf values in a "
                    f"batch of shape {tuple(output.shape)}"
                )
        return output.to(device=self.device)


def _nuisance_draw(
    dataset: Spirograph, space: ParameterSpace, seed: int, stream: int, draw: int, start: int, stop: int
) -> torch.Tensor:
    """Parameters ``(stop - start, 10)`` of rows ``[start, stop)`` under nuisance draw ``draw``."""
    rows = torch.arange(start, stop)
    fixed = dataset.params[start:stop][:, list(space.target_index)]
    return space.sample_nuisance(fixed, seed=seed, index=rows, stream=(stream, dataset.seed, draw))


def _batches(length: int, batch_size: int) -> list[tuple[int, int]]:
    return [(start, min(start + batch_size, length)) for start in range(0, length, batch_size)]
