"""Serving the worker's app: uvicorn on a socket bound to the worker's loopback address.

:func:`serve` is what :mod:`offmem.worker.main` hands the worker
(:class:`offmem.worker.runner.Worker`), which calls it once its privacy pass ran and
its processing thread started, after refusing a host that is not loopback.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading

import uvicorn

from offmem.worker.http.app import create_app


class QuietServer(uvicorn.Server):
    """uvicorn re-raises SIGTERM after shutdown, killing the process before the
    worker's own cleanup; the worker handles signals itself instead."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


def serve(worker, thread: threading.Thread) -> None:
    """Serve ``worker``'s app until SIGTERM/SIGINT or until its processing ``thread`` ends."""
    host = worker.settings.worker.host
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, worker.settings.worker.port))
    except OSError as exc:
        worker.log(f"port {worker.settings.worker.port} busy ({exc}); serving on a free port instead")
        sock.bind((host, 0))
    worker.port = sock.getsockname()[1]
    worker.write_state()
    config = uvicorn.Config(create_app(worker), log_level="warning", access_log=False, lifespan="on")
    server = QuietServer(config)

    def stop(signum, frame):
        worker.stop_event.set()
        worker.wake.set()
        server.should_exit = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def watch() -> None:
        while not worker.stop_event.wait(0.5):
            if not thread.is_alive():
                break
        server.should_exit = True

    threading.Thread(target=watch, daemon=True).start()
    server.run(sockets=[sock])
