"""Checks: offmem's hooks in Claude Code's settings, and the hook command itself.

The settings files are read through :mod:`offmem.install` (the module that writes
them). A command line read from a settings file, possibly the opened project's, is
never executed: see :func:`check_hook_command`."""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from offmem.doctor.base import FAIL, OK, WARN, Check, Context

HOOK_BUDGET_S = 1.0
HOOK_TIMEOUT_S = 10.0


@dataclass
class HookCommand:
    env: dict
    program: str
    launcher: str | None
    flags: list = field(default_factory=list)  # the words between the program and the launcher
    rest: list = field(default_factory=list)  # any words after the launcher (offmem writes none)


def parse_hook_command(command: str) -> HookCommand:
    """Split ``[VAR=value…] program [-I -S] [launcher.py]  # comment`` into its parts.

    Raises ValueError for a line the shell could not parse either (an open quote).
    """
    words = shlex.split(command, comments=True)
    env = {}
    while words and "=" in words[0] and not words[0].startswith(("/", ".")):
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    program = words[0] if words else ""
    at = next((i for i, w in enumerate(words[1:], 1) if w.endswith(".py")), None)
    if at is None:
        return HookCommand(env, program, None, words[1:], [])
    return HookCommand(env, program, words[at], words[1:at], words[at + 1:])


def installed_hook() -> HookCommand:
    """The hook exactly as ``offmem install`` writes it for this installation."""
    from offmem.install import hook_command

    return parse_hook_command(hook_command())


