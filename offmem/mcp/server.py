"""``offmem mcp``: the memory as MCP tools, over stdio (official ``mcp`` SDK).

This module declares the four tools (search, timeline, get_observations, remember)
and turns every failure into a one-line tool error; :mod:`offmem.mcp.tools` does
the work through one :class:`offmem.api.Memory`, built from the settings the first
tool call reads (the server's root).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from offmem.api import MAX_LIMIT, Memory
from offmem.config import load_settings
from offmem.errors import OffmemError
from offmem.mcp.tools import (
    DETAILS_DOC,
    INSTRUCTIONS,
    MAX_FILES,
    MAX_ID,
    MAX_IDS,
    PATH_CHARS,
    QUERY_CHARS,
    REMEMBER_DOC,
    SEARCH_DOC,
    TEXT_CHARS,
    TIME_CHARS,
    TIMELINE_DOC,
    TITLE_CHARS,
    TYPE_CHARS,
    TYPES,
    ToolFailure,
    run_get_observations,
    run_remember,
    run_search,
    run_timeline,
)

ProjectArg = Annotated[
    str | None,
    Field(max_length=PATH_CHARS,
          description="Project directory to use instead of the current one (any path inside it)."),
]
# strict: a boolean or a string is not an id; the bounds keep every id a valid SQLite INTEGER
MemoryId = Annotated[int, Field(strict=True, ge=1, le=MAX_ID)]


class MemoryProvider:
    """The server's one :class:`offmem.api.Memory`: settings read on the first tool call (a config
    file offmem cannot read fails that call, as a tool error, and is read again on the next)."""

    def __init__(self, load=None) -> None:
        self._load = load or load_settings
        self._memory: Memory | None = None

    def __call__(self) -> Memory:
        if self._memory is None:
            self._memory = Memory(self._load())
        return self._memory


def _guard(fn, memory: MemoryProvider, *args, **kwargs) -> str:
    """Run a tool; every failure comes back as the tool's error text, never as a crash.

    Errors the caller can act on (bad arguments, unknown ids) say what to change; anything
    else is reported in one line, here and on stderr, without a traceback.
    """
    import sys

    from mcp.server.mcpserver.exceptions import ToolError

    try:
        return fn(memory(), *args, **kwargs)
    except (ToolFailure, OffmemError) as exc:
        raise ToolError(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - a tool answers, it does not take the server down
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        note = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
        print(f"offmem mcp: {getattr(fn, '__name__', 'tool')} failed: {note}", file=sys.stderr, flush=True)
        raise ToolError(f"offmem could not answer ({note}); try again, or check `offmem doctor`") from None


def build_server(memory: MemoryProvider | None = None):
    """The MCPServer with offmem's four tools."""
    from mcp.server.mcpserver import MCPServer
    from mcp.types import ToolAnnotations

    from offmem import __version__

    memory = memory or MemoryProvider()
    server = MCPServer("offmem", instructions=INSTRUCTIONS, version=__version__, log_level="WARNING")
    read_only = ToolAnnotations(readOnlyHint=True, openWorldHint=False)

    @server.tool(name="search", description=SEARCH_DOC, annotations=read_only, structured_output=False)
    def search(
        query: Annotated[str, Field(max_length=QUERY_CHARS,
                                    description="What to look for: words, an identifier, a path or an error.")],
        type: Annotated[str | None, Field(max_length=TYPE_CHARS,
                                          description=f"Only these types, comma-separated: {TYPES}.")] = None,
        limit: Annotated[int, Field(ge=1, le=MAX_LIMIT, description="How many results.")] = 10,
        since: Annotated[str | None, Field(max_length=TIME_CHARS,
                                           description="Not before: a date, date-time or age (7d, 12h).")] = None,
        until: Annotated[str | None, Field(max_length=TIME_CHARS, description="Before: a date, date-time or age.")] = None,
        project: ProjectArg = None,
    ) -> str:
        return _guard(run_search, memory, query, type, limit, since, until, project)

    @server.tool(name="timeline", description=TIMELINE_DOC, annotations=read_only, structured_output=False)
    def timeline(
        id: Annotated[MemoryId | None, Field(description="Memory id to center on (from search).")] = None,
        at: Annotated[str | None, Field(max_length=TIME_CHARS,
                                        description="Or a time: a date, date-time or age (3d).")] = None,
        before: Annotated[int, Field(ge=0, le=25, description="Memories before the anchor.")] = 5,
        after: Annotated[int, Field(ge=0, le=25, description="Memories after the anchor.")] = 5,
        project: ProjectArg = None,
    ) -> str:
        return _guard(run_timeline, memory, id, at, before, after, project)

    @server.tool(name="get_observations", description=DETAILS_DOC, annotations=read_only, structured_output=False)
    def get_observations(
        ids: Annotated[list[MemoryId], Field(max_length=MAX_IDS, description="Memory ids, e.g. [12, 15].")],
        project: ProjectArg = None,
    ) -> str:
        return _guard(run_get_observations, memory, ids, project)

    @server.tool(name="remember", description=REMEMBER_DOC,
                 annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=False),
                 structured_output=False)
    def remember(
        text: Annotated[str, Field(max_length=TEXT_CHARS, description="The memory, as a self-contained statement.")],
        title: Annotated[str | None, Field(max_length=TITLE_CHARS,
                                           description="A one-line title (default: its first sentence).")] = None,
        type: Annotated[str, Field(max_length=TYPE_CHARS, description=f"One of: {TYPES}.")] = "discovery",
        files: Annotated[list[Annotated[str, Field(max_length=PATH_CHARS)]] | None,
                         Field(max_length=MAX_FILES, description="Files it is about (project-relative).")] = None,
        project: ProjectArg = None,
    ) -> str:
        return _guard(run_remember, memory, text, title, type, files, project)

    return server


def serve() -> None:
    """Run the server on stdin/stdout until the client disconnects."""
    build_server().run("stdio")
