"""The worker's HTTP application (FastAPI), served on 127.0.0.1 only, guarded as a whole."""

from __future__ import annotations

from fastapi import FastAPI


def create_app(worker) -> FastAPI:
    """The app, with its guards in front of every route (:func:`offmem.web.security.install_guards`):
    Host/Origin checks, and the install's token (or the signed-in browser's cookie)
    everywhere but ``/api/health``, the sign-in link and the static assets."""
    from offmem.web.security import install_guards, load_or_create_token

    app = FastAPI(title="offmem worker", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.worker = worker
    app.state.token = load_or_create_token(worker.settings.home)
    install_guards(app, app.state.token, extra_hosts=(worker.settings.worker.host,))

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
