"""The UI's pages on the worker's real app (in process): empty store, bad input, missing things."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from conftest import fixture_payloads, replay
from offmem.config import load_settings
from offmem.worker.pipeline import Pipeline
from offmem.store.db import Store
from offmem.worker.http.app import create_app
from offmem.worker.runner import Worker


@pytest.fixture
def client(offmem_home):
    worker = Worker(load_settings(), serve_http=False)
    worker.stop_event.set()  # not running: the live stream ends at once
    app = create_app(worker)
    with TestClient(app, base_url="http://127.0.0.1:37810", headers={"X-Offmem-Token": app.state.token}) as c:
        yield c


def test_an_empty_store_says_so_on_every_page(client):
    assert '<p id="feed-empty" class="empty">No memories yet.' in client.get("/").text  # shown, not hidden
    assert "No projects yet" in client.get("/context").text
    assert "No projects yet." in client.get("/stats").text
    assert client.get("/search").status_code == 200


def test_missing_memory_and_session_are_404_pages(client):
    response = client.get("/observations/123")
    assert response.status_code == 404 and "There is no memory #123" in response.text
    response = client.get("/sessions/no-such-session")
    assert response.status_code == 404 and "There is no session no-such-session" in response.text


def test_a_date_that_cannot_be_read_is_explained(client):
    response = client.get("/search", params={"q": "vat", "since": "last tuesday"})
    assert response.status_code == 400
    assert "cannot read the time" in response.text and 'role="alert"' in response.text


def test_markup_from_memories_is_escaped(client, offmem_home):
    assert all(r.returncode == 0 for r in replay(fixture_payloads()))
    with Store.open(load_settings().db_path) as store:
        Pipeline(store).run_once(force=True)
        store.conn.execute("UPDATE observations SET title = '<script>alert(1)</script>' WHERE id = 1")
    for path in ("/", "/observations/1", "/search?q=script"):
        html = client.get(path).text
        assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html, path


def test_the_live_stream_starts_with_the_queue_depth(client):
    with client.stream("GET", "/api/ui/stream") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        body = "".join(response.iter_text())
    assert "retry: 3000" in body and "event: status" in body and '"queue_depth": 0' in body
