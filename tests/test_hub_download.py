"""Tests of spirograph.hub.download against a Hugging Face Hub served on loopback.

The served files are the real output of ``export``; ``huggingface_hub`` talks to the
loopback server over HTTP exactly as it talks to the Hub (HEAD then GET on
``/datasets/{repo}/resolve/{revision}/{path}``), with its cache in a temporary folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import huggingface_hub.constants as hub_constants
import huggingface_hub.utils._http as hub_http
import pytest
import torch
from hub_server import COMMIT, LoopbackHub
from pytest_httpserver import HTTPServer

from spirograph.dataset import Spirograph
from spirograph.errors import ChecksumError, HubError, ParameterError
from spirograph.hub.download import load_split
from spirograph.hub.export import export
from spirograph.hub.schema import DEFAULT_REPO_ID, MANIFEST_NAME

ROWS = 40
SHARD_ROWS = 16
REPO = DEFAULT_REPO_ID


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("served") / "hub"
    return export(folder, subset=ROWS, shard_rows=SHARD_ROWS, config=["v1", "v1-image"], quiet=True)


@pytest.fixture(scope="module")
def server() -> Iterator[HTTPServer]:
    http = HTTPServer(host="127.0.0.1", port=0)
    http.start()
    yield http
    http.clear()
    if http.is_running():
        http.stop()


def _point_hub_at(monkeypatch: pytest.MonkeyPatch, endpoint: str, cache: Path) -> None:
    # What HF_ENDPOINT / HF_HUB_CACHE / HF_HUB_OFFLINE set when huggingface_hub is imported.
    monkeypatch.setattr(hub_constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(
        hub_constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    )
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)


@pytest.fixture
def hub(exported: Path, server: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LoopbackHub:
    loopback = LoopbackHub(exported, REPO)
    server.clear()
    server.expect_request(re.compile(".*")).respond_with_handler(loopback)
    _point_hub_at(monkeypatch, server.url_for("").rstrip("/"), tmp_path / "hf-cache")
    return loopback


def _served(hub: LoopbackHub) -> list[str]:
    return [path.split("/resolve/", 1)[1] for method, path in hub.requests if method == "GET" and "/resolve/" in path]


def _check_against_torch(params: torch.Tensor, images: torch.Tensor, split: str, normalize: str = "row") -> None:
    reference = Spirograph(split, subset=len(params), normalize=normalize)
    assert params.dtype == torch.float32 and images.dtype == torch.uint8
    assert images.shape == (len(params), 3, 32, 32)
    assert torch.equal(params, reference.params)
    assert (images.float() / 255 - reference.images()).abs().max().item() <= 0.5 / 255 + 1e-6


# ---------------------------------------------------------------- good downloads
def test_download_only_the_needed_shards(hub: LoopbackHub) -> None:
    params, images = load_split("val", limit=20)
    _check_against_torch(params, images, "val")
    # The manifest at `main`, then the two shards holding rows 0..19, pinned to the manifest's commit.
    assert _served(hub) == [
        f"main/{MANIFEST_NAME}",
        f"{COMMIT}/data/validation-00000-of-00003.parquet",
        f"{COMMIT}/data/validation-00001-of-00003.parquet",
    ]


def test_full_split_and_hub_split_name(hub: LoopbackHub) -> None:
    params, images = load_split("validation")
    assert len(params) == ROWS
    _check_against_torch(params, images, "val")


def test_image_normalisation_reads_its_config(hub: LoopbackHub) -> None:
    params, images = load_split("test", normalize="image", limit=8)
    _check_against_torch(params, images, "test", normalize="image")
    assert all("/data/v1-image/" in path for path in _served(hub)[1:])


def test_torch_dataset_from_the_hub(hub: LoopbackHub) -> None:
    dataset = Spirograph("test", source="hub", subset=ROWS)
    reference = Spirograph("test", subset=ROWS)
    assert torch.equal(dataset.params, reference.params) and torch.equal(dataset.targets, reference.targets)
    image, target = dataset[7]
    expected, expected_target = reference[7]
    assert image.dtype == torch.float32 and (image - expected).abs().max().item() <= 0.5 / 255 + 1e-6
    assert torch.equal(target, expected_target)


def test_second_call_reads_the_cache(hub: LoopbackHub) -> None:
    first = load_split("train", limit=10)
    downloads = len(_served(hub))
    second = load_split("train", limit=10)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert len(_served(hub)) == downloads  # only HEAD requests the second time


# ---------------------------------------------------------------- verification failures
def test_corrupted_shard_raises_checksum_error(hub: LoopbackHub) -> None:
    shard = "data/test-00001-of-00003.parquet"
    original = (hub.folder / shard).read_bytes()
    hub.overrides[shard] = original[:-10] + bytes(10)  # same size, different content
    with pytest.raises(ChecksumError, match=rf"file '{re.escape(shard)}' of dataset '{REPO}' does not match"):
        load_split("test")
    # The corrupt copy left the cache: once the Hub serves the right bytes, the download succeeds.
    del hub.overrides[shard]
    params, images = load_split("test")
    _check_against_torch(params, images, "test")


def test_missing_shard(hub: LoopbackHub) -> None:
    hub.hidden.add("data/train-00002-of-00003.parquet")
    with pytest.raises(HubError, match=r"'data/train-00002-of-00003.parquet' .* is missing from the repository"):
        load_split("train")
    params, _ = load_split("train", limit=SHARD_ROWS * 2)  # the shards before it are fine
    assert len(params) == SHARD_ROWS * 2


def test_missing_manifest(hub: LoopbackHub) -> None:
    hub.hidden.add(MANIFEST_NAME)
    with pytest.raises(HubError, match=r"'manifest.json' .* is missing from the repository"):
        load_split("train")


def test_manifest_of_another_format(hub: LoopbackHub) -> None:
    manifest = json.loads((hub.folder / MANIFEST_NAME).read_text())
    manifest["format"] = 99
    hub.overrides[MANIFEST_NAME] = json.dumps(manifest).encode()
    with pytest.raises(HubError, match=r"must have format 1, got 99"):
        load_split("train")


def test_unknown_repository_and_revision(hub: LoopbackHub) -> None:
    with pytest.raises(HubError, match=r"dataset repository 'someone/else' not found"):
        load_split("train", repo_id="someone/else")
    with pytest.raises(HubError, match=r"revision 'v9' not found in dataset"):
        load_split("train", revision="v9")


def test_repository_without_the_config_or_rows(hub: LoopbackHub) -> None:
    with pytest.raises(HubError, match=r"has configs \['v1', 'v1-image'\], not 'v1-64'"):
        load_split("train", size=64)
    with pytest.raises(HubError, match=rf"asks for {ROWS + 1} rows of 'train' .* holds {ROWS}"):
        load_split("train", limit=ROWS + 1)
    with pytest.raises(HubError, match=r"holds 40"):
        Spirograph("train", source="hub")  # the full split is 100,000 rows


# ---------------------------------------------------------------- offline and unreachable
def test_offline_with_a_warm_cache(hub: LoopbackHub, monkeypatch: pytest.MonkeyPatch) -> None:
    online = load_split("val", limit=20)
    requests = len(hub.requests)
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    offline = load_split("val", limit=20)
    assert torch.equal(online[0], offline[0]) and torch.equal(online[1], offline[1])
    assert len(hub.requests) == requests  # not a single request
    with pytest.raises(
        HubError, match=r"offline mode is on \(HF_HUB_OFFLINE=1\) and the file is not in the local cache"
    ):
        load_split("val")  # the third shard was never downloaded


def test_offline_with_a_cold_cache(hub: LoopbackHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubError, match=r"cannot get 'manifest.json' .* offline mode is on"):
        load_split("train")
    assert hub.requests == []


def test_unreachable_hub_with_a_cold_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _point_hub_at(monkeypatch, f"http://127.0.0.1:{port}", tmp_path / "hf-cache")
    monkeypatch.setattr(hub_http.time, "sleep", lambda seconds: None)  # skip the client's retry back-off
    with pytest.raises(HubError, match=r"cannot get 'manifest.json' .* the Hub is unreachable"):
        load_split("train")


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"split": "dev"}, ParameterError, r"`split` must be one of .*got 'dev'"),
        (
            {"repo_id": "spirograph"},
            ParameterError,
            r"`repo_id` must look like 'owner/name' or be None, got 'spirograph'",
        ),
        ({"revision": ""}, ParameterError, r"`revision` must be a non-empty string or None, got ''"),
        ({"size": 32.0}, ParameterError, r"`size` must be an int >= 2, got 32.0"),
        ({"size": 48}, ParameterError, r"no hub config has \(size, normalize\) = \(48, 'row'\)"),
        ({"normalize": "max"}, ParameterError, r"`normalize` must be one of \['row', 'image'\], got 'max'"),
        ({"limit": 0}, ParameterError, r"`limit` must be an int >= 1 or None, got 0"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], error: type[Exception], match: str) -> None:
    arguments: dict[str, object] = {"split": "train", **kwargs}
    with pytest.raises(error, match=match):
        load_split(**arguments)  # type: ignore[arg-type]


# ---------------------------------------------------------------- the environment variables users set
_CHILD = """
import hashlib
from spirograph.hub import load_split
params, images = load_split("val", limit=20)
print(hashlib.sha256(params.numpy().tobytes() + images.numpy().tobytes()).hexdigest())
"""


@pytest.mark.slow  # two fresh interpreters import torch
def test_environment_variables_in_a_fresh_process(hub: LoopbackHub, server: HTTPServer, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "HF_ENDPOINT": server.url_for("").rstrip("/"),
        "HF_HOME": str(tmp_path / "hf-home"),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    env.pop("HF_HUB_CACHE", None)
    env.pop("HF_HUB_OFFLINE", None)
    online = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, check=True)
    assert (tmp_path / "hf-home" / "hub" / "datasets--spirograph--spirograph").is_dir()
    requests = len(hub.requests)
    env["HF_HUB_OFFLINE"] = "1"
    offline = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, check=True)
    assert online.stdout == offline.stdout and len(online.stdout.strip()) == 64
    assert len(hub.requests) == requests
    params, images = load_split("val", limit=20)  # this process, its own cache: the same bytes
    expected = hashlib.sha256(params.numpy().tobytes() + images.numpy().tobytes()).hexdigest()
    assert online.stdout.strip() == expected


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda m: m.pop("files"), r"`files` is missing"),
        (lambda m: m["configs"]["v1"].update(size="32"), r"`configs\['v1'\]\['size'\]` must be a int, got str '32'"),
        (
            lambda m: m["configs"]["v1"]["splits"]["test"].update(num_rows=-1),
            r"`configs\['v1'\]\['splits'\]\['test'\]\['num_rows'\]` must be an int >= 0, got -1",
        ),
        (lambda m: m["configs"]["v1"]["splits"]["test"].update(files="x"), r"\['files'\]` must be a list, got str"),
        (
            lambda m: m["files"][m["configs"]["v1"]["splits"]["test"]["files"][0]].update(sha256=None),
            r"\['sha256'\]` must be a str, got NoneType",
        ),
    ],
)
def test_malformed_manifest_fields_are_a_clear_error(hub: LoopbackHub, change: Any, match: str) -> None:
    manifest = json.loads((hub.folder / MANIFEST_NAME).read_text())
    change(manifest)
    hub.overrides[MANIFEST_NAME] = json.dumps(manifest).encode()
    with pytest.raises(HubError, match=r"load_split: manifest.json of dataset 'spirograph/spirograph': .*" + match):
        load_split("test", limit=5)
