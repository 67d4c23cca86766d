"""Prompt-time memories, worker side: the few memories a prompt calls for.

Hybrid search (keyword + vectors when the worker's embedder is loaded, keyword
alone otherwise) proposes observations, and keyword search over the session
summaries (``summaries_fts``) proposes summaries: what sessions learned and left
open is findable too. Each candidate must then pass a relevance gate, because
fused rank scores have no absolute scale and a nearest neighbour always exists.

The gate scores a candidate ``similarity + share (+ 1 for an exact identifier)``:
the cosine similarity of its embedding to the prompt's (0 without an embedder,
and for summaries), plus the share of the prompt's topic words it contains, each
word weighted by its rarity (inverse document frequency over the store), so
"test" or "fix" count for little and ``parse_order`` for much; a candidate that
holds an identifier of the prompt verbatim (``LEDGER_SYNC_TIMEOUT``,
``useDraftStore``) gets one more. A candidate passes with a score of at least
``MIN_SCORE`` and at least two topic words (all of them when the topic has
fewer), or with a similarity of at least ``MIN_SIMILARITY`` that stands out from
the median similarity of the prompt's candidates by ``SIMILARITY_MARGIN``
(paraphrases: "German customers charged the wrong tax" → "Fixed VAT for DE
carts" scores about 0.38 with all-MiniLM-L6-v2 while the other memories stay
near 0.1), or with an exact identifier; and it must score at least ``RELATIVE``
of the best candidate of its kind, so one clear answer is not diluted by weak
ones. Candidates are offered best score first.

Chosen on the transcript corpus (``bench/bench_reach.py``, rules compressor;
each of its 74 questions asked in its own project, where its fact is stored, and
in another project, where nothing should come back): with the previous gate
(similarity >= 0.35 alone, or two unweighted words and a third of them, in the
search's order) the prompt-time block carried the fact for 14 of the 74
questions and 24 questions asked in the wrong project got 41 memories; with this
gate, summaries, the facts chosen for the prompt and SessionStart's memories
offered again with what it did not show, 28 of 74 and 22 questions with 34
memories (same store; on a fresh import of the corpus: 28 of 74, 23 with 36).

A prompt that asks what is left, pending or unfinished (:data:`WHATS_LEFT`) is also
offered the open next steps of the project's newest sessions that have some (at most
``OPEN_WORK_MAX``, not given whole to this session yet), ranked with the best candidate
and shown next steps first: such a prompt rarely shares words with the step itself.

Each memory is shown with the facts that name the prompt's words first
(:func:`offmem.retrieval.format.rank_facts`). Memories an earlier prompt of the
session was given (meta ``injected:<session_id>``) and memories of other projects
never come back; a memory SessionStart listed by its title only is offered like
any other, and one it showed with some facts (``injected:start:<session_id>``)
only with the facts it did not show whole, when one of them names a word of the
prompt. Summaries a session was given whole are not offered again
(``injected:summaries:<session_id>``).
"""

from __future__ import annotations

import json
import math
import re

from offmem.retrieval.format import Budget, _is_identifier, _matches, clean, detail_parts, minute
from offmem.retrieval.hook import is_substantive
from offmem.retrieval.memories import search_memories
from offmem.retrieval.tokens import count_tokens
from offmem.search.fts import document_frequencies, summaries_ranked
from offmem.search.fts import light_stem as stem

