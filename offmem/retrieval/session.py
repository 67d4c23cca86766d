"""SessionStart context: what a new session should know, by relevance and recency.

Runs inside the hook process (``python -S``, standard library only), so it uses
SQL alone (no embedder) and reads a bounded number of rows whatever the store's
size. The block it builds, within ``settings.context.budget_tokens``:

1. a header (project, how much is stored);
2. the latest session summaries, preferring those with open next steps, then those
   that learned or changed something over sessions that only asked, shown newest
   first (what was learned and is left open before what was done);
3. key memories, with their most telling facts (:func:`~offmem.retrieval.format.fact_salience`)
   and files: observations scored by type (bugfixes,
   decisions and explicitly remembered notes first), recency (a half-life
   measured back from the project's newest memory, so an idle project keeps its
   ranking) and file heat (memories of the files touched most often);
4. a compact index, one ``#id type: title`` line per further memory, newest first;
5. a one-line pointer to the MCP tools.

Every memory appears once (by id and by title), and only the given project's
rows are ever read. What the session was given *with its details* is recorded
(``detailed_ids`` in meta ``injected:start:<session_id>``, and the summaries shown
without a cut field): prompt-time lookups offer those again only with facts the
block did not show, while a memory listed by its title alone, or a summary whose
fields were cut, stays eligible for the prompt that needs its details.
"""

from __future__ import annotations

import math
import os

from offmem.retrieval.format import MCP_POINTER, Budget, detail_line, index_line, summary_line
from offmem.retrieval.tokens import count_tokens
from offmem.store import observations, sessions

TYPE_WEIGHT = {
    "bugfix": 1.0,
    "decision": 1.0,
    "discovery": 0.5,
    "feature": 0.6,
    "refactor": 0.5,
    "change": 0.35,
}
REMEMBERED_WEIGHT = 1.3  # origin = 'remember': someone asked for it to be kept
# The share of a memory's weight that never fades: decisions stay true until
# reversed and explicit memories were kept on purpose; fixes and changes matter
# most while they are fresh.
DECAY_FLOOR = {"decision": 0.8, "remember": 1.0}
DEFAULT_FLOOR = 0.4
HALF_LIFE_DAYS = 7.0
HEAT_WEIGHT = 0.45
MAX_PER_FILE = 2  # key memories about one file, so one hot file cannot take the section
RECENT_WINDOW = 200  # newest observations considered for the index and as candidates
IMPORTANT_WINDOW = 150  # newest bugfixes, decisions and remembered notes, however old
HEAT_WINDOW = 2000  # newest observations whose files are counted
HOT_FILES = 5
SUMMARY_SHARE = 0.35  # at most this much of the budget for session summaries
KEY_SHARE = 0.6  # and this much for key memories with their facts; the index takes the rest

def _title_key(obs: dict) -> str:
    return " ".join(str(obs.get("title") or "").lower().split())


def score(obs: dict, newest_jd: float, heat: dict[str, int], max_heat: int) -> float:
    """Usefulness of a memory at session start: type × recency, plus the heat of its files."""
    remembered = obs.get("origin") == "remember"
    weight = REMEMBERED_WEIGHT if remembered else TYPE_WEIGHT.get(obs.get("type"), 0.3)
    floor = DECAY_FLOOR.get("remember" if remembered else obs.get("type"), DEFAULT_FLOOR)
    age_days = max(0.0, newest_jd - float(obs.get("jd") or newest_jd))
    recency = 0.5 ** (age_days / HALF_LIFE_DAYS)
    hottest = heat.get(obs.get("main_file") or "", 0)
    warmth = math.log1p(hottest) / math.log1p(max_heat) if max_heat else 0.0
    return weight * (floor + (1.0 - floor) * recency) + HEAT_WEIGHT * warmth


