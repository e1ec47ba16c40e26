"""Tests of spirograph.hub.download against a Hugging Face Hub served on loopback.

The served files are the real output of ``export``; ``huggingface_hub`` talks to the
loopback server over HTTP exactly as it talks to the Hub (HEAD then GET on
``/datasets/{repo}/resolve/{revision}/{path}``), with its cache in a temporary folder.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import huggingface_hub.constants as hub_constants
import huggingface_hub.utils._http as hub_http
import pytest
import torch
from hub_server import COMMIT, LoopbackHub
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from spirograph.dataset import Spirograph
from spirograph.errors import ChecksumError, HubError, ParameterError, ParameterTypeError
from spirograph.hub import hub_dataset
from spirograph.hub.download import load_split
from spirograph.hub.export import export
from spirograph.hub.schema import MANIFEST_NAME

ROWS = 40
SHARD_ROWS = 16
REPO = "someone/spirograph"  # no default repository: every call names its copy

# `spirograph.hub.download` the module (the package re-exports names from it).
download_module = importlib.import_module("spirograph.hub.download")


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("served") / "hub"
    return export(folder, subset=ROWS, shard_rows=SHARD_ROWS, config=["v1", "v1-image"], progress=False)


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
    params, images = load_split("val", limit=20, repo_id=REPO)
    _check_against_torch(params, images, "val")
    # The manifest at `main`, then the two shards holding rows 0..19, pinned to the manifest's commit.
    assert _served(hub) == [
        f"main/{MANIFEST_NAME}",
        f"{COMMIT}/data/validation-00000-of-00003.parquet",
        f"{COMMIT}/data/validation-00001-of-00003.parquet",
    ]


def test_full_split_and_hub_split_name(hub: LoopbackHub) -> None:
    params, images = load_split("validation", repo_id=REPO)
    assert len(params) == ROWS
    _check_against_torch(params, images, "val")


def test_image_normalisation_reads_its_config(hub: LoopbackHub) -> None:
    params, images = load_split("test", normalize="image", limit=8, repo_id=REPO)
    _check_against_torch(params, images, "test", normalize="image")
    assert all("/data/v1-image/" in path for path in _served(hub)[1:])


def test_torch_dataset_from_the_hub(hub: LoopbackHub) -> None:
    dataset = hub_dataset("test", REPO, subset=ROWS)
    reference = Spirograph("test", subset=ROWS)
    assert dataset.source == "hub" and len(dataset) == ROWS and "source hub" in repr(dataset)
    assert torch.equal(dataset.params, reference.params) and torch.equal(dataset.targets, reference.targets)
    image, target = dataset[7]
    expected, expected_target = reference[7]
    assert image.dtype == torch.float32 and (image - expected).abs().max().item() <= 0.5 / 255 + 1e-6
    assert torch.equal(target, expected_target)


def test_second_call_reads_the_cache(hub: LoopbackHub) -> None:
    first = load_split("train", limit=10, repo_id=REPO)
    downloads = len(_served(hub))
    second = load_split("train", limit=10, repo_id=REPO)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert len(_served(hub)) == downloads  # only HEAD requests the second time


# ---------------------------------------------------------------- verification failures
def test_corrupted_shard_raises_checksum_error(hub: LoopbackHub) -> None:
    shard = "data/test-00001-of-00003.parquet"
    original = (hub.folder / shard).read_bytes()
    hub.overrides[shard] = original[:-10] + bytes(10)  # same size, different content
    with pytest.raises(ChecksumError, match=rf"file '{re.escape(shard)}' of dataset '{REPO}' does not match"):
        load_split("test", repo_id=REPO)
    # The corrupt copy left the cache: once the Hub serves the right bytes, the download succeeds.
    del hub.overrides[shard]
    params, images = load_split("test", repo_id=REPO)
    _check_against_torch(params, images, "test")


def test_missing_shard(hub: LoopbackHub) -> None:
    hub.hidden.add("data/train-00002-of-00003.parquet")
    with pytest.raises(HubError, match=r"'data/train-00002-of-00003.parquet' .* is missing from the repository"):
        load_split("train", repo_id=REPO)
    params, _ = load_split("train", limit=SHARD_ROWS * 2, repo_id=REPO)  # the shards before it are fine
    assert len(params) == SHARD_ROWS * 2


def test_missing_manifest(hub: LoopbackHub) -> None:
    hub.hidden.add(MANIFEST_NAME)
    with pytest.raises(HubError, match=r"'manifest.json' .* is missing from the repository"):
        load_split("train", repo_id=REPO)


def test_manifest_of_another_format(hub: LoopbackHub) -> None:
    manifest = json.loads((hub.folder / MANIFEST_NAME).read_text())
    manifest["format"] = 99
    hub.overrides[MANIFEST_NAME] = json.dumps(manifest).encode()
    with pytest.raises(HubError, match=r"must have format 1, got 99"):
        load_split("train", repo_id=REPO)


def test_unknown_repository_and_revision(hub: LoopbackHub) -> None:
    with pytest.raises(HubError, match=r"dataset repository 'someone/else' not found"):
        load_split("train", repo_id="someone/else")
    with pytest.raises(HubError, match=r"revision 'v9' not found in dataset"):
        load_split("train", revision="v9", repo_id=REPO)


def test_repository_without_the_config_or_rows(hub: LoopbackHub) -> None:
    with pytest.raises(HubError, match=r"has configs \['v1', 'v1-image'\], not 'v1-64'"):
        load_split("train", size=64, repo_id=REPO)
    with pytest.raises(HubError, match=rf"asks for {ROWS + 1} rows of 'train' .* holds {ROWS}"):
        load_split("train", limit=ROWS + 1, repo_id=REPO)
    with pytest.raises(HubError, match=r"holds 40"):
        hub_dataset("train", REPO)  # the full split is 100,000 rows


@pytest.mark.parametrize("limit", [None, ROWS, SHARD_ROWS + 1])
def test_manifest_overstating_a_shard_raises(hub: LoopbackHub, limit: int | None) -> None:
    # The first shard holds 16 rows; a manifest claiming 40 must not yield a 16-row split.
    manifest = json.loads((hub.folder / MANIFEST_NAME).read_text())
    manifest["files"]["data/train-00000-of-00003.parquet"]["num_rows"] = ROWS
    hub.overrides[MANIFEST_NAME] = json.dumps(manifest).encode()
    with pytest.raises(
        HubError, match=rf"'data/train-00000-of-00003.parquet' holds {SHARD_ROWS} rows but .* says {ROWS}"
    ):
        load_split("train", limit=limit, repo_id=REPO)


def test_manifest_understating_a_shard_raises(hub: LoopbackHub) -> None:
    manifest = json.loads((hub.folder / MANIFEST_NAME).read_text())
    manifest["files"]["data/train-00000-of-00003.parquet"]["num_rows"] = 4
    hub.overrides[MANIFEST_NAME] = json.dumps(manifest).encode()
    with pytest.raises(HubError, match=rf"holds {SHARD_ROWS} rows but .* says 4"):
        load_split("train", limit=4, repo_id=REPO)


# ---------------------------------------------------------------- offline and unreachable
def test_offline_with_a_warm_cache(hub: LoopbackHub, monkeypatch: pytest.MonkeyPatch) -> None:
    online = load_split("val", limit=20, repo_id=REPO)
    requests = len(hub.requests)
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    offline = load_split("val", limit=20, repo_id=REPO)
    assert torch.equal(online[0], offline[0]) and torch.equal(online[1], offline[1])
    assert len(hub.requests) == requests  # not a single request
    with pytest.raises(
        HubError, match=r"offline mode is on \(HF_HUB_OFFLINE=1\) and the file is not in the local cache"
    ):
        load_split("val", repo_id=REPO)  # the third shard was never downloaded


def test_offline_with_a_cold_cache(hub: LoopbackHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubError, match=r"cannot get 'manifest.json' .* offline mode is on"):
        load_split("train", repo_id=REPO)
    assert hub.requests == []


def test_unreachable_hub_with_a_cold_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _point_hub_at(monkeypatch, f"http://127.0.0.1:{port}", tmp_path / "hf-cache")
    monkeypatch.setattr(hub_http.time, "sleep", lambda seconds: None)  # skip the client's retry back-off
    with pytest.raises(HubError, match=r"cannot get 'manifest.json' .* the Hub is unreachable"):
        load_split("train", repo_id=REPO)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"split": "dev"}, ParameterError, r"`split` must be one of .*got 'dev'"),
        ({"repo_id": None}, ParameterError, r"`repo_id` is required: no official copy is published yet"),
        (
            {"repo_id": "spirograph"},
            ParameterError,
            r"`repo_id` must look like 'owner/name', got 'spirograph'",
        ),
        ({"revision": ""}, ParameterError, r"`revision` must be a non-empty string or None, got ''"),
        ({"size": 32.0}, ParameterTypeError, r"`size` must be an int >= 2, got float 32.0"),
        ({"repo_id": 7}, ParameterTypeError, r"`repo_id` must be a string 'owner/name', got int 7"),
        ({"size": 48}, ParameterError, r"no hub config has \(size, normalize\) = \(48, 'row'\)"),
        ({"normalize": "max"}, ParameterError, r"`normalize` must be one of \['row', 'image'\], got 'max'"),
        ({"limit": 0}, ParameterError, r"`limit` must be an int >= 1, got 0"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], error: type[Exception], match: str) -> None:
    arguments: dict[str, object] = {"split": "train", "repo_id": REPO, **kwargs}
    with pytest.raises(error, match=match):
        load_split(**arguments)  # type: ignore[arg-type]


# ---------------------------------------------------------------- the environment variables users set
_CHILD = """
import hashlib
from spirograph.hub import load_split
params, images = load_split("val", limit=20, repo_id="someone/spirograph")
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
    assert (tmp_path / "hf-home" / "hub" / "datasets--someone--spirograph").is_dir()
    requests = len(hub.requests)
    env["HF_HUB_OFFLINE"] = "1"
    offline = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, check=True)
    assert online.stdout == offline.stdout and len(online.stdout.strip()) == 64
    assert len(hub.requests) == requests
    params, images = load_split("val", limit=20, repo_id=REPO)  # this process, its own cache: the same bytes
    expected = hashlib.sha256(params.numpy().tobytes() + images.numpy().tobytes()).hexdigest()
    assert online.stdout.strip() == expected


