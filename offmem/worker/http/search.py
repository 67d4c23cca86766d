"""The worker's search routes. They use the worker's warm embedder and Chroma client.

- ``GET /api/search?q=&project=&type=&file=&session=&since=&until=&limit=&mode=``:
  the same JSON as ``offmem search --json``: ``{query, mode, notes, hits}``;
- ``GET /api/search/status``: the indexer's status (model, dimension, counts);
- ``POST /api/search/reindex``: rebuild the vectors from SQLite in the background;
  progress shows in the status's ``pending``.

Like every route but ``/api/health``, they need the install's ``X-Offmem-Token``
(``<data dir>/ui-token``; :mod:`offmem.worker.http.security` guards the whole app);
the reindex, a change, needs it as a header, not the browser's cookie.
"""

from __future__ import annotations

from fastapi import Depends, HTTPException, Query

from offmem.api import Memory
from offmem.errors import WorkerError
from offmem.worker.http.security import token_checker


def _split(values: list[str] | None) -> list[str]:
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def register(app, memory: Memory) -> None:
    needs_token = [Depends(token_checker(app.state.token))]

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
        try:
            return memory.search(q, project=project or None, types=_split(type), files=_split(file),
                                 session=session or None, since=since, until=until, limit=limit, mode=mode)
        except ValueError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from exc

    @app.get("/api/search/status")
    def search_status() -> dict:
        return memory.index_status()

    @app.post("/api/search/reindex", dependencies=needs_token)
    def search_reindex() -> dict:
        try:
            return memory.reindex_in_background()
        except WorkerError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from None
