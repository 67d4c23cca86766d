"""Worker HTTP routes of the retrieval layer (registered by offmem.worker.app).

``POST /api/prompt-context``  body ``{project, prompt, session_id?, exclude?}``
    → :func:`offmem.retrieval.prompt.prompt_memories`. Pure: the caller records
    what it injected (the hook does, once the answer arrived within its time box).
``POST /api/memories/search``  body ``{project, query, types?, limit?, since?, until?}``
    → :func:`offmem.retrieval.memories.search_memories`, with the warm embedder.
``POST /api/memories/index``
    embeds what is queued (e.g. a memory the MCP ``remember`` tool just stored),
    in the background.

The embedder is used only once it is loaded: a request never waits for a model
load (seconds); until then search is keyword-only and says so in ``notes``.
"""

from __future__ import annotations

import threading

from fastapi import Body, HTTPException

from offmem.retrieval.memories import MemoryRequestError, search_memories
from offmem.retrieval.prompt import prompt_memories
from offmem.store.db import Store


_LOADING = threading.Lock()


def _load_in_background(worker, embedder) -> None:
    """Start loading the embedder once; requests meanwhile search by keyword."""
    if not _LOADING.acquire(blocking=False):
        return

    def run() -> None:
        try:
            embedder.load()
        except Exception as exc:  # noqa: BLE001 - keyword search goes on
            worker.log(f"embedder did not load for search: {type(exc).__name__}: {exc}")
        finally:
            _LOADING.release()

    threading.Thread(target=run, name="offmem-load-embedder", daemon=True).start()


def warm_search_backends(worker) -> tuple[object | None, object | None]:
    """``(embedder, chroma)`` when the worker's embedder is loaded, else ``(None, None)``.

    An embedder that is configured but not loaded yet starts loading in the
    background; this request is answered by keyword search.
    """
    indexer = getattr(worker, "indexer", None)
    embedder = getattr(indexer, "embedder", None)
    if embedder is None:
        return None, None
    if not getattr(embedder, "loaded", False):
        _load_in_background(worker, embedder)
        return None, None
    return embedder, getattr(indexer, "vectors", None)


def _text(body: dict, key: str, required: bool = True) -> str:
    value = body.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise HTTPException(status_code=422, detail=f"'{key}' must be a non-empty string")
    return value


def _index_in_background(worker) -> bool:
    indexer = getattr(worker, "indexer", None)
    if indexer is None:
        return False

    def run() -> None:
        try:
            indexer.index_pending()
        except Exception as exc:  # noqa: BLE001 - the outbox keeps the work for the next pass
            worker.log(f"indexing deferred: {type(exc).__name__}: {exc}")

    threading.Thread(target=run, name="offmem-index-remembered", daemon=True).start()
    return True


def register(app, worker) -> None:
    settings = worker.settings

    @app.post("/api/prompt-context")
    def prompt_context(body: dict = Body(...)) -> dict:
        project, prompt = _text(body, "project"), _text(body, "prompt", required=False)
        exclude = {int(i) for i in body.get("exclude") or [] if str(i).lstrip("-").isdigit()}
        embedder, chroma = warm_search_backends(worker)
        with Store.open(settings.db_path) as store:
            return prompt_memories(store, project, prompt, settings, exclude=exclude,
                                   session_id=body.get("session_id") or None, embedder=embedder, chroma=chroma)

    @app.post("/api/memories/search")
    def memories_search(body: dict = Body(...)) -> dict:
        project, query = _text(body, "project"), _text(body, "query")
        embedder, chroma = warm_search_backends(worker)
        try:
            with Store.open(settings.db_path) as store:
                return search_memories(store, query, project, types=body.get("types"), limit=body.get("limit") or 10,
                                       since=body.get("since"), until=body.get("until"), embedder=embedder,
                                       chroma=chroma, settings=settings)
        except MemoryRequestError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None

    @app.post("/api/memories/index")
    def memories_index() -> dict:
        return {"indexing": _index_in_background(worker)}
