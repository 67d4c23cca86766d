"""The UI's HTML pages (server-rendered; they read, never write)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from offmem.web import queries
from offmem.web.base import WebUI

SEARCH_LIMIT = 30


def router(ui: WebUI) -> APIRouter:
    r = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

    @r.get("/")
    def live(request: Request, project: str = ""):
        with ui.store() as store:
            items = queries.feed(store, project or None)
            cursor = queries.current_cursor(store, project or None)
            depth = store.queue_depth()
            projects = queries.projects(store)
        return ui.render(request, "live.html", items=items, cursor=cursor.encode(), queue_depth=depth,
                         project=project, projects=projects,
                         events_per_min=ui.worker.events_per_minute())

    @r.get("/search")
    def search(request: Request, q: str = "", project: str = "", type: str = "",  # noqa: A002 - the URL's name
               since: str = "", until: str = ""):
        form = {"q": q, "project": project, "type": type, "since": since, "until": until}
        with ui.store() as store:
            projects = queries.projects(store)
            try:
                results = run_search(ui, store, **form)
            except ValueError as exc:
                return ui.render(request, "search.html", status_code=400, form=form, projects=projects,
                                 results=None, error=str(exc))
        return ui.render(request, "search.html", form=form, projects=projects, results=results, error=None)

    @r.get("/observations/{observation_id}")
    def observation(request: Request, observation_id: int):
        with ui.store() as store:
            detail = queries.observation_detail(store, observation_id)
        if detail is None:
            return ui.not_found(request, f"memory #{observation_id}")
        return ui.render(request, "observation.html", **detail)

    @r.get("/sessions/{session_id:path}")
    def session(request: Request, session_id: str):
        with ui.store() as store:
            detail = queries.session_detail(store, session_id)
        if detail is None:
            return ui.not_found(request, f"session {session_id}")
        return ui.render(request, "session.html", detail=detail)

    @r.get("/context")
    def context(request: Request, project: str = ""):
        from offmem.config import load_settings
        from offmem.context import build_context

        settings = load_settings(ui.home)
        with ui.store() as store:
            projects = queries.projects(store)
            chosen = project or (projects[0]["project"] if projects else "")
            result = build_context(store, chosen, settings) if chosen else None
        return ui.render(request, "context.html", projects=projects, project=chosen, result=result,
                         budget=settings.context.budget_tokens)

    @r.get("/settings")
    def settings_page(request: Request):
        from offmem.web import settings_form

        return ui.render(request, "settings.html", rows=settings_form.form(ui.home),
                         config_path=ui.home / "config.toml")

    @r.get("/stats")
    def stats(request: Request):
        with ui.store() as store:
            counts = store.counts()
            types = queries.type_counts(store)
            projects = queries.projects(store)
        return ui.render(request, "stats.html", counts=counts, types=types, projects=projects,
                         storage=queries.storage(ui.worker.settings), status=ui.worker.status(),
                         models=model_rows(ui))

    return r


def run_search(ui: WebUI, store, *, q: str, project: str, type: str, since: str, until: str) -> dict:
    """Hybrid search for a query; the newest matching memories when the query is empty."""
    from offmem.search import hybrid_search
    from offmem.search.filters import SearchFilters

    if not q.strip():
        filters = SearchFilters.build(project=project, types=type, since=since, until=until)
        return {"mode": "recent", "notes": [], "hits": queries.browse(store, filters, SEARCH_LIMIT)}
    embedder, index = ui.embedder_and_index()
    found = hybrid_search(store, q, project=project or None, types=type or None, since=since or None,
                          until=until or None, limit=SEARCH_LIMIT, embedder=embedder, chroma=index)
    return {"mode": found.mode, "notes": found.notes, "hits": list(found)}


def model_rows(ui: WebUI) -> dict:
    """The catalog's models with their install state, or the reason they cannot be listed."""
    try:
        from offmem.models import list_models

        rows = [m.to_dict() for m in list_models(ui.worker.settings) if not m.test_only]
    except Exception as exc:  # noqa: BLE001 - a broken catalog must not break the stats page
        return {"rows": [], "error": f"{type(exc).__name__}: {exc}"}
    return {"rows": rows, "error": None}
