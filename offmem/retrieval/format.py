"""How memories are written into injected context: short, factual lines.

Stdlib only and no ``re``: the SessionStart hook formats its context with these.
"""

from __future__ import annotations

from offmem.retrieval.tokens import count_tokens

MCP_POINTER = (
    "More memory on demand: offmem MCP tools search (ids) → timeline (around an id) → "
    "get_observations (full details); remember stores a new memory."
)


def clean(text, limit: int) -> str:
    """One line, at most ``limit`` characters (an ellipsis marks a cut)."""
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def day(iso: str | None) -> str:
    return (iso or "")[:10]


def minute(iso: str | None) -> str:
    return (iso or "")[:16].replace("T", " ")


def index_line(obs: dict) -> str:
    """The compact index form: ``#id type: title``."""
    return f"#{obs['id']} {obs.get('type', '')}: {clean(obs.get('title'), 140)}"


def _list(value) -> list:
    """A list column, parsed from its JSON text when it comes straight from SQL."""
    if isinstance(value, str):
        from offmem.lean import fastjson

        try:
            value = fastjson.loads(value) if value else []
        except ValueError:
            return []
    return value if isinstance(value, list) else []


def _new_to(title: str, text) -> bool:
    """False when ``text`` only repeats the (normalized) title."""
    norm = " ".join(str(text).lower().replace("`", "").replace("$ ", "").split())
    return bool(norm) and norm not in title.replace("`", "")


def detail_line(obs: dict, facts: int = 2, limit: int = 320) -> str:
    """A memory with its date, first facts and files, for the memories that matter most."""
    head = f"- #{obs['id']} {day(obs.get('created_at'))} {obs.get('type', '')}: {clean(obs.get('title'), 160)}"
    parts = [head]
    title = " ".join(str(obs.get("title") or "").lower().split())
    shown = [clean(f, 120) for f in _list(obs.get("facts")) if f and _new_to(title, f)][:facts]
    if shown:
        parts.append("facts: " + "; ".join(shown))
    elif obs.get("narrative") and _new_to(title, obs["narrative"]):
        parts.append(clean(obs["narrative"], 200))
    files = _list(obs.get("files_modified")) or _list(obs.get("files_read"))
    files = [f for f in files if f and f.lower() not in title][:3]
    if files:
        parts.append("files: " + ", ".join(files))
    return clean(" — ".join(parts), limit)


def summary_line(summary: dict) -> str:
    """A session summary: when, what was asked, what was done and learned, what is next."""
    parts = []
    for key, label, limit in (
        ("request", "asked", 150),
        ("completed", "done", 200),
        ("learned", "learned", 160),
        ("next_steps", "next", 160),
    ):
        if summary.get(key):
            parts.append(f"{label}: {clean(summary[key], limit)}")
    when = minute(summary.get("started_at") or summary.get("updated_at"))
    return f"- {when} · " + " | ".join(parts)


class Budget:
    """Lines kept while they fit into a token budget (each line costs its text plus a newline)."""

    def __init__(self, tokens: int) -> None:
        self.limit = max(0, int(tokens))
        self.used = 0
        self.lines: list[str] = []

    def cost(self, line: str) -> int:
        return count_tokens(line) + 1

    def fits(self, line: str, reserve: int = 0) -> bool:
        return self.used + self.cost(line) + reserve <= self.limit

    def add(self, line: str, reserve: int = 0) -> bool:
        if not self.fits(line, reserve):
            return False
        self.lines.append(line)
        self.used += self.cost(line)
        return True

    def text(self) -> str:
        return "\n".join(self.lines).strip("\n")
