"""The worker's HTTP application (FastAPI), served on 127.0.0.1 only."""

from __future__ import annotations

from fastapi import FastAPI


def create_app(worker) -> FastAPI:
    app = FastAPI(title="offmem worker", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.worker = worker

    @app.get("/api/health")
    def health() -> dict:
        return {"ok": True, "pid": worker.status()["pid"]}

    @app.get("/api/status")
    def status() -> dict:
        return worker.status()

    for extend in _extensions():
        extend(app, worker)
    return app


def _extensions():
    """Route modules added by other layers (search, UI), registered when importable."""
    import importlib

    for name in ("offmem.search.routes", "offmem.retrieval.routes", "offmem.web.routes"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue
            raise
        yield module.register
