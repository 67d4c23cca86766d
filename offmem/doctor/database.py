"""Check: the SQLite database (opened without migrating): integrity, schema, queue, spool."""

from __future__ import annotations

import shlex
import sqlite3
from pathlib import Path

from offmem.doctor.base import FAIL, OK, WARN, Check, Context, human, pip, spool_files


def _corrupt(path: Path, why: str) -> Check:
    return Check("database", FAIL, f"{path} is damaged: {why}",
                 f"mv {shlex.quote(str(path))} {shlex.quote(str(path) + '.corrupt')}  "
                 f"# offmem starts a new one; `sqlite3 {shlex.quote(str(path) + '.corrupt')} .recover` salvages rows")


def check_database(ctx: Context) -> list[Check]:
    from offmem.store.examine import integrity_problems, open_plain, queue_depth, schema_version
    from offmem.store.migrations import LATEST

    path = ctx.settings.db_path
    if not path.exists():
        return [Check("database", WARN, f"no database yet at {path}; the first hook event creates it",
                      "offmem install  # then start a Claude Code session")]
    try:
        conn = open_plain(path)
        try:
            problems = integrity_problems(conn, 5)
            version = schema_version(conn)
            depth = queue_depth(conn)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return [_corrupt(path, str(exc))]
    if problems != ["ok"]:
        return [_corrupt(path, "; ".join(problems)[:300])]
    return [_database_state(ctx, version, LATEST, depth)]


def _database_state(ctx: Context, version: int, latest: int, depth: int | None) -> Check:
    path = ctx.settings.db_path
    waiting, bad = spool_files(ctx.settings.home)
    detail = (f"{path}: integrity ok, schema v{version}, {depth if depth is not None else 'no'} events queued, "
              f"{waiting} spool files waiting, {human(path.stat().st_size)}")
    if version > latest:
        return Check("database", FAIL, f"{detail}; written by a newer offmem (this one knows v{latest})",
                     f"{pip('offmem')} --upgrade")
    if version < latest:
        return Check("database", WARN, f"{detail}; this offmem migrates it to v{latest} on the next open",
                     "offmem status  # opens and migrates it")
    if bad:
        return Check("database", WARN, f"{detail}; {bad} unreadable spool files (*.bad)",
                     f"inspect and delete {ctx.settings.home / 'spool'}/*.bad")
    return Check("database", OK, detail)