"""Two developers for the team tests: data directories with [team] settings, clones, hooks, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import fixture_payloads, run_hook

OFFMEM = str(Path(sys.executable).parent / "offmem")
PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}


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

    def __init__(self, root: Path, member: str, servers, *, chroma: bool = True, team_extra: str = "") -> None:
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
            f"{team_extra}"
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
