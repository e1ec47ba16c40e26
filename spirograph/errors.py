"""Exception types raised by `spirograph`.

Every error subclasses [`SpirographError`][spirograph.errors.SpirographError] and the closest builtin, so that
``except ValueError`` or ``except OSError`` keeps working in user code.
"""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "ChecksumError",
    "ConfigError",
    "ExportError",
    "HubError",
    "MissingDependencyError",
    "ParameterError",
    "SpirographError",
    "TrainingError",
]


class SpirographError(Exception):
    """Base class of every error raised by this package."""


class ParameterError(SpirographError, ValueError):
    """A parameter, bound or option has an invalid value, shape or dtype."""


class ConfigError(SpirographError, ValueError):
    """A training, evaluation or export configuration is invalid."""


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
