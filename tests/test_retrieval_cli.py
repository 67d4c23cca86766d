"""``offmem context`` shows what the hooks inject; the worker's retrieval routes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from offmem.config import load_settings
from offmem.retrieval import build_session_context, count_tokens
from offmem.store.db import Store
from offmem.worker.client import request_json
from tests.support.seed import add_observation, days_ago, flood

OFFMEM = str(Path(sys.executable).parent / "offmem")
PROJECT = "/home/dev/shop-api"
PROMPT = "Why did the VAT check for DE carts fail with an AssertionError?"


def offmem(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([OFFMEM, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def seeded(offmem_home) -> dict:
    with Store.open(load_settings().db_path) as store:
        old = add_observation(store, PROJECT, "Fixed failing check.py (AssertionError: 20.0) in cart/vat.py",
                              type="bugfix", facts=["vat(100, 'DE') returned 20.0"], session_id="s1",
                              created_at=days_ago(30))
        flood(store, PROJECT, 300, start_days_ago=20)
        fresh = add_observation(store, PROJECT, "Fixed the VAT check rounding for DE carts (AssertionError: 19.01)",
                                type="bugfix", files_modified=["cart/rounding.py"], session_id="s2")
    return {"old": old, "fresh": fresh}


@pytest.fixture
def worker(offmem_home, monkeypatch):
    monkeypatch.setenv("OFFMEM_SUMMARIZER_BACKEND", "rules")
    monkeypatch.setenv("OFFMEM_EMBEDDER_BACKEND", "none")
    monkeypatch.setenv("OFFMEM_WORKER_PORT", "0")
    assert offmem("worker", "start").returncode == 0
    yield load_settings()
    offmem("worker", "stop")


def test_context_json_is_the_session_start_block(seeded):
    out = offmem("context", "--project", PROJECT, "--json")
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    settings = load_settings()
    with Store.open(settings.db_path) as store:
        expected = build_session_context(store, PROJECT, settings)
    assert shown["text"] == expected["text"] and shown["observation_ids"] == expected["observation_ids"]
    assert shown["tokens"] == count_tokens(shown["text"]) <= shown["budget_tokens"] == 1500
    assert seeded["fresh"] in shown["observation_ids"] and seeded["old"] not in shown["observation_ids"]


def test_context_with_a_prompt_without_the_worker(seeded):
    out = offmem("context", "--project", PROJECT, "--prompt", PROMPT, "--json")
    part = json.loads(out.stdout)["prompt"]
    assert part["source"] == "local" and any("worker not running" in n for n in part["notes"])
    assert part["observation_ids"] == [seeded["old"]]  # the fresh fix was already in the SessionStart block
    assert part["tokens"] == count_tokens(part["text"]) <= part["budget_tokens"]
    human = offmem("context", "--project", PROJECT, "--prompt", PROMPT)
    assert human.returncode == 0 and part["text"] in human.stdout
    assert "tokens of 1500" in human.stderr and "prompt:" in human.stderr


def test_context_with_a_prompt_asks_the_worker(seeded, worker):
    out = offmem("context", "--project", PROJECT, "--prompt", PROMPT, "--json")
    part = json.loads(out.stdout)["prompt"]
    assert part["source"] == "worker" and part["observation_ids"] == [seeded["old"]]


def test_context_of_an_empty_store(offmem_home):
    out = offmem("context", "--project", PROJECT)
    assert out.returncode == 0 and "(no memory for this project yet)" in out.stdout


def test_worker_routes(seeded, worker):
    found = request_json(worker, "/api/memories/search", method="POST",
                         body={"project": PROJECT, "query": "VAT check DE", "types": "bugfix", "limit": 5})
    assert found["mode"] == "fts" and {h["id"] for h in found["hits"]} == {seeded["old"], seeded["fresh"]}
    answer = request_json(worker, "/api/prompt-context", method="POST",
                          body={"project": PROJECT, "prompt": PROMPT, "exclude": [seeded["old"]]})
    assert answer["observation_ids"] == [seeded["fresh"]]
    assert request_json(worker, "/api/memories/index", method="POST", body={}) == {"indexing": False}
    import urllib.error
    import urllib.request

    bad = urllib.request.Request(f"http://127.0.0.1:{json.loads((worker.home / 'worker.json').read_text())['port']}"
                                 "/api/memories/search", data=json.dumps({"project": PROJECT, "query": "x",
                                                                          "types": "bogus"}).encode(),
                                 headers={"Content-Type": "application/json",
                                          "X-Offmem-Token": (worker.home / "ui-token").read_text().strip()},
                                 method="POST")
    with pytest.raises(urllib.error.HTTPError) as failed:
        urllib.request.urlopen(bad, timeout=10)
    assert failed.value.code == 422 and "use one of bugfix" in failed.value.read().decode()
