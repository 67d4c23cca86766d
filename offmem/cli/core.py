"""Core commands: install, uninstall, status, context, process, worker, config.

Every command module of the CLI reaches offmem through :mod:`offmem.api` only: a command
reads the settings (its root) and builds one :class:`~offmem.api.Memory` with
:func:`memory`.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Optional

import typer

from offmem import api
from offmem.cli.app import app
from offmem.config import load_settings
from offmem.errors import OffmemError

worker_app = typer.Typer(help="Run and inspect the background worker.", no_args_is_help=True)
config_app = typer.Typer(help="Show and change settings (config.toml).", no_args_is_help=True)
app.add_typer(worker_app, name="worker")
app.add_typer(config_app, name="config")


def fail(message: str, code: int = 1) -> None:
    typer.secho(f"offmem: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def emit(data, as_json: bool, human=None) -> None:
    if as_json:
        typer.echo(json.dumps(data, indent=2, default=str))
    elif human is not None:
        human(data)
    else:
        for key, value in data.items():
            typer.echo(f"{key}: {value}")


def current_project(project: Optional[str]) -> str:
    return api.current_project(project)


_NOTE_COLOURS = {"note": typer.colors.BRIGHT_BLACK, "warning": typer.colors.YELLOW}


def _note(message: str, kind: str = "note") -> None:
    typer.secho(message if kind == "warning" else f"offmem: {message}", err=True, fg=_NOTE_COLOURS.get(kind))


def memory(settings=None) -> api.Memory:
    """The command's :class:`offmem.api.Memory`, over the settings read now (or ``settings``)."""
    return api.Memory(settings if settings is not None else load_settings(), note=_note)


# ---------------------------------------------------------------------- install


