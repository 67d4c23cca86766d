"""A local stand-in for the Hugging Face hub's file endpoints, for the real huggingface-hub client.

It speaks what ``huggingface_hub`` asks when it fetches a file:

* ``HEAD /{repo_id}/resolve/{revision}/{filename}`` answered with ``X-Repo-Commit``,
  ``ETag`` (and ``X-Linked-Etag``/``X-Linked-Size`` for LFS files) and ``Content-Length``;
* ``GET`` of the same path, honouring ``Range: bytes=N-`` with ``206 Partial Content``;
* errors as the hub sends them: ``404`` + ``X-Error-Code: EntryNotFound`` for a missing
  file, ``RevisionNotFound`` for an unknown revision, ``401`` + ``RepoNotFound`` for an
  unknown repository; any other path (``/api/...``) is a plain 404.

Faults can be injected per file: cut the connection after N body bytes on the first
GETs (a broken transfer), or answer the first ranged GETs with 503 (a run that dies
mid-download). Every request is recorded for assertions.
"""

from __future__ import annotations

import hashlib
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

COMMIT = "0123456789abcdef0123456789abcdef01234567"
_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<filename>.+)$")
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


@dataclass
class HubFile:
    data: bytes
    lfs: bool = True  # LFS files carry their sha256 as ETag, like the hub's large files
    cut_after: int | None = None  # close the connection after this many body bytes...
    cuts: int = 0  # ...on this many GETs
    fail_ranges: int = 0  # answer this many ranged GETs with 503
    served_bytes: int = 0

    @property
    def etag(self) -> str:
        if self.lfs:
            return hashlib.sha256(self.data).hexdigest()
        return hashlib.sha1(b"blob %d\0" % len(self.data) + self.data).hexdigest()  # git blob id


@dataclass
class SeenRequest:
    method: str
    path: str
    headers: dict = field(default_factory=dict)


class FakeHub:
    """``with FakeHub() as hub: hub.add(...); os.environ["HF_ENDPOINT"] = hub.url``."""

    def __init__(self) -> None:
        self.repos: dict = {}  # repo_id -> {revision: {filename: HubFile}}
        self.commit_override: str | None = None  # answer with this X-Repo-Commit instead
        self.requests: list[SeenRequest] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -------------------------------------------------------------- setup

    def add(self, repo: str, filename: str, data: bytes, revision: str = COMMIT, **faults) -> HubFile:
        entry = HubFile(data=data, **faults)
        self.repos.setdefault(repo, {}).setdefault(revision, {})[filename] = entry
        return entry

    @property
    def url(self) -> str:
        assert self._server is not None, "start the hub first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def gets(self, filename: str | None = None) -> list[SeenRequest]:
        return [r for r in self.requests if r.method == "GET" and (filename is None or r.path.endswith("/" + filename))]

    def __enter__(self) -> FakeHub:
        hub = self

        class Handler(_Handler):
            fake = hub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-hub", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -------------------------------------------------------------- lookup

    def lookup(self, repo: str, revision: str, filename: str):
        """(HubFile, commit) or (None, (status, error code))."""
        revisions = self.repos.get(repo)
        if revisions is None:
            return None, (401, "RepoNotFound")
        files = revisions.get(revision)
        if files is None:
            return None, (404, "RevisionNotFound")
        entry = files.get(filename)
        if entry is None:
            return None, (404, "EntryNotFound")
        return entry, self.commit_override or (revision if len(revision) == 40 else COMMIT)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeHub

    def log_message(self, *args) -> None:  # keep test output clean
        return None

    def _record(self) -> None:
        with self.fake._lock:
            headers = {k.title(): v for k, v in self.headers.items()}  # header names are case-insensitive
            self.fake.requests.append(SeenRequest(self.command, unquote(urlsplit(self.path).path), headers))

    def _error(self, status: int, code: str | None, message: str) -> None:
        body = ('{"error": "%s"}' % message).encode()
        self.send_response(status)
        if code:
            self.send_header("X-Error-Code", code)
            self.send_header("X-Error-Message", message)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _resolve(self):
        match = _RESOLVE.match(unquote(urlsplit(self.path).path))
        if not match:
            self._error(404, None, "Not Found")
            return None
        entry, extra = self.fake.lookup(match["repo"], match["revision"], match["filename"])
        if entry is None:
            status, code = extra
            self._error(status, code, f"{code}: {match['repo']}@{match['revision']}/{match['filename']}")
            return None
        return entry, extra

    def _file_headers(self, entry: HubFile, commit: str, length: int) -> None:
        self.send_header("X-Repo-Commit", commit)
        self.send_header("ETag", f'"{entry.etag}"')
        if entry.lfs:
            self.send_header("X-Linked-Etag", f'"{entry.etag}"')
            self.send_header("X-Linked-Size", str(len(entry.data)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))

    def do_HEAD(self) -> None:
        self._record()
        found = self._resolve()
        if found is None:
            return
        entry, commit = found
        self.send_response(200)
        self._file_headers(entry, commit, len(entry.data))
        self.end_headers()

    def do_GET(self) -> None:
        self._record()
        found = self._resolve()
        if found is None:
            return
        entry, commit = found
        start, end = 0, len(entry.data) - 1
        ranged = _RANGE.match(self.headers.get("Range", ""))
        if ranged:
            with self.fake._lock:
                failing = entry.fail_ranges > 0
                entry.fail_ranges -= 1 if failing else 0
            if failing:
                self._error(503, None, "Service Unavailable")
                return
            start = int(ranged[1])
            end = int(ranged[2]) if ranged[2] else end
        body = entry.data[start:end + 1]
        self.send_response(206 if ranged else 200)
        if ranged:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(entry.data)}")
        self._file_headers(entry, commit, len(body))
        self.end_headers()
        with self.fake._lock:
            cutting = entry.cut_after is not None and entry.cuts > 0
            entry.cuts -= 1 if cutting else 0
        if cutting:
            self.wfile.write(body[: entry.cut_after])
            self.wfile.flush()
            entry.served_bytes += min(len(body), entry.cut_after or 0)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)  # the peer sees the body end early
            return
        self.wfile.write(body)
        entry.served_bytes += len(body)
