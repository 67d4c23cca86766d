"""offmem's library face: :class:`Memory`, the one object the faces call.

The CLI (:mod:`offmem.cli`), the MCP server (:mod:`offmem.mcp`), the worker's HTTP
routes (:mod:`offmem.worker.http`) and the web UI (:mod:`offmem.web`) reach the
library through this module only (an import-linter contract keeps it so). Each of
them reads its settings once, at its root, and builds one :class:`Memory` from
them; nothing below reads the configuration again.

A Memory is the composition root: it owns the way to the store, the choice between
the warm worker and computing here, and the semantic indexer.

* Outside the worker (CLI, MCP server), a question the worker can answer with its
  warm models (search, prompt context, reindex, status) goes to it first, through
  :mod:`offmem.worker.client`; without a worker it is computed here. That rule is
  written once, in :meth:`Memory._ask`.
* Inside the worker (``Memory(settings, worker=the_worker)``, built by the app
  factory), it computes with the worker's loaded embedder and Chroma client and
  never calls itself over HTTP.

Besides :class:`Memory`, the names a face may need to show or build a request
(:class:`ForgetQuery`, :func:`forget_query`, :func:`project_root`,
:func:`project_name`, :data:`OBSERVATION_TYPES`, ...) are exported here, so a face
imports nothing else of the library.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from offmem.config import Settings
from offmem.errors import OffmemError, WorkerError
from offmem.project import project_name, project_root
from offmem.records import OBSERVATION_TYPES
from offmem.retrieval.format import clean, day


def __getattr__(name: str):
    """Names a face needs from heavier modules, imported when first asked for (a face's start
    stays as cheap as its command needs)."""
    if name == "ForgetQuery":
        from offmem.privacy.forget import ForgetQuery

        return ForgetQuery
    if name in ("MAX_LIMIT", "MemoryRequestError"):
        from offmem.retrieval import memories

        return getattr(memories, name)
    if name == "Cursor":
        from offmem.retrieval.browse import Cursor

        return Cursor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


Note = Callable[[str, str], None]  # (message, "note" | "warning"): what a face shows on the side


def _silent(message: str, kind: str = "note") -> None:
    pass


def current_project(path: str | None = None) -> str:
    """The project key of ``path`` (any directory inside the project), else of the working directory."""
    return project_root(path or os.getcwd())


def time_bound(text: str) -> str:
    """An ISO time from a date (2025-01-31), a date-time or an age (30d); ValueError when unreadable."""
    from offmem.search.filters import iso, to_epoch

    return iso(to_epoch(text))


def check_time(text: str) -> float:
    """The epoch a time filter means: ValueError when it cannot be read, OverflowError when it is
    out of the range a date can represent."""
    from datetime import datetime, timezone

    from offmem.search.filters import to_epoch

    epoch = to_epoch(text)
    try:
        datetime.fromtimestamp(epoch, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise OverflowError(f"{text!r} is out of range") from None
    return epoch


def forget_query(ids=(), session: str | None = None, project: str | None = None,
                 older_than: str | None = None):
    """What ``offmem forget`` selects (a :class:`ForgetQuery`); ValueError for an unreadable ``older_than``."""
    from offmem.privacy.forget import ForgetQuery

    return ForgetQuery(ids=list(ids or []), session=session, project=project,
                       before=time_bound(older_than) if older_than else None)


class Memory:
    """offmem's memory for one data directory, as every face uses it."""

    def __init__(self, settings: Settings, *, worker=None, note: Note | None = None) -> None:
        self.settings = settings
        self.worker = worker  # the running offmem.worker.runner.Worker when this Memory serves inside it
        self.note = note or _silent

    # ------------------------------------------------------------------ composition

    @property
    def home(self) -> Path:
        return self.settings.home

    def has_store(self) -> bool:
        """Whether a database exists yet (the first hook event creates it)."""
        return self.settings.db_path.exists()

    @contextmanager
    def _store(self) -> Iterator:
        from offmem.store.db import Store

        with Store.open(self.settings.db_path) as store:
            yield store

    @contextmanager
    def browse(self) -> Iterator:
        """A :class:`offmem.retrieval.browse.Browser` over one connection (the UI's reads)."""
        from offmem.retrieval.browse import Browser

        with self._store() as store:
            yield Browser(store, self.settings)

    def _ask(self, path: str, *, method: str = "GET", body=None, timeout: float = 2.0) -> dict | None:
        """The running worker's answer; None when there is none, and always inside the worker itself."""
        if self.worker is not None:
            return None
        from offmem.worker.client import request_json

        return request_json(self.settings, path, timeout=timeout, method=method, body=body)

    def worker_running(self) -> bool:
        if self.worker is not None:
            return True
        from offmem.worker.launch import worker_running

        return worker_running(str(self.home))

    def _indexer(self):
        return getattr(self.worker, "indexer", None)

    def _warm_backends(self) -> tuple:
        """The worker's ``(embedder, chroma)`` once its embedder is loaded, else ``(None, None)``
        (a configured embedder not loaded yet starts loading in the background meanwhile)."""
        from offmem.worker.warm import warm_search_backends

        return warm_search_backends(self.worker)

    def _local_backends(self, mode: str) -> tuple:
        """The embedder and Chroma index for a search here, loaded now: ``(embedder, chroma, notes)``."""
        if self.worker is not None:
            indexer = self._indexer()
            if indexer is None:
                return None, None, []
            return indexer.embedder, indexer.vectors, []
        if mode == "fts" or self.settings.embedder.backend == "none":
            return None, None, []
        from offmem.embed import get_embedder
        from offmem.search.hybrid import chroma_for

        try:
            embedder = get_embedder(self.settings)
            self.note("no worker running; loading the embedding model (`offmem worker start` keeps it warm)", "note")
            embedder.load()
            return embedder, chroma_for(self.settings), []
        except OffmemError as exc:
            return None, None, [f"semantic search unavailable: {exc}"]

    # ------------------------------------------------------------------ search

    def search(self, query: str, *, project: str | None = None, types=(), files=(), session: str | None = None,
               since: str | None = None, until: str | None = None, limit: int = 10, mode: str = "hybrid") -> dict:
        """``{query, mode, notes, hits}`` (``offmem search --json``); ValueError for a bad filter."""
        import urllib.parse

        params = {"q": query, "limit": limit, "mode": mode, "type": list(types), "file": list(files)}
        for key, value in (("project", project), ("session", session), ("since", since), ("until", until)):
            if value:
                params[key] = value
        data = self._ask("/api/search?" + urllib.parse.urlencode(params, doseq=True), timeout=30.0)
        if data is not None and "hits" in data:
            return data
        from offmem.search.hybrid import search

        embedder, chroma, notes = self._local_backends(mode)
        with self._store() as store:
            results = search(store, query, mode=mode, embedder=embedder, chroma=chroma, project=project,
                             types=list(types), files=list(files), session_id=session, since=since, until=until,
                             limit=limit)
            data = results.to_dict(query)
            data["notes"] = notes + data["notes"]
            if not (files or session or since or until):
                data = self._with_team(store, data, query, project, limit, embedder, types)
        return data

    def _with_team(self, store, data: dict, query: str, project: str | None, limit: int, embedder, types=()) -> dict:
        """``data`` with the team's hits fused in, for a joined project (offmem.team.search)."""
        if not self.settings.team.dsn:
            return data
        from offmem.team.search import fuse

        return fuse(self.settings, store, data, query, project, limit, embedder=embedder, types=list(types or []))

    def find(self, query: str, project: str, *, types=None, limit: int = 10, since=None, until=None) -> dict | None:
        """The MCP ``search``: ``{mode, notes, hits}``, compact hits; None when nothing is stored yet.
        Raises MemoryRequestError for a request the caller can fix. Without a worker: keyword search
        (loading an embedder would cost seconds per session)."""
        body = {"project": project, "query": query, "types": types, "limit": limit, "since": since, "until": until}
        answer = self._ask("/api/memories/search", method="POST", body=body, timeout=5.0)
        if answer is not None:
            return answer
        embedder, chroma = self._warm_backends() if self.worker is not None else (None, None)
        if self.worker is None and not self.has_store():
            return None
        from offmem.retrieval.memories import search_memories

        with self._store() as store:
            found = search_memories(store, query, project, types=types, limit=limit or 10, since=since, until=until,
                                    embedder=embedder, chroma=chroma, settings=self.settings)
            if since or until:
                return found
            return self._with_team(store, found, query, project, limit or 10, embedder, types)

    def browse_search(self, q: str, *, project: str = "", type: str = "", since: str = "", until: str = "",
                      limit: int = 30) -> dict:
        """The UI's search page: hybrid search, or the newest memories for an empty query;
        ``{mode, notes, hits}``. ValueError for an unreadable filter."""
        if not q.strip():
            from offmem.search.filters import SearchFilters

            filters = SearchFilters.build(project=project, types=type, since=since, until=until)
            with self.browse() as reader:
                return {"mode": "recent", "notes": [], "hits": reader.browse(filters, limit)}
        from offmem.search import hybrid_search

        embedder, chroma, _ = self._local_backends("hybrid")
        with self._store() as store:
            found = hybrid_search(store, q, project=project or None, types=type or None, since=since or None,
                                  until=until or None, limit=limit, embedder=embedder, chroma=chroma)
            data = {"mode": found.mode, "notes": found.notes, "hits": list(found)}
            if not (since or until):
                data = self._with_team(store, data, q, project or None, limit, embedder, [type] if type else [])
        return data

    # ------------------------------------------------------------------ context

    def session_context(self, project: str, settings: Settings | None = None) -> dict:
        """What SessionStart injects for ``project``: ``{text, tokens, observation_ids, summary_ids, ...}``
        (with ``settings`` instead of this Memory's, e.g. the config file as just saved)."""
        from offmem.retrieval import build_session_context

        with self._store() as store:
            return build_session_context(store, project, settings or self.settings)

    def prompt_memories(self, project: str, prompt: str, *, exclude=(), session_id: str | None = None) -> dict:
        """The memories ``prompt`` calls for, computed here (warm models inside the worker)."""
        from offmem.retrieval.prompt import prompt_memories

        embedder, chroma = self._warm_backends() if self.worker is not None else (None, None)
        with self._store() as store:
            return prompt_memories(store, project, prompt, self.settings, exclude=set(exclude),
                                   session_id=session_id, embedder=embedder, chroma=chroma)

    def _prompt_part(self, project: str, prompt: str, exclude: list[int]) -> dict:
        """What the prompt hook would add: the worker's answer when it runs (as the hook asks), else computed here."""
        body = {"project": project, "prompt": prompt, "exclude": exclude}
        answer = self._ask("/api/prompt-context", method="POST", body=body, timeout=5.0)
        if answer is not None:
            return answer | {"source": "worker"}
        local = self.prompt_memories(project, prompt, exclude=exclude)
        note = "worker not running: the prompt hook would inject nothing now; this is what it would find"
        return local | {"source": "local", "notes": [*local.get("notes", []), note]}

    def context(self, project: str, prompt: str | None = None) -> dict:
        """``offmem context``: ``{project, budget_tokens, text, tokens, observation_ids, summary_ids[, prompt]}``."""
        result: dict = {"project": project, "budget_tokens": self.settings.context.budget_tokens, "text": "",
                        "tokens": 0, "observation_ids": [], "summary_ids": []}
        if not self.has_store():
            return result
        result.update(self.session_context(project))
        if prompt:
            result["prompt"] = self._prompt_part(project, prompt, list(result["observation_ids"]))
        return result

    # ------------------------------------------------------------------ timeline, details, remember

    def timeline(self, project: str, *, anchor_id: int | None = None, at=None, before: int = 5,
                 after: int = 5) -> dict | None:
        """Memories around an id or a time, oldest first; None when nothing is stored yet."""
        from offmem.retrieval import memories

        if not self.has_store():
            return None
        with self._store() as store:
            return memories.timeline(store, project, anchor_id=anchor_id, at=at, before=before, after=after)

    def details(self, ids, project: str) -> dict | None:
        """``{observations, missing}`` for ``ids`` of ``project``; None when nothing is stored yet."""
        from offmem.retrieval import memories

        if not self.has_store():
            return None
        with self._store() as store:
            return memories.get_details(store, ids, project)

    def remember(self, project: str, text: str, *, title: str | None = None, type: str = "discovery",
                 files=None, session_id: str | None = None) -> dict:
        """Store an explicit memory (redacted like captured text), searchable at once; the worker embeds it."""
        from offmem.privacy import default_redactor
        from offmem.retrieval import memories

        with self._store() as store:
            saved = memories.remember(store, project, text, title=title, type=type, files=files,
                                      session_id=session_id, redactor=default_redactor(self.settings))
        if not saved["duplicate"]:
            self.index_soon()
        return saved

    def index_soon(self) -> bool:
        """Have what is queued embedded now, in the background; False when no indexer can."""
        if self.worker is None:
            return self._ask("/api/memories/index", method="POST", body={}, timeout=1.0) is not None
        indexer = self._indexer()
        if indexer is None:
            return False
        import threading

        def run() -> None:
            try:
                indexer.index_pending()
            except Exception as exc:  # noqa: BLE001 - the outbox keeps the work for the next pass
                self.worker.log(f"indexing deferred: {type(exc).__name__}: {exc}")

        threading.Thread(target=run, name="offmem-index-remembered", daemon=True).start()
        return True

    # ------------------------------------------------------------------ team

    def team_join(self, project: str, key: str | None = None) -> dict:
        """Share ``project`` with the team under its portable key (``key``, else the normalized git
        remote URL): ``{project, team_key, queued, server}``. ValueError without a key or with a bad one.
        Works offline: the worker publishes when the team store answers."""
        from offmem.store import team as team_table
        from offmem.store.db import transaction
        from offmem.team.key import check_key, project_key

        team_key = check_key(key) if key else project_key(project)
        if not team_key:
            raise ValueError(f"{project} has no git remote to derive a team key from; give one with --key")
        with self._store() as store:
            with transaction(store.conn):
                queued = team_table.join(store.conn, project, team_key)
        return {"project": project, "team_key": team_key, "queued": queued, "server": self._team_server(team_key)}

    def team_leave(self, project: str) -> dict:
        """Stop sharing ``project``: ``{project, left, unpublished_dropped, mirror_removed}`` (what was
        published stays on the team store until forgotten)."""
        from offmem.store import team as team_table
        from offmem.store.db import transaction

        with self._store() as store:
            with transaction(store.conn):
                result = team_table.leave(store.conn, project)
        if result["mirror_removed"]:
            self.sync_vectors()  # the removed mirror rows' vectors
        return {"project": project, **result}

    def team_status(self, project: str, *, check_server: bool = True) -> dict:
        """``offmem team status``: configuration, the project's key and state, outbox and mirror, and
        (``check_server``) what the team store says about this member."""
        from offmem.store import team as team_table
        from offmem.team.key import project_key
        from offmem.team.server import display_name, enabled, hosts

        team = self.settings.team
        result: dict = {"configured": enabled(team), "project": project, "detected_key": project_key(project),
                        "joined": False, "team_key": None, "author": display_name(team), "hosts": hosts(team),
                        "chroma_url": team.chroma_url or None, "outbox": 0, "published": 0, "mirrored": 0,
                        "joined_projects": [], "last_error": None, "server": None}
        if self.has_store():
            with self._store() as store:
                conn = store.conn
                joined = team_table.joined_project(conn, project)
                result.update(joined=joined is not None, team_key=joined["team_key"] if joined else None,
                              outbox=team_table.outbox_count(conn), published=team_table.published_count(conn),
                              mirrored=team_table.mirror_count(conn, project),
                              joined_projects=[{"project": p["project"], "team_key": p["team_key"]}
                                               for p in team_table.joined(conn)],
                              last_error=team_table.last_error(conn))
        if check_server and result["configured"]:
            result["server"] = self._team_server(result["team_key"] or result["detected_key"])
        return result

    def _team_server(self, key: str | None) -> dict | None:
        """What the team store says: ``{reachable, user, granted, maintainer, error}``; None when off."""
        from offmem.team.server import TeamError, TeamServer, enabled

        if not enabled(self.settings.team):
            return None
        try:
            with TeamServer(self.settings.team) as server:
                info = server.whoami()
        except TeamError as exc:
            return {"reachable": False, "error": str(exc), "user": None, "granted": None, "maintainer": None}
        grants = info["grants"]
        return {"reachable": True, "error": None, "user": info["user"], "server_version": info["server_version"],
                "granted": (key in grants) if key else None, "maintainer": grants.get(key, False) if key else None,
                "granted_projects": sorted(grants)}

    # ------------------------------------------------------------------ forget

    def plan_forget(self, query) -> dict:
        """What ``query`` would remove, per table (and ``missing_ids``), changing nothing."""
        from offmem.privacy.forget import plan

        with self._store() as store:
            return plan(store, query)

    def forget(self, query) -> dict:
        """Remove what ``query`` selects (SQLite, FTS, raw events, spool files; the vector deletions
        queued); the counts removed."""
        from offmem.privacy.forget import forget

        with self._store() as store:
            return forget(store, query)

    def sync_vectors(self) -> str | None:
        """Apply the queued vector changes now. Outside the worker: a one-line note of what happened;
        inside: None, or a note when the worker's next pass has to do it."""
        if self.worker is None:
            from offmem.portability import sync_vectors

            return sync_vectors(self.settings)
        from offmem.search.indexer import apply_queued

        return apply_queued(self._indexer())

    # ------------------------------------------------------------------ export, import

    def export(self, out, project: str | None = None) -> dict:
        """Write memories as JSONL to ``out``; the count per kind."""
        from offmem.portability import export_memories

        with self._store() as store:
            return export_memories(store, out, project)

    def import_memories(self, handle) -> dict:
        """Import JSONL memories (redacted, duplicates skipped); ``ImportStats.to_dict()`` and ``vectors``."""
        from offmem.portability import import_memories
        from offmem.privacy import default_redactor

        with self._store() as store:
            stats = import_memories(store, handle, redactor=default_redactor(self.settings))
        result = stats.to_dict()
        result["vectors"] = self.sync_vectors()
        return result

    def transcripts(self, paths=()) -> list[Path]:
        """The transcript files under ``paths`` (default: ~/.claude/projects); FileNotFoundError if none."""
        from offmem.portability import discover

        return discover(paths or [])

    def import_transcripts(self, files: list[Path], *, rules_only: bool = False, process: bool = True,
                           progress=None) -> dict:
        """Backfill memory from transcript ``files``; processed now under the worker's lock when
        ``process`` and no worker runs (else the worker processes them)."""
        from offmem.portability import import_transcripts

        lock = self._processing_lock() if process else None
        summarizer = None
        try:
            runner = None
            if lock is not None:
                from offmem.worker.processing import process_pending

                summarizer = self._summarizer(rules_only)

                def runner(_result=None) -> None:
                    process_pending(self.settings, summarizer, force=True)

            with self._store() as store:
                stats = import_transcripts(store, self.home, files, progress=progress, after_file=runner)
        finally:
            if lock is not None:
                lock.release()  # before sync_vectors, which would take the held lock for a running worker
        result = stats.to_dict()
        result["processed"] = runner is not None
        tally = getattr(summarizer, "stats", None)  # the summarizer's claim check, when it ran one
        result["claims"] = tally.claims.as_dict() if tally is not None else {"checked": 0, "unsupported": 0, "rate": None}
        result["vectors"] = self.sync_vectors() if runner is not None else "semantic index: updated by the worker"
        return result

    # ------------------------------------------------------------------ processing & index

    def _processing_lock(self):
        """The worker's lock, held while this process processes (None when a worker runs: it processes)."""
        from offmem.worker.runner import AlreadyRunning, WorkerLock

        lock = WorkerLock(self.home)
        try:
            lock.acquire()
        except AlreadyRunning:
            return None
        return lock

    def _summarizer(self, rules_only: bool):
        if rules_only:
            return None
        from offmem.worker.processing import load_summarizer

        return load_summarizer(self.settings, on_error=lambda exc: self.note(
            f"summarizer unavailable ({exc}); using rules", "warning"))

    def process(self, *, force: bool = True, rules_only: bool = False) -> dict:
        """Process pending events now, holding the worker's lock (WorkerError when a worker runs)."""
        from offmem.worker.processing import process_pending

        lock = self._processing_lock()
        if lock is None:
            raise WorkerError("the worker is running and processes the queue; use `offmem worker status`")
        try:
            stats = process_pending(self.settings, self._summarizer(rules_only), force=force)
        finally:
            lock.release()
        return stats.__dict__

    def reindex(self, bar: Callable | None = None) -> dict:
        """Rebuild the vectors from SQLite: in the worker when it runs, else here. ``bar()`` is a
        context manager yielding ``update(done, total)`` for progress. The indexer's status, with
        ``queued`` when built here; WorkerError/OffmemError with what to do when it cannot."""
        bar = bar or _no_bar
        if self.worker_running():
            return self._reindex_in_worker(bar)
        return self._reindex_here(bar)

    def _reindex_in_worker(self, bar) -> dict:
        from offmem.worker.client import NoAnswer, Refused, call

        status = self._ask("/api/search/status", timeout=10.0) or {}
        configured = self.settings.embedder.model or None
        if configured and status.get("model") and status["model"] != configured:
            raise WorkerError(f"the worker runs embedder {status['model']!r} but {configured!r} is configured; "
                              f"run `offmem worker restart`, then `offmem reindex`")
        try:
            started = call(self.home, "/api/search/reindex", method="POST", body={}, timeout=10.0)
        except Refused as exc:
            raise WorkerError(f"the worker refused the reindex ({exc.status}): {exc.text[:300]}") from None
        except NoAnswer as exc:
            if not self.worker_running():
                raise WorkerError("the worker stopped; run `offmem reindex` again") from None
            raise WorkerError(f"cannot reach the worker: {exc}") from None
        if not started.get("started"):
            raise WorkerError(f"the worker did not start the reindex: {started}")
        total = 0
        with bar() as update:
            while True:
                time.sleep(0.5)
                status = self._ask("/api/search/status", timeout=10.0) or {}
                pending = status.get("pending") or 0
                total = max(total, pending + (status.get("indexed") or 0), 1)
                update(total - pending, total)
                if not status.get("reindexing"):
                    break
        if status.get("error"):
            raise WorkerError(f"reindex failed: {status['error']}")
        return status

    def _reindex_here(self, bar) -> dict:
        from offmem.search.indexer import get_indexer

        indexer = get_indexer(self.settings)
        if indexer is None:
            raise OffmemError("embedder.backend is `none`: there are no vectors to build "
                              "(`offmem config set embedder.backend auto` to enable semantic search)")
        with bar() as update:
            done = indexer.reindex(progress=update)
        status = indexer.status()
        status["queued"] = done
        return status

    def reindex_in_background(self) -> dict:
        """Inside the worker: start rebuilding the vectors on a thread (``POST /api/search/reindex``);
        ``{started, running}``; WorkerError when the worker has no embedder loaded."""
        import threading

        indexer = self._indexer()
        if indexer is None:
            raise WorkerError("the worker has no embedder loaded; see `offmem worker status`")
        if indexer.reindexing:
            return {"started": False, "running": True}

        def job() -> None:
            try:
                indexer.reindex()
                self.worker.log("reindex finished")
            except Exception as exc:  # noqa: BLE001 - reported through status and the log
                self.worker.log(f"reindex failed: {type(exc).__name__}: {exc}")

        indexer.reindexing = True  # visible to status polls before the thread takes the lock
        threading.Thread(target=job, name="offmem-reindex", daemon=True).start()
        return {"started": True, "running": True}

    def index_status(self) -> dict:
        """The semantic index: model, dimension, counts (``GET /api/search/status``)."""
        indexer = self._indexer()
        if indexer is None:
            return {"backend": self.settings.embedder.backend, "model": None, "loaded": False,
                    "error": "semantic index disabled or unavailable; see offmem.log"}
        return indexer.status()

    def evaluate(self, eval_dir: Path | None = None, *, split: str = "all", tune: bool = False) -> dict:
        """``offmem eval``: the report, its rendering (``text``) and whether hybrid holds (``holds``)."""
        from offmem.search import evaluate

        result = evaluate.run(eval_dir, settings=self.settings, split=split, do_tune=tune)
        return {"result": result, "text": evaluate.render(result, split), "holds": evaluate.hybrid_holds(result["report"])}

    # ------------------------------------------------------------------ status & worker

    def status(self, project: str) -> dict:
        """``offmem status``: hooks per scope, MCP registration, worker, counts for ``project`` and all."""
        from offmem.install import enabled_plugin, installed_events, mcp_installed, settings_path
        from offmem.store.db import file_size

        hooks = {}
        for scope in ("user", "project"):
            path = settings_path(scope, project)
            hooks[scope] = {"settings": str(path), "events": installed_events(path)}
        counts: dict = {}
        total: dict = {}
        if self.has_store():
            with self._store() as store:
                counts = store.counts(project)
                total = store.counts()
        return {
            "home": str(self.home),
            "project": project,
            "hooks": hooks,
            "plugin": enabled_plugin("project", project),  # where offmem's Claude Code plugin is enabled
            "mcp_registered": mcp_installed(),
            "worker_running": self.worker_running(),
            "project_counts": counts,
            "all_counts": total,
            "database_bytes": file_size(self.settings.db_path),
        }

    def worker_status(self) -> dict:
        """Queue depth, models, events/min, memory, last error (the worker's own when it runs)."""
        if self.worker is not None:
            return self.worker.status()
        from offmem.worker import control

        return control.status(self.settings)

    def events_per_minute(self) -> float:
        return self.worker.events_per_minute() if self.worker is not None else 0.0

    def stopping(self) -> bool:
        """Inside the worker: whether it is shutting down (long-lived responses end then)."""
        return self.worker is not None and self.worker.stop_event.is_set()

    def start_worker(self) -> dict:
        from offmem.worker import control

        return control.start(self.settings)

    def stop_worker(self) -> bool:
        from offmem.worker import control

        return control.stop(self.settings)

    def restart_worker(self) -> dict:
        from offmem.worker import control

        control.stop(self.settings)
        return control.start(self.settings)

    def sign_in_link(self, url: str) -> tuple[str | None, float]:
        """A one-time link that signs this user's browser in to the UI at ``url`` and how long it is
        valid; None when the worker gives none (it serves memory only to holders of the token)."""
        issued = self._ask("/api/ui/login-code", method="POST", body={}, timeout=5.0) or {}
        path = issued.get("path")
        if not (isinstance(path, str) and path.startswith("/login?")):
            return None, 0.0
        return url.rstrip("/") + path, float(issued.get("expires_in_s") or 0)

    # ------------------------------------------------------------------ install, doctor, models

    def install(self, scope: str = "user", *, mcp: bool = True) -> dict:
        """Register the hooks (and the MCP server) in Claude Code's settings; an explicit
        OFFMEM_HOME is written into them, so hooks and server use this data directory."""
        from offmem.install import install_hooks, install_mcp

        result = install_hooks(scope)
        if mcp:
            result["mcp"] = install_mcp(str(self.home) if os.environ.get("OFFMEM_HOME") else None)
        self.home.mkdir(parents=True, exist_ok=True)
        return result

    def doctor(self, project: str | None = None, *, full: bool = False) -> list:
        """Every check of :mod:`offmem.doctor` (``Check`` records: name, status, detail, fix)."""
        from offmem.doctor import run_checks

        return run_checks(self.settings, project, full=full)

    def models(self, *, full: bool = False) -> dict:
        """``{models_dir, catalog, models}``: every known model's status (ModelStatus records)."""
        from offmem.models import list_models, load_catalog

        statuses = list_models(self.settings, full=full)
        return {"models_dir": self.settings.models_dir, "catalog": [str(p) for p in load_catalog(self.home).paths],
                "models": statuses}

    def model_rows(self) -> dict:
        """The catalog's models with their install state, or the reason they cannot be listed (the UI's stats)."""
        try:
            from offmem.models import list_models

            rows = [m.to_dict() for m in list_models(self.settings) if not m.test_only]
        except Exception as exc:  # noqa: BLE001 - a broken catalog must not break the stats page
            return {"rows": [], "error": f"{type(exc).__name__}: {exc}"}
        return {"rows": rows, "error": None}

    def pull_models(self, names=(), *, role: str | None = None, defaults: bool = False, kinds=(), force: bool = False,
                    allow_unpinned: bool = False, bundle: Path | None = None, bar=None, log=None) -> tuple[list, dict]:
        """Install models verified against models.toml (and write ``bundle`` when all succeed);
        ``(results, {seconds, models_dir, bundle})``. ModelError/OSError when it cannot start."""
        from offmem.models import load_catalog, pull_models, select_models, write_bundle

        started = time.monotonic()
        specs = select_models(load_catalog(self.home), names or (), role, defaults)
        results = pull_models(self.settings, [s.name for s in specs], force=force, allow_unpinned=allow_unpinned,
                              kinds=tuple(kinds), bar=bar, log=log)
        extra = {"seconds": round(time.monotonic() - started, 2), "models_dir": str(self.settings.models_dir),
                 "bundle": None}
        if bundle is not None and all(r.status != "failed" for r in results):
            manifest = write_bundle(self.settings, [r.name for r in results], bundle, bar=bar)
            extra["bundle"] = {"path": str(bundle), "size": bundle.stat().st_size,
                               "models": [m["name"] for m in manifest["models"]]}
        return results, extra

    def import_models(self, archive: Path, names=None, *, force: bool = False, allow_unpinned: bool = False,
                      bar=None) -> list:
        """Verify and install the models of a bundle (``offmem import-models``)."""
        from offmem.models import import_bundle

        return import_bundle(self.settings, archive, names or None, force=force, bar=bar,
                             allow_unpinned=allow_unpinned)


