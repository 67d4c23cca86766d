"""Data commands: export, import, import-transcripts, forget."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from offmem import api
from offmem.cli.app import app
from offmem.cli.core import current_project, emit, fail, memory


def _progress():
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=Console(stderr=True), transient=False)


def _project_or_none(project: Optional[str]) -> Optional[str]:
    return current_project(project) if project else None


# ---------------------------------------------------------------------- export / import


@app.command("export")
def export_command(
    project: Optional[str] = typer.Option(None, help="Only the memories of this project (a path inside it)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
) -> None:
    """Write memories as JSONL, one memory a line (format: docs/export-format.md)."""
    mem = memory()
    if not mem.has_store():
        fail(f"no offmem database in {mem.home}; nothing to export")
    out = open(output, "w", encoding="utf-8") if output else sys.stdout
    try:
        counts = mem.export(out, _project_or_none(project))
    finally:
        if output:
            out.close()
    detail = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())) or "nothing"
    typer.secho(f"exported {sum(counts.values())} memories ({detail})", err=True, fg=typer.colors.BRIGHT_BLACK)


@app.command("import")
def import_command(
    file: str = typer.Argument(..., help="A JSONL file written by `offmem export` (or by another tool), - for stdin."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Import memories from JSONL; lines already present are skipped, so it is safe to repeat.

    Exits with status 1 when some lines were rejected (the others are imported).
    """
    mem = memory()
    try:
        handle = sys.stdin if file == "-" else open(file, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}")
    with handle:
        result = mem.import_memories(handle)

    def human(r: dict) -> None:
        detail = ", ".join(f"{n} {kind}" for kind, n in sorted(r["imported"].items())) or "nothing new"
        typer.echo(f"imported {r['imported_total']} of {r['read']} memories ({detail}); {r['duplicates']} already present")
        typer.echo(r["vectors"])
        for problem in r["rejected"][:20]:
            typer.secho(f"line {problem['line']}: {problem['error']}", err=True, fg=typer.colors.RED)
        if len(r["rejected"]) > 20:
            typer.secho(f"… and {len(r['rejected']) - 20} more rejected lines", err=True, fg=typer.colors.RED)

    emit(result, as_json, human)
    if result["rejected"]:
        raise typer.Exit(1)


# ---------------------------------------------------------------------- transcripts


@app.command("import-transcripts")
def import_transcripts_command(
    paths: Optional[List[Path]] = typer.Argument(None, help="Transcript files or folders (default: ~/.claude/projects)."),
    rules_only: bool = typer.Option(False, "--rules", help="Compress with the rule-based compressor, no model."),
    process: bool = typer.Option(True, help="Process the imported events now (the worker does it when it runs)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Backfill memory from Claude Code transcripts; a transcript already imported is skipped."""
    mem = memory()
    try:
        files = mem.transcripts(paths or [])
    except FileNotFoundError as exc:
        fail(f"{exc}; pass transcript files or folders, or run Claude Code once so ~/.claude/projects exists")
    # Processing here holds the worker's lock for the whole import, so a worker a hook
    # starts meanwhile exits at once instead of processing the same events.
    with _progress() as bar:
        task = bar.add_task("transcripts", total=len(files))
        result = mem.import_transcripts(
            files, rules_only=rules_only, process=process,
            progress=lambda done, total, found: bar.update(task, completed=done, description=Path(found.path).name[:40]),
        )

    def human(r: dict) -> None:
        statuses: dict = {}
        for f in r["results"]:
            statuses[f["status"]] = statuses.get(f["status"], 0) + 1
        typer.echo(f"{r['files']} transcripts: " + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())))
        typer.echo(f"{r['events']} events stored" + ("" if r["processed"] else "; the worker processes them"))
        typer.echo(r["vectors"])

    emit(result, as_json, human)


# ---------------------------------------------------------------------- forget


@app.command()
def forget(
    ids: Optional[List[int]] = typer.Argument(None, help="Observation ids (as shown by search and context: #12)."),
    session: Optional[str] = typer.Option(None, help="Everything of this session id."),
    project: Optional[str] = typer.Option(None, help="Everything of this project (a path inside it)."),
    older_than: Optional[str] = typer.Option(None, "--older-than", help="Older than a date (2025-01-31) or an age (30d)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would go; change nothing."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Remove memories from SQLite, the keyword index and Chroma, with the raw events behind them."""
    if ids and (session or project or older_than):
        fail("give observation ids, or --session / --project / --older-than, not both")
    try:
        query = api.forget_query(ids, session=session, project=_project_or_none(project), older_than=older_than)
    except ValueError as exc:
        fail(str(exc))
    if query.empty():
        fail("say what to forget: observation ids, --session ID, --project PATH or --older-than DATE")
    mem = memory()
    if not mem.has_store():
        fail(f"no offmem database in {mem.home}; nothing to forget")
    planned = mem.plan_forget(query)
    result: dict = {"query": query.describe(), "planned": planned, "removed": None, "vectors": None}
    total = sum(v for k, v in planned.items() if isinstance(v, int))
    if not dry_run and total:
        if not yes:
            summary = ", ".join(f"{v} {k}" for k, v in planned.items() if isinstance(v, int) and v)
            if not typer.confirm(f"Forget {query.describe()} ({summary})?", default=False, err=True):
                typer.secho("nothing forgotten", err=True)
                raise typer.Exit(1)
        result["removed"] = mem.forget(query)
    if result["removed"]:
        result["vectors"] = mem.sync_vectors()

    def human(r: dict) -> None:
        if r["planned"].get("missing_ids"):
            typer.secho("no observation " + ", ".join(f"#{i}" for i in r["planned"]["missing_ids"]), err=True,
                        fg=typer.colors.YELLOW)
        if r["removed"] is None:
            counts = ", ".join(f"{v} {k}" for k, v in r["planned"].items() if isinstance(v, int) and v) or "nothing"
            typer.echo(f"{'would forget' if dry_run else 'nothing to forget:'} {counts}")
            return
        typer.echo("forgot " + (", ".join(f"{v} {k}" for k, v in r["removed"].items() if v) or "nothing"))
        typer.echo(r["vectors"])

    emit(result, as_json, human)


__all__ = ["export_command", "forget", "import_command", "import_transcripts_command"]
