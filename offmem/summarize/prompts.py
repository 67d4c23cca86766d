"""What the summarizer models are asked, and the JSON shapes they must answer in.

Small local models write prose, not facts, so the prompt is short and concrete:
a compact, numbered log of the batch's tool calls (paths relative to the
project, outputs cut to their informative lines), a one-shot example from an
unrelated project, and a JSON schema that the backend enforces. The static part
(system text and example) comes first so llama.cpp can reuse its KV cache
between calls.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from offmem.records import OBSERVATION_TYPES, EventRecord, Observation
from offmem.summarize.types import SessionContext

# Field limits: also the schema's maxLength, so a constrained model cannot ramble
# past max_tokens and leave truncated JSON behind.
TITLE_MAX = 80
SUBTITLE_MAX = 100
NARRATIVE_MAX = 320
CONCEPT_MAX = 24
CONCEPTS_MAX_ITEMS = 4
WHY_MAX = 120
WHY_MAX_ITEMS = 3
SUMMARY_FIELD_MAX = 240
SUMMARY_FIELDS = ("request", "investigated", "learned", "completed", "next_steps")

EVENT_MAX_CHARS = 360  # one rendered tool call
DEFAULT_LOG_MAX_CHARS = 6000  # the whole log (~1.7k tokens)
SKIPPED_KINDS = frozenset({"SessionStart", "SessionEnd", "PreCompact", "Notification"})
MODIFYING_TOOLS = frozenset({"Edit", "Write", "MultiEdit", "NotebookEdit"})

OBSERVATION_SCHEMA: dict = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": list(OBSERVATION_TYPES)},
        "title": {"type": "string", "maxLength": TITLE_MAX},
        "subtitle": {"type": "string", "maxLength": SUBTITLE_MAX},
        "narrative": {"type": "string", "maxLength": NARRATIVE_MAX},
        "concepts": {
            "type": "array",
            "items": {"type": "string", "maxLength": CONCEPT_MAX},
            "maxItems": CONCEPTS_MAX_ITEMS,
        },
        "why": {
            "type": "array",
            "items": {"type": "string", "maxLength": WHY_MAX},
            "maxItems": WHY_MAX_ITEMS,
        },
    },
    "required": ["type", "title", "subtitle", "narrative", "concepts", "why"],
    "additionalProperties": False,
}

SUMMARY_SCHEMA: dict = {
    "type": "object",
    "properties": {name: {"type": "string", "maxLength": SUMMARY_FIELD_MAX} for name in SUMMARY_FIELDS},
    "required": list(SUMMARY_FIELDS),
    "additionalProperties": False,
}

OBSERVATION_SYSTEM = (
    "You write memory records of a programmer's coding session so the work can be recalled later. "
    "Read the numbered tool calls and answer with one JSON object: "
    "type (bugfix, feature, refactor, change, discovery or decision); "
    "title (what was done and to what, in a few words, not just a file name); "
    "subtitle (one line of context); "
    "narrative (two sentences in your own words: what happened and why); "
    "concepts (two to four short topic tags); "
    "why (up to three short reasons, causes or lessons). "
    "Do not copy commands or code into the narrative."
)

SUMMARY_SYSTEM = (
    "You write the end-of-session summary of a programmer's coding session. "
    "Answer with one JSON object of short sentences: request (what the user asked for), "
    "investigated (what was looked at), learned (what was found out), "
    "completed (what was done), next_steps (what is left, or an empty string)."
)

# The one-shot examples come from an unrelated project on purpose: a model that
# parrots them is caught by validate.py (their text is a "copied" source).
OBSERVATION_EXAMPLE_LOG = (
    "Project: billing-ui\n"
    "1. user asked: the invoice total is wrong when a discount is applied\n"
    "2. read src/invoice.ts (42 lines)\n"
    "3. $ npm test -- invoice -> FAILED: Expected 90, received 100\n"
    "4. edit src/invoice.ts: `total = sum(items)` -> `total = sum(items) - discount`\n"
    "5. $ npm test -- invoice -> ok: 12 passed\n"
    "Outcome: `npm test -- invoice` failed, then passed after the edit\n"
    "Files changed: src/invoice.ts"
)
OBSERVATION_EXAMPLE: dict = {
    "type": "bugfix",
    "title": "Invoice total now subtracts the discount",
    "subtitle": "Discounted invoices were overcharged",
    "narrative": "The invoice test expected 90 but got 100 because the total ignored the discount. "
    "Subtracting the discount when summing the items fixed it.",
    "concepts": ["invoices", "discounts"],
    "why": ["The total summed item prices without the discount"],
}
SUMMARY_EXAMPLE_INPUT = (
    "Project: billing-ui\n"
    "User asked:\n- the invoice total is wrong when a discount is applied\n"
    "Work recorded:\n- [bugfix] Invoice total now subtracts the discount (src/invoice.ts)\n"
    "Files modified: src/invoice.ts\n"
    "Final message: Fixed the discount bug; the invoice tests pass. Currency rounding is still untested."
)
SUMMARY_EXAMPLE: dict = {
    "request": "Fix invoice totals when a discount is applied",
    "investigated": "The invoice total computation and its failing test",
    "learned": "The total summed item prices and ignored the discount",
    "completed": "The total now subtracts the discount and the invoice tests pass",
    "next_steps": "Add a test for currency rounding",
}


@dataclass
class Prompt:
    """One model request: system text, chat messages and the schema to answer in."""

    system: str
    messages: list[dict]
    schema: dict
    schema_name: str
    source: str  # the batch's own text, for the copied-from-prompt check
    examples: list[str] = field(default_factory=list)  # one-shot text a model must not parrot

    def chat(self) -> list[dict]:
        """System + messages, the shape chat-completion APIs take."""
        return [{"role": "system", "content": self.system}, *self.messages]


# ---------------------------------------------------------------- rendering


def project_label(project: str) -> str:
    """A project path's last part (``/home/dev/shop-api`` -> ``shop-api``); other ids as they are."""
    tail = project.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1]
    return tail or project


