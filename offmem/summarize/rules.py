"""Rule-based compression: events and the agent's own words → observations and summaries, no model.

This is the fallback of every model backend and the whole pipeline when no model
is installed. Facts come before prose: everything here is read off the payloads
(file paths, what an edit added, what new code defines, commands, exit codes,
the line that states an error, a subagent's report, the todo list) and off the
agent's own sentences in the transcript, selected by
:mod:`offmem.summarize.sentences` (a cause, a decision and its reason, a finding,
a next step), trimmed and attributed ("agent: …"). Nothing is made up.

Two levels:

* :func:`compress` makes one draft per event (consecutive read-only exploration
  merged): what a model backend starts from.
* :func:`compress_unit` makes the memories of one unit of work
  (:mod:`offmem.summarize.units`): one observation for the unit, with its facts
  and the agent's sentences, and a ``decision`` observation for each choice the
  agent (or the user, correcting it) made in it.

:func:`compaction_observations` reads Claude Code's own compaction summary, and
:func:`summarize_session` says what a session was asked, learned, did and left
open (never a check that passed later, whatever prefix it ran with).
"""

from __future__ import annotations

import re

from offmem.project import relative_path
from offmem.records import EventRecord, Observation, SessionSummary
from offmem.summarize import facts as F
from offmem.summarize.sentences import (
    Sentence,
    best_intent,
    classify,
    intent_title,
    is_substantive_intent,
    pieces,
    prioritized,
    select,
    split_sentences,
    trim,
)
from offmem.summarize.types import SessionContext

EDIT_TOOLS = {"Edit", "MultiEdit", "Write", "NotebookEdit"}
READ_TOOLS = {"Read", "Grep", "Glob", "LS", "NotebookRead"}
TASK_TOOLS = {"Task", "Agent"}
EXIT_CODE = F.EXIT_CODE
MAX_FACTS = 8  # per draft
MAX_UNIT_FACTS = 48  # per unit observation: a safety cap (each kind of fact has its own, smaller one)
MAX_DECISIONS = 3  # decision observations per unit
MAX_LINE = 200
REASON = re.compile(r"^(?:this|that|it|then|so|because|since|as|otherwise|which)\b", re.IGNORECASE)
REJECTED = "The user doesn't want to proceed"  # Claude Code's words for a tool call the user rejected
REFACTOR = re.compile(r"\b(?:refactor|rename|extract|move|split|clean ?up|simplif|reorganiz|consolidat|dedup)", re.IGNORECASE)

error_lines = F.error_lines  # the lines that state an error (kept here for callers of rules)


def _short(text, limit: int = MAX_LINE) -> str:
    return trim(str(text), limit)


def _unique(items) -> list:
    return list(dict.fromkeys(i for i in items if i))


def _input(ev: EventRecord) -> dict:
    value = ev.payload.get("tool_input")
    return value if isinstance(value, dict) else {}


def _response(ev: EventRecord):
    return ev.payload.get("tool_response")


def _path(ev: EventRecord, project: str) -> str:
    inp = _input(ev)
    raw = inp.get("file_path") or inp.get("notebook_path") or inp.get("path") or ""
    return relative_path(str(raw), project) if raw and isinstance(raw, str) else ""


def command_of(ev: EventRecord) -> str:
    return str(_input(ev).get("command") or "").strip()


def _normalize_command(command: str) -> str:
    return " ".join(command.split())