@contextmanager
def _no_bar():
    yield lambda done, total: None


def uninstall(scope: str = "user", *, mcp: bool = True) -> dict:
    """Remove offmem's hooks (and the MCP server) from Claude Code's settings; needs no settings of offmem."""
    from offmem.install import uninstall_hooks, uninstall_mcp

    result = uninstall_hooks(scope)
    if mcp:
        result["mcp"] = uninstall_mcp()
    return result


def summarizer_backends() -> list[str]:
    """The summarizer backends offmem knows (``summarizer.backend``)."""
    from offmem.summarize.registry import backend_names

    return backend_names()


def summarizer_catalog(home: Path) -> tuple[str, list[tuple[str, str]]]:
    """The default summarizer model of the catalog and ``(name, description)`` of every one
    (test-only models left out)."""
    from offmem.models import load_catalog

    catalog = load_catalog(home)
    models = [(spec.name, spec.description) for spec in catalog.by_role("summarizer") if not spec.test_only]
    return catalog.defaults.get("summarizer", ""), models


def team_admin(action: str, dsn: str, *args, **kwargs):
    """The team store administrator's actions (``offmem team admin``): migrate, add_member, grant, revoke."""
    from offmem.team import admin

    if action not in ("migrate", "add_member", "grant", "revoke"):
        raise ValueError(f"unknown team admin action {action!r}")
    return getattr(admin, action)(dsn, *args, **kwargs)


def healthy(checks: list) -> bool:
    """No doctor check failed."""
    return all(c.status != "fail" for c in checks)


def restrict_umask() -> None:
    """What this process creates in the data directory is private (a face's first call)."""
    from offmem.filemodes import restrict_umask as restrict

    restrict()


__all__ = [
    "MAX_LIMIT",
    "OBSERVATION_TYPES",
    "Cursor",
    "ForgetQuery",
    "Memory",
    "MemoryRequestError",
    "check_time",
    "clean",
    "current_project",
    "day",
    "forget_query",
    "healthy",
    "project_name",
    "project_root",
    "restrict_umask",
    "summarizer_backends",
    "summarizer_catalog",
    "team_admin",
    "time_bound",
    "uninstall",
]
