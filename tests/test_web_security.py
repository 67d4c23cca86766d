"""The UI's guards on the worker's real FastAPI app (in process, no browser): Host and
Origin checks on every route, the install token on every action, settings validation,
and the worker's refusal to bind anything but loopback."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import tomllib

import pytest
from fastapi.testclient import TestClient

from offmem.web.security import load_or_create_token, token_matches
from offmem.worker.app import create_app
from offmem.worker.runner import Worker, check_loopback

PORT = 37810
BASE = f"http://127.0.0.1:{PORT}"


@pytest.fixture
def app(offmem_home):
    worker = Worker(serve_http=False)
    worker.stop_event.set()  # not running: a live stream ends at once instead of streaming forever
    return create_app(worker)


@pytest.fixture
def client(app):
    with TestClient(app, base_url=BASE) as c:
        yield c


@pytest.fixture
def token(app) -> str:
    return app.state.web_ui.token


def test_token_is_created_once_private_and_random(offmem_home, tmp_path):
    first = load_or_create_token(offmem_home)
    assert len(first) >= 40
    assert load_or_create_token(offmem_home) == first
    path = offmem_home / "ui-token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_token(tmp_path / "other") != first
    assert token_matches(first, first) and not token_matches(first[:-1], first) and not token_matches(None, first)


@pytest.mark.parametrize("host", [f"127.0.0.1:{PORT}", f"localhost:{PORT}", f"LOCALHOST:{PORT}"])
def test_own_host_names_are_served(client, host):
    assert client.get("/", headers={"host": host}).status_code == 200


@pytest.mark.parametrize("host", ["evil.example", f"evil.example:{PORT}", "127.0.0.1:9", f"0.0.0.0:{PORT}",
                                  f"127.0.0.1.nip.io:{PORT}", ""])
@pytest.mark.parametrize("path", ["/", "/api/status", "/static/app.js", "/api/ui/stream"])
def test_foreign_host_is_refused_everywhere(client, host, path):
    response = client.get(path, headers={"host": host})
    assert response.status_code == 400
    assert "offmem-token" not in response.text


@pytest.mark.parametrize("origin", ["http://evil.example", "null", f"https://127.0.0.1:{PORT}",
                                    "http://127.0.0.1:9", f"http://localhost.evil.example:{PORT}"])
def test_foreign_origin_is_refused_even_with_the_token(client, token, origin):
    response = client.post("/api/ui/settings", json={"context.budget_tokens": 900},
                           headers={"origin": origin, "x-offmem-token": token})
    assert response.status_code == 403
    assert client.get("/api/status", headers={"origin": origin}).status_code == 403


def test_actions_need_the_token(client, token, offmem_home):
    change = {"context.budget_tokens": 900}
    assert client.post("/api/ui/settings", json=change).status_code == 403
    assert client.post("/api/ui/settings", json=change, headers={"x-offmem-token": token + "x"}).status_code == 403
    assert client.delete("/api/ui/observations/1").status_code == 403
    assert client.delete("/api/ui/sessions/abc").status_code == 403
    assert not (offmem_home / "config.toml").exists()
    same_origin = {"origin": BASE, "x-offmem-token": token}
    assert client.post("/api/ui/settings", json=change, headers=same_origin).status_code == 200
    assert tomllib.loads((offmem_home / "config.toml").read_text())["context"]["budget_tokens"] == 900
    assert client.delete("/api/ui/observations/1", headers=same_origin).status_code == 404  # passes the guard


def test_pages_carry_the_token_and_a_strict_policy(client, token):
    response = client.get("/")
    assert f'<meta name="offmem-token" content="{token}">' in response.text
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
    assert response.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("path", ["/", "/search?q=x", "/context", "/settings", "/stats"])
def test_every_link_and_asset_is_local(client, path):
    html = client.get(path).text
    refs = re.findall(r'(?:src|href|action)="([^"]*)"', html)
    assert "/static/app.js" in refs and "/static/app.css" in refs
    assert all(ref.startswith(("/", "#", "?")) for ref in refs), refs


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"privacy.extra_patterns": ["ok", "(unclosed"]}, "not a valid regular expression"),
        ({"context.budget_tokens": 5}, "outside"),
        ({"context.budget_tokens": "lots"}, "not a whole number"),
        ({"summarizer.backend": "gpt-9"}, "is not one of"),
        ({"summarizer.model": "no-such-model"}, "is not one of"),
        ({"privacy.redact": "yes"}, "expected true or false"),
        ({"worker.host": "0.0.0.0"}, "cannot be changed here"),
        ({}, "send a JSON object"),
    ],
)
def test_invalid_settings_are_refused_and_nothing_is_written(client, token, offmem_home, body, message):
    response = client.post("/api/ui/settings", json=body, headers={"x-offmem-token": token})
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert not (offmem_home / "config.toml").exists()


def test_settings_round_trip_and_environment_overrides_are_flagged(client, token, offmem_home, monkeypatch):
    body = {"summarizer.backend": "rules", "capture.skip_tools": ["TodoWrite"], "privacy.redact": False,
            "privacy.extra_patterns": ["ACME-\\d{6}", "a,b"]}
    saved = client.post("/api/ui/settings", json=body, headers={"x-offmem-token": token}).json()
    assert {k: saved["saved"][k] for k in body} == body
    on_disk = tomllib.loads((offmem_home / "config.toml").read_text())
    assert on_disk["privacy"] == {"redact": False, "extra_patterns": ["ACME-\\d{6}", "a,b"]}
    monkeypatch.setenv("OFFMEM_CONTEXT_BUDGET_TOKENS", "700")
    page = client.get("/settings").text
    assert "OFFMEM_CONTEXT_BUDGET_TOKENS=700" in page
    assert 'value="1500"' in page  # the form shows the file's value, not the override


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "::1", "example.com", ""])
def test_worker_refuses_non_loopback_hosts(host):
    with pytest.raises(Exception, match="only serves on a loopback address"):
        check_loopback(host)


def test_worker_process_exits_with_a_clear_message_on_a_public_host(offmem_home):
    env = {**os.environ, "OFFMEM_WORKER_HOST": "0.0.0.0", "OFFMEM_SUMMARIZER_BACKEND": "rules",
           "OFFMEM_EMBEDDER_BACKEND": "none", "OFFMEM_WORKER_PORT": "0"}
    done = subprocess.run([sys.executable, "-m", "offmem.worker", "run"], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode != 0
    assert "offmem config set worker.host 127.0.0.1" in done.stderr
