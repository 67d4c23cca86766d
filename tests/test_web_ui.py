"""The web UI end to end: a real worker on a store filled from the real hook fixtures,
driven in headless Chromium (Debian's, through Playwright).

The tests share one worker (module scope) and run in file order; each computes
what it expects from the database as it finds it.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
import tomllib
from functools import partial

import pytest

from conftest import fixture_payloads, replay
from support.webui import LiveUI, launch_chromium, renamed_session
from support.polling import wait_for

pytestmark = pytest.mark.browser

SHOP = "/home/dev/shop-api"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    ui = LiveUI(tmp_path_factory.mktemp("webui"))
    try:
        ui.start()
        yield ui
    finally:
        ui.stop()


@pytest.fixture(scope="module")
def playwright():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright):
    chromium = launch_chromium(playwright)
    yield chromium
    chromium.close()


@pytest.fixture
def page(browser, live):
    context = browser.new_context(base_url=live.url)
    page = context.new_page()
    page.goto(live.sign_in_path())  # the one-time link `offmem ui` opens: sets the session cookie
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"script error: {exc}"))
    page.on("console", lambda msg: problems.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.on("dialog", lambda dialog: dialog.accept())
    yield page
    context.close()
    assert not problems, problems


def expect():
    from playwright.sync_api import expect as _expect

    return _expect


def feed_keys(page, selector: str = "#feed > li") -> list[str]:
    return page.locator(selector).evaluate_all("els => els.map(e => e.dataset.key)")


# ---------------------------------------------------------------------- live view


def test_live_view_lists_memories_newest_first_and_streams_new_ones(page, live, tmp_path):
    page.goto("/")
    expect()(page.locator("#stream-state")).to_have_text("live")
    expected = live.count("observations") + live.count("summaries")
    expect()(page.locator("#feed > li")).to_have_count(expected)
    stamps = page.locator("#feed time").evaluate_all("els => els.map(e => e.dateTime)")
    assert stamps == sorted(stamps, reverse=True)
    expect()(page.locator("#queue-depth")).to_have_text("0")
    page.screenshot(path=tmp_path / "live.png", full_page=True)

    # a new session captured by the real hook while the page is open appears on top, unasked
    results = replay(renamed_session(fixture_payloads()[18:], cwd="/home/dev/billing"), env=live.env)
    assert all(r.returncode == 0 for r in results)
    fresh = page.locator("#feed > li.fresh")
    expect()(fresh.first).to_be_visible(timeout=30_000)
    expect()(page.locator("#feed > li").first).to_have_class("item summary fresh", timeout=30_000)
    expect()(page.locator("#feed > li.fresh.observation")).to_contain_text("grep -rn RATES cart")
    assert "billing" in page.locator("#feed > li").first.inner_text()
    expect()(page.locator("#new-count")).to_contain_text("new item")
    page.screenshot(path=tmp_path / "live-after-stream.png", full_page=True)


# ---------------------------------------------------------------------- search & details


def search(page, query: str = "", project: str = "", type_: str = "", since: str = "", until: str = "") -> None:
    page.goto("/search")
    page.fill("#q", query)
    page.select_option("#search-project", project)
    page.select_option("#search-type", type_)
    page.fill("#search-since", since)
    page.fill("#search-until", until)
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/search?**")


def test_search_with_filters(page, live, tmp_path):
    search(page, "vat.py", project=SHOP)
    hits = page.locator("#results > li")
    assert hits.count() >= 1
    expect()(hits.first.locator("h3")).to_contain_text("vat.py")
    text = page.locator("#results").inner_text()
    assert "semantic #" in text and "keyword #" in text  # hybrid: both halves ranked something
    assert all("shop-api" in m for m in hits.locator(".meta").all_inner_texts())
    page.screenshot(path=tmp_path / "search.png", full_page=True)

    search(page, "vat.py", project=SHOP, type_="bugfix")
    badges = page.locator("#results .badge").all_inner_texts()
    assert badges and {b.lower() for b in badges} == {"bugfix"}

    today = dt.datetime.now(dt.timezone.utc).date()
    search(page, "vat.py", since=(today + dt.timedelta(days=1)).isoformat())
    expect()(page.locator("#no-results")).to_be_visible()
    search(page, "vat.py", since=today.isoformat(), until=today.isoformat())
    assert page.locator("#results > li").count() >= 1

    search(page, "", project="/home/dev/billing")  # no words: the newest memories in the filters
    metas = page.locator("#results .meta").all_inner_texts()
    assert metas and all("billing" in m for m in metas)


def test_observation_and_session_detail(page, live, tmp_path):
    oid = live.observation_id("by changing cart/vat.py")  # the edit->check unit of work
    search(page, "RATES country", project=SHOP)
    page.locator(f'#results > li[data-key="obs-{oid}"] h3 a').click()
    page.wait_for_url(f"**/observations/{oid}")
    expect()(page.locator("h1")).to_contain_text("by changing cart/vat.py")
    expect()(page.locator("#files-h")).to_be_visible()
    expect()(page.locator("section:has(#files-h) .files").first).to_contain_text("cart/vat.py")
    with live.db() as conn:
        event_ids = json.loads(conn.execute("SELECT event_ids FROM observations WHERE id = ?", (oid,)).fetchone()[0])
    events = page.locator("details.event")
    expect()(events).to_have_count(len(event_ids))
    for i in range(len(event_ids)):  # the unit's events: the read, the edit, the checks
        events.nth(i).locator("summary").click()
    expect()(events.first.locator("pre")).to_be_visible()
    expect()(page.locator("details.event pre").filter(has_text='"tool_name": "Edit"')).to_have_count(1)
    page.screenshot(path=tmp_path / "observation.png", full_page=True)

    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="Session").click()
    page.wait_for_url("**/sessions/*")
    expect()(page.locator(".prompts")).to_contain_text("Fix the VAT calculation for EU carts")
    assert "sk-live-123" not in page.content()  # the <private> part never reached the store
    expect()(page.locator("section:has(#memories-h) li")).to_have_count(
        live.count_where("observations", "session_id = ?", page.url.rsplit("/", 1)[1]))
    page.screenshot(path=tmp_path / "session.png", full_page=True)


def test_keyboard_reaches_search_from_the_skip_link(page, live):
    page.goto("/stats")
    page.keyboard.press("Tab")
    expect()(page.locator(".skip")).to_be_focused()
    page.keyboard.press("Tab")
    expect()(page.locator(".brand")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect()(page.get_by_role("link", name="Search")).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url("**/search")
    expect()(page.locator("#q")).to_be_focused()  # autofocus on an empty search page
    page.keyboard.type("vat.py")
    page.keyboard.press("Enter")
    page.wait_for_url("**/search?q=vat.py**")
    assert page.locator("#results > li").count() >= 1


# ---------------------------------------------------------------------- context, settings, stats


def test_context_preview_is_what_session_start_injects(page, live, tmp_path):
    cli = json.loads(live.cli("context", "--project", SHOP, "--json").stdout)
    assert cli["text"]
    page.goto("/context?project=" + SHOP)
    assert page.locator("#context-text").text_content() == cli["text"]
    budget = f"{cli['tokens']} tokens of a {cli['budget_tokens']}-token budget"
    expect()(page.locator("#context-tokens")).to_contain_text(budget)
    page.screenshot(path=tmp_path / "context.png", full_page=True)


def test_settings_are_saved_to_config_toml(page, live, tmp_path):
    config = live.home / "config.toml"
    page.goto("/settings")
    expect()(page.locator("#setting-summarizer-backend-env")).to_contain_text("OFFMEM_SUMMARIZER_BACKEND=rules")
    page.select_option("#setting-summarizer-backend", "claude")
    page.select_option("#setting-summarizer-model", "qwen2.5-coder-1.5b")
    page.fill("#setting-context-budget-tokens", "900")
    page.fill("#setting-capture-skip-tools", "TodoWrite\nWebFetch\n")
    page.uncheck("#setting-privacy-redact")
    page.fill("#setting-privacy-extra-patterns", "ACME-[0-9]{6}")
    page.screenshot(path=tmp_path / "settings.png", full_page=True)
    page.get_by_role("button", name="Save settings").click()
    expect()(page.locator("#toast")).to_contain_text("Saved")

    saved = tomllib.loads(config.read_text())
    assert saved["summarizer"] == {"backend": "claude", "model": "qwen2.5-coder-1.5b"}
    assert saved["context"] == {"budget_tokens": 900}
    assert saved["capture"] == {"skip_tools": ["TodoWrite", "WebFetch"]}
    assert saved["privacy"] == {"redact": False, "extra_patterns": ["ACME-[0-9]{6}"]}

    page.reload()
    expect()(page.locator("#setting-context-budget-tokens")).to_have_value("900")
    expect()(page.locator("#setting-privacy-redact")).not_to_be_checked()
    expect()(page.locator("#setting-capture-skip-tools")).to_have_value("TodoWrite\nWebFetch")

    before = config.read_text()
    page.fill("#setting-privacy-extra-patterns", "ACME-([0-9]")
    page.get_by_role("button", name="Save settings").click()
    expect()(page.locator("#toast")).to_contain_text("not a valid regular expression")
    assert config.read_text() == before

    page.goto("/context?project=" + SHOP)  # the preview follows the new budget
    expect()(page.locator("#context-tokens")).to_contain_text("of a 900-token budget")


def test_stats_page(page, live, tmp_path):
    page.goto("/stats")
    expect()(page.locator("#count-observations")).to_have_text(str(live.count("observations")))
    expect()(page.locator("#stat-queue")).to_have_text("0")
    row = page.locator("tr", has=page.locator("th", has_text="all-minilm-l6-v2"))
    expect()(row).to_contain_text("yes")
    expect()(page.locator("section:has(#models-h) dl")).to_contain_text(
        f"all-minilm-l6-v2: loaded, {live.count('observations')} vectors, 0 waiting")
    page.screenshot(path=tmp_path / "stats.png", full_page=True)


# ---------------------------------------------------------------------- forget


def test_forget_a_memory_removes_it_from_search(page, live, tmp_path):
    search(page, "grep RATES", project=SHOP)
    key = page.locator("#results > li").first.get_attribute("data-key")
    oid = int(key.removeprefix("obs-"))
    with live.db() as conn:
        event_ids = json.loads(conn.execute("SELECT event_ids FROM observations WHERE id = ?", (oid,)).fetchone()[0])
    indexed = live.status()["embedder"]["indexed"]

    page.goto(f"/observations/{oid}")
    page.get_by_role("button", name="Forget this memory").click()
    expect()(page.locator("#toast")).to_contain_text("Forgotten")
    page.wait_for_url(live.url + "/")

    search(page, "grep RATES", project=SHOP)
    assert page.locator(f'[data-key="obs-{oid}"]').count() == 0
    assert page.goto(f"/observations/{oid}").status == 404
    embedder = live.status()["embedder"]
    assert embedder["indexed"] == indexed - 1 and embedder["pending"] == 0  # gone from Chroma at once
    with live.db() as conn:
        assert conn.execute("SELECT count(*) FROM observations_fts WHERE rowid = ?", (oid,)).fetchone()[0] == 0
        left = conn.execute(f"SELECT count(*) FROM events WHERE id IN ({','.join('?' * len(event_ids))})",
                            event_ids).fetchone()[0]
    assert left == 0  # its raw events went with it


def test_forget_a_whole_session(page, live):
    payloads = renamed_session(fixture_payloads()[18:], cwd="/home/dev/forget-me")
    sid = payloads[0]["session_id"]
    assert all(r.returncode == 0 for r in replay(payloads, env=live.env))
    wait_for(lambda: live.count_where("summaries", "session_id = ?", sid) and live.settled(), what="the new session")

    page.goto(f"/sessions/{sid}")
    page.get_by_role("button", name="Forget this session").click()
    page.wait_for_url(live.url + "/")
    for table, column in (("observations", "session_id"), ("summaries", "session_id"), ("prompts", "session_id"),
                          ("events", "session_id"), ("sessions", "id")):
        assert live.count_where(table, f"{column} = ?", sid) == 0, table
    assert live.status()["embedder"]["indexed"] == live.count("observations")
    search(page, "", project="")
    assert "forget-me" not in page.locator("#search-project").inner_text()


# ---------------------------------------------------------------------- security


def test_foreign_host_origin_and_missing_token_are_refused(live):
    port = live.port
    code, text = live.request("GET", "/", headers={"Host": f"evil.example:{port}"})
    assert code == 400 and live.token not in text
    assert live.request("GET", "/api/status", headers={"Host": f"evil.example:{port}"})[0] == 400
    assert live.request("GET", "/", headers={"Host": f"localhost:{port}", "X-Offmem-Token": live.token})[0] == 200
    assert live.request("GET", "/", headers={"Host": f"localhost:{port}"})[0] == 403  # memory needs the token

    change = {"context.budget_tokens": 777}
    token = {"X-Offmem-Token": live.token}
    assert live.request("POST", "/api/ui/settings", body=change,
                        headers={"Origin": "http://evil.example", **token})[0] == 403
    assert live.request("POST", "/api/ui/settings", body=change, headers={"Origin": "null", **token})[0] == 403
    assert live.request("POST", "/api/ui/settings", body=change)[0] == 403
    assert live.request("POST", "/api/ui/settings", body=change, headers={"X-Offmem-Token": "guess"})[0] == 403
    oid = live.observation_id("cart/vat.py")
    assert live.request("DELETE", f"/api/ui/observations/{oid}")[0] == 403
    assert live.count_where("observations", "id = ?", oid) == 1
    assert "777" not in (live.home / "config.toml").read_text()
    code, text = live.request("POST", "/api/ui/settings", body=change,
                              headers={"Origin": f"http://127.0.0.1:{port}", **token})
    assert code == 200, text
    assert tomllib.loads((live.home / "config.toml").read_text())["context"]["budget_tokens"] == 777


EVIL_PAGE = """<!doctype html><title>innocent</title>
<p id="out">working</p>
<form id="f" method="post" action="{target}/api/ui/settings" enctype="text/plain" target="sink">
<input name='{{"context.budget_tokens": 4321, "x": "' value='"}}'></form>
<iframe name="sink"></iframe>
<script>
const out = document.getElementById("out");
const body = JSON.stringify({{"context.budget_tokens": 4321}});
Promise.allSettled([
  fetch("{target}/api/ui/settings",
        {{method: "POST", mode: "no-cors", headers: {{"Content-Type": "text/plain"}}, body}}),
  fetch("{target}/api/ui/settings",
        {{method: "POST", headers: {{"Content-Type": "application/json"}}, body}}),
  fetch("{target}/").then(r => r.text()),
]).then(r => {{
  out.dataset.read = r[2].status === "fulfilled" ? r[2].value.slice(0, 200) : "blocked";
  out.textContent = "done";
}});
document.getElementById("f").submit();
</script>"""


def test_a_page_from_another_origin_cannot_change_or_read_anything(browser, live, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "evil.html").write_text(EVIL_PAGE.format(target=live.url))
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    before = (live.home / "config.toml").read_text() if (live.home / "config.toml").exists() else ""
    context = browser.new_context()
    try:
        page = context.new_page()
        statuses: list[tuple[str, int]] = []
        page.on("response", lambda r: statuses.append((r.request.method, r.status))
                if r.url.startswith(live.url) else None)
        page.goto(f"http://127.0.0.1:{server.server_port}/evil.html")
        expect()(page.locator("#out")).to_have_text("done", timeout=15_000)
        wait_for(lambda: sum(1 for m, _ in statuses if m == "POST") >= 2, timeout=15, what="the cross-site posts")
        assert page.locator("#out").get_attribute("data-read") == "blocked"
    finally:
        context.close()
        server.shutdown()
    posts = [code for method, code in statuses if method == "POST"]
    assert posts and set(posts) == {403}, statuses
    after = (live.home / "config.toml").read_text() if (live.home / "config.toml").exists() else ""
    assert after == before and "4321" not in after


def test_dns_rebinding_is_refused(playwright, live):
    """A site whose name resolves to 127.0.0.1 gets 400, never the UI (or its token)."""
    chromium = launch_chromium(playwright, "--host-resolver-rules=MAP rebind.example 127.0.0.1",
                               "--disable-features=HttpsUpgrades")
    try:
        page = chromium.new_page()
        response = page.goto(f"http://rebind.example:{live.port}/")
        assert response.status == 400
        assert live.token not in page.content()
        status = page.evaluate("""() => fetch("/api/ui/settings", {method: "POST",
            headers: {"Content-Type": "application/json"},
            body: '{"context.budget_tokens": 1}'}).then(r => r.status)""")
        assert status == 400
    finally:
        chromium.close()


def test_offmem_ui_prints_the_address_of_the_running_worker(live):
    shown = json.loads(live.cli("ui", "--no-open", "--json").stdout)
    assert shown["url"] == live.url + "/" and shown["opened"] is False
    assert shown["pid"] == live.status()["pid"]
    assert live.request("GET", "/")[0] == 403  # the address alone shows nothing
    link = shown["login_url"].removeprefix(live.url)
    assert link.startswith("/login?code=") and live.request("GET", link)[0] == 303  # the sign-in link works once
    assert live.request("GET", link)[0] == 403
