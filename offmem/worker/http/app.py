"""The worker's HTTP application (FastAPI), served on 127.0.0.1 only, guarded as a whole."""

from __future__ import annotations

from fastapi import FastAPI

from offmem.api import Memory
from offmem.worker.http import memories, search
from offmem.worker.http.security import install_guards, load_or_create_token


def create_app(worker) -> FastAPI:
    """The app of a running ``worker`` (:class:`offmem.worker.runner.Worker`), with its guards in front
    of every route (:func:`offmem.worker.http.security.install_guards`): Host/Origin checks, and the
    install's token (or the signed-in browser's cookie) everywhere but ``/api/health``, the sign-in
    link and the static assets. The routes reach the library through one :class:`offmem.api.Memory`
    that computes inside the worker, with its warm models (``app.state.memory``)."""
    app = FastAPI(title="offmem worker", docs_url=None, redoc_url=None, openapi_url=None)
    memory = Memory(worker.settings, worker=worker)
    app.state.memory = memory
    app.state.token = load_or_create_token(worker.settings.home)
    install_guards(app, app.state.token, extra_hosts=(worker.settings.worker.host,))

    @app.get("/api/health")
    def health() -> dict:
        return {"ok": True, "pid": memory.worker_status()["pid"]}

    @app.get("/api/status")
    def status() -> dict:
        return memory.worker_status()

    search.register(app, memory)
    memories.register(app, memory)
    _add_web_ui(app, memory)
    return app


def _add_web_ui(app: FastAPI, memory: Memory) -> None:
    """The web UI's pages and actions (:mod:`offmem.web`), when that package is installed."""
    try:
        from offmem.web.routes import register
    except ModuleNotFoundError as exc:
        if exc.name and "offmem.web.routes".startswith(exc.name):
            return
        raise
    register(app, memory)