def _response_text(value) -> str:
    """The text of a tool response: a string, ``content`` blocks, or the usual result fields."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(_response_text(v) for v in value)
    if isinstance(value, dict):
        if value.get("type") == "text" and isinstance(value.get("text"), str):
            return value["text"]
        for key in ("content", "result", "output", "text", "message"):
            if key in value:
                return _response_text(value[key])
    return ""


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


def check_failed(ev: EventRecord) -> bool:
    """Did a Bash command fail: a non-zero exit, or output that reports failures (a test run piped
    into ``tail`` exits 0 with "11 failures")?"""
    status, output = bash_outcome(ev)
    return status != 0 or F.reports_failure(output)


def _output_lines(output: str) -> list[str]:
    return [ln for ln, _indent in F._lines(output)]


# --------------------------------------------------------------------------- drafts (one per event)


def _write_facts(path: str, content: str, verb: str) -> tuple[list[str], str]:
    """Facts of a file written whole, and a subtitle."""
    lines = content.splitlines()
    facts = [f"{verb} {path} ({len(lines)} lines)"]
    names = F.definitions(content, path)
    prose = path.lower().endswith(F.PROSE_FILES)
    if names:
        facts.append(("sections: " if prose else "defines: ") + ", ".join(names))
    if prose:
        facts.extend(F.prose_sentences(content, limit=4))
    else:
        facts.extend(f"note: {c}" for c in F.comments(content, limit=3))
    first = next((ln.strip() for ln in lines if ln.strip()), "")
    if len(facts) == 1 and first:
        facts.append(f"starts: {_short(first, 120)}")
    return facts, _short(first, 120)


def _edit_changes(ev: EventRecord) -> list[str]:
    """What an Edit / MultiEdit / NotebookEdit changed: the lines it added (or removed), what the
    new code defines and says in comments."""
    inp = _input(ev)
    edits = inp.get("edits") if isinstance(inp.get("edits"), list) else [inp]
    facts: list[str] = []
    names: list[str] = []
    notes: list[str] = []
    prose = str(inp.get("file_path") or "").lower().endswith(F.PROSE_FILES)
    for edit in edits[:8]:
        if not isinstance(edit, dict):
            continue
        old = str(edit.get("old_string") or edit.get("old_source") or "")
        new = str(edit.get("new_string") or edit.get("new_source") or "")
        added = F.added_lines(old, new, limit=3 if prose else 2)
        if added:
            facts.extend(f"+ {line}" for line in added)
        elif old or new:
            removed = F.removed_lines(old, new)
            facts.extend(f"- {line}" for line in removed) if removed else facts.append(
                f"`{_short(old, 90)}` → `{_short(new, 90)}`")
        names.extend(n for n in F.definitions(new) if n not in F.definitions(old))
        notes.extend(F.comments(new, limit=2))
    facts = _unique(facts)[: 8 if prose else 4]
    if names:
        facts.append("defines: " + ", ".join(_unique(names)[:8]))
    facts.extend(f"note: {n}" for n in _unique(notes)[:2])
    return facts


def _edit_observation(ev: EventRecord, project: str) -> Observation:
    path = _path(ev, project)
    if ev.kind == "PostToolUseFailure":  # nothing was written: what stopped it is the fact
        error = str(ev.payload.get("error") or "")
        line = F.error_line(error) or _short(error, 240)
        return Observation(type="discovery", title=_short(f"{ev.tool_name} of {path or 'a file'} failed: {line}", 200),
                           facts=[f"{ev.tool_name} {path} failed: {_short(error, 300)}"], files_read=[],
                           event_ids=[ev.id])
    resp = _response(ev) if isinstance(_response(ev), dict) else {}
    if ev.tool_name == "Write":
        created = resp.get("type") == "create" or resp.get("originalFile") is None and "type" in resp
        verb = "Created" if created else "Rewrote"
        facts, first = _write_facts(path, str(_input(ev).get("content") or ""), verb)
        return Observation(type="feature" if created else "change", title=f"{verb} {path}", subtitle=first,
                           facts=facts[:MAX_FACTS], files_modified=[path], event_ids=[ev.id])
    changes = _edit_changes(ev)
    title = f"Edited {path}"
    if changes:
        title += f": {changes[0]}"
    return Observation(type="change", title=_short(title, 160), facts=[f"Modified {path}", *changes][:MAX_FACTS],
                       files_modified=[path], event_ids=[ev.id])


def _bash_facts(ev: EventRecord) -> tuple[int, list[str], list[str]]:
    """(exit status, facts, error lines) of a Bash event."""
    command = command_of(ev)
    status, output = bash_outcome(ev)
    facts = [f"$ {_short(command, 200)}", f"exit status {status}"]
    message = F.commit_message(command)
    if message:
        facts.append(f"commit: {_short(message, 300)}")
    if status != 0:
        errs = F.error_lines(output, limit=2)
        facts.extend(errs)
        return status, facts, errs
    lines = _output_lines(output)
    if 0 < len(lines) <= 4:
        facts.extend(f"output: {_short(ln, 160)}" for ln in lines)
    elif lines:
        facts.extend(f"output: {ln}" for ln in F.notable_lines(output))
        facts.append(f"output: {_short(lines[-1], 160)}")
    return status, facts, []


def _bash_observation(ev: EventRecord) -> Observation:
    command = command_of(ev)
    desc = str(_input(ev).get("description") or "")
    status, facts, errs = _bash_facts(ev)
    if status != 0:
        title = f"`{_short(command, 80)}` failed (exit {status})"
        if errs:
            title += f": {_short(errs[0], 110)}"
        return Observation(type="discovery", title=title, subtitle=desc, facts=facts[:MAX_FACTS], event_ids=[ev.id])
    return Observation(type="change", title=f"Ran `{_short(command, 100)}` (exit 0)", subtitle=desc,
                       facts=facts[:MAX_FACTS], event_ids=[ev.id])


def _todo_facts(inp: dict) -> list[str]:
    todos = inp.get("todos") if isinstance(inp.get("todos"), list) else []
    out = []
    for todo in todos:
        if isinstance(todo, dict) and isinstance(todo.get("content"), str):
            out.append(f"todo ({todo.get('status') or 'pending'}): {_short(todo['content'], 160)}")
    return out


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
    if name == "TodoWrite":
        facts = _todo_facts(inp)
        current = next((f for f in facts if f.startswith("todo (in_progress)")), facts[0] if facts else "")
        detail = current.split(": ", 1)[-1] if current else ""
    elif name in TASK_TOOLS:
        facts = [f"{k}: {_short(v, 160)}" for k, v in inp.items() if k in ("description", "subagent_type") and isinstance(v, str)]
        report = _response_text(_response(ev))
        facts += [f"subagent: {s.text}" for s in select([report], limit=12)]
    else:
        facts = [f"{k}: {_short(v, 300 if isinstance(v, str) and len(v) > 120 else 120)}"
                 for k, v in list(inp.items())[:4] if isinstance(v, (str, int, float, bool))]
    if ev.kind == "PostToolUseFailure":
        facts.append(f"failed: {_short(F.error_line(str(ev.payload.get('error') or '')) or ev.payload.get('error') or '', 240)}")
    verb = {"Agent": "Delegated to a subagent", "Task": "Delegated to a subagent", "TaskCreate": "Created task",
            "TaskUpdate": "Updated task", "WebFetch": "Fetched", "WebSearch": "Searched the web for",
            "TodoWrite": "Updated the todo list"}.get(name, f"Used {label}")
    title = f"{verb}: {_short(detail, 100)}" if detail else verb
    return Observation(type="discovery" if name in ("WebFetch", "WebSearch") else "change",
                       title=title, facts=facts[:16], event_ids=[ev.id])


def _exploration_observation(events: list[EventRecord], project: str) -> Observation:
    files: list[str] = []
    commands: list[str] = []
    outputs: list[str] = []
    for ev in events:
        if ev.tool_name in READ_TOOLS:
            path = _path(ev, project)
            pattern = _input(ev).get("pattern")
            if ev.tool_name == "Read" and path:
                files.append(path)
            elif pattern:
                commands.append(f"{ev.tool_name} {pattern}" + (f" in {path}" if path else ""))
        else:
            commands.append(command_of(ev))
            output = bash_outcome(ev)[1]
            lines = _output_lines(output)
            if 0 < len(lines) <= 3:
                outputs.extend(f"output: {_short(ln, 160)}" for ln in lines)
            else:  # a log or listing: the lines that report a problem (a refused join, an error) are the finding
                outputs.extend(f"output: {ln}" for ln in F.notable_lines(output, limit=2))
    files = list(dict.fromkeys(files))
    what = ", ".join(files[:4]) or ", ".join(f"`{_short(c, 40)}`" for c in commands[:3])
    more = len(files) - 4 if len(files) > 4 else 0
    title = f"Read {what}" if files else f"Explored with {what}"
    if more:
        title += f" and {more} more"
    facts = [f"read {f}" for f in files[:MAX_FACTS]] + [f"$ {_short(c, 120)}" for c in commands[:3]] + outputs[:3]
    return Observation(
        type="discovery",
        title=_short(title, 160),
        facts=facts[: MAX_FACTS + 3],
        files_read=files,
        event_ids=[ev.id for ev in events],
    )


def _is_read_only(ev: EventRecord) -> bool:
    if ev.kind != "PostToolUse":
        return False
    if ev.tool_name in READ_TOOLS:
        return True
    return ev.tool_name == "Bash" and F.is_exploration(command_of(ev))


def compress(events: list[EventRecord], project: str, history: list[EventRecord] | None = None) -> list[Observation]:
    """Drafts for a batch of events of one session, in order (one per event, exploration merged).

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
    """Remember failing checks (by :func:`~offmem.summarize.facts.command_key`) and the files edited since."""
    if ev.tool_name in EDIT_TOOLS and ev.kind == "PostToolUse":
        path = _path(ev, project)
        for files in edits_since.values():
            if path and path not in files:
                files.append(path)
    elif ev.tool_name == "Bash" and not F.is_exploration(command_of(ev)):
        key = F.command_key(command_of(ev))
        if check_failed(ev):
            failed[key] = ev
            edits_since[key] = []
        else:
            failed.pop(key, None)
            edits_since.pop(key, None)


