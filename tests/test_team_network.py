"""The network guard lets offmem reach exactly the configured team servers, nothing else.

The team store's PostgreSQL listens on this machine's LAN address (not loopback), listed in
``NETGUARD_ALLOW`` for this test; ``[team] chroma_url`` names another port of that address,
not listed. offmem's processes (the CLI, the doctor) reach PostgreSQL, and their attempt at the
unlisted server is refused and recorded: the guard is exact, and offmem goes nowhere it was
not configured to go.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess

import pytest

from support.network import netguard_shim, network_guard  # noqa: F401 - fixtures
from support.team_devs import OFFMEM, PASSWORDS, git_repo
from support.team_servers import PgCluster, free_port, pg_available

pytestmark = pytest.mark.skipif(not pg_available(), reason="PostgreSQL (initdb, pg_ctl) is not installed")
pytest.importorskip("psycopg")


def lan_address() -> str | None:
    try:
        words = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=5).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    for word in words:
        try:
            ip = ipaddress.ip_address(word)
        except ValueError:
            continue
        if ip.version == 4 and not ip.is_loopback:
            return word
    return None


def test_offmem_reaches_the_configured_team_host_and_nothing_else(tmp_path, network_guard, monkeypatch):
    from offmem.team import admin

    ip = lan_address()
    if ip is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    pg = PgCluster(host=ip)
    monkeypatch.setenv("NETGUARD_ALLOW", f"{ip}:{pg.port}")  # this process's own admin connection too
    pg.start()
    try:
        admin.migrate(pg.admin_dsn)
        admin.add_member(pg.admin_dsn, "alice", PASSWORDS["alice"])
        admin.grant(pg.admin_dsn, "alice", "git.lan/team/app")
        home = tmp_path / "alice-offmem"
        home.mkdir()
        unlisted = free_port()
        (home / "config.toml").write_text(
            f'[team]\ndsn = "{pg.dsn("alice")}"\npassword_env = "TEAM_PW"\nchroma_url = "http://{ip}:{unlisted}"\n'
            "timeout_s = 2\n[embedder]\nbackend = \"none\"\n")
        repo = git_repo(tmp_path / "app", "git@git.lan:team/app.git")
        env = {**network_guard.env, "OFFMEM_HOME": str(home), "TEAM_PW": PASSWORDS["alice"],
               "NETGUARD_ALLOW": f"{ip}:{pg.port}", "OFFMEM_WORKER_AUTOSTART": "0"}
        import os

        def offmem(*args):
            return subprocess.run([OFFMEM, *args], capture_output=True, text=True, env={**os.environ, **env},
                                  timeout=120)

        joined = json.loads(offmem("team", "join", "--project", str(repo), "--json").stdout)
        assert joined["server"]["reachable"] and joined["server"]["granted"], joined
        doctor = json.loads(offmem("doctor", "--json").stdout)
        checks = {c["name"]: c for c in (doctor["checks"] if isinstance(doctor, dict) else doctor)}
        assert checks["team"]["status"] == "ok", checks["team"]
        assert checks["team vectors"]["status"] == "warn", checks["team vectors"]  # refused by the guard
        attempts = network_guard.attempts()
        assert attempts and all(f"{ip}:{unlisted}" in line for line in attempts), attempts
        assert not [line for line in attempts if f"{ip}:{pg.port}" in line]
    finally:
        pg.destroy()
