"""The reads behind the UI's pages: feed, browse, details, sizes and stats.

Every function takes an open :class:`offmem.store.db.Store` (or settings) and
returns plain dicts the templates render; nothing here writes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from offmem.project import project_name
from offmem.store.db import Store, file_size, row_to_observation_dict, row_to_summary_dict

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


def _project_clause(project: str | None, alias: str = "") -> tuple[str, list]:
    if not project:
        return "", []
    return f" AND {alias}project = ?", [project]


def current_cursor(store: Store, project: str | None = None) -> Cursor:
    where, args = _project_clause(project)
    obs = store.conn.execute(f"SELECT max(id) FROM observations WHERE 1{where}", args).fetchone()[0]
    summ = store.conn.execute(f"SELECT max(updated_at) FROM summaries WHERE 1{where}", args).fetchone()[0]
    return Cursor(int(obs or 0), summ or "")


def _as_observation(row) -> dict:
    return _feed_observation(row_to_observation_dict(row))


def _feed_observation(obs: dict) -> dict:
    return {**obs, "kind": "observation", "when": obs["created_at"], "project_name": project_name(obs["project"])}


def _as_summary(row) -> dict:
    item = row_to_summary_dict(row)
    item.update(kind="summary", when=item["updated_at"], project_name=project_name(item["project"]))
    return item


def feed(store: Store, project: str | None = None, limit: int = FEED_LIMIT) -> list[dict]:
    """The most recently written observations and session summaries, merged, newest first.

    Observations come in the order they were written (id), as the live stream adds
    them; an import of old memories therefore shows on top, with its own dates.
    """
    where, args = _project_clause(project)
    obs = store.conn.execute(
        f"SELECT * FROM observations WHERE 1{where} ORDER BY id DESC LIMIT ?", [*args, limit]
    ).fetchall()
    summ = store.conn.execute(
        f"SELECT * FROM summaries WHERE 1{where} ORDER BY updated_at DESC LIMIT ?", [*args, limit]
    ).fetchall()
    items = [_as_observation(r) for r in obs] + [_as_summary(r) for r in summ]
    items.sort(key=lambda item: (item["when"], item["kind"] == "summary", item["id"]), reverse=True)
    return items[:limit]


def changes_since(
    store: Store, cursor: Cursor, project: str | None = None, limit: int = 200
) -> tuple[list[dict], Cursor]:
    """New observations and new or updated summaries after ``cursor``, oldest first."""
    where, args = _project_clause(project)
    obs = store.conn.execute(
        f"SELECT * FROM observations WHERE id > ?{where} ORDER BY id LIMIT ?", [cursor.observation_id, *args, limit]
    ).fetchall()
    summ = store.conn.execute(
        f"SELECT * FROM summaries WHERE updated_at > ?{where} ORDER BY updated_at LIMIT ?",
        [cursor.summary_updated_at, *args, limit],
    ).fetchall()
    items = [_as_observation(r) for r in obs] + [_as_summary(r) for r in summ]
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
    ids = [r[0] for r in store.conn.execute(  # sorting ids only: whole rows make the sort 7x slower
        f"SELECT o.id FROM observations o WHERE 1{where} ORDER BY o.created_at DESC, o.id DESC LIMIT ?",
        [*args, limit],
    )]
    return [_feed_observation(obs) for obs in store.get_observations(ids)]


def projects(store: Store) -> list[dict]:
    """Every project with memory, most recently active first, with a short name."""
    found = {p["project"]: p for p in store.projects()}
    for row in store.conn.execute("SELECT DISTINCT project FROM observations"):
        found.setdefault(row[0], {"project": row[0], "sessions": 0, "last_activity": None})
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
    row = store.conn.execute("SELECT * FROM summaries WHERE session_id = ?", (session_id,)).fetchone()
    if session is None and not observations and row is None:
        return None
    project = (session or {}).get("project") or (observations[0]["project"] if observations else row["project"])
    events = store.conn.execute("SELECT count(*) FROM events WHERE session_id = ?", (session_id,)).fetchone()[0]
    return {
        "id": session_id,
        "session": session,
        "project": project,
        "project_name": project_name(project),
        "summary": row_to_summary_dict(row) if row else None,
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
    rows = store.conn.execute("SELECT type, count(*) FROM observations GROUP BY type ORDER BY count(*) DESC")
    return [(r[0], r[1]) for r in rows]


from offmem.units import format_bytes as human_bytes  # noqa: E402,F401  (offmem's one byte formatter)