def _bugfix(ev: EventRecord, project: str, failed: dict, edits_since: dict) -> Observation | None:
    """A check that failed earlier in the session and passes now (same program and target,
    whatever prefix, options or output filter it ran with)."""
    if ev.tool_name != "Bash" or F.is_exploration(command_of(ev)):
        return None
    key = F.command_key(command_of(ev))
    if check_failed(ev) or key not in failed:
        return None
    before = failed[key]
    _, before_out = bash_outcome(before)
    errs = F.error_lines(before_out, limit=2)
    files = list(edits_since.get(key, []))
    now = _short(_normalize_command(command_of(ev)), 160)
    error = errs[0] if errs else f"`{_short(key, 60)}` failing"
    title = f"Fixed {_short(error, 110)} (`{_short(_normalize_command(command_of(before)), 60)}`)"
    if files:
        title += f" by changing {', '.join(files[:3])}"
    facts = [f"$ {_short(_normalize_command(command_of(before)), 160)} failed before: {e}" for e in errs]
    facts.append(f"$ {now} now passes (exit 0)")
    facts.extend(f"changed {f}" for f in files[:4])
    return Observation(
        type="bugfix",
        title=_short(title, 200),
        facts=facts[:MAX_FACTS],
        files_modified=files,
        event_ids=[before.id, ev.id] if before.id != ev.id else [ev.id],
    )


