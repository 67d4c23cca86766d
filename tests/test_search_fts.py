"""Keyword half of search: FTS5 query safety, identifier matching, filters, degrading without vectors."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from offmem.search import fts_search, hybrid_search
from offmem.search.filters import SearchFilters, iso, parse_created, to_epoch
from offmem.search.fts import fts_ranked, light_stem, match_expression, query_terms
from offmem.store.db import Store, transaction
from tests.support import seed

P1 = "/home/dev/shop"
P2 = "/home/dev/maps"


def add(store: Store, title: str, *, project: str = P1, **fields) -> int:
    return seed.add(store, title, project=project, **fields)


@pytest.fixture
def corpus(store):
    ids = {
        "vat": add(store, "Fix KeyError: 'UK' in compute_vat", type="bugfix",
                   narrative="Country codes were not normalised before the TAX_RATES lookup.",
                   files_modified=["src/cart/vat.py"], created="2025-03-03T09:00:00.000Z"),
        "taxrate": add(store, "Add TaxRate model with valid_from", type="decision", session="s2",
                       narrative="Rates live in the database now.", files_modified=["src/cart/models.py"],
                       created="2025-03-05T09:00:00.000Z"),
        "tiles": add(store, "Offline TileCache in IndexedDB", project=P2, type="feature",
                     narrative="parseHTTPResponse reads tiles", files_modified=["src/map/TileCache.ts"],
                     created="2025-04-01T09:00:00.000Z"),
        "quote": add(store, 'Escape the a"b case in the parser', session="s3",
                     narrative="NOT and * must be plain words", created="2025-04-10T09:00:00.000Z"),
    }
    return ids


def ids(hits) -> list[int]:
    return [h["id"] for h in hits]


# ---------------------------------------------------------------------- query building


@pytest.mark.parametrize("query", ["KeyError: 'UK'", "vat.py", 'a"b', "NOT", "*", "AND OR NEAR", "(", '"', "-x",
                                   "col:value", "^start", "a + b", "NEAR(a b)", "{title}: x", "", "   ", "😀 ü"])
def test_hostile_queries_never_raise(store, corpus, query):
    assert isinstance(fts_search(store, query), list)
    assert isinstance(hybrid_search(store, query), list)


@hsettings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_any_string_is_a_valid_match_expression(query):
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='unicode61 remove_diacritics 2')")
    conn.execute("INSERT INTO t VALUES ('some text with vat py and keyerror uk')")
    expression = match_expression(query)
    if expression:
        conn.execute("SELECT rowid FROM t WHERE t MATCH ?", (expression,)).fetchall()


def test_query_terms_split_identifiers_and_drop_stopwords():
    assert query_terms("what did we decide about TaxRate") == ["decide", "taxrate", "tax", "rate"]
    assert query_terms("compute_vat") == ["compute", "vat"]
    assert query_terms("NOT") == ["not"]  # only stopwords: keep them rather than search for nothing
    assert light_stem("rates") == "rate" and light_stem("caching") == "cach" and light_stem("vat") == "vat"


def test_error_string_and_file_name_rank_their_memory_first(store, corpus):
    assert ids(fts_search(store, "KeyError: 'UK'"))[0] == corpus["vat"]
    assert ids(fts_search(store, "vat.py"))[0] == corpus["vat"]
    assert ids(fts_search(store, "src/cart/vat.py"))[0] == corpus["vat"]
    assert ids(fts_search(store, 'a"b'))[0] == corpus["quote"]


@pytest.mark.parametrize("query", ["tax_rate", "taxRate", "TaxRate", "tax rate", "TileCache.ts", "tile cache",
                                   "parse_http_response"])
def test_identifier_forms_meet(store, corpus, query):
    expected = corpus["tiles"] if ("tile" in query.lower() or "parse" in query) else corpus["taxrate"]
    assert expected in ids(fts_search(store, query, limit=3))


def test_prefix_after_light_stem_finds_plural_and_ing_forms(store, corpus):
    assert corpus["taxrate"] in ids(fts_search(store, "rates"))
    assert corpus["tiles"] in ids(fts_search(store, "caching"))


# ---------------------------------------------------------------------- filters


def test_project_scope(store, corpus):
    assert ids(fts_search(store, "tile", project=P1)) == []
    assert ids(fts_search(store, "tile", project=P2)) == [corpus["tiles"]]


def test_type_session_file_and_dates(store, corpus):
    assert ids(fts_search(store, "tax", types=["decision"])) == [corpus["taxrate"]]
    assert ids(fts_search(store, "tax", types="bugfix,decision")) != []
    assert ids(fts_search(store, "tax", session_id="s2")) == [corpus["taxrate"]]
    assert ids(fts_search(store, "tax", files=["vat.py"])) == [corpus["vat"]]
    assert ids(fts_search(store, "tax", files=["src/cart/"])) != []
    assert ids(fts_search(store, "tax", files=["at.py"])) == []  # a file name matches whole path parts only
    assert ids(fts_search(store, "tax", since="2025-03-04")) == [corpus["taxrate"]]
    assert ids(fts_search(store, "tax", until="2025-03-03")) == [corpus["vat"]]  # a bare date includes the day
    assert ids(fts_search(store, "tax", since="2025-03-04", until="2025-03-04")) == []


def test_time_parsing():
    day = to_epoch("2025-03-03")
    assert iso(day) == "2025-03-03T00:00:00.000Z"
    assert to_epoch("2025-03-03", end=True) - day == 86400
    assert to_epoch("7d", now=1_000_000.0) == 1_000_000.0 - 7 * 86400
    assert parse_created("2025-03-03T09:00:00.000Z") == day + 9 * 3600
    with pytest.raises(ValueError, match="7d"):
        to_epoch("last tuesday")


def test_chroma_where_mirrors_the_sql_filters():
    f = SearchFilters.build(project=P1, types=["bugfix"], session_id="s1", since="2025-01-01")
    where = f.chroma_where()
    assert {"project": P1} in where["$and"] and {"type": {"$in": ["bugfix"]}} in where["$and"]
    assert {"created_ts": {"$gte": to_epoch("2025-01-01")}} in where["$and"]
    assert SearchFilters().chroma_where() is None and not SearchFilters().active()
    assert SearchFilters.build(project=P1).chroma_where() == {"project": P1}


# ---------------------------------------------------------------------- degrading


def test_hybrid_without_embedder_is_keyword_only_with_a_note(store, corpus):
    results = hybrid_search(store, "TaxRate")
    assert results.mode == "fts"
    assert any("keyword results only" in note for note in results.notes)
    hit = results[0]
    assert hit["id"] == corpus["taxrate"]
    assert set(hit) >= {"id", "type", "title", "project", "created_at", "score", "ranks"}
    assert hit["ranks"] == {"fts": 1, "vector": None}


def test_bm25_prefers_title_matches(store):
    body = add(store, "Unrelated headline", narrative="mentions webhook once")
    title = add(store, "Stripe webhook signature", narrative="details")
    ranked = fts_ranked(store.conn, "webhook", SearchFilters(), 10)
    assert [oid for oid, _ in ranked] == [title, body]


def test_common_terms_are_dropped_from_the_match_only_in_big_stores(store):
    from offmem.search.fts import COMMON_MIN_DOCS, common_clauses

    with transaction(store.conn):
        store.conn.executemany(
            "INSERT INTO observations (session_id, project, type, title, created_at)"
            " VALUES ('s', ?, 'change', ?, '2025-01-01T00:00:00.000Z')",
            [(P1, f"error number {i}" + (" zebra" if i % 500 == 0 else "")) for i in range(COMMON_MIN_DOCS * 3)],
        )
    assert common_clauses(store.conn, "error zebra") == {'"error"', '"error"*'}
    hits = fts_search(store, "error zebra", limit=50)
    assert len(hits) == 12 and all("zebra" in h["title"] for h in hits)  # only the rare word decides the match
    assert '"error"' not in common_clauses(store.conn, "error")  # never drop every term
    assert len(fts_search(store, "error", limit=50)) == 50


def test_small_stores_keep_every_term(store, corpus):
    from offmem.search.fts import common_clauses

    assert common_clauses(store.conn, "the tax error in vat.py") == set()
