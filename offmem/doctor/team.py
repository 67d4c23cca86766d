"""Check: the team store (PostgreSQL and the Chroma server), only when ``[team]`` is configured.

Connects as the member, reads the schema version and the grants, and says whether the
current project is shared and granted, how much waits in the outbox, and whether TLS
protects the connection to a host that is not this machine.
"""

from __future__ import annotations

import importlib.util
import ipaddress

from offmem.doctor.base import FAIL, OK, WARN, Check, Context, pip


def _local(host: str) -> bool:
    if host in ("localhost",) or host.startswith("/"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_team(ctx: Context) -> list[Check]:
    from offmem.team.server import TeamError, TeamServer, enabled, hosts

    team = ctx.settings.team
    if not enabled(team):
        return [Check("team", OK, "team memory is off (team.dsn is empty)")]
    if importlib.util.find_spec("psycopg") is None:
        return [Check("team", FAIL, "team.dsn is set but psycopg is not installed", pip("offmem[team]"))]
    checks = []
    remote = [h for h in hosts(team) if not _local(h)]
    if remote and team.sslmode in ("disable", "allow", "prefer"):
        checks.append(Check("team tls", WARN, f"team.sslmode = {team.sslmode!r} to {', '.join(remote)}: the connection "
                            "may go unencrypted", "offmem config set team.sslmode verify-full  # with team.sslrootcert"))
    try:
        with TeamServer(team) as server:
            info = server.whoami()
    except TeamError as exc:
        # a warning: local memory works in full, and the outbox keeps what waits for the team
        checks.append(Check("team", WARN, f"{exc}; memories wait in the outbox until it answers",
                            "check team.dsn, the password (team.password_env / team.password_file) and the server"))
        return checks
    detail = (f"PostgreSQL {info['server_version'].split()[0]} as {info['user']}, schema {info['schema_version']}, "
              f"{len(info['grants'])} project(s) granted")
    status = OK
    fix = ""
    try:
        if ctx.settings.db_path.exists():
            from offmem.store import team as team_table
            from offmem.store.db import Store

            with Store.open(ctx.settings.db_path, readonly=True) as store:
                joined = team_table.joined_project(store.conn, ctx.project)
                outbox = team_table.outbox_count(store.conn)
            if joined is not None and joined["team_key"] not in info["grants"]:
                status, fix = WARN, f"offmem team admin grant {info['user']} {joined['team_key']}  # by the administrator"
                detail += f"; this project ({joined['team_key']}) is joined but NOT granted"
            elif joined is not None:
                detail += f"; this project is shared as {joined['team_key']}"
            detail += f"; outbox {outbox}"
    except Exception as exc:  # noqa: BLE001 - the connection check above is what matters
        detail += f"; local state unreadable ({type(exc).__name__})"
    checks.append(Check("team", status, detail, fix))
    if team.chroma_url:
        from offmem.team.vectors import TeamVectors

        try:
            TeamVectors(team).heartbeat()
            checks.append(Check("team vectors", OK, f"{team.chroma_url} answers"))
        except TeamError as exc:
            checks.append(Check("team vectors", WARN, f"{exc}; team search is keyword-only",
                                f"chroma run --path DIR --host HOST --port PORT  # at {team.chroma_url}"))
    return checks
