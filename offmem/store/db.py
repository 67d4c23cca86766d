"""The SQLite store: connection set-up and every query offmem runs.

SQLite is the source of truth; Chroma (offmem.search) is derived from it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

from offmem.errors import StoreError
from offmem.filemodes import private_database
from offmem.store.migrations import migrate
from offmem.summarize.types import EventRecord, Observation, SessionSummary

SPOOL_NAMES_KEPT_S = 7 * 86400  # how long the name of an ingested spool file is remembered
JSON_LIST_COLUMNS = ("facts", "concepts", "files_read", "files_modified", "event_ids")


def now_iso(t: float | None = None) -> str:
    t = time.time() if t is None else t
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)


def connect(path: Path | str, *, timeout: float = 10.0, readonly: bool = False) -> sqlite3.Connection:
    """Open (and migrate) the database in WAL mode with autocommit semantics.

    Transactions are explicit (``with transaction(conn):``), so a batch of writes
    is atomic and nothing is committed by accident.
    """
    path = Path(path)
    try:
        if readonly:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=timeout, isolation_level=None)
        else:
            private_database(path)  # created 0600, an older 0644 file and its WAL repaired
            conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        if not readonly:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA secure_delete=ON")
            migrate(conn)
    except sqlite3.DatabaseError as exc:
        raise StoreError(
            f"cannot open the offmem database {path}: {exc}. If it is corrupt, move it aside "
            f"(offmem will start a new one) and restore memories with `offmem import`."
        ) from exc
    return conn


class transaction:
    """``with transaction(conn):`` → BEGIN IMMEDIATE … COMMIT, ROLLBACK on error."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")


def _loads_list(text: str | None) -> list:
    if not text:
        return []
    try:
        value = json.loads(text)
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def row_to_observation_dict(row: sqlite3.Row) -> dict:
    data = dict(row)
    for key in JSON_LIST_COLUMNS:
        if key in data:
            data[key] = _loads_list(data[key])
    data.pop("search_text", None)
    return data


def row_to_summary_dict(row: sqlite3.Row) -> dict:
    data = dict(row)
    for key in ("files_read", "files_modified"):
        if key in data:
            data[key] = _loads_list(data[key])
    return data


