"""Exception types raised by `spirograph`.

Every error subclasses [`SpirographError`][spirograph.errors.SpirographError] and the closest builtin, so that
``except ValueError`` or ``except OSError`` keeps working in user code.

The policy, applied by the checks of `spirograph._checks`:

- an argument of the wrong type raises [`ParameterTypeError`][spirograph.errors.ParameterTypeError] (a ``TypeError``);
- an argument of the right type with a bad value, shape or dtype raises
  [`ParameterError`][spirograph.errors.ParameterError] (a ``ValueError``);
- a field of a configuration object (``TrainConfig``, a hub builder config, a
  leaderboard entry) with a bad value raises [`ConfigError`][spirograph.errors.ConfigError], a kind of
  [`ParameterError`][spirograph.errors.ParameterError];
- an index outside a dataset raises [`IndexOutOfRangeError`][spirograph.errors.IndexOutOfRangeError] (an ``IndexError``,
  so that Python's iteration protocol keeps working);
- I/O, hub and checkpoint failures raise their own classes below.
"""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "ChecksumError",
    "ConfigError",
    "EncoderError",
    "ExportError",
    "HubError",
    "IndexOutOfRangeError",
    "MissingDependencyError",
    "ParameterError",
    "ParameterTypeError",
    "SpirographError",
    "TrainingError",
]


class SpirographError(Exception):
    """Base class of every error raised by this package."""


class ParameterError(SpirographError, ValueError):
    """A parameter, bound or option has an invalid value, shape or dtype."""


class ParameterTypeError(SpirographError, TypeError):
    """An argument has the wrong type (a string where a number belongs, a list for a tensor...)."""


class IndexOutOfRangeError(SpirographError, IndexError):
    """An item index lies outside a dataset."""


class ConfigError(ParameterError):
    """A configuration object (training, hub builder, leaderboard entry) holds an invalid value."""


class CheckpointError(SpirographError, ValueError):
    """A checkpoint file is corrupt, incomplete or from another model."""


class HubError(SpirographError, OSError):
    """A Hugging Face Hub copy could not be downloaded or read."""


class ChecksumError(HubError):
    """A downloaded file does not match the SHA-256 recorded in the manifest."""


class ExportError(HubError):
    """A local export is locked by another export, or its files do not match its manifest."""


class MissingDependencyError(SpirographError, ImportError):
    """An optional part of the package is not installed (the message says how to install it)."""


class TrainingError(SpirographError, FloatingPointError):
    """Training diverged: the loss became NaN or infinite."""


class EncoderError(SpirographError, RuntimeError):
    """An encoder given from outside the package could not be built, loaded or run (``spirograph evaluate``)."""