def _relative(path: str, cwd: str) -> str:
    if cwd and path.startswith(cwd.rstrip("/") + "/"):
        return path[len(cwd.rstrip("/")) + 1 :]
    return path


PRIVATE = re.compile(r"<private>.*?(</private>|$)", re.S | re.I)


def _one_line(text: object, limit: int) -> str:
    """Whitespace collapsed, private spans masked, cut to ``limit`` characters."""
    flat = " ".join(PRIVATE.sub("[private]", str(text or "")).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"




RULE_LINE = re.compile(r"^[\W_]*$")  # nothing but punctuation, or blank
BOILERPLATE = re.compile(r"^(import |from \S+ import |#|\"\"\"|\'\'\'|//|/\*|\*|package |using |require)")


DECORATION = re.compile(r"([=\-*~_^])\1{2,}")  # the "=====" around pytest's headings


def _lines(text: str) -> list[str]:
    out = [DECORATION.sub("", ln).strip() for ln in str(text or "").splitlines()]
    return [ln for ln in out if not RULE_LINE.match(ln)]


def _head_lines(text: str, count: int) -> str:
    lines = _lines(text)
    more = f" | (+{len(lines) - count} lines)" if len(lines) > count else ""
    return " | ".join(lines[:count]) + more


def _tail_lines(text: str, count: int) -> str:
    return " | ".join(_lines(text)[-count:])


def _output_lines(text: str) -> str:
    """Command output: short output whole; long output's first line and last two (the summary)."""
    lines = _lines(text)
    if len(lines) <= 4:
        return " | ".join(lines)
    return f"{lines[0]} | … (+{len(lines) - 3} lines) … | " + " | ".join(lines[-2:])


def _code_head(text: str, count: int) -> str:
    """A file's first lines that say something: no imports, comments or docstring quotes."""
    lines = [ln for ln in _lines(text) if not BOILERPLATE.match(ln)]
    return " | ".join(lines[:count])


def _render_bash(inp: dict, resp: object, error: str | None) -> str:
    cmd = _one_line(inp.get("command"), 140)
    if error is not None:
        code = re.match(r"Exit code (\d+)", str(error))
        status = f"FAILED (exit {code.group(1)})" if code else "FAILED"
        return f"$ {cmd} -> {status}: {_tail_lines(error, 3)}"
    out = resp.get("stdout", "") if isinstance(resp, dict) else resp
    shown = _output_lines(str(out or ""))
    return f"$ {cmd} -> ok" + (f": {shown}" if shown else "")


def _render_file_tool(tool: str, inp: dict, resp: object, cwd: str) -> str:
    path = _relative(str(inp.get("file_path") or inp.get("notebook_path") or ""), cwd)
    if tool == "Read":
        info = resp.get("file", {}) if isinstance(resp, dict) else {}
        lines = info.get("totalLines") or info.get("numLines")
        head = _code_head(info.get("content", ""), 2)
        return f"read {path}" + (f" ({lines} lines)" if lines else "") + (f": {head}" if head else "")
    if tool == "Write":
        kind = resp.get("type", "write") if isinstance(resp, dict) else "write"
        return f"write {path} ({kind}): {_head_lines(inp.get('content', ''), 2)}"
    if tool == "MultiEdit":
        edits = inp.get("edits") or []
        first = edits[0] if edits and isinstance(edits[0], dict) else {}
        return f"edit {path} ({len(edits)} edits): `{_one_line(first.get('old_string'), 80)}` -> " \
               f"`{_one_line(first.get('new_string'), 80)}`"
    if tool == "NotebookEdit":
        return f"edit notebook {path}: `{_one_line(inp.get('new_source'), 120)}`"
    return f"edit {path}: `{_one_line(inp.get('old_string'), 100)}` -> `{_one_line(inp.get('new_string'), 100)}`"


def _render_search(tool: str, inp: dict, resp: object, cwd: str) -> str:
    pattern = _one_line(inp.get("pattern") or inp.get("query") or inp.get("url"), 80)
    names = resp.get("filenames", []) if isinstance(resp, dict) else []
    shown = ", ".join(_relative(str(n), cwd) for n in names[:5])
    found = f" -> {len(names)} files" + (f": {shown}" if shown else "") if names else ""
    return f"{tool.lower()} {pattern}{found}"


def _render_other(tool: str, inp: dict, resp: object, error: str | None) -> str:
    if tool in ("TaskCreate", "TaskUpdate", "Task", "Agent"):
        what = inp.get("subject") or inp.get("description") or inp.get("prompt") or inp.get("status")
        return f"{tool}: {_one_line(what, 160)}"
    if tool == "TodoWrite":
        todos = inp.get("todos") or []
        items = "; ".join(f"{t.get('content')} ({t.get('status')})" for t in todos[:4] if isinstance(t, dict))
        return f"todos: {items}"
    args = _one_line(json.dumps(inp, ensure_ascii=False, default=str), 120)
    result = f" -> FAILED: {_tail_lines(error, 2)}" if error is not None else \
        f" -> {_one_line(resp if isinstance(resp, str) else json.dumps(resp, default=str), 120)}"
    return f"{tool} {args}{result}"


def render_event(event: EventRecord, cwd: str = "") -> str:
    """One tool call (or prompt, or final message) as one short line; '' to skip it."""
    payload = event.payload or {}
    kind = event.kind or payload.get("hook_event_name", "")
    cwd = cwd or str(payload.get("cwd") or "")
    if kind in SKIPPED_KINDS or kind == "PreToolUse":
        return ""
    if kind == "UserPromptSubmit":
        return f"user asked: {_one_line(payload.get('prompt'), 300)}"
    if kind in ("Stop", "SubagentStop"):
        msg = payload.get("last_assistant_message")
        return f"assistant said: {_one_line(msg, 300)}" if msg else ""
    tool = event.tool_name or payload.get("tool_name") or ""
    if not tool:
        return ""
    inp = payload.get("tool_input") if isinstance(payload.get("tool_input"), dict) else {}
    resp = payload.get("tool_response")
    error = payload.get("error") if kind == "PostToolUseFailure" else None
    if tool == "Bash":
        line = _render_bash(inp, resp, error)
    elif tool in ("Read", "Write", "Edit", "MultiEdit", "NotebookEdit") and error is None:
        line = _render_file_tool(tool, inp, resp, cwd)
    elif tool in ("Grep", "Glob", "WebFetch", "WebSearch") and error is None:
        line = _render_search(tool, inp, resp, cwd)
    else:
        line = _render_other(tool, inp, resp, error)
    return _one_line(line, EVENT_MAX_CHARS)


def changed_files(events: list[EventRecord], drafts: list[Observation]) -> list[str]:
    """Files the batch modified: the drafts' list, else the file tools' own paths."""
    cwd = next((str(e.payload["cwd"]) for e in events if (e.payload or {}).get("cwd")), "")
    found = [f for d in drafts for f in d.files_modified]
    if not drafts:
        for event in events:
            inp = (event.payload or {}).get("tool_input")
            if event.kind == "PostToolUse" and event.tool_name in MODIFYING_TOOLS and isinstance(inp, dict):
                found.append(str(inp.get("file_path") or inp.get("notebook_path") or ""))
    return list(dict.fromkeys(_relative(f, cwd) for f in found if f))


def outcomes(events: list[EventRecord]) -> list[str]:
    """Code-read outcomes a small model misses: a command that failed, then passed after an edit."""
    failed: dict[str, bool] = {}  # command -> edited since it failed
    found = []
    for event in events:
        inp = (event.payload or {}).get("tool_input")
        if not isinstance(inp, dict):
            continue
        if event.tool_name in MODIFYING_TOOLS and event.kind == "PostToolUse":
            failed = {cmd: True for cmd in failed}
        elif event.tool_name == "Bash" and inp.get("command"):
            cmd = _one_line(inp["command"], 80)
            if event.kind == "PostToolUseFailure":
                failed[cmd] = False
            elif event.kind == "PostToolUse" and failed.pop(cmd, None):
                found.append(f"`{cmd}` failed, then passed after the edit")
    found += [f"`{cmd}` still fails" for cmd in failed]
    return found


def render_log(events: list[EventRecord], project: str, max_chars: int = DEFAULT_LOG_MAX_CHARS) -> str:
    """The batch as a numbered log, cut at ``max_chars`` (the oldest lines are kept)."""
    lines = [f"Project: {project_label(project)}"]
    used = len(lines[0])
    number = 0
    for event in events:
        text = render_event(event)
        if not text:
            continue
        number += 1
        line = f"{number}. {text}"
        if used + len(line) + 1 > max_chars:
            lines.append(f"... ({len(events)} events in all; the rest left out)")
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines)


