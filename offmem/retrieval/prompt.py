"""Prompt-time memories, worker side: the few memories a prompt calls for.

Hybrid search (keyword + vectors when the worker's embedder is loaded, keyword
alone otherwise) proposes candidates; each must then pass a relevance gate,
because fused rank scores have no absolute scale and a nearest neighbour always
exists. A candidate passes when it shares enough of the prompt's topic words
(at least two, or the one a one-word topic has, and at least a third of them),
or when its embedding is close to the prompt's (cosine >= MIN_SIMILARITY; with
all-MiniLM-L6-v2, paraphrases such as "German customers charged the wrong tax"
→ "Fixed VAT for DE carts" score about 0.38, unrelated prompts under 0.15).
Memories the session was already given (SessionStart and earlier prompts, meta
``injected:<session_id>``) and memories of other projects never come back.
"""

from __future__ import annotations

import json
import math
import re

from offmem.retrieval.format import Budget, detail_line
from offmem.retrieval.hook import is_substantive
from offmem.retrieval.memories import search_memories
from offmem.retrieval.tokens import count_tokens
from offmem.search.fts import light_stem as stem

HEADER = "offmem: earlier memories of this project related to this prompt (ids work with the offmem MCP tools):"
CANDIDATES = 12
MIN_SHARE = 1 / 3
MIN_SIMILARITY = 0.35
_TOKEN = re.compile(r"[^\W_]+")
_STOP = frozenset(
    """a about above after again all also am an and any are as at be been before being between both but by
    can could did do does doing done down during each few for from had has have having he her here how i if in
    into is it its itself just me more most my no nor not of off on once only or other our out over own same she
    should so some such than that the their them then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you your please let lets make
    need want get got thing things something earlier before previous last time again know tell show find""".split()
)


def topic_terms(prompt: str) -> list[str]:
    """The prompt's topic words, lowercased, stopwords and one-letter words out, in order."""
    words = [w.lower() for w in _TOKEN.findall(prompt or "")]
    return list(dict.fromkeys(w for w in words if len(w) > 1 and w not in _STOP))


def _tokens_of(obs: dict) -> set[str]:
    parts = [obs.get("title"), obs.get("subtitle"), obs.get("narrative"), obs.get("search_text")]
    for key in ("facts", "concepts", "files_read", "files_modified"):
        value = obs.get(key)
        parts.extend(value if isinstance(value, list) else [value])
    text = " ".join(str(p) for p in parts if p)
    return {t.lower() for t in _TOKEN.findall(text)}


def matched_terms(terms: list[str], tokens: set[str]) -> list[str]:
    """Terms found in ``tokens`` exactly or, for longer words, by a shared stem."""
    stems = {stem(t) for t in tokens}
    return [t for t in terms if t in tokens or (len(t) >= 5 and stem(t) in stems)]


def relevant(terms: list[str], matched: list[str], similarity: float | None = None) -> bool:
    if similarity is not None and similarity >= MIN_SIMILARITY:
        return True
    if not terms or not matched:
        return False
    return len(matched) >= min(2, len(terms)) and len(matched) >= math.ceil(len(terms) * MIN_SHARE - 1e-9)


def similarities(store, prompt: str, project: str, embedder, chroma, settings) -> dict[int, float]:
    """Cosine similarity of the prompt to its nearest memories; empty without an embedder."""
    if embedder is None:
        return {}
    from offmem.search import vector_search

    found = vector_search(store, prompt, project=project, limit=CANDIDATES, embedder=embedder, chroma=chroma,
                          settings=settings)
    return {hit["id"]: float(hit["score"]) for hit in found}


def _full_rows(store, ids: list[int]) -> dict[int, dict]:
    """Whole rows of ``ids`` with their list columns parsed and their search text kept."""
    out = {}
    for oid, row in store.observation_rows(ids).items():
        data = dict(row)
        for key in ("facts", "concepts", "files_read", "files_modified"):
            try:
                data[key] = json.loads(data.get(key) or "[]")
            except ValueError:
                data[key] = []
        out[oid] = data
    return out


def session_injected(store, session_id: str | None) -> set[int]:
    """Observation ids session ``session_id`` was already given."""
    if not session_id:
        return set()
    try:
        return {int(i) for i in json.loads(store.get_meta(f"injected:{session_id}", "[]") or "[]")}
    except (ValueError, TypeError):
        return set()


def select(store, project: str, prompt: str, settings, exclude, embedder=None, chroma=None) -> tuple[list, dict]:
    """The relevant memories (full rows, best first) and the search's mode and notes."""
    found = search_memories(store, prompt, project, limit=CANDIDATES, embedder=embedder, chroma=chroma,
                            settings=settings)
    hits = [h for h in found["hits"] if h["id"] not in exclude]
    rows = _full_rows(store, [h["id"] for h in hits])
    close = similarities(store, prompt, project, embedder, chroma, settings) if found["mode"] == "hybrid" else {}
    terms = topic_terms(prompt)
    chosen = []
    for hit in hits:
        row = rows.get(hit["id"])
        if row is None or row.get("project") != project:
            continue
        matched = matched_terms(terms, _tokens_of(row))
        if relevant(terms, matched, close.get(hit["id"])):
            chosen.append(row | {"matched": matched, "similarity": close.get(hit["id"])})
    return chosen, {"mode": found["mode"], "notes": found["notes"], "terms": terms}


def render(memories: list[dict], budget_tokens: int, max_memories: int) -> tuple[str, list[int]]:
    budget = Budget(budget_tokens)
    if not memories or not budget.add(HEADER):
        return "", []
    ids = []
    for obs in memories[:max_memories]:
        if budget.add(detail_line(obs, facts=3, limit=420)):
            ids.append(obs["id"])
    return (budget.text(), ids) if ids else ("", [])


def prompt_memories(store, project: str, prompt: str, settings, exclude=frozenset(), *, session_id=None,
                    embedder=None, chroma=None) -> dict:
    """``{text, tokens, budget_tokens, observation_ids, mode, notes, terms}`` for ``prompt``.

    ``text`` is empty when the prompt is not substantive or nothing relevant is new.
    """
    cfg = settings.context
    result = {"text": "", "tokens": 0, "budget_tokens": cfg.prompt_budget_tokens, "observation_ids": [],
              "mode": None, "notes": [], "terms": []}
    if not is_substantive(prompt, cfg.prompt_min_chars):
        result["notes"] = ["not a substantive prompt: nothing looked up"]
        return result
    skip = set(exclude) | session_injected(store, session_id)
    memories, info = select(store, project, prompt, settings, skip, embedder, chroma)
    text, ids = render(memories, cfg.prompt_budget_tokens, cfg.prompt_max_memories)
    result.update(info, text=text, tokens=count_tokens(text), observation_ids=ids)
    return result
