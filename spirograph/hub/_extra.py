"""The check that the ``hub`` extra (``datasets``, ``huggingface_hub``, ``pyarrow``) is installed."""

from __future__ import annotations

import importlib

from spirograph.errors import MissingDependencyError

__all__ = ["INSTALL_HINT", "require_hub"]

INSTALL_HINT = 'python -m pip install "spirograph-dataset[hub]"'
"""The command that installs the optional Hugging Face part of the package."""

_MODULES = ("datasets", "huggingface_hub", "pyarrow", "yaml")


def require_hub(where: str, modules: tuple[str, ...] = _MODULES) -> None:
    """Raise a clear error unless the ``hub`` extra can be imported.

    Args:
        where: the caller's name, for the message.
        modules: the modules of the extra the caller needs (all of them by default).

    Raises:
        MissingDependencyError: a module of the extra is missing; the message says how to install it.
    """
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as error:
            raise MissingDependencyError(
                f"{where}: the Hugging Face Hub support needs `{name}`, which is not installed; "
                f"install the `hub` extra: {INSTALL_HINT}"
            ) from error
