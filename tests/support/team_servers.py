"""Real team servers for tests and the bench: a PostgreSQL cluster and a `chroma run` server.

``PgCluster`` runs ``initdb`` and ``pg_ctl`` (PostgreSQL 15 on PATH) in a fresh
directory on a free loopback port. PostgreSQL refuses to run as root, so as root
the cluster belongs to the ``postgres`` account (``runuser``), in a directory of
its own under /tmp. The administrator role ``offmem_admin`` logs in with a
password over TCP (scram-sha-256); there is no trust over TCP.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ADMIN = "offmem_admin"
ADMIN_PASSWORD = "admin-pw-for-tests"  # a throwaway cluster's
CHROMA = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_available() -> bool:
    return bool(shutil.which("initdb") and shutil.which("pg_ctl"))


class PgCluster:
    def __init__(self, host: str = "127.0.0.1", port: int | None = None, *, options: str = "") -> None:
        self.host = host
        self.options = options  # extra server settings, e.g. "-c shared_buffers=1GB" (the bench)
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="offmem-pg-"))
        self.data = self.root / "data"
        self.as_root = os.geteuid() == 0

    def _run(self, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        if self.as_root:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        return subprocess.run(argv, capture_output=True, text=True, **kwargs)

    def start(self) -> "PgCluster":
        if not self.data.exists():
            pwfile = self.root / "pw"
            pwfile.write_text(ADMIN_PASSWORD + "\n")
            if self.as_root:
                shutil.chown(self.root, "postgres")
                shutil.chown(pwfile, "postgres")
            done = self._run(["initdb", "-D", str(self.data), "-U", ADMIN, f"--pwfile={pwfile}", "-E", "UTF8",
                              "--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "--no-sync"], timeout=120)
            if done.returncode:
                raise RuntimeError(f"initdb failed: {done.stderr[-2000:]}")
            pwfile.unlink()
            if not self.host.startswith("127."):  # initdb allows loopback only: let this address in
                with open(self.data / "pg_hba.conf", "a") as fh:
                    fh.write(f"host all all {self.host}/32 scram-sha-256\n")
        options = (f"-p {self.port} -k {self.root} -c listen_addresses={self.host} -c fsync=off"
                   " -c shared_buffers=64MB -c max_connections=40 " + self.options)
        done = self._run(["pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w",
                          "-t", "60", "start"], timeout=90)
        if done.returncode:
            raise RuntimeError(f"pg_ctl start failed: {done.stderr[-2000:]} {self.log()[-2000:]}")
        return self

    def stop(self, mode: str = "fast") -> None:
        if self.data.exists():
            self._run(["pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop"], timeout=60)

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        try:
            return (self.root / "log").read_text(errors="replace")
        except OSError:
            return ""

    def dsn(self, user: str = ADMIN, dbname: str = "postgres") -> str:
        return f"host={self.host} port={self.port} dbname={dbname} user={user}"

    @property
    def admin_dsn(self) -> str:
        return self.dsn() + f" password={ADMIN_PASSWORD}"


class ChromaServer:
    def __init__(self, path: Path, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.path, self.port, self.host = path, port or free_port(), host
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "ChromaServer":
        if CHROMA is None:
            raise RuntimeError("the chroma CLI (chromadb) is not installed")
        self.proc = subprocess.Popen([CHROMA, "run", "--path", str(self.path), "--host", self.host,
                                      "--port", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=1):
                    return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"chroma run exited with {self.proc.returncode}") from None
                time.sleep(0.2)
        raise RuntimeError("chroma run did not answer its heartbeat in 60 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None
