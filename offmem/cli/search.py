"""Search commands: search, reindex, eval.

``offmem search`` asks the running worker (warm model, one Chroma client); with
no worker it searches in-process, loading the embedding model first (~5 s).
"""

from __future__ import annotations

import json
import sys
import time
import urllib.parse
from pathlib import Path
from typing import List, Optional

import typer

from offmem.cli.app import app
from offmem.cli.core import current_project, emit, fail
from offmem.config import load_settings
from offmem.errors import OffmemError


def _query_params(query: str, project: str | None, types: list[str], files: list[str], session: str | None,
                  since: str | None, until: str | None, limit: int, mode: str) -> dict:
    params = {"q": query, "limit": limit, "mode": mode, "type": types, "file": files}
    for key, value in (("project", project), ("session", session), ("since", since), ("until", until)):
        if value:
            params[key] = value
    return params


def _via_worker(settings, params: dict) -> dict | None:
    from offmem.worker.control import request_json

    return request_json(settings, "/api/search?" + urllib.parse.urlencode(params, doseq=True), timeout=30.0)


def _local_backends(settings, mode: str):
    """The embedder and Chroma index for an in-process search; (None, None) with a note if unusable."""
    if mode == "fts" or settings.embedder.backend == "none":
        return None, None, []
    from offmem.embed import get_embedder
    from offmem.search.hybrid import chroma_for

    try:
        embedder = get_embedder(settings)
        typer.secho("offmem: no worker running; loading the embedding model "
                    "(`offmem worker start` keeps it warm)", err=True, fg=typer.colors.BRIGHT_BLACK)
        embedder.load()
        return embedder, chroma_for(settings), []
    except OffmemError as exc:
        return None, None, [f"semantic search unavailable: {exc}"]


def _local(settings, params: dict) -> dict:
    from offmem.search.hybrid import search
    from offmem.store.db import Store

    embedder, chroma, notes = _local_backends(settings, params["mode"])
    with Store.open(settings.db_path) as store:
        results = search(
            store, params["q"], mode=params["mode"], embedder=embedder, chroma=chroma,
            project=params.get("project"), types=params["type"], files=params["file"],
            session_id=params.get("session"), since=params.get("since"), until=params.get("until"),
            limit=params["limit"],
        )
    data = results.to_dict(params["q"])
    data["notes"] = notes + data["notes"]
    return data


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
    settings = load_settings()
    if mode not in ("hybrid", "fts", "vector"):
        fail(f"unknown --mode {mode!r}; use hybrid, fts or vector")
    if not settings.db_path.exists():
        fail(f"no memories yet in {settings.home}; run `offmem install` and use Claude Code first")
    scope = None if all_projects else current_project(project)
    params = _query_params(query, scope, type_, file, session, since, until, limit, mode)
    try:
        data = _via_worker(settings, params)
        if data is None or "hits" not in data:
            data = _local(settings, params)
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


def _post_with_token(settings, path: str) -> dict:
    """POST to the worker with the install's token (mutating endpoints require it)."""
    import urllib.error
    import urllib.request

    from offmem.web.security import TOKEN_HEADER, load_or_create_token
    from offmem.worker.control import base_url, local_urlopen

    url = base_url(settings)
    if url is None:
        fail("the worker stopped; run `offmem reindex` again")
    request = urllib.request.Request(url + path, data=b"{}", method="POST", headers={
        "Content-Type": "application/json", TOKEN_HEADER: load_or_create_token(settings.home)})
    try:
        with local_urlopen(request, timeout=10.0) as reply:
            return json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        fail(f"the worker refused the reindex ({exc.code}): {exc.read().decode('utf-8', 'replace')[:300]}")
    except (OSError, ValueError) as exc:
        fail(f"cannot reach the worker: {exc}")
    return {}


def _reindex_in_worker(settings) -> dict:
    from offmem.worker.control import request_json

    status = request_json(settings, "/api/search/status", timeout=10.0) or {}
    configured = settings.embedder.model or None
    if configured and status.get("model") and status["model"] != configured:
        fail(f"the worker runs embedder {status['model']!r} but {configured!r} is configured; "
             f"run `offmem worker restart`, then `offmem reindex`")
    started = _post_with_token(settings, "/api/search/reindex")
    if not started.get("started"):
        fail(f"the worker did not start the reindex: {started}")
    with _progress_bar() as bar:
        task = bar.add_task("reindex", total=None)
        while True:
            time.sleep(0.5)
            status = request_json(settings, "/api/search/status", timeout=10.0) or {}
            pending = status.get("pending") or 0
            total = max(bar.tasks[task].total or 0, pending + (status.get("indexed") or 0), 1)
            bar.update(task, total=total, completed=total - pending)
            if not status.get("reindexing"):
                break
    if status.get("error"):
        fail(f"reindex failed: {status['error']}")
    return status


def _reindex_here(settings) -> dict:
    from offmem.search.indexer import get_indexer

    indexer = get_indexer(settings)
    if indexer is None:
        fail("embedder.backend is `none`: there are no vectors to build "
             "(`offmem config set embedder.backend auto` to enable semantic search)")
    with _progress_bar() as bar:
        task = bar.add_task("reindex", total=None)
        done = indexer.reindex(progress=lambda n, total: bar.update(task, completed=n, total=total))
    status = indexer.status()
    status["queued"] = done
    return status


@app.command()
def reindex(as_json: bool = typer.Option(False, "--json")) -> None:
    """Rebuild the semantic index (Chroma) from the database with the configured embedder."""
    from offmem.worker.launch import worker_running

    settings = load_settings()
    if not settings.db_path.exists():
        fail(f"no database in {settings.home}; nothing to index")
    started = time.time()
    try:
        status = _reindex_in_worker(settings) if worker_running(str(settings.home)) else _reindex_here(settings)
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
    from offmem.search import evaluate

    if split not in ("all", "dev", "test"):
        fail("--split must be all, dev or test")
    try:
        result = evaluate.run(eval_dir, settings=load_settings(), split=split, do_tune=tune)
    except (OffmemError, OSError, ValueError) as exc:
        fail(str(exc))
    typer.echo(json.dumps(result, indent=2) if as_json else evaluate.render(result, split))
    if not evaluate.hybrid_holds(result["report"]):
        raise typer.Exit(1)
