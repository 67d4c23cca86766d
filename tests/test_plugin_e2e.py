"""offmem's Claude Code plugin in the real CLI, once per pinned Claude Code version.

A throwaway HOME, no network: the plugin is validated, its marketplace is added from a local
copy of the repository's plugin files (as on a machine without network), and the plugin is
installed from it; ``offmem install`` then records this offmem for the plugin's launcher. A
scripted session is captured through the plugin's hooks and the next session's first request
carries its memory; after ``claude plugin uninstall`` nothing is captured and the memory stays.
Plugin and settings-file hooks set up together still capture each event once.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.claude_cli import claude_bin, claude_env, claude_version, run_claude  # noqa: F401 - fixtures
from tests.support.fake_anthropic import FakeAnthropic, ToolCall

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parent.parent
OFFMEM = Path(sys.executable).parent / "offmem"
RULES = '[summarizer]\nbackend = "rules"\n\n[embedder]\nbackend = "none"\n'
VAT_PY = 'RATES = {"DE": 0.19, "FR": 0.20}\n\n\ndef vat(amount, country):\n    rate = 0.2\n    return round(amount * rate, 2)\n'
CHECK_PY = 'from cart.vat import vat\n\nassert vat(100, "DE") == 19.0, vat(100, "DE")\n'
SUMMARY_TIMEOUT_S = 90


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def world(tmp_path: Path, fake: FakeAnthropic) -> Iterator[dict]:
    """HOME, offmem data dir, a git project with a VAT bug, and a local copy of the marketplace."""
    home, data, project, market = (tmp_path / "home", tmp_path / "offmem-data", tmp_path / "shop-api",
                                   tmp_path / "offmem-offline")
    for folder in (home, data, project / "cart", market / "scripts"):
        folder.mkdir(parents=True)
    (data / "config.toml").write_text(RULES)
    (project / "cart" / "__init__.py").write_text("")
    (project / "cart" / "vat.py").write_text(VAT_PY)
    (project / "check.py").write_text(CHECK_PY)
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    commit_all(project)
    shutil.copytree(REPO / ".claude-plugin", market / ".claude-plugin")
    shutil.copytree(REPO / "plugins", market / "plugins")
    shutil.copy(REPO / "scripts" / "setup.sh", market / "scripts" / "setup.sh")
    w = {"home": home, "data": data, "project": project, "market": market, "fake": fake}
    yield w
    offmem(w, "worker", "stop")
    data.rename(data.with_name("offmem-data.stopped"))  # ends a worker a late hook started


def commit_all(project: Path) -> None:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "add", "-A"], cwd=project, check=True)
    subprocess.run([*git, "commit", "-qm", "wip"], cwd=project, check=True)


def env(w: dict) -> dict:
    return claude_env(w["home"], w["fake"].base_url, w["data"])


def cli(w: dict, binary: Path, *args: str) -> subprocess.CompletedProcess:
    """``claude <args>`` (plugin management) in the throwaway HOME."""
    done = subprocess.run([str(binary), *args], cwd=w["project"], env=env(w), capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"claude {' '.join(args)}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def offmem(w: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(OFFMEM), *args], cwd=w["project"], env=env(w), capture_output=True, text=True,
                          timeout=120)


def session(w: dict, binary: Path, prompt: str, script: list) -> tuple[str, str]:
    """One ``claude -p`` session; its id and its first request to the model (as sent)."""
    run = w["fake"].set_script(script)
    done = run_claude(prompt, cwd=w["project"], home=w["home"], base_url=w["fake"].base_url, offmem_home=w["data"],
                      timeout=180, binary=binary)
    assert done.returncode == 0 and done.result["is_error"] is False, done.describe()
    requests = w["fake"].agent_requests(run=run)
    assert requests, done.describe()
    return done.result["session_id"], requests[0].dumps()


def debugging(project: Path) -> list:
    vat = str(project / "cart" / "vat.py")
    return [
        [ToolCall("Read", {"file_path": vat})],
        [ToolCall("Bash", {"command": "python3 check.py", "description": "Run the VAT check"})],
        [ToolCall("Edit", {"file_path": vat, "old_string": "    rate = 0.2\n",
                           "new_string": "    rate = RATES[country]\n"})],
        "Fixed vat(): it looks up RATES[country] now, so check.py passes.",
    ]


def query(w: dict, sql: str, *params) -> list[tuple]:
    db = w["data"] / "offmem.db"
    if not db.exists():
        return []
    conn = sqlite3.connect(db, timeout=10)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def wait_for_summary(w: dict, session_id: str) -> None:
    deadline = time.monotonic() + SUMMARY_TIMEOUT_S
    while time.monotonic() < deadline:
        if query(w, "SELECT 1 FROM summaries WHERE session_id = ?", session_id):
            return
        time.sleep(0.5)
    log = w["data"] / "offmem.log"
    raise AssertionError(f"no summary of {session_id}: {log.read_text()[-2000:] if log.exists() else 'no log'}")


def network_attempts() -> list[str]:
    """What the suite's network guard refused so far (tests/conftest.py; empty when it is off)."""
    log = os.environ.get("NETGUARD_LOG")
    return Path(log).read_text().splitlines() if log and Path(log).exists() else []