# ---------------------------------------------------------------- prompts


def _example_turns(log: str, answer: dict) -> list[dict]:
    return [
        {"role": "user", "content": log},
        {"role": "assistant", "content": json.dumps(answer, ensure_ascii=False)},
    ]


def observation_prompt(
    events: list[EventRecord],
    drafts: list[Observation],
    project: str,
    *,
    one_shot: bool = True,
    max_chars: int = DEFAULT_LOG_MAX_CHARS,
) -> Prompt:
    """Ask for one observation covering the whole batch."""
    log = render_log(events, project, max_chars)
    if drafts and log.count("\n") == 0:
        # nothing renderable (e.g. only lifecycle events): fall back to the drafts' titles
        log += "\n" + "\n".join(f"{i}. {d.title}" for i, d in enumerate(drafts, 1))
    for outcome in outcomes(events):
        log += f"\nOutcome: {outcome}"
    changed = changed_files(events, drafts)
    log += "\nFiles changed: " + (", ".join(changed[:8]) if changed else "none")
    turns = _example_turns(OBSERVATION_EXAMPLE_LOG, OBSERVATION_EXAMPLE) if one_shot else []
    return Prompt(
        system=OBSERVATION_SYSTEM,
        messages=[*turns, {"role": "user", "content": log}],
        schema=OBSERVATION_SCHEMA,
        schema_name="record_observation",
        source=log,
        examples=[OBSERVATION_EXAMPLE_LOG, json.dumps(OBSERVATION_EXAMPLE)],
    )


