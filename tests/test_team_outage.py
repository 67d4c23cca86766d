"""The team store goes away mid-publish and comes back: nothing lost, nothing twice; the hooks
never wait for it.

A real PostgreSQL cluster is stopped (``pg_ctl -m immediate``, as a crash or a cable pulled)
while A's worker publishes a backlog of 3,000 memories in batches; A goes on capturing
meanwhile. Once the cluster is back, the team store holds each of A's memories exactly once,
and B's mirror holds each of them once.
"""

from __future__ import annotations

import statistics
import time

import pytest

from support.polling import wait_for
from support.team_devs import Dev, admin_rows, context_of, git_repo, session_start
from support.team_servers import PgCluster, pg_available

pytestmark = pytest.mark.skipif(not pg_available(), reason="PostgreSQL (initdb, pg_ctl) is not installed")
pytest.importorskip("psycopg")

APP = "git.lan/team/app"
BACKLOG, DURING = 3000, 50


@pytest.fixture
def pg():
    from offmem.team import admin

    from support.team_devs import PASSWORDS

    cluster = PgCluster().start()
    try:
        admin.migrate(cluster.admin_dsn)
        for member in ("alice", "bob"):
            admin.add_member(cluster.admin_dsn, member, PASSWORDS[member])
            admin.grant(cluster.admin_dsn, member, APP)
        yield cluster
    finally:
        cluster.destroy()


def seed(dev: Dev, project: str, start: int, count: int) -> None:
    from offmem.records import Observation
    from offmem.store.db import Store, transaction

    with Store.open(dev.home / "offmem.db") as store, transaction(store.conn):
        for n in range(start, start + count):
            obs = Observation(type="bugfix" if n % 3 == 0 else "change", title=f"Memory {n:05d} of the outage test",
                              narrative=f"what session {n // 20} learned", facts=[f"fact {n}"],
                              files_modified=[f"src/m{n % 50}.py"])
            assert store.insert_observation(obs, session_id=f"s{n // 20}", project=project) is not None


def timed_hooks(dev: Dev, repo, runs: int = 5) -> list[float]:
    times = []
    for n in range(runs):
        began = time.perf_counter()
        context_of(dev.hook(session_start(repo, f"latency-{n}-{time.time_ns()}")))
        times.append(time.perf_counter() - began)
    return times


def test_an_outage_mid_publish_loses_and_duplicates_nothing(tmp_path, pg):
    servers = {"pg": pg}
    a = Dev(tmp_path, "alice", servers, chroma=False)
    b = Dev(tmp_path, "bob", servers, chroma=False, team_extra="mirror_limit = 10000\n")
    repo_a = git_repo(tmp_path / "a" / "app", "git@git.lan:team/app.git")
    repo_b = git_repo(tmp_path / "b" / "src" / "app", "https://git.lan/team/app.git")
    try:
        a.json("team", "join", "--project", str(repo_a))
        b.json("team", "join", "--project", str(repo_b))
        seed(a, str(repo_a), 0, BACKLOG)
        assert a.json("team", "status", "--offline", "--project", str(repo_a))["outbox"] == BACKLOG
        b.run("worker", "start")
        up = timed_hooks(b, repo_b)

        def published() -> int:
            return admin_rows(pg, "SELECT count(*) FROM offmem.memories")[0][0]

        a.run("worker", "start")
        wait_for(lambda: published() > 0, timeout=60, interval=0.02, what="the first published batch")
        pg.stop("immediate")  # mid-publish: the worker is between (or inside) batches
        pg.start()
        at_stop = published()
        pg.stop("immediate")
        assert 0 < at_stop < BACKLOG, "the outage did not come mid-publish"
        seed(a, str(repo_a), BACKLOG, DURING)  # A keeps working while the team store is away

        down = timed_hooks(b, repo_b)
        status = wait_for(lambda: (lambda s: s if s["outbox"] > 0 and s["last_error"] else None)(
            a.json("team", "status", "--offline", "--project", str(repo_a))), timeout=30,
            what="the outbox keeping the work with the error")
        assert status["outbox"] <= BACKLOG + DURING
        assert a.json("worker", "status")["running"]

        pg.start()
        wait_for(lambda: a.json("team", "status", "--offline", "--project", str(repo_a))["outbox"] == 0,
                 timeout=120, what="the outbox drained after the outage")
        rows = admin_rows(pg, "SELECT count(*), count(DISTINCT content_id), count(DISTINCT title) FROM offmem.memories"
                              " WHERE project_key = %s", (APP,))
        assert rows[0] == (BACKLOG + DURING,) * 3
        mirrored = wait_for(lambda: (lambda n: n if n == BACKLOG + DURING else None)(
            b.json("team", "status", "--offline", "--project", str(repo_b))["mirrored"]), timeout=120,
            what="B's mirror of every memory")
        assert mirrored == BACKLOG + DURING
        from offmem.store.db import Store

        with Store.open(b.home / "offmem.db") as store:
            titles = store.conn.execute("SELECT count(*), count(DISTINCT title) FROM observations WHERE origin = 'team'"
                                        ).fetchone()
        assert tuple(titles) == (BACKLOG + DURING,) * 2
    finally:
        a.stop()
        b.stop()
    # The hooks read local SQLite only: no slower while the team store is down (the mirror
    # served the block both times).
    # (bounds wide enough for a loaded CI machine; a hook that waited on the network would take
    # the connect timeout, seconds)
    assert min(down) <= min(up) * 2 + 0.1, (up, down)
    assert statistics.median(down) <= statistics.median(up) * 2 + 0.25, (up, down)
