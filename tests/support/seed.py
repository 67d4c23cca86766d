"""Write memories straight into a real offmem store, for retrieval tests and scenarios.

Everything goes through :class:`offmem.store.db.Store` (so the FTS and outbox
triggers fire as in production); only the time stamps are chosen by the test.
"""

from __future__ import annotations

import time

from offmem.records import Observation, SessionSummary
from offmem.store.db import Store, transaction

DAY = 86400.0
ROUTINE_KINDS = ("change", "feature", "discovery", "refactor", "change")
ALL_KINDS = ("change", "feature", "discovery", "refactor", "change", "bugfix", "decision")


def iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + ".%03dZ" % int((epoch % 1) * 1000)


def days_ago(days: float, now: float | None = None) -> str:
    return iso((time.time() if now is None else now) - days * DAY)


def add_session(store: Store, session_id: str, project: str, started_at: str) -> None:
    store.conn.execute(
        "INSERT OR IGNORE INTO sessions (id, project, started_at, last_activity_at) VALUES (?, ?, ?, ?)",
        (session_id, project, started_at, started_at),
    )


def add_observation(
    store: Store,
    project: str,
    title: str,
    *,
    type: str = "change",
    session_id: str = "seed-session",
    facts: list[str] | None = None,
    narrative: str = "",
    files_modified: list[str] | None = None,
    files_read: list[str] | None = None,
    created_at: str | None = None,
    origin: str = "capture",
) -> int:
    obs = Observation(type=type, title=title, facts=list(facts or []), narrative=narrative,
                      files_modified=list(files_modified or []), files_read=list(files_read or []))
    with transaction(store.conn):
        add_session(store, session_id, project, created_at or iso(time.time()))
        new_id = store.insert_observation(obs, session_id=session_id, project=project, origin=origin,
                                          created_at=created_at)
    assert new_id is not None, f"duplicate observation {title!r} in {session_id}"
    return new_id


def add_summary(store: Store, project: str, session_id: str, at: str, **fields: str) -> int:
    with transaction(store.conn):
        add_session(store, session_id, project, at)
        store.upsert_summary(session_id, project, SessionSummary(**fields))
        store.conn.execute("UPDATE summaries SET created_at = ?, updated_at = ? WHERE session_id = ?",
                           (at, at, session_id))
    return store.conn.execute("SELECT id FROM summaries WHERE session_id = ?", (session_id,)).fetchone()[0]


def flood(store: Store, project: str, count: int, *, start_days_ago: float, end_days_ago: float = 0.0,
          sessions: int = 10, prefix: str = "flood", kinds: tuple[str, ...] = ROUTINE_KINDS) -> list[int]:
    """``count`` routine memories spread evenly over a time span, in ``sessions`` sessions.

    They touch many different files and never mention anything outside
    ``src/<prefix>_*``, so a test can tell them apart from the memories it plants.
    """
    ids = []
    obs_rows = []
    now = time.time()
    span = start_days_ago - end_days_ago
    for n in range(count):
        when = iso(now - (start_days_ago - span * (n + 1) / count) * DAY)
        path = f"src/{prefix}_{n % 97}/part_{n % 13}.py"
        obs_rows.append((n, when, path))
    with transaction(store.conn):
        for n, when, path in obs_rows:
            session = f"{prefix}-session-{n * sessions // count}"
            add_session(store, session, project, when)
            obs = Observation(
                type=kinds[n % len(kinds)],
                title=f"Updated {path}: step {n} of the {prefix} routine",
                facts=[f"Modified {path}", f"{prefix} step {n}"],
                files_modified=[path],
            )
            new_id = store.insert_observation(obs, session_id=session, project=project, created_at=when)
            ids.append(new_id)
    return ids


def add(store: Store, title: str, *, project: str, session: str = "s1", type: str = "change",
        created: str = "2025-03-01T10:00:00.000Z", **fields) -> int:
    """Insert one observation (any Observation field as a keyword) and return its id."""
    with transaction(store.conn):
        oid = store.insert_observation(Observation(type=type, title=title, **fields), session_id=session,
                                       project=project, created_at=created)
    assert oid is not None
    return oid
