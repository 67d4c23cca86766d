"""The web UI, served by the worker: ``register(app, memory)`` adds it to the worker's app.

:func:`offmem.worker.http.app.create_app` calls :func:`register` when this module
imports, with the app's :class:`offmem.api.Memory` (the UI's only way to the
library). It serves the local assets under ``/static``, the pages
(:mod:`offmem.web.pages`) and the live stream and actions (:mod:`offmem.web.api`).
The guards (Host/Origin, the install's token) are the app factory's: they stand in
front of every route whether or not this module loads.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from offmem.api import Memory
from offmem.web import api, pages
from offmem.web.base import STATIC_DIR, WebUI


def register(app: FastAPI, memory: Memory) -> WebUI:
    ui = WebUI(memory, token=getattr(app.state, "token", None))
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.include_router(pages.router(ui))
    app.include_router(api.router(ui))
    app.state.web_ui = ui
    return ui
