"""offmem as a Claude Code plugin: the files, the launcher, and `offmem install` / `doctor` next to it.

The launcher (``plugins/offmem/scripts/launch``) runs here as Claude Code runs it: ``sh`` with
the payload on stdin, ``CLAUDE_PLUGIN_ROOT`` and ``CLAUDE_PROJECT_DIR`` in the environment.
``tests/test_plugin_e2e.py`` installs the plugin into the real CLI.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from offmem.install import HOOK_EVENTS, install_hooks, plugin_hooks, record_runtime, settings_path
from tests.conftest import fixture_payloads

REPO = Path(__file__).resolve().parent.parent
PLUGIN = REPO / "plugins" / "offmem"
LAUNCHER = PLUGIN / "scripts" / "launch"
OFFMEM = str(Path(sys.executable).parent / "offmem")
BARE_PATH = "/usr/bin:/bin"  # sh, grep, dirname; no offmem on it


def payload(event: str, tool: str | None = None) -> dict:
    for p in fixture_payloads():
        if p["hook_event_name"] == event and (tool is None or p.get("tool_name") == tool):
            return p
    raise LookupError(event)


def launch(args: list[str], data: dict | bytes, project: Path, *, path: str = BARE_PATH,
           env: dict | None = None, timeout: float = 30, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the plugin's launcher the way hooks/hooks.json does."""
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    full = {**os.environ, "PATH": path, "CLAUDE_PLUGIN_ROOT": str(PLUGIN), "CLAUDE_PROJECT_DIR": str(project),
            **(env or {})}
    return subprocess.run(["sh", str(LAUNCHER), *args], input=raw, capture_output=True, cwd=cwd or project,
                          env=full, timeout=timeout)


def stored_events(home: Path) -> list[tuple]:
    db = home / "offmem.db"
    if not db.exists():
        return []
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT kind, tool_name FROM events ORDER BY id").fetchall()
    finally:
        conn.close()


@pytest.fixture
def project(tmp_path) -> Path:
    folder = tmp_path / "shop-api"
    folder.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=folder, check=True)
    return folder


def enable_plugin(settings: Path, key: str = "offmem@offmem") -> None:
    settings.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(settings.read_text()) if settings.exists() else {}
    data.setdefault("enabledPlugins", {})[key] = True
    settings.write_text(json.dumps(data, indent=2))


# ---------------------------------------------------------------------- the files


def test_hooks_json_registers_exactly_what_offmem_install_registers(offmem_home):
    shipped = json.loads((PLUGIN / "hooks" / "hooks.json").read_text())
    assert shipped == plugin_hooks(), "regenerate it: python -m offmem.install plugin-hooks > plugins/offmem/hooks/hooks.json"
    written = json.loads(Path(install_hooks("user")["settings"]).read_text())["hooks"]
    assert set(shipped["hooks"]) == set(written) == set(HOOK_EVENTS)
    for event, groups in shipped["hooks"].items():
        (group,) = groups
        (ours,) = written[event]
        assert group.get("matcher") == ours.get("matcher"), event
        assert group["hooks"][0]["timeout"] == ours["hooks"][0]["timeout"], event
        assert group["hooks"][0]["command"] == f'sh "${{CLAUDE_PLUGIN_ROOT}}/scripts/launch" hook {event}'


def test_marketplace_lists_the_plugin_folder_and_the_versions_agree():
    import offmem

    market = json.loads((REPO / ".claude-plugin" / "marketplace.json").read_text())
    (entry,) = market["plugins"]
    root = (REPO / entry["source"]).resolve()
    assert root == PLUGIN
    manifest = json.loads((root / ".claude-plugin" / "plugin.json").read_text())
    assert manifest["name"] == entry["name"] == "offmem"
    # Claude Code caches a plugin per version: a release must bump all three together.
    assert manifest["version"] == entry["version"] == offmem.__version__
    mcp = json.loads((root / ".mcp.json").read_text())
    assert mcp["mcpServers"]["offmem"]["args"] == ["${CLAUDE_PLUGIN_ROOT}/scripts/launch", "mcp"]
    assert "hooks" not in manifest and "mcpServers" not in manifest  # auto-loaded; declaring them runs them twice