# ---------------------------------------------------------------- a hostile endpoint
class _HostileHub(LoopbackHub):
    """Answers the HEAD of ``shard`` with ``header: value`` (an ETag that climbs out of the cache)."""

    def __init__(self, folder: Path, repo_id: str, shard: str, header: str, value: str) -> None:
        super().__init__(folder, repo_id)
        self.shard, self.header, self.value = shard, header, value

    def __call__(self, request: Request) -> Response:
        response = super().__call__(request)
        if request.path.endswith("/" + self.shard):
            response.headers[self.header] = self.value
        return response


def _serve(server: HTTPServer, handler: LoopbackHub) -> None:
    server.clear()
    server.expect_request(re.compile(".*")).respond_with_handler(handler)


@pytest.mark.parametrize("header", ["ETag", "X-Linked-Etag"])
@pytest.mark.parametrize("victim_exists", [True, False])
def test_hostile_etag_touches_nothing_outside_the_cache(
    hub: LoopbackHub, server: HTTPServer, tmp_path: Path, header: str, victim_exists: bool
) -> None:
    # The cache is tmp_path/hf-cache: blobs/../../.. climbs from <cache>/datasets--o--n/blobs to tmp_path.
    victim = tmp_path / "victim.txt"
    if victim_exists:
        victim.write_text("precious\n")
    shard = "data/test-00000-of-00003.parquet"
    _serve(server, _HostileHub(hub.folder, REPO, shard, header, '"../../../victim.txt"'))
    with pytest.raises(HubError, match=rf"{header}: .*not a plain file name"):
        load_split("test", limit=4, repo_id=REPO)
    if victim_exists:
        assert victim.read_text() == "precious\n"
    else:
        assert not victim.exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(["hf-cache"] + ["victim.txt"] * victim_exists)
    # The honest answer still works afterwards.
    _serve(server, hub)
    _check_against_torch(*load_split("test", limit=4, repo_id=REPO), "test")