class Store:
    """Queries over one connection. Cheap to create; not shared across threads."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    @classmethod
    def open(cls, path: Path | str, **kwargs) -> "Store":
        return cls(connect(path, **kwargs))

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ spool

    def ingest_spool_dir(self, home: Path) -> int:
        """Move events the hook had to spool to files (database unavailable) into SQLite; returns
        how many were stored. Each file's name is recorded with its event (table ``spool_ingested``),
        so a file whose removal a crash prevented is removed on the next pass, not stored again.

        ``*.json`` files hold a record; ``*.raw`` files the bytes of a payload the hook could
        not build a record from (:func:`offmem.hooks.capture.spool_raw`), built here. A file
        that cannot be stored is renamed ``*.bad`` and logged; it never stops the others.
        """
        from offmem.hooks import capture

        spool = Path(home) / "spool"
        if not spool.is_dir():
            return 0
        files = sorted([*spool.glob("*.json"), *spool.glob("*.raw")], key=lambda p: p.name)
        settings = capture.capture_settings(str(home)) if any(p.suffix == ".raw" for p in files) else None
        count = 0
        for path in files:
            try:
                if path.suffix == ".raw":
                    record = capture.record_from_raw(path.read_bytes(), settings)
                else:
                    record = json.loads(path.read_text("utf-8"))
            except FileNotFoundError:
                continue  # removed meanwhile
            except Exception as exc:  # noqa: BLE001 - unreadable, or no record can be built from it
                self._set_aside(home, path, f"cannot be read as an event ({type(exc).__name__}: {str(exc)[:300]})")
                continue
            try:
                stored = record is not None and capture.store(self.conn, record, spool_name=path.name)
            except sqlite3.OperationalError:
                raise  # locked or full: keep the file for the next pass
            except (sqlite3.Error, KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
                self._set_aside(home, path, f"cannot be stored ({type(exc).__name__}: {str(exc)[:300]})")
                continue
            path.unlink(missing_ok=True)
            count += stored
        if files:  # names matter only while their file may still exist: forget old ones
            with transaction(self.conn):
                self.conn.execute("DELETE FROM spool_ingested WHERE ingested_at < ?", (now_iso(time.time() - SPOOL_NAMES_KEPT_S),))
        return count

    def _set_aside(self, home: Path, path: Path, why: str) -> None:
        """One bad spool file must not block the spool: keep it as ``.bad`` and say so."""
        try:
            path.rename(path.with_suffix(".bad"))
        except FileNotFoundError:
            return
        self.log_error(home, f"spool file {path.name} {why}; kept as {path.with_suffix('.bad').name}")

    @staticmethod
    def log_error(home: Path, message: str) -> None:
        with open(Path(home) / "offmem.log", "a", encoding="utf-8") as fh:
            fh.write(f"{now_iso()} store {message}\n")

    def pending_events(self, limit: int = 500, *, redacted_only: bool = False) -> list[EventRecord]:
        """Events waiting for the pipeline; ``redacted_only``: those offmem.privacy has cleaned."""
        where = " AND redacted = 1" if redacted_only else ""
        rows = self.conn.execute(
            f"SELECT * FROM events WHERE status = 'pending'{where} ORDER BY id LIMIT ?", (limit,)
        ).fetchall()
        return [self._event(row) for row in rows]

    @staticmethod
    def _event(row: sqlite3.Row) -> EventRecord:
        try:
            payload = json.loads(row["payload"])
        except ValueError:
            payload = {}
        return EventRecord(
            id=row["id"],
            session_id=row["session_id"],
            project=row["project"],
            kind=row["kind"],
            tool_name=row["tool_name"],
            payload=payload if isinstance(payload, dict) else {},
            created_at=row["created_at"],
            prompt_number=row["prompt_number"],
        )

    def session_events(
        self, session_id: str, kinds: tuple[str, ...] | None = None, *, redacted_only: bool = False
    ) -> list[EventRecord]:
        sql = "SELECT * FROM events WHERE session_id = ?" + (" AND redacted = 1" if redacted_only else "")
        args: list = [session_id]
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            args.extend(kinds)
        return [self._event(r) for r in self.conn.execute(sql + " ORDER BY id", args)]

    def events_by_ids(self, ids: list[int]) -> list[EventRecord]:
        if not ids:
            return []
        rows = self.conn.execute(
            f"SELECT * FROM events WHERE id IN ({','.join('?' * len(ids))}) ORDER BY id", ids
        ).fetchall()
        return [self._event(r) for r in rows]

    def queue_depth(self) -> int:
        return self.conn.execute("SELECT count(*) FROM events WHERE status = 'pending'").fetchone()[0]

    def mark_events(self, ids: list[int], status: str = "done", error: str | None = None, *,
                    only_pending: bool = False) -> int:
        """Set the status of ``ids``; returns how many rows changed. ``only_pending``: only rows
        still ``pending`` (the pipeline's conditional commit compares the count)."""
        ts = now_iso()
        cur = self.conn.executemany(
            "UPDATE events SET status = ?, processed_at = ?, last_error = ? WHERE id = ?"
            + (" AND status = 'pending'" if only_pending else ""),
            [(status, ts, error, i) for i in ids],
        )
        return cur.rowcount

    def note_attempt(self, ids: list[int], error: str) -> None:
        with transaction(self.conn):
            self.conn.executemany(
                "UPDATE events SET attempts = attempts + 1, last_error = ? WHERE id = ?",
                [(error[:500], i) for i in ids],
            )

    # ------------------------------------------------------------------ observations

    def insert_observation(
        self,
        obs: Observation,
        *,
        session_id: str,
        project: str,
        prompt_number: int | None = None,
        origin: str = "capture",
        created_at: str | None = None,
        search_text: str = "",
        content_hash: str | None = None,
    ) -> int | None:
        """Insert inside the caller's transaction; returns the id, None if a duplicate.

        ``content_hash`` (default: the observation's own) is the per-session dedup key;
        ``offmem import`` passes the one carried by the exported line.
        """
        from offmem.search_text import expand_identifiers

        text = search_text or expand_identifiers(
            " ".join([obs.title, obs.subtitle, obs.narrative, *obs.facts, *obs.files_read, *obs.files_modified])
        )
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO observations (session_id, project, type, title, subtitle, narrative, facts,"
            " concepts, files_read, files_modified, search_text, event_ids, prompt_number, backend, origin,"
            " content_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                session_id,
                project,
                obs.type,
                obs.title,
                obs.subtitle,
                obs.narrative,
                json.dumps(obs.facts),
                json.dumps(obs.concepts),
                json.dumps(obs.files_read),
                json.dumps(obs.files_modified),
                text,
                json.dumps(obs.event_ids),
                prompt_number,
                obs.backend,
                origin,
                content_hash or obs.content_hash(),
                created_at or now_iso(),
            ),
        )
        return cur.lastrowid if cur.rowcount else None

    def get_observations(self, ids: list[int]) -> list[dict]:
        if not ids:
            return []
        rows = self.conn.execute(
            f"SELECT * FROM observations WHERE id IN ({','.join('?' * len(ids))})", list(ids)
        ).fetchall()
        by_id = {r["id"]: row_to_observation_dict(r) for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    def recent_observations(self, project: str, limit: int = 50) -> list[dict]:
        rows = self.conn.execute(
            "SELECT * FROM observations WHERE project = ? ORDER BY created_at DESC, id DESC LIMIT ?",
            (project, limit),
        ).fetchall()
        return [row_to_observation_dict(r) for r in rows]

    def session_observations(self, session_id: str) -> list[dict]:
        rows = self.conn.execute(
            "SELECT * FROM observations WHERE session_id = ? ORDER BY id", (session_id,)
        ).fetchall()
        return [row_to_observation_dict(r) for r in rows]

    # ------------------------------------------------------------------ summaries & sessions

    def upsert_summary(self, session_id: str, project: str, summary: SessionSummary) -> None:
        ts = now_iso()
        self.conn.execute(
            "INSERT INTO summaries (session_id, project, request, investigated, learned, completed, next_steps,"
            " files_read, files_modified, backend, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(session_id) DO UPDATE SET request = excluded.request,"
            " investigated = excluded.investigated, learned = excluded.learned,"
            " completed = excluded.completed, next_steps = excluded.next_steps,"
            " files_read = excluded.files_read, files_modified = excluded.files_modified,"
            " backend = excluded.backend, updated_at = excluded.updated_at",
            (
                session_id,
                project,
                summary.request,
                summary.investigated,
                summary.learned,
                summary.completed,
                summary.next_steps,
                json.dumps(summary.files_read),
                json.dumps(summary.files_modified),
                summary.backend,
                ts,
                ts,
            ),
        )

    def recent_summaries(self, project: str, limit: int = 5) -> list[dict]:
        rows = self.conn.execute(
            "SELECT s.*, se.started_at FROM summaries s LEFT JOIN sessions se ON se.id = s.session_id"
            " WHERE s.project = ? ORDER BY s.updated_at DESC LIMIT ?",
            (project, limit),
        ).fetchall()
        return [row_to_summary_dict(r) for r in rows]

    def get_session(self, session_id: str) -> dict | None:
        row = self.conn.execute("SELECT * FROM sessions WHERE id = ?", (session_id,)).fetchone()
        return dict(row) if row else None

    def session_prompts(self, session_id: str) -> list[str]:
        return [
            r[0]
            for r in self.conn.execute(
                "SELECT text FROM prompts WHERE session_id = ? ORDER BY prompt_number", (session_id,)
            )
        ]

    def counts(self, project: str | None = None) -> dict:
        where, args = ("WHERE project = ?", (project,)) if project else ("", ())
        one = lambda sql: self.conn.execute(sql + " " + where, args).fetchone()[0]  # noqa: E731
        return {
            "sessions": one("SELECT count(*) FROM sessions"),
            "prompts": one("SELECT count(*) FROM prompts"),
            "events": one("SELECT count(*) FROM events"),
            "pending_events": self.conn.execute(
                "SELECT count(*) FROM events WHERE status = 'pending'"
                + (" AND project = ?" if project else ""),
                args,
            ).fetchone()[0],
            "observations": one("SELECT count(*) FROM observations"),
            "summaries": one("SELECT count(*) FROM summaries"),
        }

    def projects(self) -> list[dict]:
        rows = self.conn.execute(
            "SELECT project, count(*) AS sessions, max(last_activity_at) AS last_activity"
            " FROM sessions GROUP BY project ORDER BY last_activity DESC"
        ).fetchall()
        return [dict(r) for r in rows]

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


def open_store(settings=None) -> Store:
    """The store of the configured data directory."""
    if settings is None:
        from offmem.config import load_settings

        settings = load_settings()
    return Store.open(settings.db_path)


def file_size(path: Path) -> int:
    total = 0
    for suffix in ("", "-wal", "-shm"):
        try:
            total += os.path.getsize(f"{path}{suffix}")
        except OSError:
            pass
    return total