# --------------------------------------------------------------------------- units of work


def _command_facts(events: list[EventRecord]) -> tuple[list[str], list[str]]:
    """(failure facts, success facts) of a unit's checks: one line each, ``$ cmd → exit N: line``."""
    failures: list[str] = []
    successes: list[str] = []
    for ev in events:
        if ev.tool_name != "Bash" or F.is_exploration(command_of(ev)):
            continue
        command = _short(F.command_core(command_of(ev)), 160)
        status, output = bash_outcome(ev)
        message = F.commit_message(command_of(ev))
        if status != 0 or F.reports_failure(output):
            err = F.error_line(output)
            failures.append(f"$ {command} → exit {status}" + (f": {_short(err, 200)}" if err else ""))
        else:
            lines = _output_lines(output)
            tail = f": {_short(lines[-1], 140)}" if lines else ""
            successes.append(f"$ {command} → exit 0{tail}")
        if message:
            successes.append(f"commit: {_short(message, 300)}")
    return _unique(failures), _unique(successes)


def _sayings(sentences: list[Sentence], kinds: tuple[str, ...], who: str = "agent") -> list[str]:
    return [f"{who}: {s.text}" for s in sentences if s.kind in kinds]


def _what_changed(files_modified: list[str], created: bool, commands: list[str]) -> str:
    parts = []
    if files_modified:
        parts.append(("created/edited " if created else "edited ") + ", ".join(files_modified[:4])
                     + (f" (+{len(files_modified) - 4} more)" if len(files_modified) > 4 else ""))
    if commands:
        parts.append("ran " + ", ".join(f"`{_short(c, 40)}`" for c in commands[:3]))
    return "; ".join(parts)


