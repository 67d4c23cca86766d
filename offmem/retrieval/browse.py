"""The reads behind the web UI's pages: feed, browse, details, sizes and stats.

Every function takes an open :class:`offmem.store.db.Store` (or settings) and
returns plain dicts the templates render; nothing here writes. The UI gets them
as a :class:`Browser` from :meth:`offmem.api.Memory.browse` (one connection for
the reads of one page).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from offmem.project import project_name
from offmem.store.db import Store, file_size

FEED_LIMIT = 40
EVENT_LIMIT = 500


# ---------------------------------------------------------------------- feed & stream


@dataclass(frozen=True)
class Cursor:
    """Where a live stream stands: the last observation id and summary update it sent."""

    observation_id: int = 0
    summary_updated_at: str = ""

    def encode(self) -> str:
        return f"{self.observation_id}|{self.summary_updated_at}"

    @classmethod
    def decode(cls, text: str | None) -> "Cursor | None":
        if not text:
            return None
        head, _, tail = text.partition("|")
        try:
            return cls(int(head), tail)
        except ValueError:
            return None


def current_cursor(store: Store, project: str | None = None) -> Cursor:
    return Cursor(store.last_observation_id(project), store.last_summary_update(project))


def _feed_observation(obs: dict) -> dict:
    return {**obs, "kind": "observation", "when": obs["created_at"], "project_name": project_name(obs["project"])}


def _feed_summary(item: dict) -> dict:
    item.update(kind="summary", when=item["updated_at"], project_name=project_name(item["project"]))
    return item


def feed(store: Store, project: str | None = None, limit: int = FEED_LIMIT) -> list[dict]:
    """The most recently written observations and session summaries, merged, newest first.

    Observations come in the order they were written (id), as the live stream adds
    them; an import of old memories therefore shows on top, with its own dates.
    """
    obs = store.observations_after(None, project, limit, newest=True)
    summ = store.summaries_after(None, project, limit, newest=True)
    items = [_feed_observation(o) for o in obs] + [_feed_summary(s) for s in summ]
    items.sort(key=lambda item: (item["when"], item["kind"] == "summary", item["id"]), reverse=True)
    return items[:limit]


def changes_since(
    store: Store, cursor: Cursor, project: str | None = None, limit: int = 200
) -> tuple[list[dict], Cursor]:
    """New observations and new or updated summaries after ``cursor``, oldest first."""
    obs = store.observations_after(cursor.observation_id, project, limit)
    summ = store.summaries_after(cursor.summary_updated_at, project, limit)
    items = [_feed_observation(o) for o in obs] + [_feed_summary(s) for s in summ]
    items.sort(key=lambda item: (item["when"], item["kind"] == "summary", item["id"]))
    new = Cursor(
        max([cursor.observation_id, *(r["id"] for r in obs)]),
        max([cursor.summary_updated_at, *(r["updated_at"] for r in summ)]),
    )
    return items, new


# ---------------------------------------------------------------------- browse & search


def browse(store: Store, filters, limit: int = 50) -> list[dict]:
    """The newest observations passing ``filters`` (a SearchFilters), for an empty query."""
    where, args = filters.sql("o")
    ids = store.newest_observation_ids(where, args, limit)
    return [_feed_observation(obs) for obs in store.get_observations(ids)]


def projects(store: Store) -> list[dict]:
    """Every project with memory, most recently active first, with a short name."""
    found = {p["project"]: p for p in store.projects()}
    for name in store.observation_projects():
        found.setdefault(name, {"project": name, "sessions": 0, "last_activity": None})
    return [{**p, "name": project_name(p["project"])} for p in found.values()]


# ---------------------------------------------------------------------- details


def _event_dict(event) -> dict:
    return {
        "id": event.id,
        "kind": event.kind,
        "tool_name": event.tool_name,
        "created_at": event.created_at,
        "prompt_number": event.prompt_number,
        "payload": json.dumps(event.payload, indent=2, ensure_ascii=False, sort_keys=True),
    }


def observation_detail(store: Store, observation_id: int) -> dict | None:
    found = store.get_observations([observation_id])
    if not found:
        return None
    obs = found[0]
    ids = [int(i) for i in obs.get("event_ids", []) if str(i).isdigit()]
    events = [_event_dict(e) for e in store.events_by_ids(ids)]
    present = {e["id"] for e in events}
    return {
        "observation": {**obs, "project_name": project_name(obs["project"])},
        "session": store.get_session(obs["session_id"]),
        "events": events,
        "missing_events": [i for i in ids if i not in present],
    }


def session_detail(store: Store, session_id: str, event_limit: int = EVENT_LIMIT) -> dict | None:
    session = store.get_session(session_id)
    observations = store.session_observations(session_id)
    summary = store.get_summary(session_id)
    if session is None and not observations and summary is None:
        return None
    project = (session or {}).get("project") or (observations[0]["project"] if observations else summary["project"])
    events = store.count_session_events(session_id)
    return {
        "id": session_id,
        "session": session,
        "project": project,
        "project_name": project_name(project),
        "summary": summary,
        "prompts": store.session_prompts(session_id),
        "observations": [_feed_observation(o) for o in observations],
        "events": [_event_dict(e) for e in store.session_events(session_id)[:event_limit]],
        "event_count": events,
    }


# ---------------------------------------------------------------------- sizes & stats


def dir_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


def storage(settings) -> dict:
    """Bytes used by the database (with WAL), the vector index and the models."""
    db = file_size(settings.db_path)
    chroma = dir_size(settings.chroma_dir)
    models = dir_size(settings.models_dir)
    return {"database": db, "vectors": chroma, "models": models, "total": db + chroma + models}


def type_counts(store: Store) -> list[tuple[str, int]]:
    return store.type_counts()




# ---------------------------------------------------------------------- the UI's view


class Browser:
    """The reads of this module over one open store (what :meth:`offmem.api.Memory.browse` yields)."""

    def __init__(self, store: Store, settings) -> None:
        self.store = store
        self.settings = settings

    def feed(self, project: str | None = None, limit: int = FEED_LIMIT) -> list[dict]:
        return feed(self.store, project, limit)

    def cursor(self, project: str | None = None) -> Cursor:
        return current_cursor(self.store, project)

    def changes_since(self, cursor: Cursor, project: str | None = None) -> tuple[list[dict], Cursor]:
        return changes_since(self.store, cursor, project)

    def browse(self, filters, limit: int = 50) -> list[dict]:
        return browse(self.store, filters, limit)

    def projects(self) -> list[dict]:
        return projects(self.store)

    def observation_detail(self, observation_id: int) -> dict | None:
        return observation_detail(self.store, observation_id)

    def session_detail(self, session_id: str) -> dict | None:
        return session_detail(self.store, session_id)

    def queue_depth(self) -> int:
        return self.store.queue_depth()

    def counts(self) -> dict:
        return self.store.counts()

    def type_counts(self) -> list[tuple[str, int]]:
        return type_counts(self.store)

    def storage(self) -> dict:
        return storage(self.settings)