def _same_file(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    if os.path.normpath(os.path.abspath(a)) == os.path.normpath(os.path.abspath(b)):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_hooks(ctx: Context) -> list[Check]:
    """Which route captures this project's sessions (settings-file hooks or offmem's Claude Code
    plugin; the plugin's hooks step aside when the settings hooks are there), and that it works."""
    from offmem.install import HOOK_EVENTS, enabled_plugin, hook_commands, installed_events, settings_path

    scopes = {scope: settings_path(scope, ctx.project) for scope in ("user", "project")}
    events = {scope: installed_events(path) for scope, path in scopes.items()}
    installed = [scope for scope, names in events.items() if names]
    plugin = enabled_plugin("project", ctx.project)
    if plugin and not installed:
        return check_plugin(ctx, plugin)
    if not installed:
        return [Check("hooks", FAIL, f"no offmem hooks in {scopes['user']} or {scopes['project']}, and offmem's "
                      "Claude Code plugin is not enabled; nothing is captured", "offmem install")]
    if plugin:
        where = ", ".join(f"{p['plugin']} in {p['settings']}" for p in plugin)
        fix = "offmem uninstall" + (" --scope project" if installed == ["project"] else "")
        checks = [Check("hooks", WARN, f"route: settings files. offmem's plugin is enabled too ({where}); its hooks "
                        "step aside while offmem's hooks are in a settings file, so each event is captured once; "
                        "to let the plugin capture, remove the settings hooks", fix)]
    else:
        checks = []
    checks += [_scope_check(scope, scopes[scope], events[scope], set(HOOK_EVENTS)) for scope in installed]
    if len(installed) == 2:
        checks.append(Check("hooks", WARN, "installed in both user and project scope: each event is captured twice",
                            "offmem uninstall --scope project --no-mcp"))
    commands = [c for scope in installed for c in hook_commands(scopes[scope])]
    checks.extend(check_hook_command(ctx, command) for command in dict.fromkeys(commands))
    return checks


def check_plugin(ctx: Context, plugin: list[dict]) -> list[Check]:
    """The plugin route: its launcher runs the interpreter and hook launcher recorded in the data
    directory's runtime file; they must be this installation's (the doctor runs its own, as for
    a settings-file hook)."""
    from offmem.install import read_runtime, runtime_path

    where = ", ".join(f"{p['plugin']} in {p['settings']}" for p in plugin)
    copy = _plugin_copy(plugin)
    if copy is not None and copy.status == FAIL:
        return [copy]
    fix = "offmem install  # records this offmem for the plugin's launcher"
    record = read_runtime()
    ours = installed_hook()
    if not record.get("python"):
        return [Check("hooks", FAIL, f"route: plugin ({where}), but {runtime_path()} does not say which offmem to "
                      "run; the plugin's launcher falls back to an offmem-hook on PATH, or captures nothing", fix)]
    if not (_same_file(record.get("python"), ours.program) and _same_file(record.get("hook"), ours.launcher)):
        return [Check("hooks", FAIL, f"route: plugin ({where}), but {runtime_path()} names another offmem "
                      f"({record.get('python')} {record.get('hook')}); the doctor does not run it", fix)]
    checks = [Check("hooks", OK, f"route: plugin ({where}); its launcher runs this offmem ({runtime_path()})")]
    checks += [copy] if copy is not None else []
    checks.append(_run_hook_once([ours.program, *ours.flags, ours.launcher], ctx.settings.home, fix))
    return checks


def _plugin_copy(plugin: list[dict]) -> Check | None:
    """A problem with Claude Code's installed copy of the plugin: none, or one older than this offmem."""
    from offmem.install import HOOK_EVENTS, plugin_copies, plugin_copy_events

    key = plugin[0]["plugin"]
    copies = [folder for p in plugin for folder in plugin_copies(p["plugin"]) if folder.is_dir()]
    if not copies:
        return Check("hooks", FAIL, f"offmem's plugin is enabled ({key} in {plugin[0]['settings']}) but Claude Code "
                     "has no installed copy of it; nothing is captured", f"claude plugin install {key}")
    missing = sorted(set(HOOK_EVENTS) - set(plugin_copy_events(copies[0])))
    if missing:
        marketplace = key.partition("@")[2]
        return Check("hooks", WARN, f"route: plugin ({key}), but its installed copy ({copies[0]}) is older than this "
                     f"offmem and does not register {', '.join(missing)}",
                     f"claude plugin marketplace update {marketplace} && claude plugin update {key}")
    return None


def _scope_check(scope: str, path: Path, events: list[str], expected: set) -> Check:
    missing = sorted(expected - set(events))
    fix = "offmem install" + ("" if scope == "user" else " --scope project")
    if missing:
        return Check("hooks", WARN, f"{scope} scope ({path}) lacks {', '.join(missing)}", fix)
    return Check("hooks", OK, f"route: settings file, {scope} scope ({path}): all {len(expected)} events")


def check_hook_command(ctx: Context, command: str) -> Check:
    """The hook's interpreter and launcher exist, and offmem's own hook exits 0 fast on an empty payload.

    The command line comes from a settings file, possibly the opened project's, so it
    is never executed: it is only compared with what ``offmem install`` writes, and
    when its interpreter and launcher are this installation's, the doctor runs those
    two itself (no shell, none of the line's variables or other words).
    """
    fix = "offmem install  # rewrites the hook command for this installation"
    try:
        parsed = parse_hook_command(command)
    except ValueError as exc:
        return Check("hook command", FAIL, f"cannot parse the hook command {command!r}: {exc}; not run", fix)
    ours = installed_hook()
    if not (_same_file(parsed.program, ours.program) and _same_file(parsed.launcher, ours.launcher)):
        for label, path in (("interpreter", parsed.program), ("launcher", parsed.launcher)):
            if path and os.path.isabs(path) and not (os.path.isfile(path) and (label == "launcher" or os.access(path, os.X_OK))):
                return Check("hook command", FAIL, f"the hook's {label} {path} does not exist (moved or deleted install?); "
                             "the doctor does not run it", fix)
        return Check("hook command", FAIL,
                     f"{command!r} is not the hook this offmem installs ({ours.program} {ours.launcher}); "
                     "the doctor does not run it", fix)
    hook_home = parsed.env.get("OFFMEM_HOME")
    if hook_home and Path(hook_home).expanduser().resolve() != ctx.settings.home.expanduser().resolve():
        return Check("hook command", WARN, f"the hook writes to {hook_home}, this doctor checks {ctx.settings.home}",
                     f"OFFMEM_HOME={shlex.quote(hook_home)} offmem doctor  # or run `offmem install` with this OFFMEM_HOME")
    result = _run_hook_once([ours.program, *ours.flags, ours.launcher], ctx.settings.home, fix)
    extra = sorted(set(parsed.env) - {"OFFMEM_HOME"})
    differs = [f"options {' '.join(parsed.flags) or 'none'} instead of {' '.join(ours.flags)}"] if parsed.flags != ours.flags else []
    differs += [f"sets {', '.join(extra)}"] if extra else []
    differs += [f"runs more after the launcher: {shlex.join(parsed.rest)}"] if parsed.rest else []
    if result.status == OK and differs:
        return Check("hook command", WARN, f"{result.detail}; but the installed line differs from what "
                     f"`offmem install` writes ({'; '.join(differs)})", fix)
    return result


def _run_hook_once(argv: list[str], home: Path, fix: str) -> Check:
    started = time.perf_counter()
    try:
        done = subprocess.run(argv, input=b"", capture_output=True, timeout=HOOK_TIMEOUT_S,
                              env={**os.environ, "OFFMEM_HOME": str(home)})
    except subprocess.TimeoutExpired:
        return Check("hook command", FAIL, f"the hook ran past {HOOK_TIMEOUT_S:.0f} s on an empty payload", fix)
    except OSError as exc:
        return Check("hook command", FAIL, f"the hook cannot start: {exc}", fix)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        err = (done.stderr.decode("utf-8", "replace").strip().splitlines() or [""])[-1][:200]
        return Check("hook command", FAIL, f"the hook exited {done.returncode} on an empty payload: {err}", fix)
    if elapsed >= HOOK_BUDGET_S:
        return Check("hook command", WARN, f"the hook took {elapsed:.2f} s on an empty payload (budget {HOOK_BUDGET_S:.0f} s); "
                     "a loaded machine or a slow disk", fix)
    return Check("hook command", OK, f"exits 0 in {elapsed * 1000:.0f} ms on an empty payload: {shlex.join(argv)}")