def test_hostile_commit_on_a_missing_file_touches_nothing_outside_the_cache(
    hub: LoopbackHub, server: HTTPServer, tmp_path: Path
) -> None:
    # huggingface_hub records a 404 as <cache>/<repo>/.no_exist/<X-Repo-Commit>/<file>.
    shard = "data/test-00000-of-00003.parquet"
    hostile = _HostileHub(hub.folder, REPO, shard, "X-Repo-Commit", "../../../planted")
    hostile.hidden.add(shard)
    _serve(server, hostile)
    with pytest.raises(HubError, match=r"X-Repo-Commit: '../../../planted'.*not a plain file name"):
        load_split("test", limit=4, repo_id=REPO)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["hf-cache"]


def test_discard_never_follows_a_link_out_of_the_cache(hub: LoopbackHub, tmp_path: Path) -> None:
    # A cache poisoned earlier: the snapshot entry of a shard links to a file outside the cache.
    load_split("val", limit=4, repo_id=REPO)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    pointer = next((tmp_path / "hf-cache").glob("datasets--*/snapshots/*/data/validation-00000-of-00003.parquet"))
    pointer.unlink()
    pointer.symlink_to(victim)
    with pytest.raises(HubError, match=r"links to .*victim.txt.*outside the cache's blobs folder"):
        load_split("val", limit=4, repo_id=REPO)
    assert victim.read_text() == "precious\n"


