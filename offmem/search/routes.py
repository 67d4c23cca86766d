"""The worker's search routes. They use the worker's warm embedder and Chroma client.

- ``GET /api/search?q=&project=&type=&file=&session=&since=&until=&limit=&mode=``:
  the same JSON as ``offmem search --json``: ``{query, mode, notes, hits}``;
- ``GET /api/search/status``: the indexer's status (model, dimension, counts);
- ``POST /api/search/reindex``: rebuild the vectors from SQLite in the background;
  progress shows in the status's ``pending``.

Like every route but ``/api/health``, they need the install's ``X-Offmem-Token``
(``<data dir>/ui-token``; :mod:`offmem.web.security` guards the whole app); the
reindex, a change, needs it as a header, not the browser's cookie.
"""

from __future__ import annotations

import threading

from fastapi import Depends, HTTPException, Query

from offmem.search.hybrid import search
from offmem.store.db import Store


def _split(values: list[str] | None) -> list[str]:
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def _token_dependencies(app, worker) -> list:
    from offmem.web.security import load_or_create_token, token_checker

    token = getattr(app.state, "token", None) or load_or_create_token(worker.settings.home)
    return [Depends(token_checker(token))]


def register(app, worker) -> None:
    @app.get("/api/search")
    def search_route(
        q: str = "",
        project: str | None = None,
        type: list[str] | None = Query(None),  # noqa: A002 - the public parameter name
        file: list[str] | None = Query(None),
        session: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = Query(10, ge=1, le=200),
        mode: str = "hybrid",
    ) -> dict:
        indexer = worker.indexer
        try:
            with Store.open(worker.settings.db_path) as store:
                results = search(
                    store, q, mode=mode,
                    embedder=indexer.embedder if indexer is not None else None,
                    chroma=indexer.vectors if indexer is not None else None,
                    project=project or None, types=_split(type), files=_split(file),
                    session_id=session or None, since=since, until=until, limit=limit,
                )
        except ValueError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from exc
        return results.to_dict(q)

    @app.get("/api/search/status")
    def search_status() -> dict:
        if worker.indexer is None:
            return {"backend": worker.settings.embedder.backend, "model": None, "loaded": False,
                    "error": "semantic index disabled or unavailable; see offmem.log"}
        return worker.indexer.status()

    @app.post("/api/search/reindex", dependencies=_token_dependencies(app, worker))
    def search_reindex() -> dict:
        indexer = worker.indexer
        if indexer is None:
            raise HTTPException(status_code=409, detail="the worker has no embedder loaded; see `offmem worker status`")
        if indexer.reindexing:
            return {"started": False, "running": True}
        def job() -> None:
            try:
                indexer.reindex()
                worker.log("reindex finished")
            except Exception as exc:  # noqa: BLE001 - reported through status and the log
                worker.log(f"reindex failed: {type(exc).__name__}: {exc}")

        indexer.reindexing = True  # visible to status polls before the thread takes the lock
        threading.Thread(target=job, name="offmem-reindex", daemon=True).start()
        return {"started": True, "running": True}
