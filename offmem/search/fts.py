"""Keyword search over ``observations_fts`` (FTS5, bm25).

User text never reaches FTS5's query syntax: the query is cut into the tokens
the ``unicode61`` tokenizer would produce, plus the identifier parts that
:mod:`offmem.search_text` adds at write time (``TaxRate`` → ``tax``, ``rate``),
and each becomes a quoted string. ``KeyError: 'UK'``, ``vat.py``, ``a"b``, ``NOT``
and ``*`` are therefore all plain words. Terms are OR-ed so bm25 ranks memories
by how many and how rare the matched words are; each multi-token chunk of the
query (``vat.py``, ``cart/vat.py``, ``KeyError: 'UK'``) is also added as a phrase
so exact identifiers and error strings rank first, and words of four letters or
more also match by prefix after a light suffix strip (``rates`` → ``rate*``).
In large stores, terms common to many memories are left out of the match when the
query has rarer ones (see :data:`COMMON_RATIO`).

The FTS5 and vector query code of :mod:`offmem.search` runs its own SQL (this module and
:mod:`~offmem.search.hybrid`), one of the three places outside :mod:`offmem.store` that do.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

from offmem.search.filters import SearchFilters
from offmem.search_text import split_identifier

_TOKEN = re.compile(r"[^\W_]+")
_CHUNK = re.compile(r"\S+")
_MIXED = re.compile(r"[a-z][A-Z]|[A-Z]{2}[a-z]")

STOPWORDS = frozenset(
    """a about above after again all also am an and any are as at be been before being between both but by
    can could did do does doing done down during each few for from had has have having he her here how i if in
    into is it its itself just me more most my no nor not of off on once only or other our out over own same she
    should so some such than that the their them then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you your thing things stuff
    something anything remember recall find show tell us did""".split()
)

_SUFFIXES = ("ings", "ing", "ies", "ed", "es", "s")


@dataclass(frozen=True)
class FtsWeights:
    """bm25 weight of each column of ``observations_fts``, in column order."""

    title: float = 4.0
    subtitle: float = 2.0
    narrative: float = 1.0
    facts: float = 1.0
    concepts: float = 2.0
    files_read: float = 1.5
    files_modified: float = 2.0
    search_text: float = 1.0

    def args(self) -> list[float]:
        return [self.title, self.subtitle, self.narrative, self.facts, self.concepts,
                self.files_read, self.files_modified, self.search_text]


DEFAULT_WEIGHTS = FtsWeights()


def light_stem(word: str) -> str:
    """``rates`` → ``rate``, ``caching`` → ``cach``; words under five letters are kept."""
    if len(word) < 5 or word.isdigit():
        return word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def query_terms(query: str) -> list[str]:
    """The lowercase search terms of ``query``: its tokens and identifier parts, minus stopwords."""
    terms: list[str] = []
    for chunk in _CHUNK.findall(query):
        terms.extend(t.lower() for t in _TOKEN.findall(chunk))
        for word in _TOKEN.findall(chunk):
            if _MIXED.search(word):
                terms.extend(p.lower() for p in split_identifier(word))
    unique = list(dict.fromkeys(terms))
    kept = [t for t in unique if t not in STOPWORDS]
    return kept or unique


def _phrases(query: str) -> list[list[str]]:
    """Multi-token chunks (``vat.py``) and the whole query, as token lists."""
    phrases = []
    for chunk in _CHUNK.findall(query):
        tokens = [t.lower() for t in _TOKEN.findall(chunk)]
        if len(tokens) >= 2:
            phrases.append(tokens)
    whole = [t.lower() for t in _TOKEN.findall(query)]
    if 2 <= len(whole) <= 8 and whole not in phrases:
        phrases.append(whole)
    return phrases


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


@dataclass(frozen=True)
class Clause:
    """One OR-ed part of the MATCH expression: a term, a stem prefix or a phrase."""

    text: str  # the FTS5 syntax, already quoted
    term: str  # the vocabulary key: a term, a prefix (kind "prefix") or the phrase's tokens
    kind: str  # term | prefix | phrase


def clauses(query: str) -> list[Clause]:
    out: list[Clause] = []
    for term in query_terms(query):
        out.append(Clause(_quote(term), term, "term"))
        stem = light_stem(term)
        if len(stem) >= 4 and not term.isdigit():
            out.append(Clause(_quote(stem) + "*", stem, "prefix"))
    for tokens in _phrases(query):
        out.append(Clause(_quote(" ".join(tokens)), " ".join(tokens), "phrase"))
    return list({c.text: c for c in out}.values())


def match_expression(query: str, skip: frozenset[str] | set[str] = frozenset()) -> str:
    """A safe FTS5 MATCH expression for any user string; empty when it has no words.

    ``skip`` holds clause texts to leave out (see :func:`common_clauses`).
    """
    return " OR ".join(c.text for c in clauses(query) if c.text not in skip)


# A term in more than COMMON_RATIO of the memories, and in more than COMMON_MIN_DOCS,
# is "common": bm25 gives it a small weight, yet ranking every memory that contains
# it dominates the query's cost (at 100k memories, "error" alone matches ~25k rows).
# Like Elasticsearch's old cutoff_frequency, common terms are dropped from the
# match when the query has rarer ones; phrases are always kept. Small stores
# (under COMMON_MIN_DOCS / COMMON_RATIO memories) are never affected.
COMMON_RATIO = 0.05
COMMON_MIN_DOCS = 2000
_VOCAB = "temp.offmem_observations_vocab"


def _doc_count(conn: sqlite3.Connection, clause: Clause) -> int:
    if clause.kind == "term":
        row = conn.execute(f"SELECT doc FROM {_VOCAB} WHERE term = ?", (clause.term,)).fetchone()
    else:  # an upper bound for a prefix: the sum over the terms it covers
        row = conn.execute(
            f"SELECT sum(doc) FROM {_VOCAB} WHERE term >= ? AND term < ?", (clause.term, clause.term + "\U0010ffff")
        ).fetchone()
    return int(row[0] or 0) if row else 0


def common_clauses(conn: sqlite3.Connection, query: str) -> set[str]:
    """Clause texts to drop from the match because their terms are common (never all of them)."""
    size = conn.execute("SELECT max(rowid) FROM observations").fetchone()[0] or 0
    limit = max(COMMON_MIN_DOCS, COMMON_RATIO * size)
    if size <= limit:
        return set()
    conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS {_VOCAB} USING fts5vocab(main, observations_fts, row)")
    words = [c for c in clauses(query) if c.kind != "phrase"]
    counts = {c.text: _doc_count(conn, c) for c in words}
    common = {text for text, n in counts.items() if n > limit}
    if words and len(common) == len(words) and not any(c.kind == "phrase" for c in clauses(query)):
        common.discard(min(counts, key=counts.get))  # everything is common: keep the rarest
    return common


def fts_ranked(
    conn: sqlite3.Connection,
    query: str,
    filters: SearchFilters,
    limit: int = 50,
    weights: FtsWeights = DEFAULT_WEIGHTS,
) -> list[tuple[int, float]]:
    """``(observation id, bm25)`` best first (bm25 is negative: lower is better)."""
    expression = match_expression(query, common_clauses(conn, query))
    if not expression or limit <= 0:
        return []
    where, args = filters.sql("o")
    marks = ", ".join("?" * len(weights.args()))
    sql = (
        f"SELECT o.id, bm25(observations_fts, {marks}) AS score"
        " FROM observations_fts JOIN observations o ON o.id = observations_fts.rowid"
        f" WHERE observations_fts MATCH ?{where} ORDER BY score, o.id DESC LIMIT ?"
    )
    rows = conn.execute(sql, [*weights.args(), expression, *args, limit]).fetchall()
    return [(int(r[0]), float(r[1])) for r in rows]


# ---------------------------------------------------------------------- prompt-time helpers


def document_frequencies(conn: sqlite3.Connection, terms: list[str]) -> tuple[int, dict[str, int]]:
    """``(memories, {term: memories holding it})`` over ``observations_fts`` (all projects).

    One indexed vocabulary lookup per term, so the cost does not grow with the store.
    """
    size = int(conn.execute("SELECT count(*) FROM observations").fetchone()[0] or 0)
    conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS {_VOCAB} USING fts5vocab(main, observations_fts, row)")
    found = {}
    for term in dict.fromkeys(terms):
        row = conn.execute(f"SELECT doc FROM {_VOCAB} WHERE term = ?", (term,)).fetchone()
        found[term] = int(row[0]) if row else 0
    return size, found


def summaries_ranked(conn: sqlite3.Connection, query: str, project: str, limit: int = 5) -> list[dict]:
    """Session summaries of ``project`` matching ``query`` (``summaries_fts``, bm25), best first, whole rows."""
    expression = match_expression(query)
    if not expression or limit <= 0:
        return []
    sql = (
        "SELECT s.*, se.started_at, bm25(summaries_fts) AS score FROM summaries_fts"
        " JOIN summaries s ON s.id = summaries_fts.rowid LEFT JOIN sessions se ON se.id = s.session_id"
        " WHERE summaries_fts MATCH ? AND s.project = ? ORDER BY score, s.id DESC LIMIT ?"
    )
    cur = conn.execute(sql, (expression, project, limit))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]
