"""Search commands: search, reindex, eval.

``offmem search`` asks the running worker (warm model, one Chroma client); with
no worker it searches in-process, loading the embedding model first (~5 s).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path
from typing import List, Optional

import typer

from offmem.cli.app import app
from offmem.cli.core import current_project, emit, fail, memory
from offmem.errors import OffmemError


def _print_hits(data: dict, show_project: bool) -> None:
    for note in data.get("notes") or []:
        typer.secho(f"note: {note}", err=True, fg=typer.colors.YELLOW)
    hits = data.get("hits") or []
    if not hits:
        typer.echo("no matching memories")
        return
    for n, hit in enumerate(hits, 1):
        ranks = hit.get("ranks") or {}
        how = " ".join(f"{mode} #{ranks[mode]}" for mode in ("fts", "vector") if ranks.get(mode))
        when = str(hit.get("created_at") or "")[:16].replace("T", " ")
        line = f"{n:>2}. #{hit['id']:<6} {hit['type']:<9} {when}  {hit['title']}"
        typer.echo(line)
        extra = f"      score {hit['score']:.4f} ({how or 'no rank'})"
        if show_project:
            extra += f"  {hit['project']}"
        typer.secho(extra, fg=typer.colors.BRIGHT_BLACK)


@app.command("search")
def search_command(
    query: str = typer.Argument(..., help="Words, an identifier, a file name or an error message."),
    project: Optional[str] = typer.Option(None, help="Project directory (default: the current one)."),
    all_projects: bool = typer.Option(False, "--all-projects", help="Search every project."),
    type_: List[str] = typer.Option([], "--type", "-t", help="Only these observation types (repeat or comma-separate)."),
    file: List[str] = typer.Option([], "--file", "-f", help="Only memories that touched this file (name, path or dir/)."),
    session: Optional[str] = typer.Option(None, help="Only this session id."),
    since: Optional[str] = typer.Option(None, help="Not older than: 2025-01-31, 2025-01-31T14:00, or an age (12h, 7d, 2w)."),
    until: Optional[str] = typer.Option(None, help="Older than this (a bare date includes that day)."),
    limit: int = typer.Option(10, "--limit", "-n", min=1, max=200),
    mode: str = typer.Option("hybrid", help="hybrid, fts (keywords only) or vector (meaning only)."),
    as_json: bool = typer.Option(False, "--json", help="{query, mode, notes, hits}; each hit has id, type, "
                                 "title, project, created_at, score and ranks {fts, vector}."),
) -> None:
    """Search memories: keywords and meaning, fused, scoped to the project."""
    mem = memory()
    if mode not in ("hybrid", "fts", "vector"):
        fail(f"unknown --mode {mode!r}; use hybrid, fts or vector")
    if not mem.has_store():
        fail(f"no memories yet in {mem.home}; run `offmem install` and use Claude Code first")
    scope = None if all_projects else current_project(project)
    try:
        data = mem.search(query, project=scope, types=type_, files=file, session=session, since=since, until=until,
                          limit=limit, mode=mode)
    except (OffmemError, ValueError) as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        _print_hits(data, show_project=scope is None)


# ---------------------------------------------------------------------- reindex


def _progress_bar():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("embedding"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    transient=False, disable=not sys.stderr.isatty())


@contextlib.contextmanager
def _bar():
    """The reindex progress bar, as ``update(done, total)``."""
    with _progress_bar() as bar:
        task = bar.add_task("reindex", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


@app.command()
def reindex(as_json: bool = typer.Option(False, "--json")) -> None:
    """Rebuild the semantic index (Chroma) from the database with the configured embedder."""
    mem = memory()
    if not mem.has_store():
        fail(f"no database in {mem.home}; nothing to index")
    started = time.time()
    try:
        status = mem.reindex(bar=_bar)
    except OffmemError as exc:
        fail(str(exc))
    status["seconds"] = round(time.time() - started, 1)
    emit(status, as_json, lambda s: typer.echo(
        f"Indexed {s.get('indexed')} vectors with {s.get('model')} ({s.get('dim')}-d) "
        f"in {s['seconds']} s; {s.get('pending')} pending."))


# ---------------------------------------------------------------------- eval


@app.command("eval")
def eval_command(
    split: str = typer.Option("all", help="all, dev or test queries."),
    tune: bool = typer.Option(False, help="Grid-search fusion parameters on dev; report them on test."),
    eval_dir: Optional[Path] = typer.Option(None, help="Folder with corpus/ and queries.jsonl (default: the repository's eval/)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Recall@5, Recall@10 and MRR of keyword, vector and hybrid search on the evaluation set."""
    if split not in ("all", "dev", "test"):
        fail("--split must be all, dev or test")
    try:
        found = memory().evaluate(eval_dir, split=split, tune=tune)
    except (OffmemError, OSError, ValueError) as exc:
        fail(str(exc))
    typer.echo(json.dumps(found["result"], indent=2) if as_json else found["text"])
    if not found["holds"]:
        raise typer.Exit(1)
