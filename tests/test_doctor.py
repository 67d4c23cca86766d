"""`offmem doctor` against real installs: real models, settings files, SQLite, Chroma, hook and worker."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import fixture_payloads, replay
from offmem.config import load_settings
from offmem.doctor import (
    FAIL,
    OK,
    WARN,
    Context,
    check_chroma,
    check_llama_cpp,
    cpu_features,
    parse_hook_command,
    probe_llama_cpp,
    run_checks,
)
from offmem.models import load_catalog, pull_models
from offmem.store.migrations import LATEST

OFFMEM = [str(Path(sys.executable).parent / "offmem")]


@pytest.fixture
def project(tmp_path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


def offmem(*args, cwd=None, check=True) -> subprocess.CompletedProcess:
    done = subprocess.run(OFFMEM + list(args), capture_output=True, text=True, cwd=cwd, env=os.environ.copy(), timeout=300)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def doctor(project: Path) -> tuple[int, dict]:
    done = offmem("doctor", "--json", cwd=project, check=False)
    return done.returncode, json.loads(done.stdout)


def by_name(report: dict, name: str) -> list[dict]:
    found = [c for c in report["checks"] if c["name"] == name]
    assert found, f"no {name!r} check in {[c['name'] for c in report['checks']]}"
    return found


def one(report: dict, name: str) -> dict:
    (check,) = by_name(report, name)
    return check


def defaults() -> dict:
    return load_catalog().defaults


def test_fresh_home_reports_missing_models_and_hooks_as_failures_with_fixes(project):
    code, report = doctor(project)
    assert code == 1 and report["ok"] is False
    assert one(report, "python")["status"] == OK
    for role in ("embedder", "summarizer"):
        check = one(report, f"{role} model")
        assert check["status"] == FAIL
        assert check["fix"] == f"offmem pull-models {defaults()[role]}"
        assert "not installed" in check["detail"]
    hooks = one(report, "hooks")
    assert hooks["status"] == FAIL and hooks["fix"] == "offmem install"
    assert one(report, "mcp server")["status"] == WARN
    assert one(report, "database")["status"] == WARN  # no database yet is not an error
    assert one(report, "worker")["status"] == WARN and one(report, "worker")["fix"] == "offmem worker start"


def test_human_output_names_each_fix_and_exits_1(project):
    done = offmem("doctor", cwd=project, check=False)
    assert done.returncode == 1
    assert f"fix: offmem pull-models {defaults()['summarizer']}" in done.stdout
    assert "fix: offmem install" in done.stdout
    assert "failed" in done.stdout.splitlines()[-1]


def test_pull_models_and_install_turn_the_failures_ok(project):
    offmem("pull-models", "--defaults", "--json")
    offmem("install", "--json", cwd=project)
    code, report = doctor(project)
    failed = [c for c in report["checks"] if c["status"] == FAIL]
    assert code == 0 and report["ok"] is True, failed
    for name in ("embedder model", "summarizer model", "mcp server"):
        assert one(report, name)["status"] == OK, one(report, name)
    assert one(report, "embedder model")["detail"].endswith("run by numpy (no PyTorch)")
    assert [c["status"] for c in by_name(report, "hooks")] == [OK]
    hook = one(report, "hook command")
    assert hook["status"] == OK and "exits 0 in" in hook["detail"] and "run.py" in hook["detail"]
    assert one(report, "llama.cpp")["status"] == OK


def test_damaged_model_is_a_failure_that_names_the_forced_pull(project):
    settings = load_settings()
    name = defaults()["embedder"]
    pull_models(settings, [name])
    weights = next(p for p in (settings.models_dir / name).rglob("*.safetensors"))
    with open(weights, "r+b") as fh:
        fh.seek(1000)
        fh.write(b"\0" * 64)
    code, report = doctor(project)
    check = one(report, "embedder model")
    assert code == 1 and check["status"] == FAIL and "damaged" in check["detail"]
    assert check["fix"] == f"offmem pull-models --force {name}"


def _real_database(home: Path) -> Path:
    replay(fixture_payloads())  # the real hook writes the real schema and events
    path = home / "offmem.db"
    assert path.exists()
    return path


def _smash_root_page(path: Path, table: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with open(path, "r+b") as fh:
        fh.seek((root - 1) * page)
        fh.write(b"\x0d" + b"\xff" * 11)  # a leaf-page type with an impossible header


def test_healthy_database_reports_schema_queue_and_spool(offmem_home, project):
    path = _real_database(offmem_home)
    spool = offmem_home / "spool"
    spool.mkdir(exist_ok=True)
    (spool / "waiting.json").write_text("{}")
    _code, report = doctor(project)
    check = one(report, "database")
    assert check["status"] == OK, check
    assert f"schema v{LATEST}" in check["detail"] and "1 spool files waiting" in check["detail"]
    pending = sqlite3.connect(path).execute("SELECT count(*) FROM events WHERE status='pending'").fetchone()[0]
    assert pending > 0 and f"{pending} events queued" in check["detail"]


@pytest.mark.parametrize("damage", ["garbage file", "smashed b-tree page"])
def test_corrupt_database_is_a_failure(offmem_home, project, damage):
    path = _real_database(offmem_home)
    if damage == "garbage file":
        path.write_bytes(b"not a database " * 400)
        for extra in ("-wal", "-shm"):
            Path(str(path) + extra).unlink(missing_ok=True)
    else:
        _smash_root_page(path, "events")
    code, report = doctor(project)
    check = one(report, "database")
    assert code == 1 and check["status"] == FAIL and "damaged" in check["detail"]
    assert check["fix"].startswith(f"mv {path} {path}.corrupt")


def _database_at_schema(path: Path, version: int) -> None:
    """A database as an offmem that knew migrations up to ``version`` left it."""
    from offmem.store import migrations

    conn = sqlite3.connect(path, isolation_level=None)
    for fn in migrations.MIGRATIONS:
        number = int(fn.__name__[1:4])
        if number > version:
            break
        conn.execute("BEGIN")
        fn(conn)
        conn.execute("INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, 'then')", (number, fn.__name__))
        conn.execute("COMMIT")
    conn.execute(f"PRAGMA user_version = {version}")
    conn.close()


@pytest.mark.skipif(LATEST < 2, reason="needs an older schema to exist")
def test_older_schema_warns_until_offmem_migrates_it(offmem_home, project):
    offmem_home.mkdir()
    path = offmem_home / "offmem.db"
    sqlite3.connect(path).execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    ).connection.close()
    _database_at_schema(path, LATEST - 1)
    _code, report = doctor(project)
    check = one(report, "database")
    assert check["status"] == WARN and f"schema v{LATEST - 1}" in check["detail"]
    offmem(*check["fix"].split("#")[0].split()[1:], cwd=project)  # the fix: `offmem status` migrates
    _code, report = doctor(project)
    assert one(report, "database")["status"] == OK


def test_newer_schema_fails_and_names_the_upgrade(offmem_home, project):
    path = _real_database(offmem_home)
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, 'm999_future', 'later')", (LATEST + 1,))
    conn.commit()
    conn.close()
    code, report = doctor(project)
    check = one(report, "database")
    assert code == 1 and check["status"] == FAIL and "newer offmem" in check["detail"]
    assert "--upgrade" in check["fix"]


def _user_settings() -> Path:
    return Path(os.environ["HOME"]) / ".claude" / "settings.json"


def test_hook_whose_interpreter_is_gone_fails(project, tmp_path):
    offmem("install", "--json", cwd=project)
    path = _user_settings()
    gone = str(tmp_path / "moved-venv" / "bin" / "python3")
    path.write_text(path.read_text().replace(sys.executable, gone))
    code, report = doctor(project)
    check = one(report, "hook command")
    assert code == 1 and check["status"] == FAIL
    assert gone in check["detail"] and check["fix"].startswith("offmem install")


def test_hook_that_is_not_offmems_fails_without_being_run(project, tmp_path):
    script = tmp_path / "broken-hook"
    script.write_text(f"#!/bin/sh\ntouch {tmp_path / 'ran'}\necho 'Traceback: boom' >&2\nexit 3\n")
    script.chmod(0o755)
    handler = {"type": "command", "command": f"{script}  # offmem-hook"}
    path = _user_settings()
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"hooks": {"Stop": [{"hooks": [handler]}]}}))
    code, report = doctor(project)
    hooks = one(report, "hooks")
    assert hooks["status"] == WARN and "SessionStart" in hooks["detail"]  # only one of the events
    check = one(report, "hook command")
    assert code == 1 and check["status"] == FAIL
    assert "not the hook this offmem installs" in check["detail"] and not (tmp_path / "ran").exists()


def test_hooks_in_both_scopes_warn_about_double_capture(project):
    offmem("install", "--json", cwd=project)
    offmem("install", "--scope", "project", "--no-mcp", "--json", cwd=project)
    _code, report = doctor(project)
    statuses = [c["status"] for c in by_name(report, "hooks")]
    assert statuses.count(OK) == 2 and statuses.count(WARN) == 1


def test_mcp_registration_pointing_at_a_missing_program_fails(project, tmp_path):
    offmem("install", "--json", cwd=project)
    path = Path(os.environ["HOME"]) / ".claude.json"
    data = json.loads(path.read_text())
    data["mcpServers"]["offmem"]["command"] = str(tmp_path / "nowhere" / "offmem")
    path.write_text(json.dumps(data))
    code, report = doctor(project)
    assert code == 1 and one(report, "mcp server")["status"] == FAIL


def test_running_worker_is_ok(project, monkeypatch):
    monkeypatch.setenv("OFFMEM_SUMMARIZER_BACKEND", "rules")
    monkeypatch.setenv("OFFMEM_EMBEDDER_BACKEND", "none")
    monkeypatch.setenv("OFFMEM_WORKER_PORT", "0")
    offmem("worker", "start", "--json")
    try:
        _code, report = doctor(project)
    finally:
        offmem("worker", "stop", check=False)
    check = one(report, "worker")
    assert check["status"] == OK and check["detail"].startswith("running (pid ")
    # with backends that need no local model, missing models are not failures
    assert one(report, "summarizer model")["status"] == OK
    assert one(report, "chroma")["status"] == OK


def _context(project: Path) -> Context:
    return Context(load_settings(), str(project))


def test_chroma_index_count_and_a_vectors_from_another_model(project):
    from offmem.search.chroma import ChromaIndex

    settings = load_settings()
    pull_models(settings, [defaults()["embedder"]])
    index = ChromaIndex.from_settings(settings)
    index.create({"model": defaults()["embedder"], "dim": 3, "format": "v1"})
    index.upsert(["a", "b", "c"], [[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]], [{"k": 1}, {"k": 2}, {"k": 3}])
    (check,) = check_chroma(_context(project))
    assert check.status == OK and "3 vectors" in check.detail

    index.drop()
    index.create({"model": "some-other-embedder", "dim": 3, "format": "v1"})
    (check,) = check_chroma(_context(project))
    assert check.status == WARN and "some-other-embedder" in check.detail and check.fix == "offmem reindex"


def test_chroma_server_that_is_not_running_fails(project, monkeypatch):
    import socket

    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("OFFMEM_CHROMA_MODE", "http")
    monkeypatch.setenv("OFFMEM_CHROMA_PORT", str(port))
    (check,) = check_chroma(_context(project))
    assert check.status == FAIL and f"--port {port}" in check.fix


def test_llama_cpp_probe_reports_the_installed_build():
    import llama_cpp

    probe = probe_llama_cpp()
    assert probe["version"] == llama_cpp.__version__
    assert isinstance(probe["gpu"], bool) and "CPU" in probe["info"]


def test_llama_cpp_that_crashes_on_import_fails_without_killing_the_doctor(project, tmp_path, monkeypatch):
    import offmem.doctor.llama as doctor_module

    # what a build for another CPU does on import: dies of SIGILL (the probe runs isolated, so
    # no shadowing llama_cpp on PYTHONPATH can stand in for it; the probe's code does)
    monkeypatch.setattr(doctor_module, "_LLAMA_PROBE", "import os, signal\nos.kill(os.getpid(), signal.SIGILL)\n")
    (check,) = check_llama_cpp(_context(project))
    assert check.status == FAIL and "crashed (signal 4)" in check.detail
    assert "pip install --force-reinstall" in check.fix

    monkeypatch.setenv("OFFMEM_SUMMARIZER_BACKEND", "rules")
    (check,) = check_llama_cpp(_context(project))
    assert check.status == OK and "not needed" in check.detail


def test_cpu_features_parse_llama_system_info():
    info = "CPU : SSE3 = 1 | AVX = 1 | AVX2 = 0 | FMA = 1 | \nMetal : EMBED_LIBRARY = 1 | "
    assert cpu_features(info) == ["SSE3", "AVX", "FMA", "EMBED_LIBRARY"]


def test_parse_hook_command_splits_env_program_launcher_and_comment():
    parsed = parse_hook_command("OFFMEM_HOME='/a b/h' /v/bin/python3 -S /src/offmem/hooks/run.py  # offmem-hook")
    assert parsed.env == {"OFFMEM_HOME": "/a b/h"}
    assert parsed.program == "/v/bin/python3" and parsed.launcher == "/src/offmem/hooks/run.py"


def test_a_crashing_check_is_reported_not_raised(project, monkeypatch):
    import offmem.doctor as doctor_module

    def broken(ctx):
        raise RuntimeError("surprise")

    monkeypatch.setattr(doctor_module, "CHECKS", [broken])
    (check,) = run_checks(load_settings(), str(project))
    assert check.status == FAIL and "RuntimeError: surprise" in check.detail