def install_plugin(w: dict, binary: Path) -> None:
    """Add the marketplace and install the plugin; neither tries to reach the network."""
    before = len(network_attempts())
    cli(w, binary, "plugin", "marketplace", "add", str(w["market"]))
    cli(w, binary, "plugin", "install", "offmem@offmem")
    listed = cli(w, binary, "plugin", "list").stdout
    assert "offmem@offmem" in listed, listed
    assert network_attempts()[before:] == []


def test_the_plugin_and_its_marketplace_validate(claude_bin, world):
    for folder in (world["market"], world["market"] / "plugins" / "offmem"):
        done = cli(world, claude_bin, "plugin", "validate", str(folder), "--strict")
        assert "Validation passed" in done.stdout, done.stdout


def test_installed_from_a_local_marketplace_the_plugin_captures_and_remembers(claude_bin, world):
    w = world
    install_plugin(w, claude_bin)
    (manifest,) = (w["home"] / ".claude" / "plugins" / "cache").rglob("plugin.json")
    copied = sorted(str(p.relative_to(manifest.parents[1])) for p in manifest.parents[1].rglob("*") if p.is_file())
    shipped = sorted(str(p.relative_to(REPO / "plugins" / "offmem")) for p in (REPO / "plugins" / "offmem").rglob("*")
                     if p.is_file())
    assert copied == shipped, copied  # the plugin's own small folder, nothing of the repository around it

    # Before offmem is recorded for it (and with no offmem on PATH), the plugin says what to run.
    bare = {"PATH": "/usr/bin:/bin"}
    w["fake"].set_script(["Hello."])
    alone = run_claude("hi", cwd=w["project"], home=w["home"], base_url=w["fake"].base_url, offmem_home=w["data"],
                       timeout=180, binary=claude_bin, extra_env=bare)
    assert alone.returncode == 0, alone.describe()
    assert f"install it with: bash {w['market']}/scripts/setup.sh" in w["fake"].agent_requests()[-1].dumps()
    assert query(w, "SELECT count(*) FROM events") in ([], [(0,)])

    installed = offmem(w, "install", "--json")
    assert installed.returncode == 0, installed.stderr
    result = json.loads(installed.stdout)
    assert result["events"] == [] and result["plugin"][0]["plugin"] == "offmem@offmem"
    assert "hooks" not in json.loads((w["home"] / ".claude" / "settings.json").read_text())

    first, _ = session(w, claude_bin, "Fix the VAT calculation for EU carts", debugging(w["project"]))
    wait_for_summary(w, first)
    kinds = query(w, "SELECT kind, tool_name FROM events WHERE session_id = ? ORDER BY id", first)
    assert [k for k in kinds if k[0] == "UserPromptSubmit"] == [("UserPromptSubmit", None)], kinds
    assert {("PostToolUse", "Read"), ("PostToolUseFailure", "Bash"), ("PostToolUse", "Edit")} <= set(kinds), kinds

    commit_all(w["project"])  # a clean tree: the CLI's git status cannot name cart/vat.py
    second, sent = session(w, claude_bin, "Where are the VAT rates defined?", ["In cart/vat.py."])
    assert second != first
    assert "SessionStart hook additional context: offmem memory" in sent, sent[:3000]
    assert "vat.py" in sent and "AssertionError" in sent

    # Uninstalled: nothing more is captured, and the memory is still there for offmem itself.
    stored = query(w, "SELECT count(*) FROM events")[0][0]
    observations = query(w, "SELECT count(*) FROM observations")[0][0]
    cli(w, claude_bin, "plugin", "uninstall", "offmem@offmem")
    third, sent = session(w, claude_bin, "Where are the VAT rates defined?", ["In cart/vat.py."])
    assert "offmem memory" not in sent
    time.sleep(1)
    assert query(w, "SELECT count(*) FROM events WHERE session_id = ?", third) == [(0,)]
    assert query(w, "SELECT count(*) FROM events")[0][0] == stored
    assert query(w, "SELECT count(*) FROM observations")[0][0] == observations > 0
    context = offmem(w, "context", "--project", str(w["project"]))
    assert "vat.py" in context.stdout, context.stderr


