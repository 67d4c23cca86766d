"""Team memory against real servers: a PostgreSQL 15 cluster and a `chroma run` server.

Two developers are two data directories whose clones of one repository live at different
paths (with different spellings of its remote URL). What A's session taught A's offmem
reaches B's next SessionStart block and B's MCP search; a project A did not join never
reaches B; an outage of the team store mid-publish loses and duplicates nothing; the
hooks' latency does not depend on the team store.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import fixture_payloads, run_hook
from support.polling import wait_for
from support.team_servers import CHROMA, ChromaServer, PgCluster, pg_available

pytestmark = [
    pytest.mark.skipif(not pg_available(), reason="PostgreSQL (initdb, pg_ctl) is not installed"),
    pytest.mark.skipif(CHROMA is None, reason="the chroma CLI (chromadb) is not installed"),
]
pytest.importorskip("psycopg")

OFFMEM = str(Path(sys.executable).parent / "offmem")
APP, SECRET = "git.lan/team/app", "git.lan/team/secret"
PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    from offmem.team import admin

    pg = PgCluster().start()
    chroma = ChromaServer(tmp_path_factory.mktemp("team-chroma")).start()
    try:
        admin.migrate(pg.admin_dsn)
        for member, password in PASSWORDS.items():
            admin.add_member(pg.admin_dsn, member, password)
        for member in ("alice", "bob"):
            admin.grant(pg.admin_dsn, member, APP)
            admin.grant(pg.admin_dsn, member, SECRET)  # granted, so only joining decides what is shared
        yield {"pg": pg, "chroma": chroma}
    finally:
        chroma.stop()
        pg.destroy()


def admin_rows(pg, sql: str, args=()):
    import psycopg

    with psycopg.connect(pg.admin_dsn, autocommit=True) as conn:
        return conn.execute(sql, args).fetchall()


def git_repo(path: Path, remote: str) -> Path:
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    subprocess.run(["git", "-C", str(path), "remote", "add", "origin", remote], check=True)
    return path


class Dev:
    """One developer: a data directory with [team] settings, a clone, and offmem's processes."""

    def __init__(self, root: Path, member: str, servers, *, chroma: bool = True) -> None:
        self.member = member
        self.home = root / f"{member}-offmem"
        self.home.mkdir(parents=True)
        pg = servers["pg"]
        chroma_line = f'chroma_url = "{servers["chroma"].url}"\n' if chroma else ""
        (self.home / "config.toml").write_text(
            "[team]\n"
            f'dsn = "{pg.dsn(member)}"\n'
            f'password_env = "TEAM_PW_{member.upper()}"\n'
            f'display_name = "{member.title()}"\n'
            f"{chroma_line}"
            "sync_interval_s = 0.3\n"
            "[summarizer]\nbackend = \"rules\"\n"
            "[embedder]\nbackend = \"none\"\n"
            "[worker]\nport = 0\n"
        )
        self.env = {"OFFMEM_HOME": str(self.home), f"TEAM_PW_{member.upper()}": PASSWORDS[member],
                    "OFFMEM_WORKER_AUTOSTART": "0"}

    def run(self, *args, check=True) -> subprocess.CompletedProcess:
        done = subprocess.run([OFFMEM, *args], capture_output=True, text=True, env={**os.environ, **self.env},
                              timeout=120)
        if check:
            assert done.returncode == 0, done.stderr + done.stdout
        return done

    def json(self, *args):
        return json.loads(self.run(*args, "--json").stdout)

    def hook(self, payload: dict) -> subprocess.CompletedProcess:
        return run_hook(payload, env=self.env)

    def settings(self):
        from offmem.config import load_settings

        old = dict(os.environ)
        os.environ.update(self.env)
        try:
            return load_settings(self.home)
        finally:
            os.environ.clear()
            os.environ.update(old)

    def memory(self):
        from offmem.api import Memory

        return Memory(self.settings())

    def stop(self):
        self.run("worker", "stop", check=False)


def session_payloads(repo: Path, session: str) -> list[dict]:
    """The recorded VAT-fix session, as if it happened in ``repo``."""
    out = []
    for payload in fixture_payloads():
        if payload.get("hook_event_name") == "PreToolUse":
            continue
        text = json.dumps(payload).replace("/home/dev/shop-api", str(repo))
        data = json.loads(text)
        data["session_id"] = data["session_id"] + session
        out.append(data)
    return out


def session_start(repo: Path, session: str = "next") -> dict:
    return {"session_id": f"start-{session}", "transcript_path": "", "cwd": str(repo),
            "hook_event_name": "SessionStart", "source": "startup"}


