"""The worker process's entry point: settings read once, the worker and its HTTP app composed.

``python -m offmem.worker run`` (what hooks and ``offmem worker start`` spawn) and
``offmem worker run`` (the same in the foreground) both come here. The worker
(:mod:`offmem.worker.runner`) serves the app :func:`offmem.worker.http.app.create_app`
builds; the routes reach the library through :class:`offmem.api.Memory`.
"""

from __future__ import annotations

from offmem.config import Settings, load_settings
from offmem.worker.http.app import create_app
from offmem.worker.runner import AlreadyRunning, Worker


def run(settings: Settings | None = None) -> str | None:
    """Run the worker in this process until SIGTERM/SIGINT; the reason when another worker
    already runs for the data directory (this one then does nothing)."""
    try:
        Worker(settings if settings is not None else load_settings(), app_factory=create_app).run()
    except AlreadyRunning as exc:
        return str(exc)
    return None