def rank_key_memories(candidates: list[dict], heat: dict[str, int]) -> list[dict]:
    """Candidates best first, one per id and title, at most MAX_PER_FILE per (main) file."""
    unique: dict[int, dict] = {}
    for obs in candidates:
        unique.setdefault(obs["id"], obs)
    if not unique:
        return []
    newest = max(float(o.get("jd") or 0.0) for o in unique.values())
    max_heat = max(heat.values(), default=0)
    ranked = sorted(unique.values(), key=lambda o: (-score(o, newest, heat, max_heat), -o["id"]))
    chosen, titles, per_file = [], set(), {}
    for obs in ranked:
        main = obs.get("main_file")
        if _title_key(obs) in titles or (main and per_file.get(main, 0) >= MAX_PER_FILE):
            continue
        titles.add(_title_key(obs))
        if main:
            per_file[main] = per_file.get(main, 0) + 1
        chosen.append(obs)
    return chosen


def _header(project: str, sessions: int, observations: int) -> str:
    from offmem.project import project_name

    return (
        f"offmem memory of project {project_name(project)} ({project}): "
        f"{sessions} sessions, {observations} observations stored. Most useful first; ids work with the MCP tools."
    )


class _Context:
    """Accumulates the sections of one SessionStart block under one budget."""

    def __init__(self, budget_tokens: int) -> None:
        self.budget = Budget(budget_tokens)
        self.reserve = self.budget.cost("") + self.budget.cost(MCP_POINTER)
        self.observation_ids: list[int] = []
        self.detailed_ids: list[int] = []
        self.summary_ids: list[int] = []
        self.whole_summary_ids: list[int] = []  # shown without a cut field
        self.titles: set[str] = set()

    def section(self, title: str, lines, cap: int | None = None, on_add=None) -> None:
        """Add ``title`` then as many ``(line, item)`` as fit (and stay under ``cap`` tokens)."""
        start = self.budget.used
        opened = False
        for line, item in lines:
            extra = 0 if opened else self.budget.cost("") + self.budget.cost(title)
            if cap is not None and self.budget.used + extra + self.budget.cost(line) - start > cap:
                break
            if not self.budget.fits(line, self.reserve + extra):
                break
            if not opened:
                self.budget.add("")
                self.budget.add(title)
                opened = True
            self.budget.add(line)
            if on_add:
                on_add(item)

    def add_observation(self, obs: dict) -> None:
        self.observation_ids.append(obs["id"])
        self.titles.add(_title_key(obs))

    def add_detailed(self, obs: dict) -> None:
        self.add_observation(obs)
        self.detailed_ids.append(obs["id"])

    def fresh(self, observations: list[dict]):
        """Observations not shown yet (by id or title)."""
        shown = set(self.observation_ids)
        for obs in observations:
            if obs["id"] not in shown and _title_key(obs) not in self.titles:
                shown.add(obs["id"])
                yield obs

    def finish(self) -> dict:
        # Each line was charged its own count plus one for the newline, never less
        # than count_tokens() of the joined text, so the block is within the budget.
        self.budget.add("")
        self.budget.add(MCP_POINTER)
        text = self.budget.text()
        return {
            "text": text,
            "tokens": count_tokens(text),
            "observation_ids": self.observation_ids,
            "detailed_ids": self.detailed_ids,
            "summary_ids": self.summary_ids,
            "whole_summary_ids": self.whole_summary_ids,
        }


EMPTY = {"text": "", "tokens": 0, "observation_ids": [], "detailed_ids": [], "summary_ids": [], "whole_summary_ids": []}


def _newest_first(summaries: list[dict]) -> list[dict]:
    """The chosen summaries in the order of the time each line shows, newest first."""
    return sorted(summaries, key=lambda s: (str(s.get("started_at") or s.get("updated_at") or ""), s.get("id") or 0),
                  reverse=True)


def _substantive(summary: dict) -> bool:
    """A session that learned, changed or left something (not only a question and a short answer)."""
    files = str(summary.get("files_modified") or "").strip()
    return bool(str(summary.get("learned") or "").strip() or str(summary.get("next_steps") or "").strip()
                or files not in ("", "[]"))


def _substance_first(summaries: list[dict], limit: int) -> list[dict]:
    """``limit`` of ``summaries`` (newest first, then those with next steps): the newest one, then
    sessions with substance before sessions that only asked something (those crowded out the work
    a later question needs: tests/test_reach_open_next.py)."""
    if not summaries:
        return []
    head, rest = summaries[:1], summaries[1:]
    return (head + [s for s in rest if _substantive(s)] + [s for s in rest if not _substantive(s)])[:limit]


