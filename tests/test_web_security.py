"""The worker's guards on its real FastAPI app (in process, no browser): Host and Origin
checks and the install's token (or the signed-in browser's cookie) on every route the
app has, the token header on every action, the one-time sign-in link, settings
validation, and the worker's refusal to bind anything but loopback. A real worker
process shows that a connection of another local user is refused."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import tomllib

import pytest
from fastapi.testclient import TestClient

from offmem.config import load_settings
from offmem.worker.http.app import create_app
from offmem.worker.http.security import load_or_create_token, token_matches
from offmem.worker.runner import Worker, check_loopback

PORT = 37810
BASE = f"http://127.0.0.1:{PORT}"


@pytest.fixture
def app(offmem_home):
    worker = Worker(load_settings(), serve_http=False)
    worker.stop_event.set()  # not running: a live stream ends at once instead of streaming forever
    return create_app(worker)


@pytest.fixture
def client(app):
    """No credentials: what another local user, or a page of another site, has."""
    with TestClient(app, base_url=BASE) as c:
        yield c


@pytest.fixture
def token(app) -> str:
    return app.state.web_ui.token


@pytest.fixture
def authed(app, token):
    """offmem's own clients: the token header on every request."""
    with TestClient(app, base_url=BASE, headers={"x-offmem-token": token}) as c:
        yield c


def test_token_is_created_once_private_and_random(offmem_home, tmp_path):
    first = load_or_create_token(offmem_home)
    assert len(first) >= 40
    assert load_or_create_token(offmem_home) == first
    path = offmem_home / "ui-token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_token(tmp_path / "other") != first
    assert token_matches(first, first) and not token_matches(first[:-1], first) and not token_matches(None, first)


@pytest.mark.parametrize("host", [f"127.0.0.1:{PORT}", f"localhost:{PORT}", f"LOCALHOST:{PORT}"])
def test_own_host_names_are_served(authed, host):
    assert authed.get("/", headers={"host": host}).status_code == 200


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


def test_pages_carry_the_token_and_a_strict_policy(authed, token):
    response = authed.get("/")
    assert f'<meta name="offmem-token" content="{token}">' in response.text
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
    assert response.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("path", ["/", "/search?q=x", "/context", "/settings", "/stats"])
def test_every_link_and_asset_is_local(authed, path):
    html = authed.get(path).text
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
    page = client.get("/settings", headers={"x-offmem-token": token}).text
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


# ---------------------------------------------------------------------- issue 12 items 5 and 17: every route


# The only paths served without the token; nothing there returns or changes memory.
PUBLIC = {"/api/health", "/login", "/static"}


def concrete(path: str) -> str:
    """``/sessions/{session_id:path}`` → ``/sessions/1``: a request that reaches the route."""
    return re.sub(r"\{[^}]+\}", "1", path)


def every_route(app) -> list[tuple[str, str]]:
    """(method, path) of every route the app serves, whichever module added it (routers included)."""
    from starlette.routing import Mount

    found = []

    def walk(routes, prefix: str) -> None:
        for route in routes:
            included = getattr(route, "original_router", None)  # FastAPI's include_router
            if included is not None:
                walk(included.routes, prefix + (getattr(getattr(route, "include_context", None), "prefix", "") or ""))
            elif isinstance(route, Mount):
                found.append(("GET", prefix + route.path + "/app.js"))
            else:
                for method in sorted(getattr(route, "methods", None) or {"GET"}):
                    if method != "HEAD":
                        found.append((method, prefix + route.path))

    walk(app.routes, "")
    return found


def test_every_route_but_the_public_ones_needs_the_token(app, client, authed, token, offmem_home):
    """Enumerates the app's routes: a route added without protection fails here."""
    routes = every_route(app)
    paths = {path for _, path in routes}
    assert {"/", "/search", "/api/search", "/api/status", "/api/ui/stream", "/api/prompt-context",
            "/api/memories/search", "/observations/{observation_id}"} <= paths  # the modules all registered
    public = {path for path in paths if path in PUBLIC or path.startswith("/static/")}
    assert public == {"/api/health", "/login", "/static/app.js"}
    for method, path in routes:
        url = concrete(path)
        if path in public:
            continue
        response = client.request(method, url, json={})
        assert response.status_code == 403, (method, path, response.status_code)
        assert token not in response.text and "offmem-token" not in response.text
        response = client.request(method, url, json={}, headers={"x-offmem-token": token[:-1] + "x"})
        assert response.status_code == 403, (method, path, "a wrong token")
        if method == "GET" and path != "/api/ui/stream":  # with the token the route answers
            assert authed.get(url).status_code in (200, 404), (method, path)
    assert not (offmem_home / "config.toml").exists()


