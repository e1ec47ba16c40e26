"""A Hugging Face Hub served on loopback for the download tests (never imported by the package).

It answers the two requests ``huggingface_hub.hf_hub_download`` makes for a dataset file,
``HEAD`` then ``GET`` on ``/datasets/{repo_id}/resolve/{revision}/{path}``, with the
headers the client reads: ``X-Repo-Commit`` (the commit the revision points at), ``ETag``
(the blob's id in the cache) and ``Content-Length``. Unknown revisions and files get the
``X-Error-Code`` headers the real Hub sends, so the client raises its own error types.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from werkzeug import Request, Response

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class LoopbackHub:
    """Serve the files of ``folder`` as dataset ``repo_id`` at revision ``main`` (commit :data:`COMMIT`).

    Attributes:
        requests: ``(method, path)`` of every request served, for assertions.
        overrides: file path -> bytes served instead of the file's content (to corrupt one).
        hidden: file paths answered with 404 ``EntryNotFound``.
    """

    def __init__(self, folder: Path, repo_id: str) -> None:
        self.folder = folder
        self.repo_id = repo_id
        self.requests: list[tuple[str, str]] = []
        self.overrides: dict[str, bytes] = {}
        self.hidden: set[str] = set()
        self.pattern = re.compile(rf"^/datasets/{re.escape(repo_id)}/resolve/(?P<revision>[^/]+)/(?P<path>.+)$")

    def content(self, path: str) -> bytes | None:
        if path in self.hidden:
            return None
        if path in self.overrides:
            return self.overrides[path]
        file = self.folder / path
        return file.read_bytes() if file.is_file() else None

    def __call__(self, request: Request) -> Response:
        self.requests.append((request.method, request.path))
        match = self.pattern.match(request.path)
        if match is None:
            return Response("repository not found", status=404, headers={"X-Error-Code": "RepoNotFound"})
        if match["revision"] not in ("main", COMMIT):
            return Response("revision not found", status=404, headers={"X-Error-Code": "RevisionNotFound"})
        body = self.content(match["path"])
        if body is None:
            return Response("entry not found", status=404, headers={"X-Error-Code": "EntryNotFound"})
        headers = {
            "X-Repo-Commit": COMMIT,
            "ETag": f'"{hashlib.sha256(body).hexdigest()}"',
            "Content-Length": str(len(body)),
        }
        if request.method == "HEAD":
            response = Response(status=200, headers=headers)
            response.automatically_set_content_length = False
            return response
        return Response(body, status=200, headers=headers, content_type="application/octet-stream")