HEADER = "offmem: earlier memories of this project related to this prompt (ids work with the offmem MCP tools):"
CANDIDATES = 12
SUMMARY_CANDIDATES = 4
MIN_SCORE = 0.5
MIN_SIMILARITY = 0.35
SIMILARITY_MARGIN = 0.15
RELATIVE = 0.75
IDENTIFIER_BONUS = 1.0
_TOKEN = re.compile(r"[^\W_]+")
_STOP = frozenset(
    """a about above after again all also am an and any are as at be been before being between both but by
    can could did do does doing done down during each few for from had has have having he her here how i if in
    into is it its itself just me more most my no nor not of off on once only or other our out over own same she
    should so some such than that the their them then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you your please let lets make
    need want get got thing things something earlier before previous last time again know tell show find""".split()
)
# A prompt that asks what is left, pending or unfinished: the open next steps of the latest
# sessions answer it even when they share none of its words ("What did we leave unfinished?").
WHATS_LEFT = re.compile(
    r"\b(?:unfinished|pending|outstanding|remaining|todos?|to-dos?|next steps?|follow[- ]?ups?|deferred|"
    r"postponed|left (?:open|over|to do|undone|off)|leftovers?|(?:still|anything|what(?:'s| is| was| else)?) "
    r"(?:\w+ ){0,3}(?:left|open|pending)|still (?:need|needs|needed|to do|missing)|for later|"
    r"waiting (?:on|for)|(?:what|where) (?:\w+ ){0,2}(?:next|stop|stopped|leave|left))\b",
    re.IGNORECASE,
)
OPEN_WORK_MAX = 2  # sessions whose open next steps a "what is left?" prompt is offered
OPEN_WORK_WINDOW = 12  # newest summaries looked at for them
SUMMARY_FIELDS = (("learned", "learned"), ("next_steps", "next"), ("completed", "done"), ("investigated", "looked at"),
                  ("request", "asked"))


def topic_terms(prompt: str) -> list[str]:
    """The prompt's topic words, lowercased, stopwords and one-letter words out, in order."""
    words = [w.lower() for w in _TOKEN.findall(prompt or "")]
    return list(dict.fromkeys(w for w in words if len(w) > 1 and w not in _STOP))


def _tokens_of(obs: dict) -> set[str]:
    parts = [obs.get("title"), obs.get("subtitle"), obs.get("narrative"), obs.get("search_text")]
    for key in ("facts", "concepts", "files_read", "files_modified"):
        value = obs.get(key)
        parts.extend(value if isinstance(value, list) else [value])
    parts.extend(obs.get(key) for key, _label in SUMMARY_FIELDS)
    text = " ".join(str(p) for p in parts if p)
    return {t.lower() for t in _TOKEN.findall(text)}


def matched_terms(terms: list[str], tokens: set[str]) -> list[str]:
    """Terms found in ``tokens`` exactly or, for longer words, by a shared stem."""
    stems = {stem(t) for t in tokens}
    return [t for t in terms if t in tokens or (len(t) >= 5 and stem(t) in stems)]


def term_weights(store, terms: list[str]) -> dict[str, float]:
    """Inverse document frequency of each term over the store's memories (rare words weigh more)."""
    if not terms:
        return {}
    size, df = document_frequencies(store.conn, [stem(t) if len(t) >= 5 else t for t in terms] + terms)
    weights = {}
    for t in terms:
        n = max(df.get(t, 0), df.get(stem(t), 0) if len(t) >= 5 else 0)
        weights[t] = math.log((size + 1) / (n + 1)) + 0.1
    return weights


def share(weights: dict[str, float], matched: list[str]) -> float:
    """The weighted share of the prompt's topic words a candidate contains."""
    total = sum(weights.values())
    return sum(weights.get(t, 0.0) for t in matched) / total if total else 0.0


def prompt_identifiers(prompt: str) -> list[str]:
    """Identifiers the prompt names as written (``LEDGER_SYNC_TIMEOUT``, ``useDraftStore``, ``cart/vat.py``), lowercased."""
    found = (t.strip("`'\",;:!?()[]{}<>").rstrip(".") for t in (prompt or "").split())
    return list(dict.fromkeys(t.lower() for t in found if _is_identifier(t)))


