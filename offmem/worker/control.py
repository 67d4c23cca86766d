"""Start, stop and ask the worker for its status (the library face, :mod:`offmem.api`, calls these).

Its HTTP API is reached through :mod:`offmem.worker.client`, the one client.
"""

from __future__ import annotations

import os
import signal
import time

from offmem.config import Settings
from offmem.errors import WorkerError
from offmem.worker.client import read_state, request_json, worker_address
from offmem.worker.launch import spawn_detached, worker_argv, worker_running


def status(settings: Settings) -> dict:
    running = worker_running(str(settings.home))
    if running:
        live = request_json(settings, "/api/status", timeout=5.0)
        if live:
            return live
    from offmem.store.db import Store

    depth = None
    if settings.db_path.exists():
        with Store.open(settings.db_path) as store:
            depth = store.queue_depth()
    state = read_state(settings.home) or {}
    return {
        "running": running,
        "pid": state.get("pid") if running else None,
        "home": str(settings.home),
        "port": state.get("port") if running else None,
        "queue_depth": depth,
        "events_per_min": 0.0,
        "last_error": None,
        "model_loaded": False,
        "summarizer_backend": settings.summarizer.backend,
    }


def start(settings: Settings, *, wait_s: float = 20.0) -> dict:
    home = str(settings.home)
    settings.home.mkdir(parents=True, exist_ok=True)
    if not worker_running(home):
        # started in the data directory with an isolated interpreter: never imports from the project
        child = spawn_detached(worker_argv(), log_path=os.path.join(home, "worker.out"), cwd=home,
                               env={**os.environ, "OFFMEM_HOME": home})
        os.waitpid(child, 0)
    deadline = time.time() + wait_s
    while time.time() < deadline:
        if worker_running(home) and worker_address(home) and request_json(settings, "/api/health"):
            return status(settings)
        time.sleep(0.1)
    raise WorkerError(f"the worker did not come up within {wait_s:.0f} s; see {settings.home / 'worker.out'}")


def stop(settings: Settings, *, wait_s: float = 15.0) -> bool:
    """SIGTERM the worker and wait for it to release its lock; False if none ran."""
    home = str(settings.home)
    if not worker_running(home):
        return False
    state = read_state(settings.home) or {}
    pid = state.get("pid")
    if not pid:
        raise WorkerError("a worker holds the lock but wrote no state file; stop it by pid")
    try:
        os.kill(int(pid), signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.time() + wait_s
    while time.time() < deadline:
        if not worker_running(home):
            return True
        time.sleep(0.1)
    os.kill(int(pid), signal.SIGKILL)
    return True
