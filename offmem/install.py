"""Register offmem's hooks (and MCP server) in Claude Code's settings.

User scope writes ``~/.claude/settings.json`` (``HOME`` is honoured); project
scope writes ``<project>/.claude/settings.json``. Writing is idempotent: offmem's
own handlers are recognised by the hook command and replaced, everything else in
the file is preserved, and the previous file is kept as a backup.
"""

from __future__ import annotations

import json
import os
import shlex
import stat
import sys
import sysconfig
import time
from pathlib import Path

from offmem.errors import InstallError

HOOK_EVENTS = {
    # event: (matcher or None, timeout seconds)
    "SessionStart": ("startup|resume|clear|compact", 15),
    "UserPromptSubmit": (None, 10),
    "PostToolUse": ("*", 10),
    "PostToolUseFailure": ("*", 10),
    "PreCompact": (None, 10),
    "SubagentStart": ("*", 10),  # the subagent's task's memories, as its context
    "SubagentStop": ("*", 10),  # a background subagent's report (its Agent call returned none)
    "Stop": (None, 15),
    "SessionEnd": (None, 10),
}
MARKER = "offmem-hook"
MCP_NAME = "offmem"


def hook_command(fast: bool = True) -> str:
    """The absolute command line of the installed hook entry point.

    The fast form runs the hook module's file with ``python -S``: no ``site``
    processing (no .pth files, no listing of site-packages), which is most of a
    hook's cost. It needs only the standard library, which is all the hook uses.
    The other form is the ``offmem-hook`` console script.
    """
    if fast:
        launcher = Path(__file__).resolve().parent / "hooks" / "run.py"
        command = f"{shlex.quote(sys.executable)} -I -S {shlex.quote(str(launcher))}"  # -I: no project PYTHONPATH
        command += f"  # {MARKER}"
    else:
        script = Path(sysconfig.get_path("scripts")) / "offmem-hook"
        if not script.exists():
            script = Path(sys.executable).parent / "offmem-hook"
        command = shlex.quote(str(script))
    home = os.environ.get("OFFMEM_HOME")
    if home:  # an explicit data directory at install time is the hooks' data directory too
        from offmem.lean import data_home  # ~ expanded, a relative path under $HOME, as everywhere

        command = f"OFFMEM_HOME={shlex.quote(str(Path(data_home()).resolve()))} {command}"
    return command


def precompile() -> None:
    """Write the bytecode of the hook's modules now.

    A script's imports are compiled on every start unless their .pyc exists, and
    PYTHONDONTWRITEBYTECODE (common in containers and CI) stops Python from ever
    writing it: compiling here keeps each hook run from recompiling ~15 ms of source.
    """
    import compileall

    package = Path(__file__).resolve().parent
    for folder in (package, package / "hooks", package / "lean", package / "store", package / "retrieval",
                   package / "privacy", package / "worker"):
        if folder.is_dir():
            compileall.compile_dir(str(folder), maxlevels=0, quiet=1)


def settings_path(scope: str, project: str | None = None) -> Path:
    if scope == "user":
        return Path(os.environ.get("HOME") or Path.home()) / ".claude" / "settings.json"
    if scope == "project":
        from offmem.project import project_root

        return Path(project_root(project or os.getcwd())) / ".claude" / "settings.json"
    raise InstallError(f"unknown scope {scope!r}: use 'user' or 'project'")