def test_the_plugin_folder_is_small():
    """Claude Code copies the plugin's whole folder into its cache: the repository root (with a
    user's .venv, .cache and models) would be gigabytes; this folder is a few files."""
    files = sorted(str(p.relative_to(PLUGIN)) for p in PLUGIN.rglob("*") if p.is_file())
    assert files == [".claude-plugin/plugin.json", ".mcp.json", "README.md", "hooks/hooks.json", "scripts/hook.py",
                     "scripts/launch"]
    assert sum((PLUGIN / f).stat().st_size for f in files) < 32_000
    assert not (REPO / "hooks").exists() and not (REPO / ".mcp.json").exists()  # nothing beside offmem/hooks/


# ---------------------------------------------------------------------- the launcher


def test_the_launcher_runs_the_recorded_offmem(offmem_home, project):
    record = record_runtime()
    assert Path(record["runtime"]).stat().st_mode & 0o777 == 0o600
    done = launch(["hook", "PostToolUse"], payload("PostToolUse", "Read"), project)
    assert done.returncode == 0 and done.stdout == b"", done.stderr
    assert stored_events(offmem_home) == [("PostToolUse", "Read")]


def test_without_offmem_session_start_says_how_to_install_it_and_nothing_else_does(offmem_home, project):
    began = time.monotonic()
    start = launch(["hook", "SessionStart"], payload("SessionStart"), project)
    assert start.returncode == 0, start.stderr
    assert time.monotonic() - began < 2  # a few shell built-ins and dirname calls
    out = json.loads(start.stdout)
    context = out["hookSpecificOutput"]["additionalContext"]
    assert out["hookSpecificOutput"]["hookEventName"] == "SessionStart"
    # the plugin inside this checkout: the command is this checkout's setup script
    assert f"install it with: bash {REPO}/scripts/setup.sh" in context
    assert out["systemMessage"] == context
    for args, data in ((["hook", "PostToolUse"], payload("PostToolUse", "Read")),
                       (["hook", "UserPromptSubmit"], payload("UserPromptSubmit")),
                       (["hook", "SessionStart"], {**payload("SessionStart"), "source": "compact"})):
        done = launch(args, data, project)
        assert (done.returncode, done.stdout) == (0, b""), (args, done.stderr)
    mcp = launch(["mcp"], b"", project)
    assert mcp.returncode != 0 and b"not installed" in mcp.stderr
    assert stored_events(offmem_home) == []


@pytest.mark.parametrize("folder", ["offmem-copy", "my offmem copy"])
def test_the_install_command_comes_from_the_marketplace_the_plugin_was_installed_from(offmem_home, project, tmp_path,
                                                                                      folder):
    market = tmp_path / folder
    (market / "scripts").mkdir(parents=True)
    (market / "scripts" / "setup.sh").write_text("#!/bin/sh\n")
    plugins = Path(os.environ["HOME"]) / ".claude" / "plugins"
    cached = plugins / "cache" / "offmem" / "offmem" / "0.1.0"
    (cached / "scripts").mkdir(parents=True)
    (cached / "scripts" / "launch").write_bytes(LAUNCHER.read_bytes())
    (plugins / "known_marketplaces.json").write_text(json.dumps({
        "other": {"source": {"source": "directory", "path": "/elsewhere"}, "installLocation": "/elsewhere"},
        "offmem": {"source": {"source": "directory", "path": str(market)}, "installLocation": str(market)},
    }, indent=2))
    done = launch(["hook", "SessionStart"], payload("SessionStart"), project, env={"CLAUDE_PLUGIN_ROOT": str(cached)})
    context = json.loads(done.stdout)["hookSpecificOutput"]["additionalContext"]
    command = f"bash {market}/scripts/setup.sh" if " " not in folder else f"bash '{market}/scripts/setup.sh'"
    assert context.endswith(f"install it with: {command}"), context


