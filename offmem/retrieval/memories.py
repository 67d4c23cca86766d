"""The memory operations behind the MCP tools and the worker routes.

search (compact hits) → timeline (what happened around a memory) → details (the
whole record), and remember (store an explicit memory). Every function takes an
open :class:`offmem.store.db.Store` and a project, and reads nothing outside it.
"""

from __future__ import annotations

import re

from offmem.errors import OffmemError
from offmem.records import OBSERVATION_TYPES

MAX_LIMIT = 50
_TOKEN = re.compile(r"[^\W_]+")


class MemoryRequestError(OffmemError):
    """A request the caller can fix (bad id, bad time, empty text); the message says how."""


# ---------------------------------------------------------------------- search


def _fallback_fts(store, query: str, project: str, types, limit: int) -> list[dict]:
    """bm25 over observations_fts with every query word quoted (used when offmem.search is absent)."""
    words = list(dict.fromkeys(t.lower() for t in _TOKEN.findall(query)))
    if not words:
        return []
    expression = " OR ".join('"' + w.replace('"', '""') + '"' for w in words)
    rows = store.keyword_search(expression, project, types, limit)
    return [r | {"ranks": {"fts": n, "vector": None}} for n, r in enumerate(rows, 1)]


def check_types(types) -> list[str]:
    if not types:
        return []
    names = [types] if isinstance(types, str) else list(types)
    names = [t.strip() for name in names for t in str(name).split(",") if t.strip()]
    unknown = [t for t in names if t not in OBSERVATION_TYPES]
    if unknown:
        raise MemoryRequestError(f"unknown type {', '.join(unknown)}; use one of {', '.join(OBSERVATION_TYPES)}")
    return names


def search_memories(store, query: str, project: str, *, types=None, limit: int = 10, since=None, until=None,
                    embedder=None, chroma=None, settings=None) -> dict:
    """``{mode, notes, hits}``; hits best first with id, type, title, created_at, score, ranks."""
    limit = max(1, min(int(limit), MAX_LIMIT))
    types = check_types(types)
    try:
        from offmem.search import hybrid_search
    except ImportError:
        if since or until:
            raise MemoryRequestError("time filters need offmem's search package; search without since/until") from None
        return {"mode": "fts", "notes": ["hybrid search not installed"],
                "hits": _fallback_fts(store, query, project, types, limit)}
    try:
        found = hybrid_search(store, query, project=project, types=types or None, since=since, until=until,
                              limit=limit, embedder=embedder, chroma=chroma, settings=settings)
    except ValueError as exc:  # an unreadable since/until
        raise MemoryRequestError(str(exc)) from None
    return {"mode": found.mode, "notes": list(found.notes), "hits": list(found)}


# ---------------------------------------------------------------------- timeline


def _anchor_time(store, project: str, anchor_id: int | None, at) -> tuple[str, int | None]:
    if anchor_id is not None:
        when = store.observation_time(int(anchor_id), project)
        if when is None:
            raise MemoryRequestError(f"no memory #{anchor_id} in project {project}; find ids with the search tool")
        return when, int(anchor_id)
    if at is None or str(at).strip() == "":
        raise MemoryRequestError("give an anchor: a memory id, or a time such as 2025-01-31T14:00 or 3d (3 days ago)")
    from offmem.search.filters import iso, to_epoch

    try:
        epoch = to_epoch(at)
    except ValueError as exc:
        raise MemoryRequestError(str(exc)) from None
    return iso(epoch), None


def timeline(store, project: str, *, anchor_id: int | None = None, at=None, before: int = 5,
             after: int = 5) -> dict:
    """Memories of ``project`` just before and after a memory id or a point in time, oldest first."""
    before = max(0, min(int(before), 25))
    after = max(0, min(int(after), 25))
    when, anchor = _anchor_time(store, project, anchor_id, at)
    items = store.around(project, when, anchor, before, after)
    return {"anchor_id": anchor, "at": when, "items": items}


# ---------------------------------------------------------------------- details


def get_details(store, ids, project: str) -> dict:
    """Full records of ``ids`` that belong to ``project``; ``missing`` lists the others."""
    wanted = list(dict.fromkeys(int(i) for i in ids))[:MAX_LIMIT]
    found = [o for o in store.get_observations(wanted) if o.get("project") == project]
    have = {o["id"] for o in found}
    return {"observations": found, "missing": [i for i in wanted if i not in have]}


# ---------------------------------------------------------------------- remember


def _title_of(text: str) -> str:
    first = " ".join(text.split())
    for stop in (". ", "\n"):
        if stop in first[:160]:
            first = first.split(stop, 1)[0]
    return first if len(first) <= 120 else first[:119].rstrip() + "…"


def remember(store, project: str, text: str, *, redactor, title: str | None = None, type: str = "discovery",
             files=None, session_id: str | None = None) -> dict:
    """Store an explicit memory (origin ``remember``): searchable at once by keyword, embedded later.
    ``redactor`` (the configured :func:`offmem.privacy.default_redactor`): an explicit memory is
    redacted like captured text."""
    from offmem.records import Observation
    from offmem.store.db import transaction

    body = redactor.redact_text((text or "").strip())
    if not body:
        raise MemoryRequestError("nothing to remember: pass the text of the memory")
    title = redactor.redact_text((title or "").strip())
    kind = (check_types([type]) or ["discovery"])[0]
    obs = Observation(type=kind, title=title or _title_of(body), narrative=body,
                      files_modified=[str(f) for f in (files or []) if str(f).strip()], backend="remember")
    with transaction(store.conn):
        new_id = store.insert_observation(obs, session_id=session_id or "remembered", project=project,
                                          origin="remember")
    if new_id is None:
        return {"id": None, "duplicate": True, "title": obs.title}
    return {"id": new_id, "duplicate": False, "title": obs.title, "type": kind}