def _unit_title(drafts, sentences, files_modified, created, events) -> str:
    fixes = [d for d in drafts if d.type == "bugfix"]
    if fixes:
        return fixes[-1].title
    intent = best_intent(sentences)
    if not files_modified or not events:
        telling = [s for s in sentences if s.kind in ("decision", "cause", "finding", "next", "result", "other")]
        if telling and (not events or intent is None):
            return _short(intent_title(telling[0].text, 160), 160)
    if intent is not None:
        return intent_title(intent.text)
    edits = [d for d in drafts if d.files_modified]
    if len(edits) == 1:  # one change: its own title says what it was
        return edits[0].title
    if files_modified:
        verb = "Created" if created else "Edited"
        more = f" (+{len(files_modified) - 3} more)" if len(files_modified) > 3 else ""
        return _short(f"{verb} {', '.join(files_modified[:3])}{more}", 160)
    if drafts:
        return drafts[0].title if len(drafts) == 1 else _short(f"{drafts[0].title} (+{len(drafts) - 1} more steps)", 160)
    return ""


def _allot(groups: list[tuple[list[str], int]], total: int) -> list[str]:
    """Facts of every group, each first up to its own cap, then what is left of them in group
    order until ``total``: no kind of fact starves the others, and nothing is cut from a unit
    that has room."""
    chosen: list[str] = []
    seen: set[str] = set()

    def add(fact: str) -> None:
        if fact not in seen and len(chosen) < total:
            seen.add(fact)
            chosen.append(fact)

    for group, most in groups:
        for fact in group[:most]:
            add(fact)
    for group, most in groups:
        for fact in group[most:]:
            add(fact)
    order = {fact: n for n, fact in enumerate(f for group, _most in groups for f in group)}
    return sorted(chosen, key=lambda f: order[f])


def compress_unit(events: list[EventRecord], project: str, history: list[EventRecord] | None = None,
                  evidence=()) -> list[Observation]:
    """The memories of one unit of work: its observation, then one ``decision`` per choice made in it.

    ``events`` are the unit's tool events, ``history`` earlier tool events of the
    session (a check that failed there and passes here is a bugfix), ``evidence``
    the transcript items the unit took (:func:`offmem.summarize.units.take_evidence`).
    """
    delegated = [ev for ev in events if ev.tool_name in TASK_TOOLS and ev.kind == "PostToolUse"
                 and _response_text(_response(ev)).strip()]
    own = [ev for ev in events if ev not in delegated]
    drafts = compress(own, project, history)
    texts = [r.text for r in evidence if r.kind == "assistant_text"]
    corrections = [trim(r.text, 240) for r in evidence if r.kind == "user_correction"]
    sentences = select(texts)
    main = _unit_observation(own, drafts, sentences, corrections)
    decisions = decision_observations(sentences, corrections, main, [p for t in texts for p, _item in pieces(t)])
    return ([main] if main is not None else []) + [subagent_observation(ev) for ev in delegated] + decisions


def subagent_observation(ev: EventRecord) -> Observation:
    """A subagent's piece of work (a Task / Agent call that returned a report): its own memory."""
    inp = _input(ev)
    kind = str(inp.get("subagent_type") or "")
    description = str(inp.get("description") or "")
    prompt = str(inp.get("prompt") or "")
    report = select([_response_text(_response(ev))], limit=16)
    facts = [f"task: {_short(prompt, 240)}"] if prompt else []
    facts += [f"subagent: {s.text}" for s in report]
    label = f"Subagent ({kind})" if kind else "Subagent"
    title = f"{label}: {_short(description or (report[0].text if report else prompt), 140)}"
    return Observation(type="discovery" if kind.lower() in ("explore", "plan") else "change", title=title,
                       subtitle=_short(description, 200), facts=facts, event_ids=[ev.id])


