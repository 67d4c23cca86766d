"""The worker's memory routes (the hook's prompt-time lookup and the MCP server's search).

``POST /api/prompt-context``  body ``{project, prompt, session_id?, exclude?}``
    → :func:`offmem.retrieval.prompt.prompt_memories`. Pure: the caller records
    what it injected (the hook does, once the answer arrived within its time box).
``POST /api/memories/search``  body ``{project, query, types?, limit?, since?, until?}``
    → :func:`offmem.retrieval.memories.search_memories`, with the warm embedder.
``POST /api/memories/index``
    embeds what is queued (e.g. a memory the MCP ``remember`` tool just stored),
    in the background.

The embedder is used only once it is loaded: a request never waits for a model
load (seconds); until then search is keyword-only and says so in ``notes``
(:mod:`offmem.worker.warm`).
"""

from __future__ import annotations

from fastapi import Body, HTTPException

from offmem.api import Memory, MemoryRequestError


def _text(body: dict, key: str, required: bool = True) -> str:
    value = body.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise HTTPException(status_code=422, detail=f"'{key}' must be a non-empty string")
    return value


def register(app, memory: Memory) -> None:
    @app.post("/api/prompt-context")
    def prompt_context(body: dict = Body(...)) -> dict:
        project, prompt = _text(body, "project"), _text(body, "prompt", required=False)
        exclude = {int(i) for i in body.get("exclude") or [] if str(i).lstrip("-").isdigit()}
        return memory.prompt_memories(project, prompt, exclude=exclude, session_id=body.get("session_id") or None)

    @app.post("/api/memories/search")
    def memories_search(body: dict = Body(...)) -> dict:
        project, query = _text(body, "project"), _text(body, "query")
        try:
            return memory.find(query, project, types=body.get("types"), limit=body.get("limit") or 10,
                               since=body.get("since"), until=body.get("until"))
        except MemoryRequestError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None

    @app.post("/api/memories/index")
    def memories_index() -> dict:
        return {"indexing": memory.index_soon()}