def build_session_context(store, project: str, settings) -> dict:
    """The SessionStart block for ``project``: ``{text, tokens, observation_ids, detailed_ids, summary_ids}``
    (``detailed_ids``: the memories shown with their facts; the others were listed by title)."""
    conn = store.conn
    cfg = settings.context
    session_count = sessions.count_sessions(conn, project)
    total = observations.count(conn, project)
    summaries = _newest_first(_substance_first(sessions.latest_summaries(conn, project, cfg.max_summaries * 3),
                                               cfg.max_summaries))
    if not total and not summaries:
        return dict(EMPTY)
    recent = observations.recent_candidates(conn, project, RECENT_WINDOW)
    heat = observations.file_heat(conn, project, HEAT_WINDOW)
    hot = sorted(heat, key=lambda f: -heat[f])[:HOT_FILES]
    candidates = recent + observations.important_candidates(conn, project, IMPORTANT_WINDOW)
    candidates += observations.hot_file_candidates(conn, project, hot)
    key = rank_key_memories(candidates, heat)

    ctx = _Context(cfg.budget_tokens)
    ctx.budget.add(_header(project, session_count, total), ctx.reserve)
    lines = [(summary_line(s), s) for s in summaries]
    whole = {s["id"] for line, s in lines if "…" not in line}

    def add_summary(s: dict) -> None:
        ctx.summary_ids.append(s["id"])
        if s["id"] in whole:
            ctx.whole_summary_ids.append(s["id"])

    ctx.section(
        "Recent sessions, newest first:",
        lines,
        cap=int(cfg.budget_tokens * SUMMARY_SHARE),
        on_add=add_summary,
    )
    ctx.section(
        "Key memories (bugfixes, decisions, most-touched files):",
        ((detail_line(o), o) for o in ctx.fresh(key)),
        cap=int(cfg.budget_tokens * KEY_SHARE),
        on_add=ctx.add_detailed,
    )
    ctx.section(
        "Index, newest first (#id type: title):",
        ((index_line(o), o) for o in ctx.fresh(recent)),
        on_add=ctx.add_observation,
    )
    return ctx.finish()


class _Settings:
    """The two settings :func:`build_session_context` reads, without offmem.config's dataclasses."""

    def __init__(self, budget_tokens: int, max_summaries: int) -> None:
        self.context = self
        self.budget_tokens = budget_tokens
        self.max_summaries = max_summaries


class _Store:
    def __init__(self, conn) -> None:
        self.conn = conn


def session_start_block(home: str, project: str, session_id: str | None = None) -> str:
    """The SessionStart ``additionalContext`` on the hook's lean path ("" when there is no memory).

    Same block as :func:`build_session_context`, but reached with ``_sqlite3`` and
    the parsed-config cache only, so the hook does not import ``offmem.config``
    (dataclasses), ``offmem.store.db`` (sqlite3, pathlib, hashlib) or ``json``:
    together about 45 ms of a SessionStart hook on this class of machine. The
    memories the session was given with their details are recorded, so prompt-time
    injection does not repeat them (those listed by title only stay eligible).
    """
    import _sqlite3

    from offmem.lean.settings import context_settings
    from offmem.store.events import DB_FILE
    from offmem.store.meta import add_injected, connect_light, schema_current

    if not os.path.exists(os.path.join(home, DB_FILE)):
        return ""
    cfg = context_settings(home)
    conn = connect_light(home)
    try:
        if not schema_current(conn):
            return ""  # not migrated yet: the hook's capture migrates before it gets here
        conn.row_factory = _sqlite3.Row
        result = build_session_context(_Store(conn), project, _Settings(cfg["budget_tokens"], cfg["max_summaries"]))
        if session_id and result["detailed_ids"]:  # see offmem.retrieval.prompt.started_key
            add_injected(conn, "start:" + session_id, result["detailed_ids"])
        if session_id and result["whole_summary_ids"]:  # see offmem.retrieval.prompt.summaries_key
            add_injected(conn, "summaries:" + session_id, result["whole_summary_ids"])
        return result["text"]
    finally:
        conn.close()
