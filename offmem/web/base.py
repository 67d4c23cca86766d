"""What every UI handler shares: the app's Memory, the token, the templates."""

from __future__ import annotations

from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates

from offmem.api import OBSERVATION_TYPES, Memory, project_name
from offmem.units import format_bytes as human_bytes
from offmem.worker.token_file import TOKEN_HEADER, load_or_create_token

HERE = Path(__file__).parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"

NAV = (
    ("/", "Live"),
    ("/search", "Search"),
    ("/context", "Context"),
    ("/settings", "Settings"),
    ("/stats", "Stats"),
)


def when(iso: str | None) -> str:
    """``2025-01-31T14:02:09.123Z`` → ``2025-01-31 14:02 UTC`` (the page's script localizes it)."""
    if not iso:
        return ""
    return iso[:16].replace("T", " ") + " UTC"


def duration(seconds: float | None) -> str:
    """``4000`` → ``1 h 6 min``; under a minute, seconds."""
    if seconds is None:
        return ""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    hours, minutes = divmod(seconds // 60, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def short_id(value: str | None) -> str:
    return (value or "")[:8]


class WebUI:
    """One per app: built by :func:`offmem.web.routes.register` around the app's :class:`offmem.api.Memory`."""

    def __init__(self, memory: Memory, token: str | None = None) -> None:
        self.memory = memory
        self.home = Path(memory.settings.home)
        self.token = token or load_or_create_token(self.home)
        self.templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
        env = self.templates.env
        env.globals.update(nav=NAV, token=self.token, token_header=TOKEN_HEADER,
                           observation_types=OBSERVATION_TYPES)
        env.filters.update(when=when, duration=duration, short_id=short_id, human_bytes=human_bytes,
                           project_name=project_name)

    def render(self, request: Request, name: str, status_code: int = 200, **context):
        context.setdefault("active", request.url.path)
        return self.templates.TemplateResponse(request, name, context, status_code=status_code)

    def not_found(self, request: Request, what: str):
        return self.render(request, "not_found.html", status_code=404, what=what)

    def fragment(self, macro: str, *args) -> str:
        """A macro of ``_macros.html`` rendered alone (the live stream sends these)."""
        return str(getattr(self.templates.env.get_template("_macros.html").module, macro)(*args))