@app.command()
def install(
    scope: str = typer.Option("user", help="user: ~/.claude/settings.json; project: <project>/.claude/settings.json"),
    mcp: bool = typer.Option(True, help="Also register the offmem MCP server for Claude Code (user scope)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Register offmem's hooks in Claude Code's settings (idempotent, with a backup).

    With offmem's Claude Code plugin enabled, writes no hooks (and takes out earlier ones):
    it records this offmem in $OFFMEM_HOME/runtime, which the plugin runs.
    """
    try:
        result = memory().install(scope, mcp=mcp)
    except OffmemError as exc:
        fail(str(exc))

    def human(r: dict) -> None:
        if r.get("plugin"):
            where = ", ".join(f"{p['plugin']} in {p['settings']}" for p in r["plugin"])
            typer.echo(f"offmem's Claude Code plugin is enabled ({where}): its hooks and MCP server capture and "
                       f"remember, so none are written to {r['settings']}.")
            if r.get("removed") or (r.get("mcp") or {}).get("removed"):
                typer.echo("offmem's earlier settings-file registration was removed, so nothing runs twice.")
            typer.echo(f"The plugin runs this offmem, recorded in {r['runtime']}.")
            if os.environ.get("OFFMEM_HOME"):
                typer.echo("OFFMEM_HOME is set: the plugin finds this record when Claude Code runs with the same "
                           "OFFMEM_HOME (e.g. in the \"env\" of ~/.claude/settings.json).")
            return
        typer.echo(f"Hooks installed in {r['settings']} ({', '.join(r['events'])}).")
        typer.echo(f"Hook command: {r['command']}")
        if r.get("backup"):
            typer.echo(f"Previous settings kept in {r['backup']}")
        if r.get("mcp"):
            typer.echo(f"MCP server '{r['mcp']['server']}' registered in {r['mcp']['settings']}")
        typer.echo("The next Claude Code session will be captured and remembered.")

    emit(result, as_json, human)


@app.command()
def uninstall(
    scope: str = typer.Option("user", help="user or project"),
    mcp: bool = typer.Option(True, help="Also remove the MCP server registration."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Remove offmem's hooks from Claude Code's settings; other settings stay untouched."""
    try:
        result = api.uninstall(scope, mcp=mcp)
    except OffmemError as exc:
        fail(str(exc))
    def human(r: dict) -> None:
        typer.echo(f"Hooks removed from {r['settings']}." if r["removed"] else f"No offmem hooks in {r['settings']}.")
        for plugin in r.get("plugin") or []:
            typer.echo(f"offmem's Claude Code plugin is still enabled ({plugin['plugin']} in {plugin['settings']}); "
                       f"`claude plugin uninstall {plugin['plugin']}` removes it. The memory stays either way.")

    emit(result, as_json, human)


@app.command()
def status(
    project: Optional[str] = typer.Option(None, help="Project directory (default: the current one)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Where hooks are installed, and what is stored for the current project."""
    result = memory().status(current_project(project))

    def human(r: dict) -> None:
        typer.echo(f"Data directory: {r['home']}")
        for scope, info in r["hooks"].items():
            state = ", ".join(info["events"]) if info["events"] else "not installed"
            typer.echo(f"Hooks ({scope}): {state}  [{info['settings']}]")
        for plugin in r.get("plugin") or []:
            typer.echo(f"Claude Code plugin: {plugin['plugin']} enabled  [{plugin['settings']}]")
        typer.echo(f"MCP server registered: {'yes' if r['mcp_registered'] else 'no'}")
        typer.echo(f"Worker: {'running' if r['worker_running'] else 'not running'}")
        c = r["project_counts"] or {"sessions": 0, "observations": 0, "summaries": 0, "pending_events": 0}
        typer.echo(
            f"Project {r['project']}: {c['sessions']} sessions, {c['observations']} observations, "
            f"{c['summaries']} summaries, {c['pending_events']} events pending"
        )

    emit(result, as_json, human)


# ---------------------------------------------------------------------- context & processing


@app.command()
def context(
    project: Optional[str] = typer.Option(None, help="Project directory (default: the current one)."),
    prompt: Optional[str] = typer.Option(None, help="Also show what this prompt would add."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Print exactly what SessionStart (and, with --prompt, the prompt hook) would inject."""
    result = memory().context(current_project(project), prompt)

    def human(r: dict) -> None:
        typer.echo(r["text"] or "(no memory for this project yet)")
        typer.secho(f"\n[{r['tokens']} tokens of {r['budget_tokens']}]", err=True, fg=typer.colors.BRIGHT_BLACK)
        part = r.get("prompt")
        if part:
            typer.echo("\n" + (part.get("text") or "(nothing relevant for this prompt)"))
            notes = "; ".join(part.get("notes") or [])
            typer.secho(f"[prompt: {part['tokens']} tokens of {part['budget_tokens']}, {part['source']}"
                        + (f"; {notes}" if notes else "") + "]", err=True, fg=typer.colors.BRIGHT_BLACK)

    emit(result, as_json, human)


@app.command()
def process(
    force: bool = typer.Option(True, help="Flush open batches instead of waiting for more events."),
    rules_only: bool = typer.Option(False, "--rules", help="Use the rule-based compressor, no model."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Process pending events now, in the foreground (the worker normally does this).

    It holds the worker's lock while it runs, so a worker a hook starts meanwhile
    exits at once instead of processing the same events.
    """
    try:
        stats = memory().process(force=force, rules_only=rules_only)
    except OffmemError as exc:  # a worker runs: it processes the queue
        fail(str(exc))
    emit(stats, as_json)


# ---------------------------------------------------------------------- worker


@worker_app.command("run")
def worker_run() -> None:
    """Run the worker in the foreground (Ctrl-C or SIGTERM stops it)."""
    from offmem.worker.main import run  # this process becomes the worker: its entry point, not the library

    busy = run(load_settings())
    if busy:
        fail(busy)


@worker_app.command("start")
def worker_start(as_json: bool = typer.Option(False, "--json")) -> None:
    """Start the worker in the background (no-op when it runs)."""
    try:
        result = memory().start_worker()
    except OffmemError as exc:
        fail(str(exc))
    emit(result, as_json, lambda r: typer.echo(f"worker running (pid {r.get('pid')}, port {r.get('port')})"))


@worker_app.command("stop")
def worker_stop(as_json: bool = typer.Option(False, "--json")) -> None:
    """Stop the worker (SIGTERM; it finishes cleanly and loses nothing)."""
    try:
        stopped = memory().stop_worker()
    except OffmemError as exc:
        fail(str(exc))
    emit({"stopped": stopped}, as_json, lambda r: typer.echo("worker stopped" if stopped else "worker was not running"))


@worker_app.command("restart")
def worker_restart(as_json: bool = typer.Option(False, "--json")) -> None:
    """Stop the worker if it runs, then start it."""
    try:
        result = memory().restart_worker()
    except OffmemError as exc:
        fail(str(exc))
    emit(result, as_json, lambda r: typer.echo(f"worker running (pid {r.get('pid')}, port {r.get('port')})"))


@worker_app.command("status")
def worker_status(as_json: bool = typer.Option(False, "--json")) -> None:
    """Queue depth, models, events/min, memory, last error."""
    result = memory().worker_status()

    def human(r: dict) -> None:
        if r.get("running"):
            typer.echo(f"worker: running (pid {r.get('pid')}, http://127.0.0.1:{r.get('port')})")
        else:
            typer.echo("worker: not running")
        typer.echo(f"queue depth: {r.get('queue_depth')}")
        typer.echo(f"events/min: {r.get('events_per_min')}")
        typer.echo(f"summarizer: {r.get('summarizer_backend')} (model loaded: {r.get('model_loaded')})")
        if r.get("summarizer_error"):
            typer.echo(f"summarizer error: {r['summarizer_error']}")
        embedder = r.get("embedder")
        if embedder:
            typer.echo(f"embedder: {embedder.get('backend')} {embedder.get('model')} "
                       f"({embedder.get('indexed')} vectors, {embedder.get('pending')} pending)")
        elif r.get("running"):
            typer.echo("embedder: none (keyword search only)")
        if r.get("rss_mib") is not None:
            typer.echo(f"memory: {r['rss_mib']:.0f} MiB resident, {r['peak_rss_mib']:.0f} MiB peak")
        typer.echo(f"last error: {r.get('last_error') or 'none'}")

    emit(result, as_json, human)


# ---------------------------------------------------------------------- config


@config_app.command("show")
def config_show(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every setting with its effective value."""
    settings = load_settings()
    data = settings.to_dict()

    def human(d: dict) -> None:
        typer.echo(f"# {settings.config_path}")
        for section, values in d.items():
            typer.echo(f"[{section}]")
            for key, value in values.items():
                typer.echo(f"{key} = {json.dumps(value)}")
            typer.echo("")

    emit(data, as_json, human)


@config_app.command("set")
def config_set(key: str = typer.Argument(..., help="section.key, e.g. context.budget_tokens"), value: str = typer.Argument(...)) -> None:
    """Change one setting in config.toml."""
    from offmem.config import ConfigError, save_settings

    section, _, name = key.partition(".")
    settings = load_settings(env=False)  # environment overrides are not written to the file
    if section not in settings.sections() or not hasattr(settings.sections()[section], name):
        fail(f"unknown setting {key!r}; see `offmem config show`")
    try:
        path = save_settings(settings, {section: {name: value}})
    except ConfigError as exc:
        fail(str(exc))
    typer.echo(f"{key} = {getattr(settings.sections()[section], name)!r} saved to {path}")


def _main() -> None:  # pragma: no cover - convenience for `python -m offmem.cli.core`
    app(prog_name="offmem")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_main())