def _read(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        text = path.read_text("utf-8")
        data = json.loads(text) if text.strip() else {}
    except (OSError, ValueError) as exc:
        raise InstallError(f"cannot read {path}: {exc}. Fix or move the file, then run the command again.") from exc
    if not isinstance(data, dict):
        raise InstallError(f"{path} does not hold a JSON object; fix it, then run the command again.")
    return data


def _write(path: Path, data: dict, new_mode: int = 0o600, new_dir_mode: int = 0o700) -> Path | None:
    """Replace the file's content atomically, keeping a timestamped backup of the previous content.

    A symbolic link (dotfile managers make them) is written through: its target gets the
    new content and the link stays. An existing file keeps its mode and owner (Claude Code
    writes ``~/.claude.json``, which holds the account, 0600); a new one gets ``new_mode``.
    The file and its directory are fsynced before this returns.
    """
    target = Path(os.path.realpath(path))
    new_text = json.dumps(data, indent=2) + "\n"
    try:
        try:
            st = target.stat()
        except FileNotFoundError:
            st = None
        backup = None
        if st is not None:
            old = target.read_bytes()
            if old == new_text.encode("utf-8"):
                return None
            backup = path.with_name(f"{path.name}.offmem-backup-{time.strftime('%Y%m%d-%H%M%S')}")
            _replace_file(backup, old, stat.S_IMODE(st.st_mode), st)
        else:
            _make_dirs(target.parent, new_dir_mode)
        _replace_file(target, new_text.encode("utf-8"), stat.S_IMODE(st.st_mode) if st else new_mode, st)
    except OSError as exc:
        raise InstallError(f"cannot write {path}: {exc}") from exc
    return backup


def _make_dirs(folder: Path, mode: int) -> None:
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for created in reversed(missing):
        try:
            created.mkdir()
        except FileExistsError:
            continue
        os.chmod(created, mode)


def _replace_file(path: Path, content: bytes, mode: int, like: os.stat_result | None) -> None:
    """Write ``content`` to a temporary file beside ``path`` with ``mode`` (and ``like``'s owner),
    fsync it, rename it over ``path`` and fsync the directory."""
    tmp = path.with_name(f".{path.name}.offmem-{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view):]
        if like is not None and (like.st_uid, like.st_gid) != (os.geteuid(), os.getegid()):
            try:
                os.fchown(fd, like.st_uid, like.st_gid)  # root installing for a user keeps the user's file
            except PermissionError:
                pass
        os.fchmod(fd, mode)
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a directory; the rename stands
    finally:
        os.close(fd)


def _new_modes(scope: str) -> tuple[int, int]:
    """Modes of a settings file (and folder) offmem creates: private in the user's home; in a
    project, what the user's umask gives (the file is shared with the repository)."""
    if scope != "project":
        return 0o600, 0o700
    from offmem.filemodes import original_umask

    umask = original_umask()
    return 0o666 & ~umask, 0o777 & ~umask


def _is_ours(handler) -> bool:
    return isinstance(handler, dict) and MARKER in str(handler.get("command", "")) or (
        isinstance(handler, dict) and "offmem.hooks.capture" in str(handler.get("command", ""))
    )


def _strip_ours(hooks: dict) -> dict:
    cleaned: dict = {}
    for event, groups in hooks.items():
        if not isinstance(groups, list):
            cleaned[event] = groups
            continue
        kept_groups = []
        for group in groups:
            if not isinstance(group, dict) or not isinstance(group.get("hooks"), list):
                kept_groups.append(group)
                continue
            handlers = [h for h in group["hooks"] if not _is_ours(h)]
            if handlers:
                kept_groups.append({**group, "hooks": handlers})
            elif not any(_is_ours(h) for h in group["hooks"]):
                kept_groups.append(group)
        if kept_groups:
            cleaned[event] = kept_groups
    return cleaned


def install_hooks(scope: str = "user", project: str | None = None) -> dict:
    """Write offmem's hooks into the scope's settings file; when offmem's Claude Code plugin is
    enabled for that scope, its hooks capture instead: none are written, and offmem's hooks
    already in the file are taken out (``"plugin"`` in the result says where it is enabled)."""
    path = settings_path(scope, project)
    data = _read(path)
    try:
        precompile()
    except OSError:
        pass  # a read-only install still works, only slower to start
    hooks = data.get("hooks", {})
    if not isinstance(hooks, dict):
        raise InstallError(f"{path}: 'hooks' is not an object; fix it, then run the command again.")
    plugin = enabled_plugin(scope, project)
    try:
        runtime = record_runtime()["runtime"]  # what the plugin's launcher runs, whichever route is taken
    except InstallError:
        if plugin:
            raise
        runtime = None  # the settings route does not need it
    if plugin:
        removed = uninstall_hooks(scope, project)
        return {"scope": scope, "settings": str(path), "command": hook_command(), "backup": removed["backup"],
                "events": [], "plugin": plugin, "removed": removed["removed"], "runtime": runtime}
    hooks = _strip_ours(hooks)
    command = hook_command()
    for event, (matcher, timeout) in HOOK_EVENTS.items():
        group: dict = {"hooks": [{"type": "command", "command": command, "timeout": timeout}]}
        if matcher:
            group = {"matcher": matcher, **group}
        hooks.setdefault(event, []).append(group)
    data["hooks"] = hooks
    backup = _write(path, data, *_new_modes(scope))
    return {"scope": scope, "settings": str(path), "command": command, "backup": str(backup) if backup else None,
            "events": list(HOOK_EVENTS), "plugin": [], "runtime": runtime}


def uninstall_hooks(scope: str = "user", project: str | None = None) -> dict:
    """Take offmem's hooks out of the scope's settings file (``"plugin"``: where offmem's Claude Code
    plugin is still enabled, which only ``claude plugin uninstall`` removes)."""
    path = settings_path(scope, project)
    if not path.exists():
        return {"scope": scope, "settings": str(path), "removed": False, "backup": None,
                "plugin": enabled_plugin(scope, project)}
    data = _read(path)
    before = json.dumps(data.get("hooks", {}), sort_keys=True)
    if isinstance(data.get("hooks"), dict):
        hooks = _strip_ours(data["hooks"])
        if hooks:
            data["hooks"] = hooks
        else:
            data.pop("hooks")
    removed = json.dumps(data.get("hooks", {}), sort_keys=True) != before
    backup = _write(path, data, *_new_modes(scope)) if removed else None
    return {"scope": scope, "settings": str(path), "removed": removed, "backup": str(backup) if backup else None,
            "plugin": enabled_plugin(scope, project)}


def hook_commands(path: Path) -> list[str]:
    """The distinct offmem hook command lines in one Claude Code settings file (as written, never run)."""
    try:
        data = _read(path)
    except InstallError:
        return []
    hooks = data.get("hooks")
    found: list[str] = []
    for groups in (hooks.values() if isinstance(hooks, dict) else []):
        for group in groups if isinstance(groups, list) else []:
            handlers = group.get("hooks") if isinstance(group, dict) else None
            for handler in handlers if isinstance(handlers, list) else []:
                command = str(handler.get("command", "")) if isinstance(handler, dict) else ""
                if _is_ours(handler) and command not in found:
                    found.append(command)
    return found


def installed_events(path: Path) -> list[str]:
    try:
        data = _read(path)
    except InstallError:
        return []
    hooks = data.get("hooks") if isinstance(data.get("hooks"), dict) else {}
    return [
        event
        for event, groups in hooks.items()
        if isinstance(groups, list)
        and any(isinstance(g, dict) and any(_is_ours(h) for h in g.get("hooks", []) or []) for g in groups)
    ]


# ---------------------------------------------------------------------- MCP server


def claude_json_path() -> Path:
    return Path(os.environ.get("HOME") or Path.home()) / ".claude.json"


def install_mcp(env_home: str | None = None) -> dict:
    """Register ``offmem mcp`` as a user-scope stdio MCP server in ``~/.claude.json``; when offmem's
    plugin is enabled for the user, its ``.mcp.json`` serves it instead: an earlier registration is
    removed (``"plugin"`` in the result)."""
    path = claude_json_path()
    plugin = enabled_plugin("user")
    if plugin:
        removed = uninstall_mcp()["removed"]
        return {"settings": str(path), "server": MCP_NAME, "backup": None, "plugin": plugin, "removed": removed}
    data = _read(path)
    servers = data.get("mcpServers")
    if not isinstance(servers, dict):
        servers = {}
    from offmem.worker.launch import python_flags

    cmd = [sys.executable, *python_flags(), "-m", "offmem"]  # isolated: nothing from the project Claude runs it in
    entry: dict = {"type": "stdio", "command": cmd[0], "args": [*cmd[1:], "mcp"]}
    if env_home:
        entry["env"] = {"OFFMEM_HOME": env_home}
    servers[MCP_NAME] = entry
    data["mcpServers"] = servers
    backup = _write(path, data)
    return {"settings": str(path), "server": MCP_NAME, "backup": str(backup) if backup else None}


def uninstall_mcp() -> dict:
    path = claude_json_path()
    if not path.exists():
        return {"settings": str(path), "removed": False}
    data = _read(path)
    servers = data.get("mcpServers")
    removed = isinstance(servers, dict) and servers.pop(MCP_NAME, None) is not None
    if removed:
        _write(path, data)
    return {"settings": str(path), "removed": bool(removed)}


def mcp_entry() -> dict:
    """offmem's MCP server entry in ``~/.claude.json`` (``{}`` when there is none or it is unreadable)."""
    try:
        servers = _read(claude_json_path()).get("mcpServers")
    except InstallError:
        return {}
    entry = servers.get(MCP_NAME) if isinstance(servers, dict) else None
    return entry if isinstance(entry, dict) else {}


def mcp_installed() -> bool:
    try:
        data = _read(claude_json_path())
    except InstallError:
        return False
    servers = data.get("mcpServers")
    return isinstance(servers, dict) and MCP_NAME in servers


# ---------------------------------------------------------------------- Claude Code plugin
#
# The plugin (plugins/offmem/ in the repository, listed by .claude-plugin/marketplace.json)
# holds none of offmem's code: its launcher (plugins/offmem/scripts/launch) runs the offmem installed on
# the machine, which it finds in the runtime file written here.

PLUGIN_NAME = "offmem"
RUNTIME_FILE = "runtime"
PLUGIN_LAUNCHER = '"${CLAUDE_PLUGIN_ROOT}/scripts/launch"'


def plugin_hooks() -> dict:
    """The plugin's ``hooks/hooks.json``: the events, matchers and timeouts :func:`install_hooks`
    registers, each running the plugin's launcher (``tests/test_plugin.py`` keeps the file equal;
    ``python -m offmem.install plugin-hooks`` prints it)."""
    hooks: dict = {}
    for event, (matcher, timeout) in HOOK_EVENTS.items():
        handler = {"type": "command", "command": f"sh {PLUGIN_LAUNCHER} hook {event}", "timeout": timeout}
        hooks[event] = [{"matcher": matcher, "hooks": [handler]} if matcher else {"hooks": [handler]}]
    return {"description": "offmem: capture each session and give the next one its memory (runs the offmem "
                           "installed on this machine; see scripts/launch)", "hooks": hooks}


def runtime_path() -> Path:
    from offmem.lean import data_home

    return Path(data_home()) / RUNTIME_FILE


def record_runtime() -> dict:
    """Write ``$OFFMEM_HOME/runtime``: this installation's interpreter, hook launcher and the
    interpreter options of its MCP server, which the plugin's launcher runs.

    One ``key=value`` per line, read by a POSIX shell without parsing JSON. Idempotent;
    the file is private (0600) like everything in the data directory.
    """
    from offmem.worker.launch import python_flags

    path = runtime_path()
    hook = str(Path(__file__).resolve().parent / "hooks" / "run.py")
    flags = python_flags()
    for value in (sys.executable, hook):
        if "\n" in value or "\r" in value:
            raise InstallError(f"cannot record {value!r} for the plugin: a line break in the path")
    text = (f"python={sys.executable}\nhook={hook}\nflags={' '.join(flags)}\n"  # the keys first: the reader stops
            "# offmem runtime: written by `offmem install` and `offmem setup`; read by the Claude Code\n"
            "# plugin's launcher (plugins/offmem/scripts/launch), which runs these files isolated\n")
    try:
        if not path.exists() or path.read_text("utf-8") != text:
            _make_dirs(path.parent, 0o700)
            _replace_file(path, text.encode("utf-8"), 0o600, None)
    except OSError as exc:
        raise InstallError(f"cannot write {path}: {exc}") from exc
    return {"runtime": str(path), "python": sys.executable, "hook": hook, "flags": flags}


def read_runtime() -> dict:
    """The recorded runtime (``{}`` when there is none or it cannot be read)."""
    try:
        lines = runtime_path().read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return {}
    record = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            record[key] = value
    return record


def plugin_settings_files(scope: str = "user", project: str | None = None) -> list[Path]:
    """The Claude Code settings files whose ``enabledPlugins`` apply to a hook install of ``scope``:
    the user's, and for project scope also the project's shared and local files."""
    files = [settings_path("user")]
    if scope == "project":
        shared = settings_path("project", project)
        files += [shared, shared.with_name("settings.local.json")]
    return files


def enabled_plugin(scope: str = "user", project: str | None = None) -> list[dict]:
    """Where offmem's plugin is enabled (``[{"plugin": "offmem@<marketplace>", "settings": path}]``)."""
    found = []
    for path in plugin_settings_files(scope, project):
        try:
            enabled = _read(path).get("enabledPlugins")
        except InstallError:
            continue
        for key, value in (enabled.items() if isinstance(enabled, dict) else []):
            if value is True and isinstance(key, str) and key.split("@", 1)[0] == PLUGIN_NAME:
                found.append({"plugin": key, "settings": str(path)})
    return found


def plugin_copies(key: str) -> list[Path]:
    """The folders Claude Code installed plugin ``key`` into, by ``~/.claude/plugins/installed_plugins.json``
    (one per scope it is installed in; ``[]`` when it is not installed or the file is unreadable)."""
    index = Path(os.environ.get("HOME") or Path.home()) / ".claude" / "plugins" / "installed_plugins.json"
    try:
        plugins = _read(index).get("plugins")
    except InstallError:
        return []
    entries = plugins.get(key) if isinstance(plugins, dict) else None
    return [Path(e["installPath"]) for e in (entries if isinstance(entries, list) else [])
            if isinstance(e, dict) and isinstance(e.get("installPath"), str)]


def plugin_copy_events(folder: Path) -> list[str]:
    """The events an installed copy of the plugin registers (its ``hooks/hooks.json``)."""
    try:
        hooks = _read(folder / "hooks" / "hooks.json").get("hooks")
    except InstallError:
        return []
    return list(hooks) if isinstance(hooks, dict) else []


if __name__ == "__main__":
    if sys.argv[1:] == ["plugin-hooks"]:
        print(json.dumps(plugin_hooks(), indent=2))
    else:
        sys.exit("usage: python -m offmem.install plugin-hooks")
