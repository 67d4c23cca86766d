"""Rule-based compression: raw events → observations and session summaries, no model.

This is the fallback of every model backend and the whole pipeline when no model
is installed. Everything here is read off the payloads: file paths, edits,
commands, exit codes and error lines. Consecutive read-only exploration (Read,
Grep, Glob, listing commands) is merged into one observation to keep noise down.
"""

from __future__ import annotations

import re
import shlex

from offmem.project import relative_path
from offmem.records import EventRecord, Observation, SessionSummary
from offmem.summarize.types import SessionContext

EDIT_TOOLS = {"Edit", "MultiEdit", "Write", "NotebookEdit"}
READ_TOOLS = {"Read", "Grep", "Glob", "LS", "NotebookRead"}
EXPLORE_COMMANDS = {"ls", "cat", "head", "tail", "find", "grep", "rg", "tree", "pwd", "wc", "less", "file", "stat", "which", "echo", "git status", "git log", "git diff", "git show"}
ERROR_LINE = re.compile(
    r"(error|exception|traceback|failed|failure|fatal|assert|panic|denied|not found|no such|"
    r"cannot|can't|undefined|invalid|refused|timed out|segmentation)",
    re.IGNORECASE,
)
EXIT_CODE = re.compile(r"^\s*Exit code (\d+)", re.IGNORECASE)
MAX_FACTS = 8
MAX_LINE = 200


def _short(text: str, limit: int = MAX_LINE) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _input(ev: EventRecord) -> dict:
    value = ev.payload.get("tool_input")
    return value if isinstance(value, dict) else {}


def _response(ev: EventRecord):
    return ev.payload.get("tool_response")


def _path(ev: EventRecord, project: str) -> str:
    inp = _input(ev)
    raw = inp.get("file_path") or inp.get("notebook_path") or inp.get("path") or ""
    return relative_path(str(raw), project) if raw else ""


def command_of(ev: EventRecord) -> str:
    return str(_input(ev).get("command") or "").strip()


def _normalize_command(command: str) -> str:
    return " ".join(command.split())


def _is_exploration(command: str) -> bool:
    first = command.split("|")[0].strip()
    try:
        words = shlex.split(first)
    except ValueError:
        words = first.split()
    if not words:
        return False
    return words[0] in EXPLORE_COMMANDS or " ".join(words[:2]) in EXPLORE_COMMANDS


def error_lines(text: str, limit: int = 3) -> list[str]:
    """The most telling error lines: the last ones matching an error word."""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    lines = [ln for ln in lines if not EXIT_CODE.match(ln) and not ln.startswith("Traceback (most recent")]
    hits = [ln for ln in lines if ERROR_LINE.search(ln)]
    chosen = hits[-limit:] if hits else lines[-1:]
    return [_short(ln) for ln in chosen]


def bash_outcome(ev: EventRecord) -> tuple[int, str]:
    """(exit status, combined output) of a Bash event."""
    if ev.kind == "PostToolUseFailure":
        error = str(ev.payload.get("error") or "")
        match = EXIT_CODE.match(error)
        return (int(match.group(1)) if match else 1), error
    resp = _response(ev)
    if isinstance(resp, dict):
        out = "\n".join(str(resp.get(k) or "") for k in ("stdout", "stderr"))
        status = 130 if resp.get("interrupted") else 0
        return status, out
    return 0, str(resp or "")


def _changed_lines(ev: EventRecord) -> list[str]:
    """Readable old → new lines for an edit."""
    inp = _input(ev)
    facts = []
    edits = inp.get("edits") if isinstance(inp.get("edits"), list) else [inp]
    for edit in edits[:3]:
        if not isinstance(edit, dict):
            continue
        old = _short(edit.get("old_string") or "", 90)
        new = _short(edit.get("new_string") or "", 90)
        if old or new:
            facts.append(f"`{old}` → `{new}`")
    return facts


def _edit_observation(ev: EventRecord, project: str) -> Observation:
    path = _path(ev, project)
    resp = _response(ev) if isinstance(_response(ev), dict) else {}
    if ev.tool_name == "Write":
        created = resp.get("type") == "create" or resp.get("originalFile") is None and "type" in resp
        content = str(_input(ev).get("content") or "")
        verb = "Created" if created else "Rewrote"
        first = next((ln.strip() for ln in content.splitlines() if ln.strip()), "")
        facts = [f"{verb} {path} ({len(content.splitlines())} lines)"]
        if first:
            facts.append(f"starts: {_short(first, 120)}")
        return Observation(
            type="feature" if created else "change",
            title=f"{verb} {path}",
            subtitle=_short(first, 120),
            facts=facts,
            files_modified=[path],
            event_ids=[ev.id],
        )
    changes = _changed_lines(ev)
    title = f"Edited {path}"
    if changes:
        title += f": {changes[0]}"
    return Observation(
        type="change",
        title=_short(title, 160),
        facts=[f"Modified {path}", *changes],
        files_modified=[path],
        event_ids=[ev.id],
    )