def names_identifier(item: dict, identifiers: list[str]) -> bool:
    """Whether a candidate's text holds one of the prompt's identifiers verbatim."""
    if not identifiers:
        return False
    parts = [item.get(k) for k in ("title", "subtitle", "narrative", *(k for k, _ in SUMMARY_FIELDS))]
    for key in ("facts", "files_read", "files_modified"):
        value = item.get(key)
        parts.extend(value if isinstance(value, list) else [value])
    text = " ".join(str(p) for p in parts if p).lower()
    return any(ident in text for ident in identifiers)


def gate_score(terms: list[str], matched: list[str], weights: dict[str, float], similarity: float | None,
               exact: bool = False, typical: float = 0.0) -> float | None:
    """The candidate's relevance score, or None when it does not pass (see the module notes).

    ``exact``: the candidate holds an identifier of the prompt verbatim, which
    passes on its own and counts as much as a full share of the words.
    ``typical``: the median similarity of the prompt's candidates; a similarity
    passes alone only when it stands out from it by ``SIMILARITY_MARGIN``.
    """
    sim = similarity or 0.0
    score = sim + share(weights, matched) + (IDENTIFIER_BONUS if exact else 0.0)
    if exact or (sim >= MIN_SIMILARITY and sim - typical >= SIMILARITY_MARGIN):
        return score
    if not terms or len(matched) < min(2, len(terms)) or score < MIN_SCORE:
        return None
    return score


def relevant(terms: list[str], matched: list[str], similarity: float | None = None,
             weights: dict[str, float] | None = None) -> bool:
    """Whether a candidate passes the gate (all words weigh the same without ``weights``)."""
    weights = weights if weights is not None else {t: 1.0 for t in terms}
    return gate_score(terms, matched, weights, similarity) is not None


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
    """Observation ids session ``session_id`` was already given with their details."""
    if not session_id:
        return set()
    try:
        return {int(i) for i in json.loads(store.get_meta(f"injected:{session_id}", "[]") or "[]")}
    except (ValueError, TypeError):
        return set()


def started_key(session_id: str) -> str:
    """The session id under which SessionStart records the memories it showed with their details:
    meta ``injected:start:<session_id>``. Those come back at prompt time only with facts the
    block did not show whole; what a prompt was given (``injected:<session_id>``) never does."""
    return f"start:{session_id}"


def start_facts(row: dict) -> set[str]:
    """The facts SessionStart showed whole for a memory (its key-memory line, recomputed)."""
    return set(detail_parts(row)[1])


def summaries_key(session_id: str) -> str:
    """The session id under which the summaries a session was given are recorded: meta
    ``injected:summaries:<session_id>`` (``add_injected`` keys by ``injected:<id>``; no Claude Code
    session id starts with ``summaries:``)."""
    return f"summaries:{session_id}"


def session_injected_summaries(store, session_id: str | None) -> set[int]:
    """Summary ids session ``session_id`` was already given whole (SessionStart, earlier prompts)."""
    return session_injected(store, summaries_key(session_id)) if session_id else set()


def cue_words(prompt: str) -> set[str]:
    """The words of the prompt's "what is left?" phrases (they say what is asked, not about what)."""
    return {w.lower() for m in WHATS_LEFT.finditer(prompt or "") for w in _TOKEN.findall(m.group(0))}


def asks_whats_left(prompt: str) -> bool:
    """Whether the prompt asks what is left to do, pending or unfinished (:data:`WHATS_LEFT`)."""
    return bool(WHATS_LEFT.search(prompt or ""))


def _summaries(store, project: str, prompt: str, terms, weights, session_id, identifiers) -> list[dict]:
    """Summaries of ``project`` (other sessions than this one, not given to it yet) that pass the gate
    on their words alone."""
    chosen = []
    given = session_injected_summaries(store, session_id)
    for row in summaries_ranked(store.conn, prompt, project, SUMMARY_CANDIDATES + len(given)):
        if (session_id and row.get("session_id") == session_id) or row.get("id") in given:
            continue
        matched = matched_terms(terms, _tokens_of(row))
        score = gate_score(terms, matched, weights, None, names_identifier(row, identifiers))
        if score is not None:
            chosen.append(row | {"kind": "summary", "matched": matched, "similarity": None, "gate": score})
    return chosen


