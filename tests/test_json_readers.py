"""Every JSON reader of the library ends in success or a SpirographError, whatever the document holds.

Configs (``TrainConfig``), checkpoint metadata (the JSON entries of ``load_checkpoint``),
manifests (``check_manifest``, ``verify_export``, ``load_local``), result files
(``EvaluationResult``, ``InvarianceResult``) and the shared reader itself are fed arbitrary
JSON values, valid documents with one field replaced, deep or huge documents and bytes that
are not JSON.
"""

from __future__ import annotations

import contextlib
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spirograph.baselines import TrainConfig
from spirograph.errors import SpirographError
from spirograph.evaluation import EvaluationResult, InvarianceResult
from spirograph.files import parse_json, read_json
from spirograph.hub import export, load_local, verify_export
from spirograph.hub.schema import MANIFEST_NAME, check_manifest

_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20)
JSON_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
HOSTILE_TEXTS = st.sampled_from(
    [
        "[" * 5000 + "]" * 5000,
        '{"a": ' + "9" * 5000 + "}",
        "[" * 70 + "]" * 70,
        "\ud800",
        "",
        "NaN",
        "{",
        '{"format": 1, "files": {"../x": {"sha256": "0", "bytes": 1}}}',
    ]
)


def _documents() -> st.SearchStrategy[str]:
    return JSON_VALUES.map(json.dumps) | HOSTILE_TEXTS | st.text(max_size=50)


def _outcome(reader: Any, *args: Any, **kwargs: Any) -> None:
    """Call the reader: it returns, or raises a SpirographError (anything else fails the test)."""
    with contextlib.suppress(SpirographError):
        reader(*args, **kwargs)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export(tmp_path_factory.mktemp("json") / "hub", splits="test", subset=4, shard_rows=2, progress=False)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path of keys and indices inside a parsed document."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


def _replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    changed = copy.deepcopy(document)
    container = changed
    for key in path[:-1]:
        container = container[key]
    container[path[-1]] = value
    return changed


@settings(max_examples=150, deadline=None)
@given(text=_documents())
def test_the_shared_reader_and_config_readers(text: str) -> None:
    _outcome(parse_json, text, where="t", what="`text`", error=SpirographError)
    _outcome(TrainConfig.from_json, text)
    _outcome(EvaluationResult.from_json, "{" + text)
    _outcome(InvarianceResult.from_json, "{" + text)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_documents())
def test_files_on_disk(tmp_path: Path, text: str) -> None:
    path = tmp_path / "document.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _outcome(read_json, path, where="t", error=SpirographError)
    _outcome(TrainConfig.load, path)
    _outcome(EvaluationResult.from_json, path)
    _outcome(InvarianceResult.from_json, path)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_manifest_with_one_field_replaced(
    exported: Path, tmp_path_factory: pytest.TempPathFactory, data: Any
) -> None:
    manifest = json.loads((exported / MANIFEST_NAME).read_text())
    path = data.draw(st.sampled_from(_paths(manifest)))
    changed = _replaced(manifest, path, data.draw(JSON_VALUES))
    _outcome(check_manifest, changed, "t")
    folder = tmp_path_factory.mktemp("manifest")
    for name in ("README.md", "samples-v1.png", "traversals.png"):
        (folder / name).write_bytes((exported / name).read_bytes())
    (folder / "data").mkdir()
    for shard in (exported / "data").iterdir():
        (folder / "data" / shard.name).write_bytes(shard.read_bytes())
    (folder / MANIFEST_NAME).write_text(json.dumps(changed))
    _outcome(verify_export, folder)
    _outcome(load_local, folder, "test")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import torch

    from spirograph.baselines import train

    config = TrainConfig(
        encoder="small", representation_dim=8, projection_dim=4, batch_size=4, epochs=1, warmup_epochs=0,
        n_train=8, size=8, n_points=8, penalty_samples=2, progress=False,
        checkpoint_dir=str(tmp_path_factory.mktemp("checkpoint")),
    )  # fmt: skip
    result = train(config)
    assert result.checkpoint is not None
    state: dict[str, Any] = torch.load(result.checkpoint, weights_only=True)
    return state


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(["history", "steps", "config", "epoch", "step"]), value=_documents() | JSON_VALUES)
def test_checkpoint_metadata(checkpoint: dict[str, Any], tmp_path: Path, key: str, value: Any) -> None:
    import torch

    from spirograph.baselines import load_checkpoint

    path = tmp_path / "tampered.pt"
    torch.save({**checkpoint, key: value}, path)
    _outcome(load_checkpoint, path)
