"""The worker process's entry point: settings read once, the worker and its HTTP app composed.

``python -m offmem.worker run`` (what hooks and ``offmem worker start`` spawn) and
``offmem worker run`` (the same in the foreground) both come here. The worker
(:mod:`offmem.worker.runner`) serves its HTTP face with :func:`offmem.worker.http.server.serve`
(the app :func:`offmem.worker.http.app.create_app` builds); the routes reach the library
through :class:`offmem.api.Memory`.
"""

from __future__ import annotations

from offmem.config import Settings, load_settings
from offmem.worker.runner import AlreadyRunning, Worker


def serve(worker, thread) -> None:
    """The worker's HTTP face; uvicorn and FastAPI are imported only now, so the privacy
    pass that runs first is not delayed by their import."""
    from offmem.worker.http.server import serve as serve_http

    serve_http(worker, thread)


def run(settings: Settings | None = None) -> str | None:
    """Run the worker in this process until SIGTERM/SIGINT; the reason when another worker
    already runs for the data directory (this one then does nothing)."""
    try:
        Worker(settings if settings is not None else load_settings(), serve=serve).run()
    except AlreadyRunning as exc:
        return str(exc)
    return None