def _session_input(ctx: SessionContext, draft_files: list[str], max_chars: int) -> str:
    lines = [f"Project: {project_label(ctx.project)}", "User asked:"]
    lines += [f"- {_one_line(p, 300)}" for p in ctx.prompts[-5:]] or ["- (no prompt recorded)"]
    lines.append("Work recorded:")
    for obs in ctx.observations[-12:]:
        files = ", ".join(obs.files_modified[:3])
        lines.append(f"- [{obs.type}] {_one_line(obs.title, 100)}" + (f" ({files})" if files else ""))
    if not ctx.observations:
        lines += [f"- {text}" for text in (render_event(e) for e in ctx.events[-15:]) if text]
    if draft_files:
        lines.append("Files modified: " + ", ".join(draft_files[:10]))
    if ctx.last_assistant_message:
        lines.append(f"Final message: {_one_line(ctx.last_assistant_message, 400)}")
    text = "\n".join(lines)
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def summary_prompt(
    ctx: SessionContext,
    draft_files: list[str],
    *,
    one_shot: bool = True,
    max_chars: int = DEFAULT_LOG_MAX_CHARS,
) -> Prompt:
    """Ask for the five-field session summary."""
    text = _session_input(ctx, draft_files, max_chars)
    turns = _example_turns(SUMMARY_EXAMPLE_INPUT, SUMMARY_EXAMPLE) if one_shot else []
    return Prompt(
        system=SUMMARY_SYSTEM,
        messages=[*turns, {"role": "user", "content": text}],
        schema=SUMMARY_SCHEMA,
        schema_name="record_session_summary",
        source=text,
        examples=[SUMMARY_EXAMPLE_INPUT, json.dumps(SUMMARY_EXAMPLE)],
    )