def _unit_observation(events, drafts, sentences, corrections) -> Observation | None:
    if not drafts and not sentences and not corrections:
        return None
    files_read = _unique(f for d in drafts for f in d.files_read)
    files_modified = _unique(f for d in drafts for f in d.files_modified)
    created = any(d.type == "feature" for d in drafts)
    intents = [s for s in sentences if s.kind == "intent" and is_substantive_intent(s.text)]
    if any(d.type == "bugfix" for d in drafts):
        kind = "bugfix"
    elif created:
        kind = "feature"
    elif files_modified:
        kind = "refactor" if intents and REFACTOR.search(intents[0].text) else "change"
    else:
        kind = "discovery"
    failures, successes = _command_facts(events)
    fix_facts = [f for d in drafts if d.type == "bugfix" for f in d.facts]
    change_facts = [f for d in drafts if d.files_modified and d.type != "bugfix"
                    for f in d.facts if not f.startswith("Modified ")]
    todo_lists = [d for d in drafts if d.title.startswith("Updated the todo list")]
    other_facts = [f for d in drafts if not d.files_modified and not d.files_read and d.type != "bugfix"
                   and not d.title.startswith(("Ran `", "`", "Updated the todo list")) for f in d.facts]
    other_facts += todo_lists[-1].facts if todo_lists else []  # where the plan stood at the end
    explore_facts = [f for d in drafts if d.files_read or d.title.startswith("Explored")
                     for f in d.facts if not f.startswith("read ")][:6]
    groups = [  # (facts, at most): the agent's reasons first, then what broke, what changed, what it found
        (_sayings(sentences, ("cause", "decision")), 8),
        ([f"user: {c}" for c in corrections], 3),
        (_unique(fix_facts + failures), 8),
        (_sayings(sentences, ("finding", "result", "other")), 12),
        (_sayings(sentences, ("next",)), 4),
        (_unique(change_facts), 14),
        (successes, 6),
        (_unique(other_facts), 10),
        (explore_facts, 4),
    ]
    facts = _allot(groups, MAX_UNIT_FACTS)
    commands = _unique(F.command_core(command_of(e)) for e in events
                       if e.tool_name == "Bash" and not F.is_exploration(command_of(e)))
    title = _unit_title(drafts, sentences, files_modified, created, events)
    if not title:
        return None
    narrative = " ".join(s.text for s in intents[:3])
    return Observation(
        type=kind,
        title=title,
        subtitle=_short(_what_changed(files_modified, created, commands), 200),
        facts=facts,
        narrative=("agent: " + narrative) if narrative else "",
        files_read=files_read,
        files_modified=files_modified,
        event_ids=sorted({e.id for e in events}),
    )


def _reason(s: Sentence, by_order: dict, flat: list[str]) -> str:
    """The sentence that gives a decision its reason: the one after it (unless it moves on to what
    to do next), else a cause or finding just before it."""
    if s.order < len(flat):
        after = flat[s.order]  # ``order`` counts from 1: flat[order] is the next sentence
        if len(after) >= 25 and classify(after) != "intent" or REASON.match(after):
            return trim(after)
    before = by_order.get(s.order - 1)
    if before is not None and before.kind in ("cause", "finding", "other"):
        return before.text
    return ""


def decision_observations(sentences: list[Sentence], corrections: list[str], unit: Observation | None,
                          flat: list[str] = ()) -> list[Observation]:
    """A ``decision`` memory per choice: the sentence that makes it, the reason next to it, where.

    ``flat``: every sentence of the texts in order (those :func:`select` dropped too), for the reason.
    """
    out: list[Observation] = []
    by_order = {s.order: s for s in sentences}
    files = list(unit.files_modified[:6]) if unit else []
    events = list(unit.event_ids) if unit else []
    context = [f"during: {unit.title}"] if unit else []
    for s in [s for s in sentences if s.kind == "decision"][:MAX_DECISIONS]:
        facts = [f"agent: {s.text}"]
        reason = _reason(s, by_order, list(flat))
        if reason:
            facts.append(f"agent: {reason}")
        out.append(Observation(type="decision", title=intent_title(s.text, 160), facts=facts + context,
                               files_modified=files, event_ids=events))
    for text in corrections[:2]:
        out.append(Observation(type="decision", title=_short(f"User: {text}", 160), facts=[f"user: {text}", *context],
                               files_modified=files, event_ids=events))
    return out