@pytest.mark.parametrize("found", ["recorded", "on PATH"])
def test_the_launcher_steps_aside_while_offmem_hooks_are_in_a_settings_file(offmem_home, project, found):
    install_hooks("user")  # records the runtime too
    path = BARE_PATH
    if found == "on PATH":
        (offmem_home / "runtime").unlink()
        path = f"{Path(sys.executable).parent}:{BARE_PATH}"
    done = launch(["hook", "PostToolUse"], payload("PostToolUse", "Read"), project, path=path)
    assert (done.returncode, done.stdout) == (0, b"")
    assert stored_events(offmem_home) == []
    settings_path("user").unlink()
    install_hooks("project", str(project))  # <project>/.claude/settings.json
    launch(["hook", "PostToolUse"], payload("PostToolUse", "Read"), project, path=path)
    assert stored_events(offmem_home) == []
    (project / ".claude" / "settings.json").unlink()
    if found == "on PATH":
        (offmem_home / "runtime").unlink()
    done = launch(["hook", "PostToolUse"], payload("PostToolUse", "Read"), project, path=path)
    assert stored_events(offmem_home) == [("PostToolUse", "Read")], done.stderr


def test_without_a_record_the_launcher_runs_offmem_hook_from_path_isolated(offmem_home, project, tmp_path):
    planted = tmp_path / "planted"
    planted.mkdir()
    marker = tmp_path / "imported"
    (planted / "sitecustomize.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    path = f"{Path(sys.executable).parent}:{BARE_PATH}"
    done = launch(["hook", "PostToolUse"], payload("PostToolUse", "Read"), project, path=path,
                  env={"PYTHONPATH": str(planted)})
    assert done.returncode == 0, done.stderr
    assert stored_events(offmem_home) == [("PostToolUse", "Read")]
    assert not marker.exists(), "the console script ran without -I: PYTHONPATH was honoured"


def test_an_offmem_hook_inside_the_opened_project_is_never_run(offmem_home, project, tmp_path):
    marker = tmp_path / "ran"
    for folder in (project / "bin", project):
        folder.mkdir(exist_ok=True)
        script = folder / "offmem-hook"
        script.write_text(f"#!/bin/sh\ntouch {marker}\n")
        script.chmod(0o755)
    for path in (f"{project / 'bin'}:{BARE_PATH}", f"{project}:{BARE_PATH}", f".:{BARE_PATH}", f":{BARE_PATH}",
                 f"bin:{BARE_PATH}"):
        # CLAUDE_PROJECT_DIR as given, with or without a slash; the hook run in the project or elsewhere
        for named, cwd in ((str(project), project), (f"{project}/", project), (f"{project}/", Path("/"))):
            done = launch(["hook", "PostToolUse"], payload("PostToolUse", "Read"), project, path=path,
                          env={"CLAUDE_PROJECT_DIR": named}, cwd=cwd)
            assert done.returncode == 0, done.stderr
            assert not marker.exists(), (path, named, cwd)


def test_nothing_from_the_opened_project_is_imported_by_the_recorded_hook(offmem_home, project, tmp_path):
    record_runtime()
    marker = tmp_path / "imported"
    for name in ("sitecustomize.py", "usercustomize.py", "json.py", "sqlite3.py", "os.py"):
        (project / name).write_text(f"open({str(marker)!r}, 'a').write({name!r})\n")
    done = launch(["hook", "PostToolUse"], payload("PostToolUse", "Read"), project,
                  env={"PYTHONPATH": str(project), "PYTHONSTARTUP": str(project / "json.py")})
    assert done.returncode == 0, done.stderr
    assert stored_events(offmem_home) == [("PostToolUse", "Read")]
    assert not marker.exists(), marker.read_text()


@pytest.mark.parametrize("found", ["recorded", "on PATH"])
def test_the_plugin_mcp_server_is_the_installed_offmem(offmem_home, project, found):
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    path = BARE_PATH
    if found == "recorded":
        record_runtime()
    else:
        path = f"{Path(sys.executable).parent}:{BARE_PATH}"
    params = StdioServerParameters(
        command="sh", args=[str(LAUNCHER), "mcp"], cwd=str(project),
        env={"PATH": path, "HOME": os.environ["HOME"], "OFFMEM_HOME": str(offmem_home),
             "OFFMEM_WORKER_AUTOSTART": "0", "OFFMEM_EMBEDDER_BACKEND": "none",
             "CLAUDE_PLUGIN_ROOT": str(PLUGIN), "CLAUDE_PROJECT_DIR": str(project)})

    async def tools() -> list[str]:
        async with Client(params) as client:
            return [t.name for t in (await client.list_tools()).tools]

    assert {"search", "timeline", "get_observations", "remember"} <= set(asyncio.run(asyncio.wait_for(tools(), 60)))


# ---------------------------------------------------------------------- offmem install / doctor


def run_offmem(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([OFFMEM, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_install_with_the_plugin_enabled_records_the_runtime_and_registers_nothing(offmem_home, project):
    user = settings_path("user")
    first = run_offmem("install", "--json", cwd=project)  # the settings route first
    assert first.returncode == 0, first.stderr
    assert json.loads(user.read_text())["hooks"]
    enable_plugin(user)

    done = run_offmem("install", cwd=project)
    assert done.returncode == 0, done.stderr
    assert "plugin is enabled (offmem@offmem" in done.stdout and "removed" in done.stdout
    assert "hooks" not in json.loads(user.read_text())  # nothing fires twice
    claude_json = json.loads((Path(os.environ["HOME"]) / ".claude.json").read_text())
    assert "offmem" not in claude_json.get("mcpServers", {})  # the plugin's .mcp.json serves it
    again = json.loads(run_offmem("install", "--json", cwd=project).stdout)
    assert again["events"] == [] and again["plugin"][0]["plugin"] == "offmem@offmem"
    runtime = Path(again["runtime"])
    assert runtime == offmem_home / "runtime"
    assert f"python={sys.executable}\n" in runtime.read_text()


def test_a_project_scope_install_sees_the_plugin_enabled_in_the_project(offmem_home, project):
    enable_plugin(project / ".claude" / "settings.local.json", "offmem@my-mirror")
    result = install_hooks("project", str(project))
    assert result["events"] == [] and result["plugin"][0]["plugin"] == "offmem@my-mirror"
    assert install_hooks("user")["events"] == list(HOOK_EVENTS)  # enabled for that project only
    enable_plugin(settings_path("user"), "other-plugin@offmem")  # another plugin of a marketplace named offmem
    assert install_hooks("user")["plugin"] == []


def install_copy(key: str = "offmem@offmem", events=None) -> Path:
    """What ``claude plugin install`` leaves: a copy of the plugin folder and its entry in installed_plugins.json."""
    plugins = Path(os.environ["HOME"]) / ".claude" / "plugins"
    folder = plugins / "cache" / key.partition("@")[2] / "offmem" / "0.1.0"
    shutil.copytree(PLUGIN, folder, dirs_exist_ok=True)
    if events is not None:
        hooks = json.loads((folder / "hooks" / "hooks.json").read_text())
        hooks["hooks"] = {e: g for e, g in hooks["hooks"].items() if e in events}
        (folder / "hooks" / "hooks.json").write_text(json.dumps(hooks))
    (plugins / "installed_plugins.json").write_text(json.dumps(
        {"version": 2, "plugins": {key: [{"scope": "user", "installPath": str(folder), "version": "0.1.0"}]}}))
    return folder


def doctor_rows(project: Path) -> list[dict]:
    done = run_offmem("doctor", "--json", cwd=project)
    return [row for row in json.loads(done.stdout)["checks"] if row["name"] in ("hooks", "hook command", "mcp server")]


def test_doctor_reports_which_route_captures(offmem_home, project):
    user = settings_path("user")
    run_offmem("install", cwd=project)
    rows = doctor_rows(project)
    assert rows[0]["status"] == "ok" and rows[0]["detail"].startswith("route: settings file, user scope")

    enable_plugin(user)  # the plugin added after the settings install: both are set up
    install_copy()
    rows = doctor_rows(project)
    assert rows[0]["status"] == "warn" and "step aside" in rows[0]["detail"], rows
    assert rows[0]["fix"] == "offmem uninstall"
    assert [r for r in rows if r["name"] == "mcp server"][0]["status"] == "warn"  # its tools twice

    run_offmem("install", cwd=project)  # with the plugin enabled: the plugin route alone
    rows = doctor_rows(project)
    assert [(r["name"], r["status"]) for r in rows] == [("hooks", "ok"), ("hook command", "ok"), ("mcp server", "ok")]
    assert rows[0]["detail"].startswith("route: plugin (offmem@offmem in ")

    (offmem_home / "runtime").unlink()
    rows = doctor_rows(project)
    assert rows[0]["status"] == "fail" and rows[0]["fix"].startswith("offmem install")


def test_doctor_names_a_plugin_enabled_but_not_installed_or_older_than_offmem(offmem_home, project):
    enable_plugin(settings_path("user"))
    run_offmem("install", cwd=project)
    rows = doctor_rows(project)
    assert rows[0]["status"] == "fail" and "no installed copy" in rows[0]["detail"], rows
    assert rows[0]["fix"] == "claude plugin install offmem@offmem"

    install_copy(events=["SessionStart", "PostToolUse", "Stop"])  # a copy of an older offmem
    rows = doctor_rows(project)
    statuses = [(r["name"], r["status"]) for r in rows]
    assert statuses[:3] == [("hooks", "ok"), ("hooks", "warn"), ("hook command", "ok")], rows
    assert "does not register PostToolUseFailure" in rows[1]["detail"]
    assert rows[1]["fix"] == "claude plugin marketplace update offmem && claude plugin update offmem@offmem"

    install_copy()
    assert [r["status"] for r in doctor_rows(project)] == ["ok", "ok", "ok"]


def test_an_unwritable_data_directory_fails_only_the_plugin_route(tmp_path, monkeypatch):
    from offmem.errors import InstallError

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("OFFMEM_HOME", str(blocker / "offmem"))  # cannot be created, not even by root
    result = install_hooks("user")
    assert result["events"] == list(HOOK_EVENTS) and result["runtime"] is None
    enable_plugin(settings_path("user"))
    with pytest.raises(InstallError, match="runtime"):
        install_hooks("user")


def test_status_names_the_enabled_plugin(offmem_home, project):
    enable_plugin(settings_path("user"))
    done = run_offmem("status", cwd=project)
    assert "Claude Code plugin: offmem@offmem enabled" in done.stdout, done.stdout + done.stderr
    status = json.loads(run_offmem("status", "--json", cwd=project).stdout)
    assert status["plugin"] == [{"plugin": "offmem@offmem", "settings": str(settings_path("user"))}]


def test_uninstall_says_the_plugin_is_still_enabled(offmem_home, project):
    done = run_offmem("uninstall", cwd=project)
    assert done.returncode == 0 and "claude plugin uninstall" not in done.stdout
    enable_plugin(settings_path("user"))
    done = run_offmem("uninstall", cwd=project)
    assert "`claude plugin uninstall offmem@offmem` removes it" in done.stdout, done.stdout + done.stderr
