"""End to end: the real Claude Code CLI, offmem's hooks, and a scripted local model.

``claude -p`` runs in a throwaway HOME and git project against
:class:`tests.support.fake_anthropic.FakeAnthropic`, which plays the model. The
first test proves the harness itself (tools run, every hook event fires); the
second installs offmem and checks that what session 1 did reaches session 2's
first request to the model.

Every test runs once per pinned CLI version (``claude_version``:
:data:`tests.support.claude_cli.CLAUDE_VERSIONS`, installed by ``scripts/test.sh``; see
:mod:`tests.support.claude_cli`). Without a version's CLI its tests skip, except
under CI, where they fail so that a missing install step cannot hide them.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.claude_cli import claude_bin, claude_env, claude_version, run_claude  # noqa: F401 (fixtures)
from tests.support.fake_anthropic import FakeAnthropic, ToolCall

pytestmark = pytest.mark.e2e

VAT_PY = """\
RATES = {"DE": 0.19, "FR": 0.20, "IT": 0.22}


def vat(amount, country):
    rate = 0.2
    return round(amount * rate, 2)
"""
CHECK_PY = 'from cart.vat import vat\n\nassert vat(100, "DE") == 19.0, vat(100, "DE")\nprint("ok")\n'
HOOK_EVENTS = [
    "SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "PostToolUseFailure", "Stop", "SessionEnd"
]
# A stand-in hook for the harness test: logs each payload, injects a marker at SessionStart.
LOGGING_HOOK = """\
import json, sys
payload = json.load(sys.stdin)
with open(sys.argv[1], "a") as fh:
    fh.write(json.dumps(payload) + "\\n")
if payload["hook_event_name"] == "SessionStart":
    out = {"hookEventName": "SessionStart", "additionalContext": "HARNESS-MARKER memory of RATES"}
    print(json.dumps({"hookSpecificOutput": out}))