def context_of(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stderr
    if not done.stdout.strip():
        return ""
    return json.loads(done.stdout)["hookSpecificOutput"]["additionalContext"]


@pytest.fixture
def devs(tmp_path, servers):
    made = []

    def make(member: str, **kwargs) -> Dev:
        dev = Dev(tmp_path, member, servers, **kwargs)
        made.append(dev)
        return dev

    yield make
    for dev in made:
        dev.stop()


def test_a_memory_of_a_reaches_b_and_an_unjoined_project_never_does(tmp_path, servers, devs):
    pg = servers["pg"]
    a, b = devs("alice"), devs("bob")
    app_a = git_repo(tmp_path / "alice-src" / "shop", "git@git.lan:team/app.git")
    app_b = git_repo(tmp_path / "work" / "clones" / "app", "https://bob@git.lan/team/app/")
    secret_a = git_repo(tmp_path / "alice-src" / "secret", "ssh://git@git.lan/team/secret.git")
    secret_b = git_repo(tmp_path / "work" / "secret", "https://git.lan/team/secret")

    joined = a.json("team", "join", "--project", str(app_a))
    assert joined["team_key"] == APP and joined["server"]["granted"] is True
    assert b.json("team", "join", "--project", str(app_b))["team_key"] == APP
    assert b.json("team", "join", "--project", str(secret_b))["team_key"] == SECRET  # B shares it, A does not

    for payload in session_payloads(app_a, "-app") + session_payloads(secret_a, "-secret"):
        assert a.hook(payload).returncode == 0
    a.run("worker", "start")
    b.run("worker", "start")

    def published():
        return admin_rows(pg, "SELECT title, author, project_key, type FROM offmem.memories")

    rows = wait_for(lambda: [r for r in published() if r[2] == APP and r[3] == "bugfix"],
                    timeout=90, what="A's bugfix on the team store")
    assert rows[0][1] == "Alice"
    assert not [r for r in published() if r[2] == SECRET], "a project A never joined was published"

    title = rows[0][0]
    block = wait_for(lambda: (lambda t: t if f"[Alice] {title}"[:60] in t else None)(
        context_of(b.hook(session_start(app_b)))), timeout=60, what="A's memory in B's SessionStart block")
    assert "[Alice]" in block and "cart/vat.py" in block

    found = b.memory().find("AssertionError vat", str(app_b))  # what B's MCP search tool calls
    titles = [h["title"] for h in found["hits"]]
    assert f"[Alice] {title}" in titles, titles

    # The project A did not join: nothing of A's in B's clone of it, in any face.
    assert "Alice" not in context_of(b.hook(session_start(secret_b, "secret")))
    secret_hits = b.memory().find("AssertionError vat", str(secret_b))
    assert secret_hits is None or not [h for h in secret_hits["hits"] if "Alice" in h["title"]]
    assert not [r for r in published() if r[2] == SECRET]

    # Raw events and prompts never leave: only memories are on the team store.
    prompts = [p["prompt"] for p in session_payloads(app_a, "") if p.get("hook_event_name") == "UserPromptSubmit"]
    everything = json.dumps(admin_rows(pg, "SELECT title, body, facts, fields, search_text FROM offmem.memories"))
    assert prompts and not any(p[:60] in everything for p in prompts if len(p) > 40)

    status = b.json("team", "status", "--project", str(app_b))
    assert status["joined"] and status["mirrored"] >= 1 and status["server"]["reachable"]


def test_row_level_security_hides_projects_not_granted(servers):
    from offmem.config import TeamSettings
    from offmem.team.server import TeamError, TeamServer

    os.environ["TEAM_PW_CAROL"] = PASSWORDS["carol"]
    carol = TeamSettings(dsn=servers["pg"].dsn("carol"), password_env="TEAM_PW_CAROL")
    alice = TeamSettings(dsn=servers["pg"].dsn("alice"), password_env="TEAM_PW_ALICE")
    os.environ["TEAM_PW_ALICE"] = PASSWORDS["alice"]
    memory = {"content_id": "rls-probe", "project_key": APP, "kind": "observation", "type": "decision",
              "title": "Use integer cents for money", "body": "floats lose cents", "author": "Alice",
              "machine_id": "m-alice", "created_at": "2026-12-01T10:00:00Z", "search_text": "integer cents money"}
    with TeamServer(alice) as server:
        server.publish([memory])
    try:
        with TeamServer(carol) as server:
            assert server.whoami()["grants"] == {}
            assert server.keyword_search("cents money", [APP], 10) == []
            assert server.fetch(["rls-probe"]) == []
            assert server.pull(APP, "0", exclude_machine="x", initial_limit=100)["memories"] == []
            with pytest.raises(TeamError):
                server.publish([dict(memory, content_id="carol-write", author="Carol", machine_id="m-carol")])
            assert server.forget(["rls-probe"])["deleted"] == []
        with TeamServer(alice) as server:
            assert [m["content_id"] for m in server.fetch(["rls-probe"])] == ["rls-probe"]
    finally:
        with TeamServer(alice) as server:
            server.forget(["rls-probe"])
        for key in ("TEAM_PW_CAROL", "TEAM_PW_ALICE"):
            os.environ.pop(key, None)
