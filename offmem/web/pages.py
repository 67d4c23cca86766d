"""The UI's HTML pages (server-rendered; they read, never write)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from offmem.config import load_settings
from offmem.web.base import WebUI

SEARCH_LIMIT = 30


def router(ui: WebUI) -> APIRouter:
    r = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
    memory = ui.memory

    @r.get("/")
    def live(request: Request, project: str = ""):
        with memory.browse() as reader:
            items = reader.feed(project or None)
            cursor = reader.cursor(project or None)
            depth = reader.queue_depth()
            projects = reader.projects()
        return ui.render(request, "live.html", items=items, cursor=cursor.encode(), queue_depth=depth,
                         project=project, projects=projects, events_per_min=memory.events_per_minute())

    @r.get("/search")
    def search(request: Request, q: str = "", project: str = "", type: str = "",  # noqa: A002 - the URL's name
               since: str = "", until: str = ""):
        form = {"q": q, "project": project, "type": type, "since": since, "until": until}
        with memory.browse() as reader:
            projects = reader.projects()
        try:
            results = memory.browse_search(q, project=project, type=type, since=since, until=until,
                                           limit=SEARCH_LIMIT)
        except ValueError as exc:
            return ui.render(request, "search.html", status_code=400, form=form, projects=projects,
                             results=None, error=str(exc))
        return ui.render(request, "search.html", form=form, projects=projects, results=results, error=None)

    @r.get("/observations/{observation_id}")
    def observation(request: Request, observation_id: int):
        with memory.browse() as reader:
            detail = reader.observation_detail(observation_id)
        if detail is None:
            return ui.not_found(request, f"memory #{observation_id}")
        return ui.render(request, "observation.html", **detail)

    @r.get("/sessions/{session_id:path}")
    def session(request: Request, session_id: str):
        with memory.browse() as reader:
            detail = reader.session_detail(session_id)
        if detail is None:
            return ui.not_found(request, f"session {session_id}")
        return ui.render(request, "session.html", detail=detail)

    @r.get("/context")
    def context(request: Request, project: str = ""):
        settings = load_settings(ui.home)  # the file as the settings page may just have saved it
        with memory.browse() as reader:
            projects = reader.projects()
        chosen = project or (projects[0]["project"] if projects else "")
        result = memory.session_context(chosen, settings) if chosen else None
        return ui.render(request, "context.html", projects=projects, project=chosen, result=result,
                         budget=settings.context.budget_tokens)

    @r.get("/settings")
    def settings_page(request: Request):
        from offmem.web import settings_form

        return ui.render(request, "settings.html", rows=settings_form.form(ui.home),
                         config_path=ui.home / "config.toml")

    @r.get("/stats")
    def stats(request: Request):
        with memory.browse() as reader:
            counts = reader.counts()
            types = reader.type_counts()
            projects = reader.projects()
            storage = reader.storage()
        return ui.render(request, "stats.html", counts=counts, types=types, projects=projects,
                         storage=storage, status=memory.worker_status(), models=memory.model_rows())

    return r
