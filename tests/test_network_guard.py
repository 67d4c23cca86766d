"""No network but loopback: a whole recorded session through hooks and worker, default settings.

Every process of the run carries the guard of tests/support/network.py (a libc shim
loaded with LD_PRELOAD, which sees Python, native and ``python -S`` processes alike,
plus a Python-level sitecustomize), which records and refuses any connection to, or
name lookup of, anything but this machine. The first tests prove the guard catches
deliberate outside connections; the last runs the session.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import INSTALLED_HOOK, fixture_payloads
from support.durability import minilm_dir, offmem, wait_until_drained  # noqa: F401
from support.polling import wait_for
from support.network import network_guard, netguard_shim  # noqa: F401

OUTSIDE = ("93.184.216.34", 80)  # a public address; the guard refuses it before any packet leaves


def guarded(guard, code: str, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *flags, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **guard.env})


@pytest.mark.parametrize(
    "code",
    [
        f"import socket; socket.create_connection({OUTSIDE!r}, timeout=3)",
        "import socket; socket.getaddrinfo('example.com', 443)",
        "import urllib.request; urllib.request.urlopen('http://example.org/', timeout=3)",
        "import subprocess, sys; subprocess.run([sys.executable, '-c', "
        f"{'import socket; socket.create_connection(' + repr(OUTSIDE) + ', timeout=3)'!r}], check=True)",
    ],
    ids=["tcp", "dns", "http", "grandchild"],
)
def test_the_guard_catches_a_deliberate_outside_connection(network_guard, code):  # noqa: F811
    result = guarded(network_guard, code)
    assert result.returncode != 0
    attempts = network_guard.attempts()
    assert attempts, result.stderr
    assert any("93.184.216.34" in a or "example" in a for a in attempts)


def test_the_native_guard_sees_processes_python_cannot_patch(network_guard):  # noqa: F811
    if not network_guard.native:
        pytest.skip("no C compiler: the LD_PRELOAD layer is not built (the Python layer still runs)")
    no_site = guarded(network_guard, f"import socket; socket.create_connection({OUTSIDE!r}, timeout=3)", "-S")
    shell = subprocess.run(["bash", "-c", f"exec 3<>/dev/tcp/{OUTSIDE[0]}/{OUTSIDE[1]}"], capture_output=True,
                           env={**os.environ, **network_guard.env})
    assert no_site.returncode != 0 and shell.returncode != 0
    assert len([a for a in network_guard.attempts() if a.startswith("connect 93.184.216.34:80")]) == 2


def test_loopback_is_allowed(network_guard):  # noqa: F811
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    accepted = threading.Thread(target=lambda: server.accept()[0].sendall(b"hi"), daemon=True)
    accepted.start()
    result = guarded(network_guard, f"import socket; print(socket.create_connection(('localhost', {port})).recv(2).decode())")
    server.close()
    assert result.stdout.strip() == "hi", result.stderr
    assert network_guard.attempts() == []


def test_a_whole_session_through_hooks_and_worker_stays_on_this_machine(offmem_home, monkeypatch, network_guard,  # noqa: F811
                                                                        minilm_dir):  # noqa: F811
    # The default configuration: the worker starts from the hooks, the default embedder is
    # installed (the default summarizer model is not: it falls back to rules, as documented),
    # and nothing tells Hugging Face libraries to stay offline but offmem itself.
    for key in ("OFFMEM_WORKER_AUTOSTART", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(key, raising=False)
    offmem_home.mkdir(parents=True)
    (offmem_home / "models").symlink_to(minilm_dir, target_is_directory=True)
    env = {**os.environ, **network_guard.env}
    try:
        for payload in fixture_payloads():
            if payload["hook_event_name"] == "PreToolUse":
                continue
            result = subprocess.run(INSTALLED_HOOK, input=json.dumps(payload).encode(), capture_output=True, env=env, timeout=60)
            assert result.returncode == 0, result.stderr
        wait_for(lambda: (offmem_home / "worker.json").exists(), timeout=60, what="the worker the hooks started")
        wait_until_drained(offmem_home, timeout=300)
        worker_pid = json.loads((offmem_home / "worker.json").read_text())["pid"]
        worker = json.loads(offmem("worker", "status", "--json", env=network_guard.env).stdout)
        worker_libraries = Path(f"/proc/{worker_pid}/maps").read_text()
        found = json.loads(offmem("search", "VAT rate per country", "--project", "/home/dev/shop-api", "--json", env=network_guard.env).stdout)
        context = offmem("context", "--project", "/home/dev/shop-api", env=network_guard.env).stdout
    finally:
        offmem("worker", "stop", env=network_guard.env, check=False)

    assert worker_pid in network_guard.loaded_pids()  # the worker ran under the guard
    conn = sqlite3.connect(offmem_home / "offmem.db")
    observations = conn.execute("SELECT count(*) FROM observations").fetchone()[0]
    conn.close()
    assert observations >= 3 and found["hits"] and "cart/vat.py" in context  # one per unit of work
    assert found["mode"] == "hybrid"  # the embedder and Chroma ran too
    # The default embedder backend runs MiniLM without PyTorch: the worker never maps libtorch.
    assert worker["embedder"]["backend"] == "numpy" and worker["embedder"]["indexed"] >= 3
    assert "libtorch" not in worker_libraries and worker["peak_rss_mib"] > 0
    assert network_guard.attempts() == []
