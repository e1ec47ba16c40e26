"""The Hugging Face Hub copy of Spirograph: builder, Parquet export, verification, push and verified download.

[`hub_dataset()`][spirograph.hub.torch_dataset.hub_dataset] and
[`local_dataset()`][spirograph.hub.torch_dataset.local_dataset] open a copy as a
[`Spirograph`][spirograph.dataset.Spirograph] dataset; this package builds on the dataset,
never the reverse.

Nothing heavy is imported here: ``datasets``, ``pyarrow`` and ``huggingface_hub`` load only
when a function that needs them runs. [`SpirographBuilder`][spirograph.hub.builder.SpirographBuilder] subclasses a
``datasets``
class, so it is imported on first access of ``spirograph.hub.SpirographBuilder``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spirograph.hub._extra import require_hub
from spirograph.hub.download import load_split
from spirograph.hub.export import export, push
from spirograph.hub.local import load_local
from spirograph.hub.schema import CONFIGS, DEFAULT_CONFIG, HUB_SPLITS, MANIFEST_NAME, HubConfig
from spirograph.hub.torch_dataset import hub_dataset, local_dataset
from spirograph.hub.verify import verify_export

if TYPE_CHECKING:
    from spirograph.hub.builder import SpirographBuilder, SpirographBuilderConfig

__all__ = [
    "CONFIGS",
    "DEFAULT_CONFIG",
    "HUB_SPLITS",
    "MANIFEST_NAME",
    "HubConfig",
    "SpirographBuilder",
    "SpirographBuilderConfig",
    "export",
    "hub_dataset",
    "load_local",
    "load_split",
    "local_dataset",
    "push",
    "verify_export",
]

_LAZY = {"SpirographBuilder", "SpirographBuilderConfig"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        require_hub(f"spirograph.hub.{name}")
        from spirograph.hub import builder

        return getattr(builder, name)
    raise AttributeError(f"module 'spirograph.hub' has no attribute {name!r}")