def _bash_observation(ev: EventRecord) -> Observation:
    command = command_of(ev)
    status, output = bash_outcome(ev)
    desc = str(_input(ev).get("description") or "")
    facts = [f"$ {_short(command, 160)}", f"exit status {status}"]
    if status != 0:
        errs = error_lines(output)
        facts.extend(errs)
        title = f"`{_short(command, 80)}` failed (exit {status})"
        if errs:
            title += f": {_short(errs[-1], 90)}"
        return Observation(type="discovery", title=title, subtitle=desc, facts=facts, event_ids=[ev.id])
    last = [ln.strip() for ln in output.splitlines() if ln.strip()]
    if last:
        facts.append(f"output: {_short(last[-1], 120)}")
    return Observation(
        type="change",
        title=f"Ran `{_short(command, 100)}` (exit 0)",
        subtitle=desc,
        facts=facts,
        event_ids=[ev.id],
    )


def _generic_observation(ev: EventRecord) -> Observation:
    name = ev.tool_name or ev.kind
    inp = _input(ev)
    if name.startswith("mcp__"):
        parts = name.split("__")
        label = f"MCP tool {parts[1]}/{'__'.join(parts[2:])}" if len(parts) >= 3 else name
    else:
        label = name
    # the most descriptive scalar inputs, in a stable order
    keys = ("subject", "description", "prompt", "query", "url", "pattern", "title", "name", "content")
    detail = next((str(inp[k]) for k in keys if isinstance(inp.get(k), str) and inp[k].strip()), "")
    if not detail:
        detail = ", ".join(f"{k}={_short(v, 40)}" for k, v in list(inp.items())[:3] if isinstance(v, (str, int, float)))
    facts = [f"{k}: {_short(v, 120)}" for k, v in list(inp.items())[:4] if isinstance(v, (str, int, float, bool))]
    if ev.kind == "PostToolUseFailure":
        facts.append(f"failed: {_short(ev.payload.get('error') or '', 160)}")
    verb = {"Agent": "Delegated to a subagent", "Task": "Delegated to a subagent", "TaskCreate": "Created task",
            "TaskUpdate": "Updated task", "WebFetch": "Fetched", "WebSearch": "Searched the web for",
            "TodoWrite": "Updated the todo list"}.get(name, f"Used {label}")
    title = f"{verb}: {_short(detail, 100)}" if detail else verb
    return Observation(type="discovery" if name in ("WebFetch", "WebSearch") else "change",
                       title=title, facts=facts[:MAX_FACTS], event_ids=[ev.id])


def _exploration_observation(events: list[EventRecord], project: str) -> Observation:
    files: list[str] = []
    commands: list[str] = []
    for ev in events:
        if ev.tool_name in READ_TOOLS:
            path = _path(ev, project)
            pattern = _input(ev).get("pattern")
            if ev.tool_name == "Read" and path:
                files.append(path)
            elif pattern:
                commands.append(f"{ev.tool_name} {pattern}")
        else:
            commands.append(command_of(ev))
    files = list(dict.fromkeys(files))
    what = ", ".join(files[:4]) or ", ".join(f"`{_short(c, 40)}`" for c in commands[:3])
    more = len(files) - 4 if len(files) > 4 else 0
    title = f"Read {what}" if files else f"Explored with {what}"
    if more:
        title += f" and {more} more"
    facts = [f"read {f}" for f in files[:MAX_FACTS]] + [f"$ {_short(c, 120)}" for c in commands[:3]]
    return Observation(
        type="discovery",
        title=_short(title, 160),
        facts=facts[:MAX_FACTS],
        files_read=files,
        event_ids=[ev.id for ev in events],
    )


def _is_read_only(ev: EventRecord) -> bool:
    if ev.kind != "PostToolUse":
        return False
    if ev.tool_name in READ_TOOLS:
        return True
    return ev.tool_name == "Bash" and _is_exploration(command_of(ev))


def compress(events: list[EventRecord], project: str, history: list[EventRecord] | None = None) -> list[Observation]:
    """Observations for a batch of events of one session, in order.

    ``history`` holds earlier events of the same session, so a command that failed
    in an earlier batch and passes now still yields a bugfix.
    """
    observations: list[Observation] = []
    explore: list[EventRecord] = []
    failed: dict[str, EventRecord] = {}
    edits_since: dict[str, list[str]] = {}
    for ev in history or []:
        _track(ev, project, failed, edits_since)

    def flush_explore() -> None:
        if explore:
            observations.append(_exploration_observation(list(explore), project))
            explore.clear()

    for ev in events:
        if ev.kind not in ("PostToolUse", "PostToolUseFailure"):
            continue
        if _is_read_only(ev):
            explore.append(ev)
            continue
        flush_explore()
        fixed = _bugfix(ev, project, failed, edits_since)
        if fixed is not None:
            observations.append(fixed)
        elif ev.tool_name in EDIT_TOOLS:
            observations.append(_edit_observation(ev, project))
        elif ev.tool_name == "Bash":
            observations.append(_bash_observation(ev))
        else:
            observations.append(_generic_observation(ev))
        _track(ev, project, failed, edits_since)
    flush_explore()
    return observations


