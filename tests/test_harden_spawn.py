"""Nothing offmem starts imports code from the opened project.

The opened repository is hostile here: it carries modules named like the ones the hook,
the worker and their libraries import (``json``, ``uvicorn``, an ``offmem`` package,
``sitecustomize`` ...), each of which leaves a marker file when imported. The project is
the working directory of every process, and on ``PYTHONPATH`` too (a project can set it
through its own ``.claude/settings.json`` ``env``, or direnv). The real installed hook
command starts the real worker, ``offmem worker start`` starts it from the CLI, and the
doctor probes llama.cpp; no marker may appear, and the worker must really come up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import HOOK_LAUNCHER, fixture_payloads
from support.durability import offmem
from support.polling import wait_for

HOSTILE_MODULES = ("json", "uvicorn", "fastapi", "starlette", "typing", "fcntl", "socket", "tomllib", "sitecustomize",
                   "usercustomize", "llama_cpp", "chromadb", "_fastjson", "config_cache")
HOSTILE_PACKAGES = ("offmem", "sqlite3", "importlib_metadata")


def _plant(folder: Path, markers: Path) -> None:
    def body(name: str) -> str:
        return (f"import os as _os\n"
                f"open(_os.path.join({str(markers)!r}, {name!r} + '-' + str(_os.getpid())), 'w').close()\n")

    folder.mkdir(parents=True, exist_ok=True)
    for name in HOSTILE_MODULES:
        (folder / f"{name}.py").write_text(body(name))
    for name in HOSTILE_PACKAGES:
        (folder / name).mkdir(exist_ok=True)
        (folder / name / "__init__.py").write_text(body(name))
    (folder / "offmem" / "worker").mkdir(exist_ok=True)
    (folder / "offmem" / "worker" / "__init__.py").write_text(body("offmem.worker"))
    (folder / "offmem" / "worker" / "__main__.py").write_text(body("offmem.worker.__main__"))


@pytest.fixture
def hostile(tmp_path) -> tuple[Path, Path]:
    """(the hostile project directory, the folder its modules leave markers in)."""
    markers = tmp_path / "markers"
    markers.mkdir()
    project = tmp_path / "evil-repo"
    _plant(project, markers)
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    return project, markers


def _planted(markers: Path) -> list[str]:
    return sorted(p.name for p in markers.iterdir())


def _stop_worker(home: Path) -> None:
    offmem("worker", "stop", check=False, env={"OFFMEM_HOME": str(home)})


def _worker_pid(home: Path) -> int:
    return int(json.loads((home / "worker.json").read_text())["pid"])


def _installed_hook_command() -> str:
    offmem("install", "--no-mcp", "--json")
    settings = json.loads((Path(os.environ["HOME"]) / ".claude" / "settings.json").read_text())
    return settings["hooks"]["SessionStart"][0]["hooks"][0]["command"]


def test_the_installed_hook_starts_the_worker_without_importing_from_the_project(offmem_home, hostile):
    project, markers = hostile
    command = _installed_hook_command()
    payload = {**fixture_payloads()[0], "cwd": str(project)}
    env = {**os.environ, "PYTHONPATH": str(project), "OFFMEM_WORKER_AUTOSTART": "1"}
    try:
        # as Claude Code runs a hook: through a shell, in the project directory, the payload on stdin
        done = subprocess.run(["/bin/sh", "-c", command], input=json.dumps(payload).encode(), cwd=project, env=env,
                              capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr
        wait_for(lambda: (offmem_home / "worker.json").exists(), timeout=90, what="the worker the hook started")
        status = wait_for(lambda: json.loads(offmem("worker", "status", "--json").stdout).get("port"), timeout=90,
                          what="the worker's HTTP API")
        assert status
        worker = Path(f"/proc/{_worker_pid(offmem_home)}")
        assert os.path.realpath(worker / "cwd") == str(offmem_home.resolve())  # started in the data directory
    finally:
        _stop_worker(offmem_home)
    assert _planted(markers) == []
    worker_out = offmem_home / "worker.out"
    assert "Traceback" not in (worker_out.read_text() if worker_out.exists() else "")


def test_the_hook_ignores_the_project_pythonpath_even_with_an_older_install_command(offmem_home, hostile):
    """Settings written by an earlier offmem run ``python -S run.py`` (no -I): the launcher itself drops PYTHONPATH."""
    project, markers = hostile
    payload = {**fixture_payloads()[0], "cwd": str(project)}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(project), str(project)])}
    done = subprocess.run([sys.executable, "-S", str(HOOK_LAUNCHER)], input=json.dumps(payload).encode(), cwd=project,
                          env=env, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (offmem_home / "offmem.db").exists()
    assert _planted(markers) == []


def test_worker_start_from_the_project_directory_imports_nothing_from_it(offmem_home, hostile, tmp_path):
    project, markers = hostile
    # The CLI is the user's own command; PYTHONPATH here only names modules it never imports
    # itself, so any marker comes from the worker it starts.
    elsewhere = tmp_path / "on-pythonpath"
    _plant(elsewhere, markers)
    for name in ("json", "typing", "socket", "fcntl", "sitecustomize", "usercustomize", "_fastjson", "config_cache"):
        (elsewhere / f"{name}.py").unlink()
    for name in ("offmem", "sqlite3"):
        subprocess.run(["rm", "-r", str(elsewhere / name)], check=True)
    env = {**os.environ, "PYTHONPATH": str(elsewhere)}
    try:
        done = subprocess.run([str(Path(sys.executable).parent / "offmem"), "worker", "start", "--json"], cwd=project,
                              env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert json.loads(done.stdout)["port"]
        assert os.path.realpath(f"/proc/{_worker_pid(offmem_home)}/cwd") == str(offmem_home.resolve())
    finally:
        _stop_worker(offmem_home)
    assert _planted(markers) == []


def test_the_doctors_llama_cpp_probe_imports_nothing_from_the_project(offmem_home, hostile, monkeypatch):
    from offmem.doctor import probe_llama_cpp

    project, markers = hostile
    monkeypatch.chdir(project)
    monkeypatch.setenv("PYTHONPATH", str(project))
    probe = probe_llama_cpp()
    assert "error" not in probe, probe
    assert _planted(markers) == []


def test_isolation_flags_for_this_interpreter():
    from offmem.worker.launch import python_flags, worker_argv

    flags = python_flags()
    assert flags == ["-I"]  # the test venv hides the user site anyway: nothing is lost by -I
    assert worker_argv() == [sys.executable, "-I", "-m", "offmem.worker", "run"]


def test_the_registered_mcp_server_imports_nothing_from_the_project(offmem_home, hostile):
    """Claude Code starts the MCP server in the project, with the session's environment."""
    import asyncio

    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    project, markers = hostile
    offmem("install", "--json")
    entry = json.loads((Path(os.environ["HOME"]) / ".claude.json").read_text())["mcpServers"]["offmem"]
    env = {"HOME": os.environ["HOME"], "OFFMEM_HOME": str(offmem_home), "OFFMEM_WORKER_AUTOSTART": "0",
           "OFFMEM_EMBEDDER_BACKEND": "none", "PYTHONPATH": str(project), "CLAUDE_PROJECT_DIR": str(project),
           **entry.get("env", {})}
    params = StdioServerParameters(command=entry["command"], args=entry["args"], env=env, cwd=str(project))

    async def tools():
        async with Client(params) as client:
            return await client.list_tools()

    listed = asyncio.run(asyncio.wait_for(tools(), timeout=60))
    assert sorted(t.name for t in listed.tools) == ["get_observations", "remember", "search", "timeline"]
    assert _planted(markers) == []