def test_discard_removes_only_the_link_and_its_blob(hub: LoopbackHub, tmp_path: Path) -> None:
    load_split("val", limit=4, repo_id=REPO)
    pointer = next((tmp_path / "hf-cache").glob("datasets--*/snapshots/*/data/validation-00000-of-00003.parquet"))
    blob = pointer.resolve()
    outside = tmp_path / "outside.parquet"
    assert blob.parent.name == "blobs"
    download_module._discard(outside, REPO)  # not in the cache: left alone
    outside.write_bytes(b"x")
    download_module._discard(outside, REPO)
    assert outside.exists()
    download_module._discard(pointer, REPO)
    assert not pointer.exists() and not pointer.is_symlink() and not blob.exists()


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda m: m.pop("files"), r"`files` is missing"),
        (lambda m: m["configs"]["v1"].update(size="32"), r"`configs\['v1'\]\['size'\]` must be a int, got str '32'"),
        (
            lambda m: m["configs"]["v1"]["splits"]["test"].update(num_rows=-1),
            r"`configs\['v1'\]\['splits'\]\['test'\]\['num_rows'\]` must be an int in \[0, 20000\], got -1",
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
    with pytest.raises(HubError, match=rf"load_split: manifest.json of dataset '{REPO}': .*" + match):
        load_split("test", limit=5, repo_id=REPO)


# ---------------------------------------------------------------- a server that does not stop
class _EndlessHub(LoopbackHub):
    """Serves ``shard`` without a Content-Length, as an endless (or slow) stream; counts the bytes sent."""

    def __init__(self, folder: Path, repo_id: str, shard: str, chunk: int, pause: float, chunks: int) -> None:
        super().__init__(folder, repo_id)
        self.shard, self.chunk, self.pause, self.chunks = shard, chunk, pause, chunks
        self.sent = 0

    def __call__(self, request: Request) -> Response:
        response = super().__call__(request)
        if not request.path.endswith("/" + self.shard):
            return response
        del response.headers["Content-Length"]
        if request.method == "HEAD":
            return response

        def body() -> Iterator[bytes]:
            for _ in range(self.chunks):  # bounded, so that the test server never hangs
                time.sleep(self.pause)
                self.sent += self.chunk
                yield b"x" * self.chunk

        return Response(body(), status=200, headers=dict(response.headers), direct_passthrough=True)


def test_a_download_stops_at_the_manifest_size(hub: LoopbackHub, server: HTTPServer) -> None:
    shard = "data/test-00000-of-00003.parquet"
    size = (hub.folder / shard).stat().st_size
    endless = _EndlessHub(hub.folder, REPO, shard, chunk=2**16, pause=0.0, chunks=2000)  # 125 MiB
    _serve(server, endless)
    with pytest.raises(HubError, match=rf"more than the {size} bytes manifest.json gives '{re.escape(shard)}'"):
        load_split("test", limit=4, repo_id=REPO)
    assert endless.sent < 16 * 2**20  # what the sockets buffer, not the whole stream


def test_every_download_has_a_time_limit(hub: LoopbackHub, server: HTTPServer) -> None:
    shard = "data/test-00000-of-00003.parquet"
    _serve(server, _EndlessHub(hub.folder, REPO, shard, chunk=1, pause=0.1, chunks=100))  # 10 s, one byte at a time
    began = time.monotonic()
    with pytest.raises(HubError, match=r"downloading 'data/test-00000-of-00003.parquet' took longer than `timeout`=1"):
        load_split("test", limit=4, repo_id=REPO, timeout=1)
    assert time.monotonic() - began < 5
    with pytest.raises(ParameterError, match=r"load_split: `timeout` must be a finite number > 0, got 0"):
        load_split("test", repo_id=REPO, timeout=0)


def test_a_redirect_loop_is_a_hub_error(hub: LoopbackHub, server: HTTPServer) -> None:
    server.clear()
    server.expect_request(re.compile(".*")).respond_with_handler(
        lambda request: Response(status=302, headers={"Location": "http://127.0.0.1:1/loop" + request.path})
    )
    began = time.monotonic()
    with pytest.raises(HubError, match=r"load_split: "):
        load_split("test", limit=4, repo_id=REPO, timeout=3)
    assert time.monotonic() - began < 10
