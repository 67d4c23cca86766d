"""Command: ``offmem doctor``."""

from __future__ import annotations

import json
from typing import Optional

import typer

from offmem.cli.app import app

_MARKS = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}
_COLOURS = {"ok": typer.colors.GREEN, "warn": typer.colors.YELLOW, "fail": typer.colors.RED}


@app.command()
def doctor(
    project: Optional[str] = typer.Option(None, help="Project whose .claude/settings.json is checked (default: the current one)."),
    verify: bool = typer.Option(False, "--verify", help="Rehash every model file instead of trusting unchanged ones."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON report."),
) -> None:
    """Check the whole install (Python, llama.cpp, models, stores, hooks, MCP, worker) and say how to fix each problem.

    Exits with status 1 when any check fails.
    """
    from offmem.api import healthy
    from offmem.cli.core import memory
    from offmem.config import ConfigError, load_settings

    try:
        settings = load_settings()
    except ConfigError as exc:
        typer.secho(f"offmem: {exc}; fix or move the file aside", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    checks = memory(settings).doctor(project, full=verify)
    ok = healthy(checks)
    if as_json:
        typer.echo(json.dumps({"ok": ok, "home": str(settings.home), "checks": [c.to_dict() for c in checks]}, indent=2))
    else:
        _print(checks, str(settings.home), ok)
    if not ok:
        raise typer.Exit(1)


def _print(checks, home: str, ok: bool) -> None:
    width = max(len(c.name) for c in checks)
    typer.echo(f"offmem doctor: data directory {home}")
    for c in checks:
        typer.secho(f"{_MARKS[c.status]}  ", fg=_COLOURS[c.status], bold=c.status != "ok", nl=False)
        typer.echo(f"{c.name.ljust(width)}  {c.detail}")
        if c.fix and c.status != "ok":
            typer.echo(f"{'':{width + 8}}fix: {c.fix}")
    failed = sum(c.status == "fail" for c in checks)
    warned = sum(c.status == "warn" for c in checks)
    summary = "all checks passed" if ok and not warned else f"{failed} failed, {warned} warnings"
    typer.secho(summary, fg=typer.colors.GREEN if ok else typer.colors.RED, bold=True)
