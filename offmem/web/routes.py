"""The web UI, served by the worker: ``register(app, worker)`` adds it to the worker's app.

:func:`offmem.worker.app.create_app` calls :func:`register` when this module
imports. It puts the Host/Origin guard in front of the whole app (``/api/*``
included), serves the local assets under ``/static``, the pages
(:mod:`offmem.web.pages`) and the live stream and actions (:mod:`offmem.web.api`).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from offmem.web import api, pages
from offmem.web.base import STATIC_DIR, WebUI
from offmem.web.security import HostOriginGuard


def register(app: FastAPI, worker) -> WebUI:
    ui = WebUI(worker)
    app.add_middleware(HostOriginGuard, extra_hosts=(worker.settings.worker.host,))
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.include_router(pages.router(ui))
    app.include_router(api.router(ui))
    app.state.web_ui = ui
    return ui
