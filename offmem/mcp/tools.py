"""The MCP tools' work: check every argument, ask :class:`offmem.api.Memory`, render compact text.

The server (:mod:`offmem.mcp.server`, official ``mcp`` SDK) only declares the tools
and calls these. Layered on purpose, so the agent spends little context: ``search`` returns one
line a memory (id, type, date, title); ``timeline`` shows what happened around
one; ``get_observations`` returns whole records for the few ids that matter;
``remember`` stores what the user or agent asks to keep.

The project is the one Claude Code runs in (``CLAUDE_PROJECT_DIR``, else the
working directory), normalised like the hooks do (:func:`offmem.api.project_root`);
each tool takes ``project`` to look elsewhere. Search goes through the warm
worker when it runs (semantic + keyword), else runs here (keyword; loading an
embedder would cost seconds per session). Every answer is capped at
:data:`MAX_OUTPUT_CHARS`, far under Claude Code's MCP output limit (warning at
10,000 tokens, cap 25,000).
"""

from __future__ import annotations

import os

from offmem.api import MAX_LIMIT, OBSERVATION_TYPES, Memory, check_time, clean, day, project_name, project_root

MAX_OUTPUT_CHARS = 20_000
FIELD_CHARS = 2_000  # per narrative or fact in get_observations
TYPES = ", ".join(OBSERVATION_TYPES)

# Input bounds: every argument is checked before it reaches the store (see _check_* below).
MAX_ID = 2**63 - 1  # the largest SQLite INTEGER: a memory id beyond it cannot exist
MAX_IDS = 1_000  # per get_observations call (the first 20 are fetched)
QUERY_CHARS = 2_000
TIME_CHARS = 64
TYPE_CHARS = 200
PATH_CHARS = 4_096  # PATH_MAX on Linux
TEXT_CHARS = 20_000  # one remembered memory
TITLE_CHARS = 300
MAX_FILES = 100

INSTRUCTIONS = (
    "offmem is this project's memory of earlier Claude Code sessions: what was done, fixed, decided and learned. "
    "Work in layers: search (a line per memory) → timeline (what happened around an id) → get_observations "
    "(full records of the few ids you need). Use remember to keep a fact, decision or preference the user "
    "wants kept for later sessions."
)

SEARCH_DOC = (
    "Search this project's memory of earlier sessions (bugs fixed, decisions, discoveries, changed files). "
    "Keyword and semantic search; exact identifiers, file paths and error messages work well. Returns one line "
    "per memory: #id, type, date, title, best first. Follow up with timeline(id) or get_observations(ids)."
)
TIMELINE_DOC = (
    "What happened around a memory: the memories just before and after an id (from search) or a point in time, "
    "oldest first, in this project. The anchor is marked with '>'."
)
DETAILS_DOC = (
    "Full records of memories by id (from search or timeline): narrative, facts, files read and modified, "
    "concepts, session and time. Ask only for the ids you need (at most 20)."
)
REMEMBER_DOC = (
    "Store an explicit memory for later sessions of this project: a fact, decision, preference or gotcha the "
    "user or you want kept. It is searchable at once. Write it as a self-contained statement."
)

class ToolFailure(Exception):
    """Raised to return an error result to the client (mapped to the SDK's ToolError)."""


