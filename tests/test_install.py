"""`offmem install` / `uninstall` edit Claude Code's settings safely."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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
    from offmem.store.db import Store

    with Store.open(Path(os.environ["OFFMEM_HOME"]) / "offmem.db") as store:
        stored = store.counts("/home/dev/shop-api")["observations"]
    assert stored >= 3  # one memory per unit of work: the fix, the new notes, the exploration
    assert status["project_counts"]["observations"] == stored
    other = json.loads(run("status", "--json", "--project", str(tmp_path)).stdout)
    assert other["project_counts"]["sessions"] == 0


# ---------------------------------------------------------------------- issue 12 item 6: modes, symlinks


def run_with_umask(mask: int, *args, cwd=None):
    result = subprocess.run(OFFMEM + list(args), capture_output=True, text=True, cwd=cwd, env=os.environ.copy(),
                            preexec_fn=lambda: os.umask(mask))
    assert result.returncode == 0, result.stderr
    return result


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o7777


def test_install_and_uninstall_keep_each_file_s_mode():
    claude_json = Path(os.environ["HOME"]) / ".claude.json"
    claude_json.write_text(json.dumps({"numStartups": 7, "oauthAccount": {"emailAddress": "me@example.com"}}))
    claude_json.chmod(0o600)  # as Claude Code writes it: it holds the account
    path = user_settings()
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(EXISTING))
    path.chmod(0o640)
    run_with_umask(0o022, "install")
    assert json.loads(claude_json.read_text())["mcpServers"]["offmem"]["args"][-1] == "mcp"
    assert mode(claude_json) == 0o600 and mode(path) == 0o640
    backups = list(Path(os.environ["HOME"]).glob(".claude.json.offmem-backup-*"))
    assert len(backups) == 1 and mode(backups[0]) == 0o600
    run_with_umask(0o002, "uninstall")
    assert "offmem" not in json.loads(claude_json.read_text()).get("mcpServers", {})
    assert mode(claude_json) == 0o600 and mode(path) == 0o640


def test_new_user_settings_files_are_private():
    run_with_umask(0o022, "install")
    assert mode(Path(os.environ["HOME"]) / ".claude.json") == 0o600
    assert mode(user_settings()) == 0o600


def test_install_writes_through_symlinks_to_their_targets(tmp_path):
    dotfiles = tmp_path / "dotfiles"
    (dotfiles / "claude").mkdir(parents=True)
    real_settings = dotfiles / "claude" / "settings.json"
    real_settings.write_text(json.dumps(EXISTING))
    real_settings.chmod(0o644)
    real_claude_json = dotfiles / "claude.json"
    real_claude_json.write_text("{}")
    real_claude_json.chmod(0o600)
    path = user_settings()
    path.parent.mkdir(parents=True)
    path.symlink_to(Path("..") / ".." / "dotfiles" / "claude" / "settings.json")  # relative, as stow makes them
    claude_json = Path(os.environ["HOME"]) / ".claude.json"
    claude_json.symlink_to(real_claude_json)

    run_with_umask(0o022, "install")
    assert path.is_symlink() and claude_json.is_symlink()
    assert "SessionStart" in json.loads(real_settings.read_text())["hooks"]
    assert "offmem" in json.loads(real_claude_json.read_text())["mcpServers"]
    assert mode(real_settings) == 0o644 and mode(real_claude_json) == 0o600
    assert not list(dotfiles.rglob("*.offmem-tmp")) and not list(path.parent.glob("*tmp*"))

    run_with_umask(0o022, "uninstall")
    assert path.is_symlink() and claude_json.is_symlink()
    assert json.loads(real_settings.read_text()) == EXISTING
    assert "offmem" not in json.loads(real_claude_json.read_text()).get("mcpServers", {})


def test_a_new_project_settings_file_follows_the_umask(tmp_path):
    project = tmp_path / "proj"
    project.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    run_with_umask(0o022, "install", "--scope", "project", "--no-mcp", cwd=project)
    assert mode(project / ".claude" / "settings.json") == 0o644  # shared with the repository, like any file there
    assert mode(project / ".claude") == 0o755


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace to watch the system calls")
def test_the_file_and_its_folder_are_fsynced_around_the_rename(tmp_path):
    path = user_settings()
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(EXISTING))
    trace = tmp_path / "trace"
    subprocess.run(["strace", "-f", "-qq", "-e", "trace=openat,fsync,rename,renameat,renameat2,close",
                    "-o", str(trace), *OFFMEM, "install", "--no-mcp"], check=True, capture_output=True)
    calls = [line.split(None, 1)[1] for line in trace.read_text().splitlines() if line.split(None, 1)[1:]]
    fds: dict[str, str] = {}  # fd -> path while open
    synced: list[str] = []
    renamed_at = None
    for i, call in enumerate(calls):
        if call.startswith("openat(") and " = " in call and not call.endswith("= -1"):
            fd = call.rsplit(" = ", 1)[1].split()[0]
            fds[fd] = call.split('"')[1]
        elif call.startswith("fsync("):
            synced.append(fds.get(call[6:].split(")")[0], "?"))
        elif call.startswith("rename") and f'"{path}"' in call:
            renamed_at = len(synced)
            tmp_name = call.split('"')[1]
    assert renamed_at is not None, "no rename onto settings.json"
    assert tmp_name in synced[:renamed_at], "the new content was not fsynced before the rename"
    assert str(path.parent) in synced[renamed_at:], "the folder was not fsynced after the rename"