def test_memory_is_refused_without_the_token(client, authed, offmem_home):
    from conftest import fixture_payloads, replay
    from offmem.worker.pipeline import Pipeline
    from offmem.store.db import Store

    assert all(r.returncode == 0 for r in replay(fixture_payloads()))
    with Store.open(offmem_home / "offmem.db") as store:
        Pipeline(store).run_once(force=True)
        title = store.conn.execute("SELECT title FROM observations ORDER BY id LIMIT 1").fetchone()[0]
    word = "vat"
    reads = [("GET", "/", None), ("GET", f"/search?q={word}", None), ("GET", "/observations/1", None),
             ("GET", f"/api/search?q={word}", None),
             ("POST", "/api/memories/search", {"project": "/home/dev/shop-api", "query": word}),
             ("POST", "/api/prompt-context", {"project": "/home/dev/shop-api", "prompt": "fix the vat rates for DE"})]
    shown = 0
    for method, url, body in reads:
        refused = client.request(method, url, json=body)
        assert refused.status_code == 403 and title not in refused.text, url
        answered = authed.request(method, url, json=body)
        assert answered.status_code == 200, url
        shown += title in answered.text or "compute_vat" in answered.text
    assert shown >= 3  # the token opens real memory: the refusals above are not empty answers


def test_a_route_added_after_the_app_was_built_is_guarded(app, client, token):
    @app.get("/api/brand-new")
    def brand_new() -> dict:
        return {"secret": "memory"}

    assert client.get("/api/brand-new").status_code == 403
    assert client.get("/api/brand-new", headers={"host": "evil.example", "x-offmem-token": token}).status_code == 400
    assert client.get("/api/brand-new", headers={"origin": "http://evil.example", "x-offmem-token": token}).status_code == 403
    answered = client.get("/api/brand-new", headers={"x-offmem-token": token})
    assert answered.status_code == 200 and answered.headers["x-frame-options"] == "DENY"


def test_the_guards_stand_without_the_web_ui(offmem_home, monkeypatch):
    """The Host/Origin guard and the token are the app factory's, not the UI module's."""
    monkeypatch.setitem(sys.modules, "offmem.web.routes", None)  # as if the UI were not installed
    worker = Worker(load_settings(), serve_http=False)
    app = create_app(worker)
    assert not hasattr(app.state, "web_ui")
    token = load_or_create_token(offmem_home)
    with TestClient(app, base_url=BASE) as c:
        assert c.get("/api/status", headers={"host": "evil.example", "x-offmem-token": token}).status_code == 400
        assert c.post("/api/memories/search", json={"project": "p", "query": "q"},
                      headers={"origin": "http://evil.example", "x-offmem-token": token}).status_code == 403
        assert c.get("/api/search?q=x").status_code == 403
        assert c.get("/api/status").status_code == 403
        assert c.get("/api/status", headers={"x-offmem-token": token}).status_code == 200


# ---------------------------------------------------------------------- the browser's one-time sign-in


def sign_in(client, token) -> str:
    issued = client.post("/api/ui/login-code", headers={"x-offmem-token": token})
    assert issued.status_code == 200, issued.text
    return issued.json()["path"]


def test_the_browser_signs_in_with_a_one_time_link(app, client, token):
    assert client.post("/api/ui/login-code").status_code == 403  # only a holder of the token gets a link
    link = sign_in(client, token)
    answer = client.get(link, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"offmem_ui_{PORT}=") and token not in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert client.get("/").status_code == 200  # the cookie now opens the pages and the stream
    assert client.get("/api/ui/stream").status_code == 200
    assert client.get(link, follow_redirects=False).status_code == 403  # used once
    change = {"context.budget_tokens": 900}
    assert client.post("/api/ui/settings", json=change).status_code == 403  # actions need the header itself
    assert client.post("/api/ui/settings", json=change, headers={"x-offmem-token": token}).status_code == 200
    client.cookies.clear()
    assert client.get("/").status_code == 403


