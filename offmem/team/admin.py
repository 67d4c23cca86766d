"""What the team store's administrator runs: the schema's migrations, members and grants.

Run with a role that may create schemas and roles (the database's owner, or a
superuser), through ``offmem team admin …`` or these functions. Members are
PostgreSQL login roles in ``offmem_member``; a grant names which projects (team
keys) each may read and write, and whether they maintain it (may forget others'
memories of it).
"""

from __future__ import annotations

from offmem.team.schema import MEMBER_ROLE, MIGRATIONS, SCHEMA, VERSION_TABLE
from offmem.team.server import TeamError


def _connect(dsn: str, **kwargs):
    try:
        import psycopg
    except ImportError as exc:
        raise TeamError(f"team memory needs psycopg ({exc}); install it with `pip install 'offmem[team]'`") from None
    try:
        return psycopg.connect(dsn, autocommit=True, **kwargs)
    except psycopg.Error as exc:
        raise TeamError(f"cannot reach the team store: {str(exc).strip().splitlines()[0]}") from None


def migrate(dsn: str, **kwargs) -> list[str]:
    """Apply the pending migrations, each in its own transaction, under an advisory lock; the names applied."""
    applied = []
    with _connect(dsn, **kwargs) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext('offmem.team.migrate'))")
        try:
            conn.execute(VERSION_TABLE)
            done = {r[0] for r in conn.execute(f"SELECT version FROM {SCHEMA}.migrations")}
            for version, name, sql in MIGRATIONS:
                if version in done:
                    continue
                with conn.transaction():
                    conn.execute(sql)
                    conn.execute(f"INSERT INTO {SCHEMA}.migrations (version, name) VALUES (%s, %s)", (version, name))
                applied.append(f"{version:03d}_{name}")
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext('offmem.team.migrate'))")
    return applied


def _ident(name: str) -> str:
    from psycopg import sql

    return sql.Identifier(name)


def add_member(dsn: str, member: str, password: str | None = None, **kwargs) -> None:
    """Create login role ``member`` (or update its password) in the members' role."""
    from psycopg import sql

    with _connect(dsn, **kwargs) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (member,)).fetchone()
        verb = sql.SQL("ALTER ROLE") if exists else sql.SQL("CREATE ROLE")
        statement = sql.SQL("{} {} LOGIN").format(verb, _ident(member))
        if password is not None:
            statement = sql.SQL("{} PASSWORD {}").format(statement, sql.Literal(password))
        conn.execute(statement)
        conn.execute(sql.SQL("GRANT {} TO {}").format(_ident(MEMBER_ROLE), _ident(member)))


def grant(dsn: str, member: str, project_key: str, *, maintainer: bool = False, **kwargs) -> None:
    from offmem.team.key import check_key

    with _connect(dsn, **kwargs) as conn:
        conn.execute(
            f"INSERT INTO {SCHEMA}.grants (project_key, member, maintainer) VALUES (%s, %s, %s)"
            " ON CONFLICT (project_key, member) DO UPDATE SET maintainer = excluded.maintainer",
            (check_key(project_key), member, maintainer))


def revoke(dsn: str, member: str, project_key: str, **kwargs) -> bool:
    with _connect(dsn, **kwargs) as conn:
        cur = conn.execute(f"DELETE FROM {SCHEMA}.grants WHERE project_key = %s AND member = %s",
                           (project_key, member))
        return cur.rowcount > 0
