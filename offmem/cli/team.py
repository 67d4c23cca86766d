"""``offmem team``: share the current project's memories with the team store (docs/team.md)."""

from __future__ import annotations

from typing import Optional

import typer

from offmem.cli.app import app
from offmem.cli.core import current_project, emit, fail, memory
from offmem.errors import OffmemError

team_app = typer.Typer(help="Share this project's memories with your team (PostgreSQL + Chroma server).",
                       no_args_is_help=True)
admin_app = typer.Typer(help="For the team store's administrator: schema, members, grants.", no_args_is_help=True)
team_app.add_typer(admin_app, name="admin")
app.add_typer(team_app, name="team")

PROJECT = typer.Option(None, "--project", help="Project directory (default: the current one).")


@team_app.command("join")
def team_join(
    project: Optional[str] = PROJECT,
    key: Optional[str] = typer.Option(None, "--key", help="The team project key (default: the normalized git remote URL)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Share this project: the worker publishes its memories (never raw events or prompts) and pulls the team's."""
    mem = memory()
    if not mem.settings.team.dsn:
        fail("team memory is not configured: `offmem config set team.dsn \"host=… dbname=… user=…\"` (docs/team.md)")
    try:
        result = mem.team_join(current_project(project), key)
    except (ValueError, OffmemError) as exc:
        fail(str(exc))

    def human(r: dict) -> None:
        typer.echo(f"Sharing {r['project']} as {r['team_key']} ({r['queued']} memories queued for publishing).")
        server = r.get("server") or {}
        if not server.get("reachable"):
            typer.echo(f"Team store unreachable now ({server.get('error')}); the worker publishes when it answers.")
        elif not server.get("granted"):
            typer.secho(f"The team store has not granted {r['team_key']} to {server.get('user')}: ask its "
                        "administrator (`offmem team admin grant`); nothing is published until then.",
                        fg=typer.colors.YELLOW)

    emit(result, as_json, human)


@team_app.command("leave")
def team_leave(project: Optional[str] = PROJECT, as_json: bool = typer.Option(False, "--json")) -> None:
    """Stop sharing this project (what was published stays until forgotten; the pulled memories leave)."""
    try:
        result = memory().team_leave(current_project(project))
    except OffmemError as exc:
        fail(str(exc))
    emit(result, as_json, lambda r: typer.echo(
        f"{r['project']} is no longer shared ({r['mirror_removed']} team memories removed from this machine)."
        if r["left"] else f"{r['project']} was not shared."))


@team_app.command("status")
def team_status(
    project: Optional[str] = PROJECT,
    offline: bool = typer.Option(False, "--offline", help="Do not contact the team store."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Whether this project is shared, under which key, what waits to be published, and the team store's view."""
    result = memory().team_status(current_project(project), check_server=not offline)

    def human(r: dict) -> None:
        if not r["configured"]:
            typer.echo("Team memory is off (team.dsn is empty; see docs/team.md).")
        state = f"shared as {r['team_key']}" if r["joined"] else "not shared"
        typer.echo(f"Project {r['project']}: {state} (detected key: {r['detected_key'] or 'none'}).")
        typer.echo(f"Author: {r['author']}; team hosts: {', '.join(r['hosts']) or 'none'}.")
        typer.echo(f"Outbox: {r['outbox']} waiting; published: {r['published']}; team memories here: {r['mirrored']}.")
        if r["last_error"]:
            typer.echo(f"Last publishing error: {r['last_error']}")
        server = r.get("server")
        if server:
            if server["reachable"]:
                granted = "granted" if server["granted"] else "NOT granted"
                typer.echo(f"Team store: reachable as {server['user']}; this project is {granted}"
                           f"{' (maintainer)' if server.get('maintainer') else ''}.")
            else:
                typer.echo(f"Team store: unreachable ({server['error']}).")

    emit(result, as_json, human)


ADMIN_DSN = typer.Option(..., "--dsn", envvar="OFFMEM_TEAM_ADMIN_DSN",
                         help="An administrator's connection string (or $OFFMEM_TEAM_ADMIN_DSN).")


@admin_app.command("migrate")
def admin_migrate(dsn: str = ADMIN_DSN, as_json: bool = typer.Option(False, "--json")) -> None:
    """Create or update the team store's schema, roles and policies."""
    from offmem.api import team_admin

    try:
        applied = team_admin("migrate", dsn)
    except OffmemError as exc:
        fail(str(exc))
    emit({"applied": applied}, as_json, lambda r: typer.echo(
        f"Applied: {', '.join(r['applied'])}." if r["applied"] else "The team store's schema is up to date."))


@admin_app.command("add-member")
def admin_add_member(
    member: str = typer.Argument(..., help="The member's PostgreSQL login role."),
    dsn: str = ADMIN_DSN,
    password_env: Optional[str] = typer.Option(None, help="Environment variable holding the member's password."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Create (or update) a member's login role."""
    import os

    from offmem.api import team_admin

    password = os.environ.get(password_env) if password_env else None
    try:
        team_admin("add_member", dsn, member, password)
    except OffmemError as exc:
        fail(str(exc))
    emit({"member": member}, as_json, lambda r: typer.echo(f"Member {r['member']} can log in."))


@admin_app.command("grant")
def admin_grant(
    member: str = typer.Argument(...),
    key: str = typer.Argument(..., help="The team project key (`offmem team status` shows it)."),
    maintainer: bool = typer.Option(False, help="May forget other members' memories of this project."),
    dsn: str = ADMIN_DSN,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Let a member read and share a project."""
    from offmem.api import team_admin

    try:
        team_admin("grant", dsn, member, key, maintainer=maintainer)
    except (ValueError, OffmemError) as exc:
        fail(str(exc))
    emit({"member": member, "key": key, "maintainer": maintainer}, as_json,
         lambda r: typer.echo(f"{r['member']} may read and share {r['key']}."))


@admin_app.command("revoke")
def admin_revoke(member: str = typer.Argument(...), key: str = typer.Argument(...), dsn: str = ADMIN_DSN,
                 as_json: bool = typer.Option(False, "--json")) -> None:
    """Take a project back from a member."""
    from offmem.api import team_admin

    try:
        revoked = team_admin("revoke", dsn, member, key)
    except OffmemError as exc:
        fail(str(exc))
    emit({"member": member, "key": key, "revoked": revoked}, as_json,
         lambda r: typer.echo(f"{r['member']} no longer reads {r['key']}." if r["revoked"] else "No such grant."))
