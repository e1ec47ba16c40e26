"""An encoder from outside the package: built from ``module:callable``, its weights loaded safely, checked.

What ``spirograph evaluate`` scores: a callable (in an importable module, or in a Python file)
that takes no arguments and returns an ``nn.Module`` mapping a float batch ``(B, 3, S, S)`` in
``[0, 1]`` to features ``(B, d)``. Weights are a state dict read with ``weights_only=True``, so
a file holding a pickle that would run code is refused without running it.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spirograph.errors import EncoderError, ParameterError, ParameterTypeError

__all__ = ["build_submission", "check_encoder_output", "file_sha256"]

_CHUNK = 1 << 20


def _split_spec(spec: Any) -> tuple[str, str]:
    if not isinstance(spec, str):
        raise ParameterTypeError(
            f"build_submission: `encoder` must be a string 'module:callable', got {type(spec).__name__}"
        )
    source, sep, attribute = spec.rpartition(":")
    if not sep or not source or not attribute.isidentifier():
        raise ParameterError(
            f"build_submission: `encoder` must be 'package.module:callable' or 'path/to/file.py:callable', got {spec!r}"
        )
    return source, attribute


def _load_module(source: str) -> Any:
    if source.endswith(".py"):
        path = Path(source)
        if not path.is_file():
            raise ParameterError(f"build_submission: `encoder` names the file {source!r}, which does not exist")
        name = f"_spirograph_submission_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ParameterError(f"build_submission: cannot import {source!r} as a Python file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        loader = spec.loader
        try:
            _run_user_code(lambda: loader.exec_module(module), f"importing {source!r}")
        except BaseException:
            sys.modules.pop(name, None)  # as importlib does: a failed import leaves no half-run module behind
            raise
        return module
    try:
        return importlib.import_module(source)
    except ModuleNotFoundError as error:
        if error.name is not None and (source == error.name or source.startswith(f"{error.name}.")):
            raise ParameterError(
                f"build_submission: `encoder` names the module {source!r}, which cannot be found"
            ) from None
        raise EncoderError(f"build_submission: importing {source!r} failed: {error}") from None
    except Exception as error:  # the user's module raised while importing
        raise EncoderError(f"build_submission: importing {source!r} raised {type(error).__name__}: {error}") from None


def _run_user_code(call: Any, what: str) -> Any:
    try:
        return call()
    except Exception as error:
        raise EncoderError(f"build_submission: {what} raised {type(error).__name__}: {error}") from None


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _load_weights(encoder: nn.Module, path: Path) -> str:
    if not path.is_file():
        raise ParameterError(f"build_submission: `weights` must be a file, got {os.fspath(path)!r}")
    digest = file_sha256(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # weights_only refuses any pickle that is not plain tensors and containers
        raise EncoderError(
            f"build_submission: `weights` {os.fspath(path)!r} is not a state dict that loads with "
            f"weights_only=True (nothing in it was run): {' '.join(str(error).split())[:300]}"
        ) from None
    if not isinstance(state, dict):
        raise EncoderError(f"build_submission: `weights` must hold a state dict, got {type(state).__name__}")
    try:
        encoder.load_state_dict(state)
    except (RuntimeError, TypeError, KeyError) as error:
        raise EncoderError(
            f"build_submission: `weights` do not fit the module: {' '.join(str(error).split())[:400]}"
        ) from None
    return digest


def check_encoder_output(encoder: nn.Module, size: int, device: torch.device) -> int:
    """Run the encoder on two images and check its output; returns the feature count.

    Raises:
        EncoderError: the call raises, or the output is not a finite float ``(2, d)`` tensor
            with ``d >= 1`` on ``device``.
    """
    images = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0)).to(device)
    was_training = encoder.training
    encoder.eval()
    try:
        with torch.no_grad():
            out = _run_user_code(lambda: encoder(images), "the encoder on a (2, 3, S, S) batch")
    finally:
        encoder.train(was_training)
    if not isinstance(out, torch.Tensor):
        raise EncoderError(f"build_submission: the encoder must return a tensor, got {type(out).__name__}")
    if out.ndim != 2 or out.shape[0] != 2 or out.shape[1] < 1:
        raise EncoderError(
            f"build_submission: the encoder must map (2, 3, {size}, {size}) to (2, d), got {tuple(out.shape)}"
        )
    if not out.is_floating_point():
        raise EncoderError(f"build_submission: the encoder's features must be floating point, got {out.dtype}")
    if out.device != device:
        raise EncoderError(f"build_submission: the encoder's features must be on {device}, got {out.device}")
    if not torch.isfinite(out).all():
        raise EncoderError("build_submission: the encoder's features must be finite, got NaN or infinity")
    return int(out.shape[1])


def build_submission(
    encoder: str, weights: str | os.PathLike[str] | None = None, *, size: int = 32, device: torch.device | str = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Build, load and check an encoder given as ``module:callable``; returns it and its provenance.

    Args:
        encoder: ``"package.module:callable"`` or ``"path/to/file.py:callable"``; the callable
            takes no arguments and returns an ``nn.Module``.
        weights: a state dict file (``torch.save(model.state_dict(), path)``), loaded with
            ``weights_only=True``; its SHA-256 is recorded.
        size: the image side the encoder is checked on.
        device: where the encoder is checked (and left).

    Returns:
        The module (eval mode, on ``device``) and the provenance recorded with its result:
        ``encoder`` (the spec), ``weights`` (the file's name), ``weights_sha256`` and ``features`` (``d``).

    Raises:
        ParameterError: a malformed spec, a module, file or attribute that does not exist, a
            weights path that is not a file.
        EncoderError: the module or callable raises, returns something other than an
            ``nn.Module``, the weights do not load or fit, or the output is not finite ``(B, d)``.
    """
    source, attribute = _split_spec(encoder)
    module = _load_module(source)
    if not hasattr(module, attribute):
        raise ParameterError(f"build_submission: {source!r} has no attribute {attribute!r}")
    factory = getattr(module, attribute)
    if not callable(factory):
        raise EncoderError(f"build_submission: {encoder!r} is not callable, got {type(factory).__name__}")
    model = _run_user_code(factory, f"calling {encoder!r}")
    if not isinstance(model, nn.Module):
        raise EncoderError(f"build_submission: {encoder!r} must return an nn.Module, got {type(model).__name__}")
    digest = _load_weights(model, Path(weights)) if weights is not None else None
    target = torch.device(device)
    model = model.to(target).eval()
    features = check_encoder_output(model, size, target)
    provenance = {
        "encoder": encoder,
        "weights": Path(weights).name if weights is not None else None,
        "weights_sha256": digest,
        "features": features,
    }
    return model, provenance
