"""The recency baseline: what a memory index built by recency alone would inject.

Recent session summaries (with open next steps), then one line per observation,
newest first, cut to a token budget. offmem injects :func:`offmem.retrieval.build_session_context`
instead; this is kept as the baseline its tests compare relevance with (nothing
else uses it). Only the given project is ever read.
"""

from __future__ import annotations

import math

from offmem.project import project_name

# Claude's tokenizer is not available offline. Measured on offmem's own context
# blocks, the Qwen2.5 BPE tokenizer (similar vocabulary size) averages about 3.6
# characters a token on this mix of prose, paths and identifiers; dividing by a
# slightly smaller number keeps the estimate on the safe side.
CHARS_PER_TOKEN = 3.3


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


def _when(iso: str | None) -> str:
    if not iso:
        return ""
    return iso[:16].replace("T", " ")


def _clean(text: str, limit: int) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summary_line(s: dict) -> str:
    parts = []
    if s.get("request"):
        parts.append(f"asked: {_clean(s['request'], 160)}")
    if s.get("completed"):
        parts.append(f"done: {_clean(s['completed'], 220)}")
    if s.get("learned"):
        parts.append(f"learned: {_clean(s['learned'], 160)}")
    if s.get("next_steps"):
        parts.append(f"next: {_clean(s['next_steps'], 140)}")
    return f"- {_when(s.get('started_at') or s.get('updated_at'))} · " + " | ".join(parts)


def observation_line(o: dict) -> str:
    return f"#{o['id']} {_when(o.get('created_at'))[5:]} {o.get('type', '')}: {_clean(o.get('title', ''), 150)}"


class Budget:
    """Accumulates lines while they fit in a token budget."""

    def __init__(self, tokens: int) -> None:
        self.tokens = tokens
        self.used = 0
        self.lines: list[str] = []

    def add(self, line: str) -> bool:
        cost = estimate_tokens(line + "\n")
        if self.used + cost > self.tokens:
            return False
        self.lines.append(line)
        self.used += cost
        return True

    def text(self) -> str:
        return "\n".join(self.lines)


def build_index_context(store, project: str, budget_tokens: int, max_summaries: int = 3) -> dict:
    """The compact index: recent summaries, then observation lines, newest first."""
    summaries = store.recent_summaries(project, limit=max_summaries)
    observations = store.recent_observations(project, limit=400)
    counts = store.counts(project)
    if not summaries and not observations:
        return {"text": "", "tokens": 0, "observation_ids": [], "summary_ids": []}
    budget = Budget(budget_tokens)
    header = (
        f"offmem memory of project {project_name(project)} ({project}): "
        f"{counts['sessions']} sessions, {counts['observations']} observations stored."
    )
    footer = (
        "More: the offmem MCP tools search (find ids) → timeline (context around an id) → "
        "get_observations (full details)."
    )
    budget.add(header)
    reserve = estimate_tokens(footer) + 2
    budget.tokens -= reserve
    used_summaries = []
    if summaries:
        budget.add("")
        budget.add("Recent sessions:")
        for s in summaries:
            if budget.add(summary_line(s)):
                used_summaries.append(s["id"])
    used_obs = []
    if observations:
        budget.add("")
        budget.add("Observations, newest first (#id time type: title):")
        for o in observations:
            if not budget.add(observation_line(o)):
                break
            used_obs.append(o["id"])
    budget.tokens += reserve
    budget.add("")
    budget.add(footer)
    text = budget.text()
    return {
        "text": text,
        "tokens": estimate_tokens(text),
        "observation_ids": used_obs,
        "summary_ids": used_summaries,
    }
