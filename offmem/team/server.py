"""A member's connection to the team store (PostgreSQL): publish, pull, forget, search.

Every statement runs as the member's own login role, so PostgreSQL's row-level
security (:mod:`offmem.team.schema`) decides what they may read and change; this
module never filters for security itself. The password comes from the
environment variable or file named in ``[team]``, or libpq's own ``~/.pgpass``
and ``PGPASSWORD``; it is never written to the settings file or the memory.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from offmem.errors import OffmemError
from offmem.team.schema import LATEST, SCHEMA


class TeamError(OffmemError):
    """The team store cannot be reached or refused a request (the message says what to do)."""


class TeamNotConfigured(TeamError):
    pass


def enabled(team) -> bool:
    return bool((team.dsn or "").strip())


def read_secret(team) -> str | None:
    """The password: the variable named by ``password_env`` first, else the first line of ``password_file``; None for neither."""
    if team.password_env and os.environ.get(team.password_env):
        return os.environ[team.password_env]
    if team.password_file:
        path = Path(team.password_file).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise TeamError(f"team.password_file {path}: {exc.strerror or exc}") from None
        return text.splitlines()[0].strip() if text.strip() else None
    return None


def display_name(team) -> str:
    name = (team.display_name or "").strip()
    if name:
        return name[:80]
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in this environment
        return "unknown"


def connection_kwargs(team) -> dict:
    """What psycopg gets besides the DSN: password, TLS, timeouts."""
    kwargs: dict = {
        "sslmode": team.sslmode or "prefer",
        "connect_timeout": max(1, int(round(float(team.timeout_s)))),
        "application_name": "offmem",
        "options": f"-c statement_timeout={max(100, int(float(team.timeout_s) * 1000))}",
    }
    for key in ("sslrootcert", "sslcert", "sslkey"):
        value = getattr(team, key, "")
        if value:
            kwargs[key] = str(Path(value).expanduser())
    secret = read_secret(team)
    if secret:
        kwargs["password"] = secret
    return kwargs


def hosts(team) -> list[str]:
    """The hosts ``[team]`` names (the DSN's, then the Chroma server's): the only places team memory
    goes. An empty list when team memory is off."""
    found: list[str] = []
    if enabled(team):
        try:
            from psycopg.conninfo import conninfo_to_dict

            info = conninfo_to_dict(team.dsn)
        except Exception:  # noqa: BLE001 - an unreadable DSN names no host
            info = {}
        for host in str(info.get("host") or "").split(","):
            if host.strip():
                found.append(host.strip())
    if team.chroma_url:
        from urllib.parse import urlsplit

        host = urlsplit(team.chroma_url).hostname
        if host:
            found.append(host)
    return found


def _memory(row) -> dict:
    keys = ("content_id", "project_key", "kind", "type", "title", "body", "facts", "files", "fields", "search_text",
            "author", "machine_id", "created_at")
    data = dict(zip(keys, row))
    created = data["created_at"]
    if hasattr(created, "isoformat"):
        from datetime import timezone

        data["created_at"] = created.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return data


_COLUMNS = ("content_id, project_key, kind, type, title, body, facts, files, fields, search_text, author, machine_id,"
            " created_at")


class TeamServer:
    """One member's session with the team store. Use as a context manager."""

    def __init__(self, team, *, dsn: str | None = None) -> None:
        if not enabled(team) and not dsn:
            raise TeamNotConfigured("team memory is not configured: set team.dsn (see docs/team.md)")
        self.team = team
        self.dsn = dsn or team.dsn
        self.conn = None

    def __enter__(self) -> "TeamServer":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> None:
        try:
            import psycopg
        except ImportError as exc:
            raise TeamError(f"team memory needs psycopg ({exc}); install it with `pip install 'offmem[team]'`") from None
        try:
            self.conn = psycopg.connect(self.dsn, autocommit=True, **connection_kwargs(self.team))
        except psycopg.Error as exc:
            raise TeamError(f"cannot reach the team store: {_first_line(exc)}") from None

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn = None

    def _run(self, sql: str, args=None, *, fetch: bool = True):
        import psycopg

        try:
            cur = self.conn.execute(sql, args)
            return cur.fetchall() if fetch else cur.rowcount
        except psycopg.Error as exc:
            raise TeamError(f"team store: {_first_line(exc)}") from None

    # ------------------------------------------------------------------ who am I

    def whoami(self) -> dict:
        """``{user, server_version, schema_version, grants: {key: maintainer}}``; TeamError when the
        schema is missing or older than this offmem's."""
        user, version = self._run("SELECT current_user, current_setting('server_version')")[0]
        try:
            schema = self._run(f"SELECT coalesce(max(version), 0) FROM {SCHEMA}.migrations")[0][0]
        except TeamError as exc:
            raise TeamError(f"the team store has no offmem schema ({exc}); its administrator runs "
                            f"`offmem team admin migrate` (docs/team.md)") from None
        if schema < LATEST:
            raise TeamError(f"the team store's schema is version {schema}, this offmem needs {LATEST}: "
                            f"its administrator runs `offmem team admin migrate`")
        grants = {key: bool(m) for key, m in self._run(f"SELECT project_key, maintainer FROM {SCHEMA}.grants")}
        return {"user": user, "server_version": version, "schema_version": schema, "grants": grants}

    def granted(self) -> dict:
        return {key: bool(m) for key, m in self._run(f"SELECT project_key, maintainer FROM {SCHEMA}.grants")}

    # ------------------------------------------------------------------ publish, forget

    def publish(self, memories: list[dict]) -> int:
        """Insert or update ``memories`` (dicts with the columns of ``memories``), idempotent by
        content id, in one transaction; the number written. Another member's memory with the
        same content id is left as it is."""
        if not memories:
            return 0
        import psycopg
        from psycopg.types.json import Jsonb

        sql = (
            f"INSERT INTO {SCHEMA}.memories (content_id, project_key, kind, type, title, body, facts, files, fields,"
            " search_text, author, machine_id, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (content_id) DO UPDATE SET type = excluded.type, title = excluded.title,"
            " body = excluded.body, facts = excluded.facts, files = excluded.files, fields = excluded.fields,"
            " search_text = excluded.search_text, author = excluded.author, txid = pg_current_xact_id(),"
            " published_at = now() WHERE memories.author_role = current_user"
        )
        rows = [(m["content_id"], m["project_key"], m["kind"], m["type"], m["title"], m.get("body", ""),
                 Jsonb(list(m.get("facts") or [])), Jsonb(list(m.get("files") or [])), Jsonb(dict(m.get("fields") or {})),
                 m.get("search_text", ""), m["author"], m["machine_id"], m["created_at"]) for m in memories]
        try:
            with self.conn.transaction():
                with self.conn.cursor() as cur:
                    cur.executemany(sql, rows)
        except psycopg.errors.InsufficientPrivilege as exc:
            raise TeamError(f"the team store refused to publish (is the project granted to you?): "
                            f"{_first_line(exc)}") from None
        except psycopg.Error as exc:
            raise TeamError(f"team store: {_first_line(exc)}") from None
        return len(rows)

    def forget(self, content_ids: list[str]) -> dict:
        """Delete ``content_ids`` where the policies allow it (own memories, or a maintained
        project's): ``{deleted: [...], refused: [...]}`` (refused: still there, not ours to remove)."""
        if not content_ids:
            return {"deleted": [], "deleted_keys": [], "refused": []}
        deleted = [(r[0], r[1]) for r in self._run(
            f"DELETE FROM {SCHEMA}.memories WHERE content_id = ANY(%s) RETURNING content_id, project_key",
            (list(content_ids),))]
        left = [r[0] for r in self._run(
            f"SELECT content_id FROM {SCHEMA}.memories WHERE content_id = ANY(%s)", (list(content_ids),))]
        return {"deleted": [cid for cid, _ in deleted], "deleted_keys": deleted, "refused": left}

    # ------------------------------------------------------------------ pull

    def pull(self, key: str, cursor: str, *, exclude_machine: str, initial_limit: int) -> dict:
        """What changed in project ``key`` since ``cursor`` (a transaction id; '0': never pulled):
        ``{memories, forgotten, cursor}``. The first pull takes the newest ``initial_limit``.
        Rows of transactions still open at the snapshot are read again next time (idempotent)."""
        import psycopg

        try:
            with self.conn.transaction():
                self.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                horizon = str(self.conn.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())").fetchone()[0])
                if cursor in ("", "0"):
                    rows = self.conn.execute(
                        f"SELECT {_COLUMNS} FROM {SCHEMA}.memories WHERE project_key = %s AND machine_id != %s"
                        " ORDER BY created_at DESC LIMIT %s", (key, exclude_machine, int(initial_limit))).fetchall()
                    forgotten = []
                else:
                    rows = self.conn.execute(
                        f"SELECT {_COLUMNS} FROM {SCHEMA}.memories WHERE project_key = %s AND machine_id != %s"
                        " AND txid >= %s::xid8 ORDER BY created_at", (key, exclude_machine, cursor)).fetchall()
                    forgotten = [r[0] for r in self.conn.execute(
                        f"SELECT content_id FROM {SCHEMA}.tombstones WHERE project_key = %s AND txid >= %s::xid8",
                        (key, cursor))]
        except psycopg.Error as exc:
            raise TeamError(f"team store: {_first_line(exc)}") from None
        return {"memories": [_memory(r) for r in rows], "forgotten": forgotten, "cursor": horizon}

    def fetch(self, content_ids: list[str]) -> list[dict]:
        if not content_ids:
            return []
        return [_memory(r) for r in self._run(
            f"SELECT {_COLUMNS} FROM {SCHEMA}.memories WHERE content_id = ANY(%s)", (list(content_ids),))]

    # ------------------------------------------------------------------ search

    def keyword_search(self, query: str, keys: list[str], limit: int) -> list[tuple[str, float]]:
        """``(content_id, rank)`` of the observations of ``keys`` matching ``query``, best first.

        All of the query's words first; when that finds fewer than ``limit``, any of them. Each
        pass ranks at most the newest :data:`RANK_WINDOW` matches (``ts_rank_cd`` reads every
        ranked row's ``tsv``, so an unbounded pass over a common word costs time in proportion
        to the team's whole history; the planner walks the newest rows when the words are
        common and the GIN index when they are rare).
        """
        words = _terms(query)
        if not words or not keys:
            return []
        found: dict[str, float] = {}
        for joiner in (" & ", " | ") if len(words) > 1 else (" & ",):
            rows = []
            for key in keys:  # offmem.search_text checks the member's grant (schema migration 2)
                rows += self._run(f"SELECT cid, rank FROM {SCHEMA}.search_text(%s, %s, %s, %s)",
                                  (joiner.join(words), key, int(limit), RANK_WINDOW))
            for cid, rank in sorted(rows, key=lambda r: -r[1]):
                if cid not in found:
                    found[cid] = float(rank) + (1.0 if joiner == " & " else 0.0)  # every word before some words
            if len(found) >= limit:
                break
        return sorted(found.items(), key=lambda kv: -kv[1])[:limit]


# Words that carry no topic in a question ("what did we decide about stripe").
STOPWORDS = frozenset("""a an and are as at be but by did do does for from how i in is it its of on or so that the
this to was we were what when where which who why will with you our they there their about into than then
""".split())
RANK_WINDOW = 400


def _terms(query: str) -> list[str]:
    """The query's words as quoted tsquery lexemes (identifiers split like the local index)."""
    from offmem.search_text import expand_identifiers

    text = f"{query or ''} {expand_identifiers(query or '')}".lower()
    words = []
    for word in "".join(ch if ch.isalnum() else " " for ch in text).split():
        if len(word) >= 2 and word not in words and word not in STOPWORDS:
            words.append(word)
    return [f"'{w}'" for w in words[:24]]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
