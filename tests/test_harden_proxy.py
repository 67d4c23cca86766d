"""Calls to the local worker never go through a proxy.

With ``HTTP_PROXY`` (and every other proxy variable) pointing at a real listener that
records whatever reaches it, the real CLI and client code talk to a real running worker:
searches, prompt context and the token-bearing reindex request. The proxy must see
nothing, and the answers must come from the worker.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import urllib.parse
from pathlib import Path

import pytest

from conftest import fixture_payloads, replay
from support.durability import offmem, wait_until_drained

PROJECT = "/home/dev/shop-api"
PROXY_VARS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


class RecordingProxy:
    """A TCP listener on loopback that records each connection's first bytes and answers 502."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.seen: list[bytes] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2.0)
                try:
                    data = conn.recv(65536)
                except OSError:
                    data = b""
                self.seen.append(data or b"<connected>")
                try:
                    conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def proxy(monkeypatch):
    recorder = RecordingProxy()
    for name in PROXY_VARS:
        monkeypatch.setenv(name, recorder.url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    yield recorder
    recorder.close()


@pytest.fixture
def worker_with_memories(offmem_home, monkeypatch):
    monkeypatch.setenv("OFFMEM_EMBEDDER_BACKEND", "none")
    monkeypatch.setenv("OFFMEM_SUMMARIZER_BACKEND", "rules")
    for result in replay(fixture_payloads()):
        assert result.returncode == 0, result.stderr
    try:
        yield offmem_home
    finally:
        offmem("worker", "stop", check=False)


def test_worker_clients_bypass_every_proxy_variable(worker_with_memories, proxy):
    home = worker_with_memories
    started = json.loads(offmem("worker", "start", "--json").stdout)  # its health probe is a loopback call too
    assert started["port"]
    wait_until_drained(home, timeout=180, vectors=False)

    found = json.loads(offmem("search", "VAT", "--project", PROJECT, "--json").stdout)
    assert found["hits"], found

    context = json.loads(offmem("context", "--project", PROJECT, "--prompt", "Where is the VAT rate?", "--json").stdout)
    assert context["prompt"]["source"] == "worker", context["prompt"]

    refused = offmem("reindex", "--json", check=False)  # carries the install's token
    assert refused.returncode == 1 and "(409)" in refused.stderr, refused.stderr  # the worker answered, not a proxy

    from offmem.config import load_settings
    from offmem.worker.client import request_json

    query = urllib.parse.urlencode({"q": "VAT", "project": PROJECT, "mode": "fts"})
    answer = request_json(load_settings(), f"/api/search?{query}", timeout=10.0)
    assert answer and answer["hits"], answer

    assert proxy.seen == [], [s[:200] for s in proxy.seen]


def test_the_recording_proxy_does_record_a_proxied_call(proxy):
    """The listener is real: an ordinary urllib call with these variables reaches it."""
    import urllib.request

    # an opener of its own: urlopen() would cache a global one with these proxies for later tests
    with pytest.raises(OSError):
        urllib.request.build_opener().open("http://127.0.0.1:9/never", timeout=5)
    assert proxy.seen and proxy.seen[0].startswith(b"GET http://127.0.0.1:9/never")