def _track(ev: EventRecord, project: str, failed: dict, edits_since: dict) -> None:
    """Remember failing commands and the files edited after each failure."""
    if ev.tool_name in EDIT_TOOLS and ev.kind == "PostToolUse":
        path = _path(ev, project)
        for files in edits_since.values():
            if path and path not in files:
                files.append(path)
    elif ev.tool_name == "Bash":
        key = _normalize_command(command_of(ev))
        status, _ = bash_outcome(ev)
        if status != 0:
            failed[key] = ev
            edits_since[key] = []
        else:
            failed.pop(key, None)
            edits_since.pop(key, None)


def _bugfix(ev: EventRecord, project: str, failed: dict, edits_since: dict) -> Observation | None:
    """A command that failed earlier in the session and passes now."""
    if ev.tool_name != "Bash":
        return None
    key = _normalize_command(command_of(ev))
    status, output = bash_outcome(ev)
    if status != 0 or key not in failed:
        return None
    before = failed[key]
    _, before_out = bash_outcome(before)
    errs = error_lines(before_out, limit=2)
    files = list(edits_since.get(key, []))
    cause = f" ({_short(errs[-1], 80)})" if errs else ""
    title = f"Fixed failing `{_short(key, 60)}`{cause}"
    if files:
        title += f" by changing {', '.join(files[:3])}"
    facts = [f"$ {_short(key, 160)} failed before: {e}" for e in errs]
    facts.append(f"$ {_short(key, 160)} now passes (exit 0)")
    facts.extend(f"changed {f}" for f in files[:4])
    return Observation(
        type="bugfix",
        title=_short(title, 180),
        facts=facts[:MAX_FACTS],
        files_modified=files,
        event_ids=[before.id, ev.id] if before.id != ev.id else [ev.id],
    )


# --------------------------------------------------------------------------- session summary


def summarize_session(ctx: SessionContext) -> SessionSummary:
    """A summary from the prompts, files touched, failures, fixes and the last reply."""
    files_read: list[str] = []
    files_modified: list[str] = []
    for obs in ctx.observations:
        files_read.extend(obs.files_read)
        files_modified.extend(obs.files_modified)
    files_read = list(dict.fromkeys(files_read))
    files_modified = list(dict.fromkeys(files_modified))

    failed: dict[str, str] = {}
    commands: list[str] = []
    for ev in ctx.events:
        if ev.tool_name != "Bash" or ev.kind not in ("PostToolUse", "PostToolUseFailure"):
            continue
        cmd = _normalize_command(command_of(ev))
        status, out = bash_outcome(ev)
        commands.append(cmd)
        if status != 0:
            errs = error_lines(out, limit=1)
            failed[cmd] = errs[-1] if errs else f"exit {status}"
        else:
            failed.pop(cmd, None)

    fixes = [o.title for o in ctx.observations if o.type == "bugfix"]
    request = " / ".join(_short(p, 200) for p in ctx.prompts[:2])
    investigated_parts = []
    if files_read:
        investigated_parts.append("read " + ", ".join(files_read[:6]))
    explore_cmds = [c for c in dict.fromkeys(commands) if c not in failed][:4]
    if explore_cmds:
        investigated_parts.append("ran " + ", ".join(f"`{_short(c, 50)}`" for c in explore_cmds))
    learned_parts = fixes[:3]
    learned_parts += [f"`{_short(c, 50)}` fails: {e}" for c, e in list(failed.items())[:2]]
    completed_parts = []
    if ctx.last_assistant_message:
        completed_parts.append(_short(ctx.last_assistant_message, 300))
    if files_modified:
        completed_parts.append("modified " + ", ".join(files_modified[:6]))
    next_steps = [f"`{_short(c, 60)}` still fails ({e})" for c, e in failed.items()]
    next_steps += _next_from_message(ctx.last_assistant_message)
    return SessionSummary(
        request=request,
        investigated="; ".join(investigated_parts),
        learned="; ".join(learned_parts),
        completed="; ".join(completed_parts),
        next_steps="; ".join(next_steps[:3]),
        files_read=files_read,
        files_modified=files_modified,
        backend="rules",
    )


_NEXT = re.compile(r"(?:next(?: steps?)?|todo|remaining|follow[- ]up)\s*[:\-]\s*(.+)", re.IGNORECASE)


def _next_from_message(message: str) -> list[str]:
    found = []
    for line in (message or "").splitlines():
        match = _NEXT.search(line)
        if match:
            found.append(_short(match.group(1), 160))
    return found
