"""Hybrid search: FTS5 bm25 and vector similarity, fused by reciprocal rank.

Each half ranks the memories that pass the filters; a memory's fused score is
``Σ weight / (k + rank)`` over the halves that found it (reciprocal rank fusion,
k = 60, the vector half at weight 0.5), times a mild recency factor
``1 + r · 0.5^(age / half-life)``, times ``1 + intent_weight`` for decision
memories when the query asks what was decided. Every hit is re-read from SQLite
with the filters applied, so a stale vector can never surface a deleted or
out-of-scope memory. :class:`FusionParams` documents how each default was chosen.

Without an embedder or a reachable Chroma the search is keyword-only and says so
in ``notes``; it never fails for that reason.

Its candidate and scope queries are SQL of its own (with :mod:`~offmem.search.fts`, the
search is one of the three places outside :mod:`offmem.store` that run SQL).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field

from offmem.errors import OffmemError
from offmem.search.chroma import ChromaIndex
from offmem.search.documents import observation_id, vector_id
from offmem.search.errors import SearchIndexError
from offmem.search.filters import SearchFilters, parse_created
from offmem.search.fts import DEFAULT_WEIGHTS, FtsWeights, fts_ranked
from offmem.store.meta import get_meta

DAY_S = 86400.0

# Queries that ask for a decision ("what did we decide about X", "our rule for Y").
_DECISION_INTENT = re.compile(
    r"\b(decid\w*|decision\w*|agree\w*|chose|choose|chosen|policy|policies|rule|rules|convention\w*)\b",
    re.IGNORECASE,
)


def query_intent(query: str) -> set[str]:
    """Observation types a query asks for by its wording."""
    return {"decision"} if _DECISION_INTENT.search(query) else set()


@dataclass(frozen=True)
class FusionParams:
    """Fusion settings; the defaults were chosen on the evaluation's dev split (see eval/README.md).

    - ``k = 60``: the usual RRF constant; the dev split scored the same for k in 10..100.
    - ``vector_weight = 0.5``: keyword hits (identifiers, error strings) are the more
      precise half; at every k the dev split ranked best with the vector half at half weight.
    - ``recency_weight = 0.01``: a memory from today scores at most 1% more, which only
      reorders memories whose fused scores are within 1% (ties and near-ties): at
      k = 60 neighbouring ranks differ by about 1.6%. A 10% factor reordered clear
      winners behind newer, weaker matches on the dev split.
    - ``intent_weight = 0.25``: a query worded as a question about a decision ("what
      did we decide about X", "our rule for Y") scores decision memories 25% higher;
      on the dev split any value from 0.1 to 1.0 helped equally.
    """

    k: float = 60.0
    fts_weight: float = 1.0
    vector_weight: float = 0.5
    depth: int = 50  # candidates taken from each half
    recency_weight: float = 0.01
    half_life_days: float = 30.0
    intent_weight: float = 0.25
    fts_weights: FtsWeights = field(default_factory=lambda: DEFAULT_WEIGHTS)


DEFAULT_PARAMS = FusionParams()


class SearchResults(list):
    """Hit dicts, best first, plus ``mode`` (hybrid | fts | vector) and ``notes``."""

    def __init__(self, hits=(), mode: str = "hybrid", notes: list[str] | None = None) -> None:
        super().__init__(hits)
        self.mode = mode
        self.notes = list(notes or [])

    def to_dict(self, query: str) -> dict:
        return {"query": query, "mode": self.mode, "notes": self.notes, "hits": list(self)}


# ---------------------------------------------------------------------- halves


def _conn(store):
    return getattr(store, "conn", store)


def _instance(conn) -> str | None:
    return get_meta(conn, "vectors.instance")


def _file_candidates(conn, filters: SearchFilters) -> list[int]:
    where, args = filters.sql("o")
    return [r[0] for r in conn.execute(f"SELECT o.id FROM observations o WHERE 1{where}", args)]


# How many nearest vectors an unfiltered Chroma query fetches before scope filters
# are applied in SQLite. A Chroma ``where`` costs time in proportion to the vectors it
# matches (~50 ms for a project of 8k among 100k vectors), an unfiltered top-800
# about 5 ms, so scoped searches try the wide unfiltered query first. In
# bench/bench_search.py at 100k (12 projects) 2% of scoped queries fell back to the
# filter with WIDE = 800; with 200, 16% did (vector half p95 66 ms instead of 19 ms).
WIDE = 800
MIN_SCOPED_HITS = 20


def _own(found: list[tuple[str, float]], instance: str) -> list[tuple[int, float]]:
    """This database's hits as ``(observation id, distance)``; other databases' vectors dropped."""
    prefix = instance + ":"
    ranked = []
    for vid, distance in found:
        oid = observation_id(vid) if vid.startswith(prefix) else None
        if oid is not None:
            ranked.append((oid, float(distance)))
    return ranked


def _in_scope(conn, ids: list[int], filters: SearchFilters) -> set[int]:
    if not ids:
        return set()
    where, args = filters.sql("o")
    sql = f"SELECT o.id FROM observations o WHERE o.id IN ({','.join('?' * len(ids))}){where}"
    return {r[0] for r in conn.execute(sql, [*ids, *args])}


def vector_ranked(conn, query: str, filters: SearchFilters, limit: int, embedder, chroma: ChromaIndex) -> list[tuple[int, float]]:
    """``(observation id, cosine distance)`` best first. Raises SearchIndexError when unusable.

    Scoped searches first take the ``WIDE`` nearest vectors unfiltered and keep those
    in scope (checked in SQLite): those are exactly the nearest in-scope memories.
    Only when fewer than ``min(limit, MIN_SCOPED_HITS)`` survive, because the scope
    is a small part of the index, does Chroma filter by metadata, which is then cheap.
    """
    from offmem.search.indexer import index_identity

    instance = _instance(conn)
    if instance is None or chroma.check(index_identity(embedder)) is None:
        raise SearchIndexError("the semantic index is empty (the worker fills it; or run `offmem reindex`)")
    vector = embedder.embed_query(query)
    if filters.files:
        ids = [vector_id(instance, i) for i in _file_candidates(conn, filters)]
        return _own(chroma.query(vector, limit, where=filters.chroma_where(), ids=ids), instance) if ids else []
    if not filters.active():
        return _own(chroma.query(vector, limit), instance)
    wide = max(WIDE, limit)
    found = chroma.query(vector, wide)
    ranked = _own(found, instance)
    keep = _in_scope(conn, [oid for oid, _ in ranked], filters)
    ranked = [(oid, d) for oid, d in ranked if oid in keep]
    if len(ranked) < min(limit, MIN_SCOPED_HITS) and len(found) == wide:
        ranked = _own(chroma.query(vector, limit, where=filters.chroma_where()), instance)
    return ranked[:limit]


_INDEXES: dict[str, ChromaIndex] = {}
_INDEXES_LOCK = threading.Lock()


def chroma_for(settings) -> ChromaIndex:
    """One shared :class:`ChromaIndex` per configured store, for callers that pass only settings."""
    index = ChromaIndex.from_settings(settings)
    with _INDEXES_LOCK:
        return _INDEXES.setdefault(f"{index.where}/{index.name}", index)


def _vector_half(conn, query, filters, depth, embedder, chroma, settings, notes) -> list[tuple[int, float]] | None:
    """The vector ranking, or None (with a note) when semantic search is unavailable."""
    if embedder is None:
        notes.append("semantic search unavailable (no embedder loaded): keyword results only")
        return None
    try:
        if chroma is None:
            if settings is None:
                notes.append("semantic search unavailable (no Chroma index given): keyword results only")
                return None
            chroma = chroma_for(settings)
        ranked = vector_ranked(conn, query, filters, depth, embedder, chroma)
    except (OffmemError, OSError) as exc:
        notes.append(f"semantic search unavailable: {exc}; keyword results only")
        return None
    return ranked


# ---------------------------------------------------------------------- rows → hits


def _rows(conn, ids: list[int], filters: SearchFilters) -> dict[int, dict]:
    rows: dict[int, dict] = {}
    where, args = filters.sql("o")
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        sql = (
            "SELECT o.id, o.type, o.title, o.subtitle, o.project, o.session_id, o.created_at"
            f" FROM observations o WHERE o.id IN ({','.join('?' * len(part))}){where}"
        )
        for row in conn.execute(sql, [*part, *args]):
            rows[int(row[0])] = {
                "id": int(row[0]), "type": row[1], "title": row[2], "subtitle": row[3],
                "project": row[4], "session_id": row[5], "created_at": row[6],
            }
    return rows


def _hit(row: dict, score: float, fts_rank: int | None, vector_rank: int | None) -> dict:
    return {**row, "score": round(score, 6), "ranks": {"fts": fts_rank, "vector": vector_rank}}


def fuse(
    fts: list[int],
    vector: list[int],
    created: dict[int, float],
    params: FusionParams = DEFAULT_PARAMS,
    now: float | None = None,
    boosted: set[int] | frozenset = frozenset(),
) -> list[tuple[int, float]]:
    """Reciprocal rank fusion of two rankings with a recency factor; ``(id, score)`` best first.

    ``boosted`` memories (the type the query asks for) score ``1 + intent_weight`` times more.
    """
    now = time.time() if now is None else now
    scores: dict[int, float] = {}
    for weight, ranking in ((params.fts_weight, fts), (params.vector_weight, vector)):
        for rank, oid in enumerate(ranking, 1):
            scores[oid] = scores.get(oid, 0.0) + weight / (params.k + rank)
    fused = []
    for oid, score in scores.items():
        age_days = max(0.0, now - created.get(oid, 0.0)) / DAY_S
        score *= 1.0 + params.recency_weight * 0.5 ** (age_days / params.half_life_days)
        if oid in boosted:
            score *= 1.0 + params.intent_weight
        fused.append((oid, score))
    fused.sort(key=lambda item: (-item[1], -created.get(item[0], 0.0), -item[0]))
    return fused


# ---------------------------------------------------------------------- public API


def hybrid_search(
    store,
    query: str,
    *,
    project: str | None = None,
    types=None,
    files=None,
    session_id: str | None = None,
    since=None,
    until=None,
    limit: int = 10,
    embedder=None,
    chroma: ChromaIndex | None = None,
    settings=None,
    params: FusionParams = DEFAULT_PARAMS,
    now: float | None = None,
) -> SearchResults:
    """The best ``limit`` memories for ``query``; each hit has id, type, title, project,
    created_at, fused ``score`` and ``ranks`` {"fts", "vector"} (1-based, None = not found)."""
    conn = _conn(store)
    filters = SearchFilters.build(project=project, types=types, files=files, session_id=session_id,
                                  since=since, until=until, now=now)
    if not query or not query.strip():
        return SearchResults([], "hybrid", ["empty query"])
    notes: list[str] = []
    depth = max(params.depth, limit)
    fts = [oid for oid, _ in fts_ranked(conn, query, filters, depth, params.fts_weights)]
    vec_ranked = _vector_half(conn, query, filters, depth, embedder, chroma, settings, notes)
    vec = [oid for oid, _ in vec_ranked or []]
    rows = _rows(conn, list(dict.fromkeys(fts + vec)), filters)
    fts = [oid for oid in fts if oid in rows]
    vec = [oid for oid in vec if oid in rows]
    created = {oid: parse_created(row["created_at"]) for oid, row in rows.items()}
    fts_rank = {oid: r for r, oid in enumerate(fts, 1)}
    vec_rank = {oid: r for r, oid in enumerate(vec, 1)}
    wanted = query_intent(query)
    boosted = {oid for oid, row in rows.items() if row["type"] in wanted}
    hits = [
        _hit(rows[oid], score, fts_rank.get(oid), vec_rank.get(oid))
        for oid, score in fuse(fts, vec, created, params, now, boosted)[:limit]
    ]
    return SearchResults(hits, "hybrid" if vec_ranked is not None else "fts", notes)


def fts_search(store, query: str, *, project=None, types=None, files=None, session_id=None, since=None,
               until=None, limit: int = 10, weights: FtsWeights = DEFAULT_WEIGHTS, now=None) -> SearchResults:
    """Keyword search alone; ``score`` is the negated bm25 (higher is better)."""
    conn = _conn(store)
    filters = SearchFilters.build(project=project, types=types, files=files, session_id=session_id,
                                  since=since, until=until, now=now)
    ranked = fts_ranked(conn, query, filters, limit, weights)
    rows = _rows(conn, [oid for oid, _ in ranked], filters)
    hits = [_hit(rows[oid], -bm25, r, None) for r, (oid, bm25) in enumerate(ranked, 1) if oid in rows]
    return SearchResults(hits, "fts")


def vector_search(store, query: str, *, project=None, types=None, files=None, session_id=None, since=None,
                  until=None, limit: int = 10, embedder=None, chroma: ChromaIndex | None = None, settings=None,
                  now=None) -> SearchResults:
    """Semantic search alone; ``score`` is the cosine similarity. Empty, with a note, when unavailable."""
    conn = _conn(store)
    filters = SearchFilters.build(project=project, types=types, files=files, session_id=session_id,
                                  since=since, until=until, now=now)
    notes: list[str] = []
    ranked = _vector_half(conn, query, filters, limit, embedder, chroma, settings, notes) or []
    rows = _rows(conn, [oid for oid, _ in ranked], filters)
    hits = [_hit(rows[oid], 1.0 - dist, None, r) for r, (oid, dist) in enumerate(ranked, 1) if oid in rows]
    return SearchResults(hits, "vector", notes)


MODES = ("hybrid", "fts", "vector")


def search(store, query: str, *, mode: str = "hybrid", embedder=None, chroma: ChromaIndex | None = None,
           settings=None, **filters) -> SearchResults:
    """One entry point for the CLI and the HTTP route: ``mode`` is hybrid, fts or vector."""
    if mode == "fts":
        return fts_search(store, query, **filters)
    if mode == "vector":
        return vector_search(store, query, embedder=embedder, chroma=chroma, settings=settings, **filters)
    if mode != "hybrid":
        raise ValueError(f"unknown search mode {mode!r}; use one of: {', '.join(MODES)}")
    return hybrid_search(store, query, embedder=embedder, chroma=chroma, settings=settings, **filters)
