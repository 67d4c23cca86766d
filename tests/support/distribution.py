"""Building offmem the way users get it, with no package index: the offline bundle and the wheel.

``TESTS_OFFLINE_WHEELHOUSE`` (prepared by scripts/test.sh at set-up, online) holds every wheel
offmem's default install needs on this Python, plus setuptools. Everything here runs with
``--no-index`` and pip's index pointed at a closed port, under the network guard.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def offline_wheelhouse() -> Path:
    folder = os.environ.get("TESTS_OFFLINE_WHEELHOUSE")
    if not folder or not Path(folder).is_dir():
        raise FileNotFoundError("TESTS_OFFLINE_WHEELHOUSE is not set to a folder: run the tests through scripts/test.sh, "
                                "which collects the wheels of offmem's default install there at set-up")
    return Path(folder)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def offline_env(guard_env: dict, home: Path, offmem_home: Path, **extra) -> dict:
    """The environment of a process that must not reach a package index: the guard's, a fresh
    HOME, pip with no index (and its index URL at a closed port), nothing of the checkout on
    PYTHONPATH."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PIP_", "UV_", "VIRTUAL_ENV", "OFFMEM_"))}
    env.update(guard_env)
    env.update({
        "HOME": str(home),
        "OFFMEM_HOME": str(offmem_home),
        "OFFMEM_WORKER_AUTOSTART": "0",
        "PIP_NO_INDEX": "1",
        "PIP_INDEX_URL": f"http://127.0.0.1:{closed_port()}/simple",
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_FIND_LINKS": str(offline_wheelhouse()),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "HF_HUB_OFFLINE": "1",
        **extra,
    })
    return env


def run(argv, env: dict, cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in argv], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))} exited {done.returncode}\n"
                             f"stdout: {done.stdout[-3000:]}\nstderr: {done.stderr[-3000:]}")
    return done


def extract(archive: Path, dest: Path, names=None) -> Path:
    """Extract the bundle (or only the members ``names``) into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        members = [tar.getmember(n) for n in names] if names else None
        if sys.version_info >= (3, 12):
            tar.extractall(dest, members=members, filter="data")
        else:
            tar.extractall(dest, members=members)  # noqa: S202 - our own archive, just written
    return dest


_BUILT: dict = {}  # the bundle, made once per test session whichever test modules import the fixture


@pytest.fixture(scope="session")
def offline_bundle(tmp_path_factory, netguard_shim) -> dict:
    """``offmem bundle`` from this checkout, with no package index, under the network guard (once
    per session); ``{"archive", "summary", "attempts"}``."""
    if "bundle" not in _BUILT:
        _BUILT["bundle"] = _make_bundle(tmp_path_factory, netguard_shim)
    return _BUILT["bundle"]


def _make_bundle(tmp_path_factory, netguard_shim) -> dict:
    from tests.support.network import GUARD_DIR

    work = tmp_path_factory.mktemp("offline-bundle")
    log = work / "network-attempts.log"
    guard_env = {"NETGUARD_LOG": str(log),
                 "PYTHONPATH": os.pathsep.join(filter(None, [str(GUARD_DIR), os.environ.get("PYTHONPATH", "")]))}
    if netguard_shim is not None:
        guard_env["LD_PRELOAD"] = str(netguard_shim)
    (work / "home").mkdir()
    env = offline_env(guard_env, work / "home", work / "offmem-home")
    archive = work / "offmem-offline.tar"
    done = run([sys.executable, "-m", "offmem", "bundle", "--output", archive, "--find-links", offline_wheelhouse(),
                "--no-index", "--json"], env, cwd=work)
    return {"archive": archive, "summary": json.loads(done.stdout),
            "attempts": log.read_text().splitlines() if log.exists() else []}