def test_plugin_and_settings_hooks_set_up_together_capture_each_event_once(claude_bin, world):
    w = world
    assert offmem(w, "install").returncode == 0  # the settings-file route first ...
    install_plugin(w, claude_bin)  # ... then the plugin: its hooks must step aside
    first, _ = session(w, claude_bin, "Fix the VAT calculation for EU carts", debugging(w["project"]))
    wait_for_summary(w, first)
    kinds = [k for (k,) in query(w, "SELECT kind FROM events WHERE session_id = ?", first)]
    for event in ("SessionStart", "UserPromptSubmit", "Stop"):
        assert kinds.count(event) == 1, (event, kinds)
    second, sent = session(w, claude_bin, "Where are the VAT rates defined?", ["In cart/vat.py."])
    assert sent.count("offmem memory of project") == 1, sent[:3000]


def test_claude_code_calls_the_plugin_mcp_server(claude_bin, world):
    """The plugin's .mcp.json starts the recorded offmem's MCP server; a scripted call reaches it."""
    from offmem.store.db import Store
    from tests.support.seed import add_observation

    w = world
    install_plugin(w, claude_bin)
    assert offmem(w, "install").returncode == 0
    with Store.open(w["data"] / "offmem.db") as store:
        remembered = add_observation(store, str(w["project"].resolve()), "Invoices round half-even (decided with finance)",
                                     type="decision", session_id="earlier", origin="remember")
    tool = "mcp__plugin_offmem_offmem__search"
    run = w["fake"].set_script([[ToolCall(tool, {"query": "invoice rounding"})], "Invoices round half-even."])
    # -p does not wait for MCP servers (a slow start leaves only a WaitForMcpServers tool); both versions
    # wait when MCP_CONNECTION_NONBLOCKING is false, so a loaded machine cannot make the test flaky
    done = run_claude("How do invoices round?", cwd=w["project"], home=w["home"], base_url=w["fake"].base_url,
                      offmem_home=w["data"], timeout=180, binary=claude_bin,
                      extra_env={"MCP_CONNECTION_NONBLOCKING": "0"})
    assert done.returncode == 0, done.describe()
    requests = w["fake"].agent_requests(run=run)
    names = [t.get("name") for t in requests[0].body.get("tools", [])]
    assert tool in names or "ToolSearch" in names, names
    results = [block for message in requests[1].body["messages"] if isinstance(message.get("content"), list)
               for block in message["content"] if block.get("type") == "tool_result"]
    answer = json.dumps(results[-1])
    assert f"#{remembered} decision" in answer and "half-even" in answer, answer[:500]


def test_this_checkout_as_a_marketplace_gives_a_copy_of_the_plugin_folder_only(claude_bin, world):
    """The checkout itself (with its .venv, models and caches) added as a marketplace: Claude Code's
    plugin store gets the plugin's few files, and nothing is written into the checkout."""
    w = world
    w["market"] = REPO
    status = ["git", "status", "--porcelain", "--ignored"]
    before = subprocess.run(status, cwd=REPO, capture_output=True, text=True)
    install_plugin(w, claude_bin)
    store = w["home"] / ".claude" / "plugins"
    files = [p for p in store.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 200_000, sorted(map(str, files))
    (manifest,) = (store / "cache").rglob("plugin.json")
    assert (manifest.parents[1] / "scripts" / "launch").read_bytes() == (REPO / "plugins/offmem/scripts/launch").read_bytes()
    after = subprocess.run(status, cwd=REPO, capture_output=True, text=True)
    new = set(after.stdout.splitlines()) - set(before.stdout.splitlines())
    # only what Claude Code could have written (other work may change the tree meanwhile in a shared checkout)
    assert not [line for line in new if line[3:].startswith((".claude", "plugins/"))], new
