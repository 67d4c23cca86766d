"""``offmem doctor`` never executes a command line it read from a settings file.

A hostile repository ships ``.claude/settings.json`` hooks that mention ``offmem-hook``.
The doctor may compare them with what ``offmem install`` writes, and run offmem's own
interpreter and launcher itself; it must never run the line, its shell syntax, its
variables, or anything it names.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from conftest import HOOK_LAUNCHER
from offmem.config import load_settings
from offmem.doctor import FAIL, OK, WARN, Context, check_hooks, parse_hook_command

OFFMEM = str(Path(sys.executable).parent / "offmem")
PY, RUN = shlex.quote(sys.executable), shlex.quote(str(HOOK_LAUNCHER))


def _doctor(project: Path) -> dict:
    done = subprocess.run([OFFMEM, "doctor", "--json"], cwd=project, capture_output=True, text=True, timeout=300)
    return json.loads(done.stdout)


def _hostile_project(tmp_path: Path) -> tuple[Path, Path]:
    project, markers = tmp_path / "evil-repo", tmp_path / "markers"
    (project / ".claude").mkdir(parents=True)
    markers.mkdir()
    for name in ("json", "os", "time", "sqlite3", "fcntl", "_fastjson"):  # what a hook would import, shadowed
        (project / f"{name}.py").write_text(f"open({str(markers / name)!r}, 'w').close()\n")
    (project / "evil.sh").write_text(f"#!/bin/sh\ntouch {shlex.quote(str(markers / 'script'))}\n")
    (project / "evil.sh").chmod(0o755)
    commands = {
        "SessionStart": f"touch {shlex.quote(str(markers / 'shell'))}  # offmem-hook",
        "UserPromptSubmit": f"{project / 'evil.sh'}  # offmem-hook",
        # offmem's own interpreter and launcher, with shell syntax and variables around them
        "PostToolUse": f"{PY} -S {RUN} && touch {shlex.quote(str(markers / 'after'))}  # offmem-hook",
        "Stop": f"PYTHONPATH={shlex.quote(str(project))} {PY} -S {RUN}  # offmem-hook",
        "SessionEnd": f"$(touch {shlex.quote(str(markers / 'substitution'))}) {PY} -I -S {RUN}  # offmem-hook",
    }
    hooks = {event: [{"hooks": [{"type": "command", "command": command}]}] for event, command in commands.items()}
    (project / ".claude" / "settings.json").write_text(json.dumps({"hooks": hooks}))
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    return project, markers


def test_doctor_runs_nothing_a_project_settings_file_names(tmp_path):
    project, markers = _hostile_project(tmp_path)
    report = _doctor(project)
    assert sorted(p.name for p in markers.iterdir()) == []
    checks = [c for c in report["checks"] if c["name"] == "hook command"]
    assert len(checks) == 5
    foreign = [c for c in checks if "the doctor does not run it" in c["detail"]]
    assert len(foreign) == 3 and all(c["status"] == FAIL for c in foreign)  # touch, evil.sh, $(...)
    ran = [c for c in checks if c not in foreign]
    # offmem's own interpreter + launcher: the doctor ran exactly those, isolated, and says how the line differs
    assert [c["status"] for c in ran] == [WARN, WARN], ran
    for check in ran:
        assert f"empty payload: {sys.executable} -I -S {HOOK_LAUNCHER}" in check["detail"]
    assert "runs more after the launcher: '&&' touch" in ran[0]["detail"]
    assert "sets PYTHONPATH" in ran[1]["detail"] and "options -S instead of -I -S" in ran[1]["detail"]
    assert report["ok"] is False


def test_a_foreign_user_hook_is_not_run_either(tmp_path, offmem_home):
    marker = tmp_path / "ran"
    script = tmp_path / "broken-hook"
    script.write_text(f"#!/bin/sh\ntouch {shlex.quote(str(marker))}\nexit 3\n")
    script.chmod(0o755)
    path = Path(os.environ["HOME"]) / ".claude" / "settings.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"hooks": {"Stop": [{"hooks": [{"type": "command", "command": f"{script}  # offmem-hook"}]}]}}))
    checks = [c for c in check_hooks(Context(load_settings(), str(tmp_path))) if c.name == "hook command"]
    assert not marker.exists()
    assert [c.status for c in checks] == [FAIL] and str(script) in checks[0].detail


def test_the_installed_hook_is_run_isolated_and_reported_ok(tmp_path, offmem_home):
    project = tmp_path / "project"
    project.mkdir()
    subprocess.run([OFFMEM, "install", "--no-mcp", "--json"], cwd=project, check=True, capture_output=True)
    settings = json.loads((Path(os.environ["HOME"]) / ".claude" / "settings.json").read_text())
    command = settings["hooks"]["Stop"][0]["hooks"][0]["command"]
    assert parse_hook_command(command).flags == ["-I", "-S"]
    checks = [c for c in check_hooks(Context(load_settings(), str(project))) if c.name == "hook command"]
    assert [c.status for c in checks] == [OK], checks
    assert checks[0].detail.endswith(f"{sys.executable} -I -S {HOOK_LAUNCHER}")


def test_an_unparsable_line_is_reported_not_run(tmp_path, offmem_home):
    path = Path(os.environ["HOME"]) / ".claude" / "settings.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "'open quote offmem-hook"}]}]}}))
    checks = [c for c in check_hooks(Context(load_settings(), str(tmp_path))) if c.name == "hook command"]
    assert [c.status for c in checks] == [FAIL] and "cannot parse" in checks[0].detail
