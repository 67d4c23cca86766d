"""The network guard of the tests: a C shim for LD_PRELOAD plus a Python sitecustomize.

``guard_env(tmp)`` returns the environment that puts both into every process
started with it (and into every process those start), and where attempts are
recorded. See netguard/netguard.c and netguard/sitecustomize.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

GUARD_DIR = Path(__file__).with_name("netguard")


@dataclass
class Guard:
    env: dict
    log: Path
    loads: Path
    native: bool  # the LD_PRELOAD shim is active (else Python-level only)

    def attempts(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def loaded_pids(self) -> set[int]:
        if not self.loads.exists():
            return set()
        return {int(part.split("=")[1]) for line in self.loads.read_text().splitlines()
                for part in line.split() if part.startswith("pid=")}


def build_shim(folder: Path) -> Path | None:
    """Compile netguard.c; None when there is no C compiler."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    target = folder / "netguard.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-o", str(target), str(GUARD_DIR / "netguard.c"), "-ldl"],
                   check=True, capture_output=True)
    return target


@pytest.fixture(scope="session")
def netguard_shim(tmp_path_factory) -> Path | None:
    return build_shim(tmp_path_factory.mktemp("netguard"))


@pytest.fixture
def network_guard(tmp_path, netguard_shim) -> Guard:
    log, loads = tmp_path / "network-attempts.log", tmp_path / "guard-loads.log"
    env = {
        "NETGUARD_LOG": str(log),
        "NETGUARD_LOADS": str(loads),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(GUARD_DIR), os.environ.get("PYTHONPATH", "")])),
    }
    if netguard_shim is not None:
        env["LD_PRELOAD"] = str(netguard_shim)
    return Guard(env, log, loads, netguard_shim is not None)