def _flags_under(python: str, home: Path) -> list[str]:
    code = (f"import sys; sys.path.insert(0, {str(HOOK_LAUNCHER.parents[2])!r})\n"
            "from offmem.worker.launch import python_flags; print(' '.join(python_flags()))")
    done = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True, timeout=60,
                          env={"HOME": str(home), "PATH": os.environ.get("PATH", "")})
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.mark.parametrize("version", ["3.10", "3.11", "3.12"])
def test_outside_a_venv_the_user_site_is_kept_only_when_it_exists(tmp_path, version):
    """A `pip install --user` offmem needs the user site, which -I would hide: then -E (-P) instead."""
    candidates = [Path(sys.base_prefix) / "bin" / f"python{version}",
                  *Path("/root/.pyenv/versions").glob(f"{version}.*/bin/python{version}"), Path(f"/usr/bin/python{version}")]
    python = next((str(c) for c in candidates if c.is_file()), None)
    if python is None:
        pytest.skip(f"no Python {version} outside the venv here")
    home = tmp_path / "home"
    home.mkdir()
    assert _flags_under(python, home) == ["-I"]  # no user site: nothing to keep
    (home / ".local" / "lib" / f"python{version}" / "site-packages").mkdir(parents=True)
    assert _flags_under(python, home) == (["-E"] if version == "3.10" else ["-E", "-P"])