# --------------------------------------------------------------------------- compaction summaries

SECTION = re.compile(r"^\s*(?:#{1,4}\s*)?(?:\d{1,2}\.\s+)?\**([A-Z][^:*\n]{2,70}?)\**\s*:\s*\**\s*(.*)$")
SECTION_KINDS = (
    ("errors", re.compile(r"error|fix|bug|fail", re.IGNORECASE)),
    ("next", re.compile(r"pending|next step|remaining|to ?do|left|open", re.IGNORECASE)),
    ("current", re.compile(r"current work|current state|in progress", re.IGNORECASE)),
    ("learned", re.compile(r"problem|decision|solv|learn|insight", re.IGNORECASE)),
    ("request", re.compile(r"request|intent|goal|task", re.IGNORECASE)),
    ("concepts", re.compile(r"concept|technolog|stack", re.IGNORECASE)),
    ("skip", re.compile(r"user message|file|code|analysis|summary", re.IGNORECASE)),
)


def _sections(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current = "skip"
    for line in str(text or "").splitlines():
        match = SECTION.match(line)
        if match and not line.lstrip().startswith(("-", "*", "•")) and len(match.group(1).split()) <= 8:
            heading = match.group(1)
            current = next((kind for kind, cue in SECTION_KINDS if cue.search(heading)), "skip")
            rest = match.group(2).strip()
            if rest and current != "skip":
                out.setdefault(current, []).append(rest)
            continue
        if current != "skip":
            out.setdefault(current, []).append(line)
    return out


def compaction_observations(text: str) -> list[Observation]:
    """Claude Code's compaction summary as memories: the request, where the work stood and what was
    pending, and (its own memory) the errors met and how they were fixed."""
    sections = _sections(text)

    def items(kind: str, limit: int) -> list[str]:
        return [trim(piece, 240) for piece, _item in pieces("\n".join(sections.get(kind, [])))][:limit]

    request = items("request", 3)
    current = items("current", 3)
    pending = items("next", 6)
    learned = items("learned", 5)
    concepts = [trim(c, 80) for c in items("concepts", 14)]
    errors = items("errors", 12)
    out: list[Observation] = []
    if request or current or pending or learned:
        head = request[0] if request else current[0] if current else (pending or learned)[0]
        out.append(Observation(
            type="discovery",
            title=_short(f"Compaction summary: {head}", 180),
            narrative=" ".join(request[:2]),
            facts=[*(f"learned: {x}" for x in learned), *(f"in progress: {x}" for x in current),
                   *(f"pending: {x}" for x in pending)],
            concepts=concepts,
        ))
    if errors:
        out.append(Observation(type="bugfix", title=_short(f"Errors fixed before compaction: {errors[0]}", 180),
                               facts=[f"error/fix: {e}" for e in errors]))
    return out


# --------------------------------------------------------------------------- session summary


def summarize_session(ctx: SessionContext, evidence=(), final_text: str | None = None) -> SessionSummary:
    """What the session was asked, found out, did, and left open.

    ``evidence``: the session's transcript items (the agent's causes and decisions
    go into ``learned``); ``final_text``: the agent's last words when the Stop
    payload did not carry them. Next steps come from those last words, from what the
    agent said was left after which the session only looked around (:func:`_left_open`),
    and from checks whose last run failed: a check that passed later (under any prefix)
    is done, and a "next step" followed by more work may have been done since.
    """
    files_read: list[str] = []
    files_modified: list[str] = []
    for obs in ctx.observations:
        files_read.extend(obs.files_read)
        files_modified.extend(obs.files_modified)
    files_read = list(dict.fromkeys(files_read))
    files_modified = list(dict.fromkeys(files_modified))

    failed: dict[str, tuple[str, str, int]] = {}
    explored: list[str] = []
    last_edit = 0
    for ev in ctx.events:
        if ev.tool_name in EDIT_TOOLS and ev.kind == "PostToolUse":
            last_edit = ev.id
        if ev.tool_name != "Bash" or ev.kind not in ("PostToolUse", "PostToolUseFailure"):
            continue
        command = _normalize_command(command_of(ev))
        if F.is_exploration(command):
            explored.append(command)
            continue
        key = F.command_key(command)
        status, out = bash_outcome(ev)
        if out.startswith(REJECTED):
            continue  # the user stopped it: a decision, not a failure
        if check_failed(ev):
            err = F.error_line(out)
            failed[key] = (F.command_core(command), err or f"exit {status}", ev.id)
        else:
            failed.pop(key, None)
    # Open: the last run failed and no file changed since (after a change it may well pass now).
    still_failing = [(c, e) for c, e, at in failed.values() if at > last_edit]

    final = ctx.last_assistant_message or final_text or ""
    fixes = [o.title for o in ctx.observations if o.type == "bugfix"]
    request = " / ".join(_short(p, 200) for p in ctx.prompts[:2])
    investigated_parts = []
    if files_read:
        investigated_parts.append("read " + ", ".join(files_read[:6]))
    explore_cmds = list(dict.fromkeys(explored))[:4]
    if explore_cmds:
        investigated_parts.append("ran " + ", ".join(f"`{_short(c, 50)}`" for c in explore_cmds))
    said = select([r.text for r in evidence if getattr(r, "kind", "") == "assistant_text"])
    reasons = [s for s in said if s.kind in ("decision", "cause")]
    learned_parts = [f"agent: {s.text}" for s in prioritized(reasons, 3)] if reasons else []
    learned_parts += fixes[:3]
    learned_parts += [f"`{_short(c, 50)}` fails: {e}" for c, e in still_failing[:2]]
    completed_parts = []
    if final:  # its prose, without code blocks, tables and markup
        completed_parts.append(_short(" ".join(split_sentences(final)) or final, 300))
    if files_modified:
        completed_parts.append("modified " + ", ".join(files_modified[:6]))
    next_steps = _next_from_message(final)
    next_steps += [s.text for s in select([final]) if s.kind == "next"
                   and not any(s.text.lower() in n.lower() or n.lower() in s.text.lower() for n in next_steps)]
    next_steps += [t for t in _left_open(evidence, ctx.events)
                   if not any(t.lower() in n.lower() or n.lower() in t.lower() for n in next_steps)]
    next_steps += [f"`{_short(c, 60)}` still fails ({_short(e, 120)})" for c, e in still_failing]
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


def _left_open(evidence, events) -> list[str]:
    """Next steps the agent stated mid-session after which the session only looked around.

    A "still to do" said before a closing ``git diff`` or a last read is as open as one
    in the last words; one followed by a file change or a command that does work
    (``make docs``) may have been done since, so it is not claimed open.
    """
    last_act = 0
    for ev in events:
        if ev.kind not in ("PostToolUse", "PostToolUseFailure"):
            continue
        if ev.tool_name in EDIT_TOOLS or (
            ev.tool_name == "Bash" and not F.is_exploration(_normalize_command(command_of(ev)))
        ):
            last_act = max(last_act, ev.id)
    found: list[str] = []
    for item in evidence or ():
        if getattr(item, "kind", "") != "assistant_text":
            continue
        anchor = getattr(item, "anchor_event_id", None)
        if anchor is None and getattr(item, "after_tool_use_id", None) is not None:
            continue  # after a tool call offmem never got: its place is unknown
        if (anchor or 0) < last_act:
            continue
        found += [s.text for s in select([item.text]) if s.kind == "next" and s.text not in found]
    return found


_NEXT = re.compile(r"(?:next(?: steps?)?|todo|remaining|follow[- ]up)\s*[:\-]\s*(.+)", re.IGNORECASE)


def _next_from_message(message: str) -> list[str]:
    found = []
    for line in (message or "").splitlines():
        match = _NEXT.search(line)
        if match:
            found.append(_short(match.group(1), 160))
    return found