"""
PROCESSING_TIMEOUT_S = 60
OFFMEM_BIN = Path(sys.executable).parent / "offmem"


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    """A throwaway HOME, offmem data dir and git project with a VAT bug."""
    home, data, project = tmp_path / "home", tmp_path / "offmem-data", tmp_path / "shop-api"
    for path in (home, data, project / "cart"):
        path.mkdir(parents=True)
    (project / "cart" / "__init__.py").write_text("")
    (project / "cart" / "vat.py").write_text(VAT_PY)
    (project / "check.py").write_text(CHECK_PY)
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    commit_all(project, "init")
    return {"home": home, "data": data, "project": project}


def commit_all(project: Path, message: str) -> None:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "add", "-A"], cwd=project, check=True)
    subprocess.run([*git, "commit", "-qm", message], cwd=project, check=True)


def debugging_script(project: Path) -> list:
    """Session 1: look around, hit the failing check, fix the rate lookup, re-check."""
    vat = str(project / "cart" / "vat.py")
    return [
        [ToolCall("Bash", {"command": "ls cart", "description": "List the cart package"})],
        [ToolCall("Read", {"file_path": vat})],
        [ToolCall("Bash", {"command": "python3 check.py", "description": "Run the VAT check"})],
        [ToolCall("Edit", {
            "file_path": vat, "old_string": "    rate = 0.2\n", "new_string": "    rate = RATES[country]\n"
        })],
        [ToolCall("Bash", {"command": "python3 check.py", "description": "Re-run the VAT check"})],
        "Fixed vat(): it now looks up RATES[country], so DE gives 19.0 and check.py passes.",
    ]


def claude(fake: FakeAnthropic, dirs: dict[str, Path], binary: Path, prompt: str, extra_env: dict | None = None):
    run = run_claude(
        prompt, cwd=dirs["project"], home=dirs["home"], base_url=fake.base_url,
        offmem_home=dirs["data"], timeout=120, binary=binary, extra_env=extra_env,
    )
    assert run.returncode == 0, run.describe()
    assert run.result["is_error"] is False, run.describe()
    return run


def test_harness_runs_tools_and_fires_hooks(claude_bin, fake, dirs):
    log = dirs["home"] / "hooks.jsonl"
    hook_py = dirs["home"] / "log_hook.py"
    hook_py.write_text(LOGGING_HOOK)
    handler = {"type": "command", "command": f"{sys.executable} {hook_py} {log}"}
    settings = {"hooks": {event: [{"hooks": [handler]}] for event in HOOK_EVENTS}}
    (dirs["home"] / ".claude").mkdir()
    (dirs["home"] / ".claude" / "settings.json").write_text(json.dumps(settings))
    script = debugging_script(dirs["project"])
    write = ToolCall("Write", {"file_path": str(dirs["project"] / "NOTES.md"), "content": "VAT uses RATES.\n"})
    script.insert(-1, [write])
    fake.set_script(script)

    run = claude(fake, dirs, claude_bin, "Fix the VAT calculation for EU carts")

    assert run.result["result"] == script[-1]
    assert "RATES[country]" in (dirs["project"] / "cart" / "vat.py").read_text()
    assert (dirs["project"] / "NOTES.md").read_text() == "VAT uses RATES.\n"
    fired = [(p["hook_event_name"], p.get("tool_name")) for p in map(json.loads, log.read_text().splitlines())]
    assert fired[:2] == [("SessionStart", None), ("UserPromptSubmit", None)]
    assert fired[-2:] == [("Stop", None), ("SessionEnd", None)]
    tool_events = [f for f in fired if f[0].startswith("PostToolUse")]
    assert tool_events == [
        ("PostToolUse", "Bash"), ("PostToolUse", "Read"), ("PostToolUseFailure", "Bash"),
        ("PostToolUse", "Edit"), ("PostToolUse", "Bash"), ("PostToolUse", "Write"),
    ]
    first = fake.agent_requests()[0].dumps()
    assert "SessionStart hook additional context: HARNESS-MARKER memory of RATES" in first
    # Control for the memory test: a clean repo's file names are not otherwise in the request.
    assert "vat.py" not in first and "check.py" not in first
    assert len(fake.agent_requests()) == len(script)


def offmem(dirs: dict[str, Path], fake: FakeAnthropic, *args: str) -> subprocess.CompletedProcess:
    """Run the venv's ``offmem`` console script with the test's HOME and OFFMEM_HOME."""
    env = claude_env(dirs["home"], fake.base_url, dirs["data"])
    return subprocess.run(
        [str(OFFMEM_BIN), *args], cwd=dirs["project"], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def installed(dirs, fake) -> Iterator[None]:
    """``offmem install --scope user``; afterwards the worker the hooks started is stopped."""
    result = offmem(dirs, fake, "install", "--scope", "user")
    assert result.returncode == 0, f"offmem install failed:\n{result.stdout}\n{result.stderr}"
    yield
    offmem(dirs, fake, "worker", "stop")
    # A worker exits once its data directory is gone; moving it (not deleting:
    # offmem.log stays readable) also ends one that a late hook started.
    dirs["data"].rename(dirs["data"].with_name("offmem-data.stopped"))


def wait_for_summary(db_path: Path, session_id: str, timeout: float = PROCESSING_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db_path.exists() and query(db_path, "SELECT 1 FROM summaries WHERE session_id = ?", session_id):
            return
        time.sleep(0.5)
    raise AssertionError(
        f"offmem wrote no summary for session {session_id} within {timeout:.0f}s; see {db_path.parent}/offmem.log"
    )


def query(db_path: Path, sql: str, *params: object) -> list[tuple]:
    conn = sqlite3.connect(db_path, timeout=5)
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.OperationalError as exc:  # schema not there yet
        if "no such table" in str(exc):
            return []
        raise
    finally:
        conn.close()


def test_memory_of_session_one_reaches_session_two(claude_bin, fake, dirs, installed):
    db_path = dirs["data"] / "offmem.db"

    fake.set_script(debugging_script(dirs["project"]))
    first = claude(fake, dirs, claude_bin, "Fix the VAT calculation for EU carts")
    session1 = first.result["session_id"]
    wait_for_summary(db_path, session1)

    kinds = query(db_path, "SELECT kind, tool_name FROM events WHERE session_id = ? ORDER BY id", session1)
    assert ("PostToolUseFailure", "Bash") in kinds, kinds
    assert {("PostToolUse", "Read"), ("PostToolUse", "Edit")} <= set(kinds), kinds
    observations = query(db_path, "SELECT type, title, files_modified FROM observations WHERE session_id = ?", session1)
    assert observations, "no observations for session 1"
    assert any("vat.py" in row[2] for row in observations), observations

    # A clean tree, so the CLI's own git-status snapshot cannot name cart/vat.py.
    commit_all(dirs["project"], "wip")
    run2 = fake.set_script(["RATES lives in cart/vat.py."])
    second = claude(fake, dirs, claude_bin, "Where are the VAT rates defined?")
    assert second.result["session_id"] != session1
    agent_requests = fake.agent_requests(run=run2)
    assert agent_requests, "session 2 sent no request with tools"
    sent = agent_requests[0].dumps()
    assert "vat.py" in sent, "session 2's first request carries no memory of cart/vat.py"
    facts = ("check.py", "RATES", "AssertionError")
    assert any(fact in sent for fact in facts), (
        "session 2's first request mentions vat.py but none of " + ", ".join(facts)
    )


# ---------------------------------------------------------------------- retrieval in layers

FACT = "AssertionError: 20.0"  # what session 1's failing check printed
RULES_CONFIG = '[summarizer]\nbackend = "rules"\n\n[context]\nprompt_timeout_ms = 1500\n'


def backdate_session(db_path: Path, session_id: str, days: float) -> None:
    """Make session ``session_id`` look ``days`` old (its observations, summary and session row)."""
    from tests.support.seed import days_ago

    when = days_ago(days)
    conn = sqlite3.connect(db_path, timeout=10)
    with conn:
        conn.execute("UPDATE observations SET created_at = ? WHERE session_id = ?", (when, session_id))
        conn.execute("UPDATE summaries SET created_at = ?, updated_at = ? WHERE session_id = ?",
                     (when, when, session_id))
        conn.execute("UPDATE sessions SET started_at = ?, last_activity_at = ? WHERE id = ?", (when, when, session_id))
    conn.close()


def flood_after(db_path: Path, project: str, count: int, start_days_ago: float) -> None:
    """A long stretch of later work: ``count`` memories of every type and four summarized sessions."""
    from offmem.store.db import Store
    from tests.support.seed import ALL_KINDS, add_summary, days_ago, flood

    with Store.open(db_path) as store:
        flood(store, project, count, start_days_ago=start_days_ago, kinds=ALL_KINDS, sessions=8, prefix="later")
        for n in range(4):
            add_summary(store, project, f"later-session-{4 + n}", days_ago(start_days_ago * (3 - n) / 4),
                        request=f"Continue the later routine, part {n}", completed="Updated the later modules",
                        next_steps="Keep going with the routine")


def prompt_hook_context(request_text: str) -> str:
    marker = "UserPromptSubmit hook additional context:"
    assert marker in request_text, "no UserPromptSubmit context reached the model"
    return request_text.split(marker, 1)[1]


def test_prompt_brings_back_what_recency_would_not(claude_bin, fake, dirs, installed):
    """Three sessions: session 3 asks about session 1, buried under session 2's and later work."""
    db_path = dirs["data"] / "offmem.db"
    (dirs["data"] / "config.toml").write_text(RULES_CONFIG)

    fake.set_script(debugging_script(dirs["project"]))
    session1 = claude(fake, dirs, claude_bin, "Fix the VAT calculation for EU carts").result["session_id"]
    wait_for_summary(db_path, session1)
    assert query(db_path, "SELECT count(*) FROM observations WHERE session_id = ? AND title LIKE ?",
                 session1, f"%{FACT}%")[0][0] >= 1
    commit_all(dirs["project"], "fix vat")

    notes = str(dirs["project"] / "NOTES.md")
    fake.set_script([
        [ToolCall("Write", {"file_path": notes, "content": "Invoices: see invoices/.\n"})],
        [ToolCall("Bash", {"command": "git status --short", "description": "Show the working tree"})],
        "Wrote NOTES.md.",
    ])
    session2 = claude(fake, dirs, claude_bin, "Start a NOTES.md about invoices").result["session_id"]
    wait_for_summary(db_path, session2)
    commit_all(dirs["project"], "notes")

    project = query(db_path, "SELECT project FROM sessions WHERE id = ?", session1)[0][0]
    backdate_session(db_path, session1, days=10)
    backdate_session(db_path, session2, days=9)
    flood_after(db_path, project, 400, start_days_ago=8)

    # Control: neither recency nor SessionStart's own ranking (no prompt yet) carries the fact.
    preview = json.loads(offmem(dirs, fake, "context", "--json").stdout)
    assert FACT not in preview["text"] and preview["tokens"] <= preview["budget_tokens"]
    from offmem.config import load_settings
    from offmem.retrieval.baseline import build_index_context
    from offmem.store.db import Store

    with Store.open(db_path) as store:
        recency = build_index_context(store, project, load_settings(dirs["data"]).context.budget_tokens)
    assert FACT not in recency["text"]

    started = offmem(dirs, fake, "worker", "start", "--json")
    assert started.returncode == 0, started.stderr
    run3 = fake.set_script(["It printed AssertionError: 20.0: vat() used a flat 0.2 rate."])
    claude(fake, dirs, claude_bin, "Which assertion error did the VAT check fail with before the fix?")
    requests = fake.agent_requests(run=run3)
    assert requests, "session 3 sent no request with tools"
    sent = requests[0].dumps()
    assert FACT in prompt_hook_context(sent), "the prompt-time memory did not reach session 3's request"
    session3 = query(db_path, "SELECT id FROM sessions WHERE id NOT IN (?, ?) AND cwd IS NOT NULL"
                     " ORDER BY started_at DESC LIMIT 1", session1, session2)[0][0]
    given = json.loads(query(db_path, "SELECT value FROM meta WHERE key = ?", f"injected:{session3}")[0][0])
    fact_ids = {r[0] for r in query(db_path, "SELECT id FROM observations WHERE session_id = ? AND title LIKE ?",
                                    session1, f"%{FACT}%")}
    assert fact_ids & set(given), "the injected memory was not recorded for the session"


