"""`offmem install` / `uninstall` edit Claude Code's settings safely."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

OFFMEM = [str(Path(sys.executable).parent / "offmem")]


def run(*args, cwd=None):
    result = subprocess.run(OFFMEM + list(args), capture_output=True, text=True, cwd=cwd, env=os.environ.copy())
    assert result.returncode == 0, result.stderr
    return result


def user_settings() -> Path:
    return Path(os.environ["HOME"]) / ".claude" / "settings.json"


EXISTING = {
    "model": "opus",
    "permissions": {"allow": ["Bash(ls:*)"]},
    "hooks": {
        "PostToolUse": [{"matcher": "Edit", "hooks": [{"type": "command", "command": "prettier --write"}]}],
        "Notification": [{"hooks": [{"type": "command", "command": "notify-send hi"}]}],
    },
}


def test_install_into_user_settings_honours_home_and_keeps_other_settings():
    path = user_settings()
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(EXISTING))
    result = json.loads(run("install", "--json").stdout)
    assert result["settings"] == str(path)
    data = json.loads(path.read_text())
    assert data["model"] == "opus" and data["permissions"] == EXISTING["permissions"]
    assert data["hooks"]["Notification"] == EXISTING["hooks"]["Notification"]
    post = data["hooks"]["PostToolUse"]
    assert post[0] == EXISTING["hooks"]["PostToolUse"][0]
    for event in ("SessionStart", "UserPromptSubmit", "PostToolUse", "PostToolUseFailure", "PreCompact", "Stop", "SessionEnd"):
        commands = [h["command"] for g in data["hooks"][event] for h in g["hooks"]]
        ours = [c for c in commands if "offmem-hook" in c]
        assert len(ours) == 1, event
        # absolute interpreter and launcher: no activated venv needed
        assert sys.executable in ours[0] and "/offmem/hooks/run.py" in ours[0]
    backups = list(path.parent.glob("settings.json.offmem-backup-*"))
    assert len(backups) == 1 and json.loads(backups[0].read_text()) == EXISTING


def test_install_is_idempotent():
    run("install")
    first = user_settings().read_text()
    run("install")
    assert user_settings().read_text() == first


def test_uninstall_removes_only_offmem():
    path = user_settings()
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(EXISTING))
    run("install")
    run("uninstall")
    assert json.loads(path.read_text()) == EXISTING


def test_installed_command_runs_the_hook(offmem_home):
    run("install")
    data = json.loads(user_settings().read_text())
    command = data["hooks"]["PostToolUse"][-1]["hooks"][0]["command"]
    payload = json.loads((Path(__file__).parent / "fixtures" / "hook-payloads.jsonl").read_text().splitlines()[3])
    result = subprocess.run(["sh", "-c", command], input=json.dumps(payload).encode(), capture_output=True)
    assert result.returncode == 0 and result.stdout == b""
    assert (offmem_home / "offmem.db").exists()


def test_project_scope_writes_project_settings(tmp_path):
    project = tmp_path / "proj"
    (project / "sub").mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    run("install", "--scope", "project", "--no-mcp", cwd=project / "sub")
    data = json.loads((project / ".claude" / "settings.json").read_text())
    assert "SessionStart" in data["hooks"]
    assert not user_settings().exists()
    status = json.loads(run("status", "--json", cwd=project / "sub").stdout)
    assert status["project"] == str(project.resolve())
    assert "PostToolUse" in status["hooks"]["project"]["events"]
    assert status["hooks"]["user"]["events"] == []


def test_mcp_server_registered_in_claude_json():
    run("install")
    data = json.loads((Path(os.environ["HOME"]) / ".claude.json").read_text())
    server = data["mcpServers"]["offmem"]
    assert server["args"][-1] == "mcp"
    assert Path(server["command"]).is_absolute()


def test_broken_settings_file_is_a_clear_error_and_left_alone():
    path = user_settings()
    path.parent.mkdir(parents=True)
    path.write_text("{ not json")
    result = subprocess.run(OFFMEM + ["install"], capture_output=True, text=True)
    assert result.returncode == 1
    assert "cannot read" in result.stderr and str(path) in result.stderr
    assert path.read_text() == "{ not json"


def test_status_counts_for_current_project(offmem_home, tmp_path):
    from conftest import fixture_payloads, replay

    replay(fixture_payloads())
    run("process", "--rules")
    status = json.loads(run("status", "--json", "--project", "/home/dev/shop-api").stdout)
    assert status["project_counts"]["sessions"] == 2
    assert status["project_counts"]["observations"] >= 5
    other = json.loads(run("status", "--json", "--project", str(tmp_path)).stdout)
    assert other["project_counts"]["sessions"] == 0