def _open_work(store, project: str, session_id) -> list[dict]:
    """The newest sessions of ``project`` that left next steps open (not this session, not given
    whole to it yet), newest first: what a "what is left?" prompt asks for."""
    from offmem.store.sessions import recent_summaries

    given = session_injected_summaries(store, session_id)
    rows = [r for r in recent_summaries(store.conn, project, OPEN_WORK_WINDOW)
            if str(r.get("next_steps") or "").strip() and r.get("id") not in given
            and not (session_id and r.get("session_id") == session_id)]
    return rows[:OPEN_WORK_MAX]


class _QueryOnce:
    """The worker's embedder, embedding each query text once per prompt: the hybrid search and the
    gate's similarities both need the prompt's vector (each embedding is 40-50 ms of CPU on a busy
    core, the largest part of a prompt's lookup)."""

    def __init__(self, embedder) -> None:
        self._embedder = embedder
        self._vectors: dict[str, object] = {}

    def embed_query(self, text: str):
        if text not in self._vectors:
            self._vectors[text] = self._embedder.embed_query(text)
        return self._vectors[text]

    def __getattr__(self, name: str):
        return getattr(self._embedder, name)


def select(store, project: str, prompt: str, settings, exclude, embedder=None, chroma=None,
           session_id: str | None = None, started=frozenset()) -> tuple[list, dict]:
    """The relevant memories and summaries (whole rows, best first) and the search's mode and notes.

    ``started``: memories SessionStart showed with some facts; they pass only with a fact it did
    not show whole that names one of the prompt's words, and are shown with such facts only.
    """
    embedder = _QueryOnce(embedder) if embedder is not None else None
    found = search_memories(store, prompt, project, limit=CANDIDATES, embedder=embedder, chroma=chroma,
                            settings=settings)
    hits = [h for h in found["hits"] if h["id"] not in exclude]
    rows = _full_rows(store, [h["id"] for h in hits])
    close = similarities(store, prompt, project, embedder, chroma, settings) if found["mode"] == "hybrid" else {}
    terms = topic_terms(prompt)
    weights = term_weights(store, terms)
    identifiers = prompt_identifiers(prompt)
    sims = sorted(close.get(h["id"], 0.0) for h in found["hits"])
    typical = sims[len(sims) // 2] if sims else 0.0
    chosen = []
    for hit in hits:
        row = rows.get(hit["id"])
        if row is None or row.get("project") != project:
            continue
        seen = start_facts(row) if hit["id"] in started else set()
        unseen = [f for f in [*(row.get("facts") or []), row.get("narrative") or ""]
                  if f and " ".join(str(f).lower().split()) not in seen]
        if seen and not any(_matches(str(f), terms) for f in unseen):
            continue  # nothing the session start did not already show
        matched = matched_terms(terms, _tokens_of(row))
        score = gate_score(terms, matched, weights, close.get(hit["id"]), names_identifier(row, identifiers), typical)
        if score is not None:
            chosen.append(row | {"kind": "observation", "matched": matched, "similarity": close.get(hit["id"]),
                                 "gate": score, "seen_facts": seen})
    summaries = _summaries(store, project, prompt, terms, weights, session_id, identifiers)
    chosen = _leading(chosen) + _leading(summaries)
    if asks_whats_left(prompt):
        # open next steps rank with the best candidate (after it among equals): they answer the question
        # whatever its words; a summary the words already found is marked and moved up the same way
        top = max([MIN_SCORE, *(c["gate"] for c in chosen)])
        listed = {c["id"]: c for c in chosen if c["kind"] == "summary"}
        topic = [t for t in terms if t not in cue_words(prompt)]
        for row in _open_work(store, project, session_id):
            item = listed.get(row["id"])
            if item is None:
                matched = matched_terms(topic, _tokens_of(row))
                if matched:  # it must share a topic word: open work of another topic is noise
                    chosen.append(row | {"kind": "summary", "matched": matched, "similarity": None, "gate": top,
                                         "open_work": True})
            else:
                item.update(gate=max(item["gate"], top), open_work=True)
    chosen.sort(key=lambda c: -c["gate"])  # stable: among equals, the search's order
    return chosen, {"mode": found["mode"], "notes": found["notes"], "terms": terms}


def _leading(candidates: list[dict]) -> list[dict]:
    """Candidates within ``RELATIVE`` of the best one's score (summaries, which have no similarity,
    are compared among themselves)."""
    if not candidates:
        return []
    best = max(c["gate"] for c in candidates)
    return [c for c in candidates if c["gate"] >= RELATIVE * best]


def summary_detail(summary: dict, terms, limit: int = 420) -> str:
    """A session summary at prompt time: its fields that name the prompt's words first (its open
    next steps first when it answers a "what is left?" prompt)."""
    head = f"- session {minute(summary.get('started_at') or summary.get('updated_at'))} (summary)"
    fields = [(label, str(summary.get(key) or "")) for key, label in SUMMARY_FIELDS if summary.get(key)]
    ranked = sorted(fields, key=lambda f: (not (summary.get("open_work") and f[0] == "next"),
                                           -len(matched_terms(terms, {t.lower() for t in _TOKEN.findall(f[1])}))))
    line, room = head, limit - len(head)
    for label, text in ranked:
        lead = ": " if line == head else " | "
        piece = clean(f"{label}: {text}", min(240, room - len(lead)))
        if len(piece) < 25:
            break
        line += lead + piece
        room -= len(lead) + len(piece)
    return line


def render(memories: list[dict], budget_tokens: int, max_memories: int, terms=()) -> tuple[str, list[int], list[int]]:
    """The prompt-time block, the observation ids and the summary ids it shows.

    Every memory gets the same room (3 facts, 420 characters): giving a lone first
    answer more of its facts cost the memories after it their place (bench_reach:
    0.62 -> 0.61 of the corpus facts reached the agent).
    """
    budget = Budget(budget_tokens)
    if not memories or not budget.add(HEADER):
        return "", [], []
    ids, summary_ids = [], []
    for item in memories[:max_memories]:
        if item.get("kind") == "summary":
            if budget.add(summary_detail(item, terms)):
                summary_ids.append(item["id"])
        elif budget.add(detail_parts(item, 3, 420, terms, item.get("seen_facts") or frozenset())[0]):
            ids.append(item["id"])
    return (budget.text(), ids, summary_ids) if ids or summary_ids else ("", [], [])


def prompt_memories(store, project: str, prompt: str, settings, exclude=frozenset(), *, session_id=None,
                    embedder=None, chroma=None) -> dict:
    """``{text, tokens, budget_tokens, observation_ids, summary_ids, mode, notes, terms}`` for ``prompt``.

    ``text`` is empty when the prompt is not substantive or nothing relevant is new.
    """
    cfg = settings.context
    result = {"text": "", "tokens": 0, "budget_tokens": cfg.prompt_budget_tokens, "observation_ids": [],
              "summary_ids": [], "mode": None, "notes": [], "terms": []}
    if not is_substantive(prompt, cfg.prompt_min_chars):
        result["notes"] = ["not a substantive prompt: nothing looked up"]
        return result
    skip = set(exclude) | session_injected(store, session_id)
    started = session_injected(store, started_key(session_id)) - skip if session_id else set()
    memories, info = select(store, project, prompt, settings, skip, embedder, chroma, session_id, started)
    text, ids, summary_ids = render(memories, cfg.prompt_budget_tokens, cfg.prompt_max_memories, info["terms"])
    result.update(info, text=text, tokens=count_tokens(text), observation_ids=ids, summary_ids=summary_ids)
    return result
