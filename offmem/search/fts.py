"""Keyword search over ``observations_fts`` (FTS5, bm25).

User text never reaches FTS5's query syntax: the query is cut into the tokens
the ``unicode61`` tokenizer would produce, plus the identifier parts that
:mod:`offmem.search_text` adds at write time (``TaxRate`` → ``tax``, ``rate``),
and each becomes a quoted string. ``KeyError: 'UK'``, ``vat.py``, ``a"b``, ``NOT``
and ``*`` are therefore all plain words. Terms are OR-ed so bm25 ranks memories
by how many and how rare the matched words are; each multi-token chunk of the
query (``vat.py``, ``cart/vat.py``, ``KeyError: 'UK'``) is also added as a phrase
so exact identifiers and error strings rank first, and words of five letters or
more also match by prefix after a light suffix strip (``rates`` → ``rate*``).
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


def match_expression(query: str) -> str:
    """A safe FTS5 MATCH expression for any user string; empty when it has no words."""
    parts: list[str] = []
    for term in query_terms(query):
        parts.append(_quote(term))
        stem = light_stem(term)
        if len(stem) >= 4 and not term.isdigit():
            parts.append(_quote(stem) + "*")
    for tokens in _phrases(query):
        parts.append(_quote(" ".join(tokens)))
    return " OR ".join(dict.fromkeys(parts))


def fts_ranked(
    conn: sqlite3.Connection,
    query: str,
    filters: SearchFilters,
    limit: int = 50,
    weights: FtsWeights = DEFAULT_WEIGHTS,
) -> list[tuple[int, float]]:
    """``(observation id, bm25)`` best first (bm25 is negative: lower is better)."""
    expression = match_expression(query)
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