def _shown(value: object, limit: int = 60) -> str:
    """``value`` for an error message: repr'd and short, so bad input is never echoed at length."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _check_text(name: str, value, limit: int, *, required: bool = False) -> None:
    """A string argument: a string, at most ``limit`` characters, no NUL; non-blank if ``required``."""
    if value is None and not required:
        return
    if not isinstance(value, str):
        raise ToolFailure(f"{name} must be a string")
    if len(value) > limit:
        raise ToolFailure(f"{name} is too long ({len(value)} characters; at most {limit})")
    if "\x00" in value:
        raise ToolFailure(f"{name} contains a NUL character")
    if required and not value.strip():
        raise ToolFailure(f"{name} is empty: pass the words to look for")


def _check_time(name: str, value) -> None:
    """A time filter offmem can read and represent (a date, a date-time or an age such as 7d)."""
    if value is None or value == "":
        return
    _check_text(name, value, TIME_CHARS)
    try:
        check_time(value)
    except ValueError as exc:
        raise ToolFailure(f"{name}: {exc}") from None
    except OverflowError:
        raise ToolFailure(f"{name} {_shown(value)} is out of range: use a date (2025-01-31) or an age (7d)") from None


def _check_ids(ids) -> list[int]:
    if not isinstance(ids, list) or not ids:
        raise ToolFailure("pass the ids to fetch, e.g. [12, 15] (find them with search)")
    if len(ids) > MAX_IDS:
        raise ToolFailure(f"ids: at most {MAX_IDS} ids a call (the first 20 are fetched)")
    for value in ids:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
            raise ToolFailure(f"ids: {_shown(value)} is not a memory id (a whole number from 1 to {MAX_ID})")
    return ids


def _check_id(name: str, value) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID):
        raise ToolFailure(f"{name}: {_shown(value)} is not a memory id (a whole number from 1 to {MAX_ID})")


def current_project(project: str | None = None) -> str:
    """The project key for ``project``, else for CLAUDE_PROJECT_DIR, else for the working directory."""
    _check_text("project", project, PATH_CHARS)
    try:
        return project_root(project or os.environ.get("CLAUDE_PROJECT_DIR") or os.getcwd())
    except (OSError, ValueError) as exc:
        raise ToolFailure(f"project {_shown(project or '')} cannot be used as a project directory: "
                          f"{getattr(exc, 'strerror', None) or exc}") from None


def cap(text: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit("\n", 1)[0]
    return cut + "\n…[output cut to stay small: ask for fewer results or ids]"


def _compact(row: dict, anchor: int | None = None) -> str:
    mark = "> " if anchor is not None and row["id"] == anchor else ""
    return f"{mark}#{row['id']} {row.get('type', '')} {day(row.get('created_at'))}: {clean(row.get('title'), 160)}"


# ---------------------------------------------------------------------- search


def run_search(memory: Memory, query: str, types=None, limit: int = 10, since=None, until=None,
               project=None) -> str:
    _check_text("query", query, QUERY_CHARS, required=True)
    _check_text("type", types, TYPE_CHARS)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ToolFailure(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    _check_time("since", since)
    _check_time("until", until)
    proj = current_project(project)
    found = memory.find(query, proj, types=types, limit=limit, since=since, until=until)
    if found is None:
        return f"No memory stored yet (project {proj})."
    hits = found.get("hits") or []
    if not hits:
        return f"No memories match {query!r} in project {project_name(proj)} ({proj})."
    noun = "memory" if len(hits) == 1 else "memories"
    head = f"{len(hits)} {noun} for {query!r} in {project_name(proj)}, best first (#id type date: title):"
    lines = [head, *(_compact(h) for h in hits)]
    lines.append("Next: timeline(id) for what happened around one, get_observations(ids) for full records.")
    return cap("\n".join(lines))


# ---------------------------------------------------------------------- timeline & details


def run_timeline(memory: Memory, id: int | None = None, at: str | None = None, before: int = 5, after: int = 5,
                 project=None) -> str:
    _check_id("id", id)
    _check_time("at", at)
    for name, value in (("before", before), ("after", after)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 25:
            raise ToolFailure(f"{name} must be a whole number from 0 to 25")
    proj = current_project(project)
    found = memory.timeline(proj, anchor_id=id, at=at, before=before, after=after)
    if found is None:
        return f"No memory stored yet (project {proj})."
    items = found["items"]
    if not items:
        return f"No memories around {found['at']} in project {project_name(proj)}."
    anchor = f"#{id}" if id is not None else found["at"]
    lines = [f"Memories around {anchor} in {project_name(proj)}, oldest first:"]
    session = None
    for row in items:
        if row["session_id"] != session:
            session = row["session_id"]
            lines.append(f"[session {str(session)[:8]}]")
        lines.append(_compact(row, found["anchor_id"]))
    return cap("\n".join(lines))


def _render_record(obs: dict) -> str:
    lines = [f"#{obs['id']} {obs.get('type')} · {obs.get('created_at')} · session {obs.get('session_id')}"
             + (" · remembered" if obs.get("origin") == "remember" else ""),
             f"title: {obs.get('title')}"]
    if obs.get("subtitle"):
        lines.append(f"subtitle: {clean(obs['subtitle'], FIELD_CHARS)}")
    if obs.get("narrative"):
        lines.append(f"narrative: {clean(obs['narrative'], FIELD_CHARS)}")
    for key in ("facts", "concepts", "files_read", "files_modified"):
        values = obs.get(key) or []
        if values:
            if key == "facts":
                lines.append("facts:")
                lines.extend(f"- {clean(v, FIELD_CHARS)}" for v in values[:30])
            else:
                lines.append(f"{key.replace('_', ' ')}: {', '.join(str(v) for v in values[:40])}")
    return "\n".join(lines)


def run_get_observations(memory: Memory, ids: list[int], project=None) -> str:
    ids = _check_ids(ids)
    proj = current_project(project)
    found = memory.details(ids[:20], proj)
    if found is None:
        return f"No memory stored yet (project {proj})."
    parts = [_render_record(o) for o in found["observations"]]
    if found["missing"]:
        missing = ", ".join(f"#{i}" for i in found["missing"])
        parts.append(f"Not found in project {project_name(proj)}: {missing}.")
    if len(ids) > 20:
        parts.append(f"Only the first 20 of {len(ids)} ids were fetched.")
    return cap("\n\n".join(parts))


# ---------------------------------------------------------------------- remember


def run_remember(memory: Memory, text: str, title: str | None = None, type: str = "discovery",
                 files: list[str] | None = None, project=None) -> str:
    _check_text("text", text, TEXT_CHARS)
    _check_text("title", title, TITLE_CHARS)
    _check_text("type", type, TYPE_CHARS)
    if files is not None:
        if not isinstance(files, list) or len(files) > MAX_FILES:
            raise ToolFailure(f"files must be a list of at most {MAX_FILES} paths")
        for path in files:
            _check_text("files", path, PATH_CHARS)
    proj = current_project(project)
    saved = memory.remember(proj, text, title=title, type=type, files=files,
                            session_id=os.environ.get("CLAUDE_CODE_SESSION_ID"))
    if saved["duplicate"]:
        return f"Already remembered: {saved['title']}"
    return f"Remembered as #{saved['id']} ({saved['type']}) in {project_name(proj)}: {saved['title']}"
