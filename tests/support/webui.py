"""A real worker serving the web UI on a store filled from the real hook fixtures, and a real Chromium.

``LiveUI`` starts ``offmem worker start`` in its own data directory (rules summarizer,
the packaged MiniLM embedder, a free port), replays ``tests/fixtures/hook-payloads.jsonl``
through the real hook first, and waits until every event is processed and indexed.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from conftest import fixture_payloads, replay
from support.polling import wait_for

OFFMEM = str(Path(sys.executable).parent / "offmem")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def clean_env(home: Path, user_home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFMEM_")}
    env.update(
        OFFMEM_HOME=str(home),
        HOME=str(user_home),
        OFFMEM_WORKER_AUTOSTART="0",
        OFFMEM_SUMMARIZER_BACKEND="rules",
        OFFMEM_WORKER_PORT="0",
        HF_HUB_OFFLINE="1",
    )
    return env


class LiveUI:
    def __init__(self, root: Path) -> None:
        self.home = root / "offmem-home"
        user_home = root / "user-home"
        user_home.mkdir(parents=True, exist_ok=True)
        self.env = clean_env(self.home, user_home)
        self.port = 0

    # -------------------------------------------------------------- lifecycle

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([OFFMEM, *args], capture_output=True, text=True, env=self.env, timeout=120)
        if check:
            assert done.returncode == 0, f"offmem {' '.join(args)} failed: {done.stderr}"
        return done

    def install_embedder(self) -> None:
        code = (
            "from offmem.config import load_settings; from offmem.models import pull_models; "
            "r = pull_models(load_settings(), ['all-minilm-l6-v2'], kinds=('pypi',)); "
            "assert r[0].status in ('installed', 'present'), r"
        )
        subprocess.run([sys.executable, "-c", code], check=True, env=self.env, timeout=300)

    def start(self, payloads: list[dict] | None = None) -> None:
        self.install_embedder()
        results = replay(payloads or fixture_payloads(), env=self.env)
        assert all(r.returncode == 0 for r in results)
        started = json.loads(self.cli("worker", "start", "--json").stdout)
        self.port = started["port"]
        wait_for(self.settled, timeout=180, interval=0.5, what="processing and indexing of the fixtures")

    def stop(self) -> None:
        self.cli("worker", "stop", check=False)

    def settled(self) -> bool:
        s = self.status()
        embedder = s.get("embedder") or {}
        return s["queue_depth"] == 0 and self.count("observations") > 0 and embedder.get("pending") == 0 \
            and embedder.get("indexed") == self.count("observations")

    # -------------------------------------------------------------- reading

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        return (self.home / "ui-token").read_text().strip()

    def request(self, method: str, path: str, *, body=None, headers: dict | None = None) -> tuple[int, str]:
        """One raw HTTP request; ``headers`` may replace Host (http.client adds none then)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = dict(headers or {})
        data = json.dumps(body).encode() if body is not None else None
        if data is not None:
            headers.setdefault("Content-Type", "application/json")
        conn.putrequest(method, path, skip_host="Host" in headers, skip_accept_encoding=True)
        for key, value in headers.items():
            conn.putheader(key, value)
        if data is not None:
            conn.putheader("Content-Length", str(len(data)))
        conn.endheaders(data)
        resp = conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
        conn.close()
        return resp.status, text

    def status(self) -> dict:
        code, text = self.request("GET", "/api/status", headers={"X-Offmem-Token": self.token})
        assert code == 200, text
        return json.loads(text)

    def sign_in_path(self) -> str:
        """A one-time ``/login?code=`` link, as ``offmem ui`` gets it: the browser's way in."""
        code, text = self.request("POST", "/api/ui/login-code", headers={"X-Offmem-Token": self.token})
        assert code == 200, text
        return json.loads(text)["path"]

    def db(self):
        import sqlite3

        return sqlite3.connect(f"file:{self.home / 'offmem.db'}?mode=ro", uri=True)

    def count(self, table: str) -> int:
        with self.db() as conn:
            return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    def count_where(self, table: str, where: str, *args) -> int:
        with self.db() as conn:
            return conn.execute(f"SELECT count(*) FROM {table} WHERE {where}", args).fetchone()[0]

    def observation_id(self, title_part: str) -> int:
        with self.db() as conn:
            row = conn.execute("SELECT id FROM observations WHERE title LIKE ? ORDER BY id",
                               (f"%{title_part}%",)).fetchone()
        assert row, f"no observation titled like {title_part!r}"
        return row[0]


def renamed_session(payloads: list[dict], cwd: str | None = None) -> list[dict]:
    """The same payloads as a new session (new session id and tool_use ids), optionally in another folder."""
    sid = str(uuid.uuid4())
    out = []
    for p in payloads:
        q = dict(p, session_id=sid)
        if cwd:
            q["cwd"] = cwd
        if "tool_use_id" in q:
            q["tool_use_id"] = f"{q['tool_use_id']}-{sid[:8]}"
        out.append(q)
    return out


def launch_chromium(playwright, *extra_args: str):
    if not os.path.exists(CHROMIUM):
        raise RuntimeError(f"{CHROMIUM} is missing: `apt-get install chromium` (scripts/test.sh does it as root)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args])