@pytest.mark.parametrize(("site", "served"), [("same-origin", True), ("none", True), (None, True),
                                              ("same-site", False), ("cross-site", False)])
def test_the_cookie_only_counts_from_the_ui_itself(client, token, site, served):
    """Cookies go to every port of 127.0.0.1: a page served on another port is same-site, not same-origin."""
    client.get(sign_in(client, token), follow_redirects=False)
    headers = {"sec-fetch-site": site} if site else {}
    assert (client.get("/api/search?q=x", headers=headers).status_code == 200) is served


def test_sign_in_codes_expire_and_are_random():
    from offmem.worker.http.security import LoginCodes

    codes = LoginCodes(ttl_s=0.0)
    code = codes.issue()
    assert not codes.redeem(code) and not codes.redeem("") and not codes.redeem("guess")
    live = LoginCodes()
    first, second = live.issue(), live.issue()
    assert first != second and len(first) >= 32
    assert live.redeem(second) and not live.redeem(second) and live.redeem(first)


def test_a_signed_in_page_without_a_cookie_explains_how_to_sign_in(client):
    response = client.get("/")
    assert response.status_code == 403 and "offmem ui" in response.text


# ---------------------------------------------------------------------- a real worker, a real other user

PEEK = """import http.client, sys
port, path, cookie = int(sys.argv[1]), sys.argv[2], sys.argv[3]
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
reply = conn.getresponse()
body = reply.read().decode("utf-8", "replace")
print(reply.status)
print((reply.getheader("set-cookie") or "").split(";")[0])
print(body[:2000].replace(chr(10), " "))
"""
NOBODY = 65534


def peek(port: int, path: str, cookie: str = "", uid: int | None = None) -> tuple[int, str, str]:
    """GET ``path`` from a separate process, as ``uid`` when given (root can become anyone)."""
    def become() -> None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)

    done = subprocess.run(["/usr/bin/python3", "-I", "-S", "-c", PEEK, str(port), path, cookie],
                          capture_output=True, text=True, timeout=30, cwd="/", env={"PATH": "/usr/bin:/bin"},
                          preexec_fn=become if uid is not None else None)
    assert done.returncode == 0, done.stderr
    status, set_cookie, body = (done.stdout.split("\n", 2) + ["", ""])[:3]
    return int(status), set_cookie, body


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/proc/net/tcp") or not os.path.exists("/usr/bin/python3"),
                    reason="needs Linux and root (to connect as another local user)")
def test_another_local_user_cannot_sign_in_or_use_a_stolen_cookie(offmem_home):
    from support.durability import offmem

    env = {"OFFMEM_SUMMARIZER_BACKEND": "rules", "OFFMEM_EMBEDDER_BACKEND": "none", "OFFMEM_WORKER_PORT": "0"}
    started = json.loads(offmem("worker", "start", "--json", env=env).stdout)
    try:
        port = started["port"]
        assert started.get("uptime_s") is not None  # the CLI read the live status: it sent the token
        shown = json.loads(offmem("ui", "--no-open", "--json", env=env).stdout)
        assert shown["url"] == f"http://127.0.0.1:{port}/"
        link = shown["login_url"].removeprefix(shown["url"].rstrip("/"))
        assert link.startswith("/login?code=")

        assert peek(port, "/api/status", uid=NOBODY)[0] == 403  # no token: nothing for anyone
        status, cookie, body = peek(port, link, uid=NOBODY)  # e.g. read from the browser's command line
        assert status == 403 and not cookie and "another user" in body
        status, cookie, _ = peek(port, link)  # the user's own browser: the code was not used up
        assert status == 303 and cookie.startswith(f"offmem_ui_{port}=")
        assert peek(port, "/", cookie)[0] == 200
        status, _, body = peek(port, "/", cookie, uid=NOBODY)  # a cookie sent to another user's server on another port
        assert status == 403 and "another user" in body
        assert peek(port, "/api/health", uid=NOBODY)[0] == 200  # public, and says nothing about memory
    finally:
        offmem("worker", "stop", env=env, check=False)