def test_claude_code_calls_the_offmem_mcp_server(claude_bin, fake, dirs, installed):
    """``offmem install`` registers the server; the real CLI starts it and runs a scripted tool call."""
    from offmem.store.db import Store
    from tests.support.seed import add_observation

    project = str(dirs["project"].resolve())
    with Store.open(dirs["data"] / "offmem.db") as store:
        remembered = add_observation(store, project, "Invoices round half-even (decided with finance)",
                                     type="decision", session_id="earlier", origin="remember")
    run = fake.set_script([
        [ToolCall("mcp__offmem__search", {"query": "invoice rounding"})],
        "Invoices round half-even.",
    ])
    # -p starts the first request without waiting for MCP servers unless told to: on a loaded machine
    # offmem's server (a Python process importing mcp) was not up yet and its tools were not offered
    claude(fake, dirs, claude_bin, "How do invoices round?", extra_env={"MCP_CONNECTION_NONBLOCKING": "0"})
    requests = fake.agent_requests(run=run)
    assert len(requests) >= 2, [r.dumps()[:200] for r in requests]
    tool_names = [t.get("name") for t in requests[0].body.get("tools", [])]
    assert "mcp__offmem__search" in tool_names or "ToolSearch" in tool_names, tool_names
    results = [block for message in requests[1].body["messages"] if isinstance(message.get("content"), list)
               for block in message["content"] if block.get("type") == "tool_result"]
    assert results, "no tool_result in the request after the tool call"
    answer = json.dumps(results[-1])
    assert f"#{remembered} decision" in answer and "half-even" in answer, answer[:500]
    assert '"is_error": true' not in answer and '{\\"result\\"' not in answer  # plain text, not JSON-wrapped
