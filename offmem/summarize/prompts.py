"""What the summarizer models are asked, and the JSON shapes they must answer in.

Facts come from code, not from the model. By the time a model is called, the
rules have read the unit of work's facts off the payloads and the transcript
(commands and exit codes, error lines, what an edit changed, the agent's own
sentences stating a cause, a decision, a finding). The model does the small part
a small model does well:

* an **observation**: a title, a type, a few concept tags, and which of the
  numbered evidence lines matter most, in order (it answers their numbers, so it
  cannot misquote them), plus at most one sentence condensing them;
* a **session summary**: each draft field that is too long to show is cut into
  its clauses (where the rules joined the agent's sentences, fixes, files) and the
  model answers which to keep, in order; fields that already fit are not sent.

Whatever it writes is then checked against the session's sources
(:mod:`offmem.summarize.claims`). The static part of a prompt (system text and a
one-shot example from an unrelated project) comes first so llama.cpp can reuse
its KV cache between calls.
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
SUMMARY_SENTENCE_MAX = 200  # an observation's condensing sentence
CONCEPT_MAX = 24
CONCEPTS_MAX_ITEMS = 4
PICKS_MAX_ITEMS = 5  # evidence lines the model may rank
SUMMARY_FIELD_MAX = 240
SUMMARY_FIELDS = ("request", "investigated", "learned", "completed", "next_steps")
CONDENSE_OVER = 200  # a draft summary field longer than this is condensed (what the start block can show)
CLAUSES_MAX = 10  # numbered clauses of one draft field offered to the model
CLAUSE_MAX = 220
CLAUSE_PICKS_MAX = 3

EVENT_MAX_CHARS = 360  # one rendered tool call
DEFAULT_LOG_MAX_CHARS = 6000  # the whole log (~1.7k tokens)
EVIDENCE_LINES_MAX = 16  # numbered evidence lines offered to the model
EVIDENCE_LINE_MAX = 220
EVIDENCE_MAX_CHARS = 2800  # ~800 tokens: prompt evaluation dominates a small model's call on a CPU
SKIPPED_KINDS = frozenset({"SessionStart", "SessionEnd", "PreCompact", "Notification"})
MODIFYING_TOOLS = frozenset({"Edit", "Write", "MultiEdit", "NotebookEdit"})

OBSERVATION_SCHEMA: dict = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": list(OBSERVATION_TYPES)},
        "title": {"type": "string", "maxLength": TITLE_MAX},
        "concepts": {
            "type": "array",
            "items": {"type": "string", "maxLength": CONCEPT_MAX},
            "maxItems": CONCEPTS_MAX_ITEMS,
        },
        "evidence": {"type": "array", "items": {"type": "integer"}, "maxItems": PICKS_MAX_ITEMS},
        "summary": {"type": "string", "maxLength": SUMMARY_SENTENCE_MAX},
    },
    "required": ["type", "title", "concepts", "evidence", "summary"],
    "additionalProperties": False,
}


def summary_schema(fields: tuple[str, ...] = SUMMARY_FIELDS) -> dict:
    """The session summary's schema, for the fields that are asked: per field, the numbers of its
    draft's clauses to keep, most important first."""
    picks = {"type": "array", "items": {"type": "integer"}, "maxItems": CLAUSE_PICKS_MAX}
    return {
        "type": "object",
        "properties": {name: dict(picks) for name in fields},
        "required": list(fields),
        "additionalProperties": False,
    }


SUMMARY_SCHEMA: dict = summary_schema()
OBSERVATION_SCHEMA_NAME = "record_observation"
SUMMARY_SCHEMA_NAME = "record_session_summary"

OBSERVATION_SYSTEM = (
    "You index one piece of a programmer's work so it can be found later. "
    "The numbered evidence lines were taken from the session: commands and their results, edits, "
    "errors and the agent's own sentences. Use only what the evidence says; add nothing. "
    "Answer with one JSON object: "
    "type (bugfix, feature, refactor, change, discovery or decision; discovery if no file changed); "
    "title (what was done or found, and to what, in a few words taken from the evidence); "
    "concepts (two to four of the listed topics); "
    "evidence (the numbers of the lines that matter most, most important first, at most five); "
    "summary (one sentence condensing those lines with their own names and numbers, or an empty string)."
)

SUMMARY_SYSTEM = (
    "You shorten the end-of-session record of a programmer's coding session. "
    "The user message gives what the user asked and, for each field of the record that is too long, "
    "its draft cut into numbered clauses taken from the session. Answer with one JSON object: for each "
    "field, the numbers of the clauses that someone resuming this work most needs (a cause, a decision, "
    "what changed, what is left), most important first, at most three."
)

# The one-shot examples come from an unrelated project on purpose: a model that
# parrots them is caught by validate.py (their text is a "copied" source).
OBSERVATION_EXAMPLE_LOG = (
    "Project: billing-ui\n"
    "Files changed: src/invoice.ts\n"
    "Evidence:\n"
    "1. $ npm test -- invoice → exit 1: Expected 90, received 100\n"
    "2. agent: The total summed the item prices and ignored the discount.\n"
    "3. edited src/invoice.ts: `total = sum(items)` → `total = sum(items) - discount`\n"
    "4. $ npm test -- invoice → exit 0: 12 passed\n"
    "5. read src/invoice.ts\n"
    "Topics: invoice, discount, total, items, npm"
)
OBSERVATION_EXAMPLE: dict = {
    "type": "bugfix",
    "title": "Invoice total now subtracts the discount",
    "concepts": ["invoice", "discount"],
    "evidence": [2, 3, 1],
    "summary": "The invoice test expected 90 but received 100 because the total ignored the discount.",
}
SUMMARY_EXAMPLE_INPUT = (
    "Project: billing-ui\n"
    "User asked:\n- the invoice total is wrong when a discount is applied, and rounding looks off too\n"
    "learned:\n"
    "1. agent: Let me look at the invoice module first.\n"
    "2. agent: The total summed the item prices and ignored the discount.\n"
    "3. agent: Rounding happens per item in src/round.ts, which is correct for EU invoices.\n"
    "4. Invoice total now subtracts the discount\n"
    "completed:\n"
    "1. Fixed the discount bug in src/invoice.ts.\n"
    "2. The invoice tests pass (12 passed).\n"
    "3. Currency rounding is still untested.\n"
    "4. modified src/invoice.ts, test/invoice.test.ts\n"
    "Answer with: learned, completed"
)
SUMMARY_EXAMPLE: dict = {"learned": [2, 3], "completed": [1, 2, 4]}
SUMMARY_EXAMPLE_FIELDS = ("learned", "completed")


@dataclass
class Prompt:
    """One model request: system text, chat messages and the schema to answer in."""

    system: str
    messages: list[dict]
    schema: dict
    schema_name: str
    source: str  # the request's own text, for the copied-from-prompt check
    examples: list[str] = field(default_factory=list)  # one-shot text a model must not parrot
    evidence: list[str] = field(default_factory=list)  # the numbered evidence lines, in order (observations)
    fields: tuple[str, ...] = ()  # the summary fields asked for (session summaries)
    clauses: dict = field(default_factory=dict)  # summary field -> its numbered draft clauses, in order
    topics: tuple[str, ...] = ()  # the concept tags offered (observations): a choice, not a claim

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


def evidence_lines(drafts: list[Observation], events: list[EventRecord], max_chars: int = EVIDENCE_MAX_CHARS) -> list[str]:
    """The evidence a model may pick from: the drafts' facts (read off payloads and the agent's words),
    else the events rendered one a line; each cut to one line, at most ``max_chars`` in all."""
    facts = list(dict.fromkeys(f for d in drafts for f in d.facts if f))
    if not facts:
        facts = [line for line in (render_event(e) for e in events) if line]
        facts = [f"outcome: {o}" for o in outcomes(events)] + facts
    out: list[str] = []
    used = 0
    for fact in facts[:EVIDENCE_LINES_MAX]:
        line = _one_line(fact, EVIDENCE_LINE_MAX)
        if out and used + len(line) > max_chars:
            break
        out.append(line)
        used += len(line) + 5
    return out


# Words of evidence lines that are about the log, not the work: never a topic.
LOG_WORDS = frozenset(
    "agent user output exit todo todos completed pending progress failed passes passed before after now "
    "edited changed created read ran file files line lines command commands error errors result results "
    "description subject task tasks true false none null asked assistant said init".split()
)
_TOPIC_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:[.-][A-Za-z][A-Za-z0-9_]*)*")
TOPICS_MAX = 10


def topic_candidates(texts: list[str], limit: int = TOPICS_MAX) -> list[str]:
    """The concept tags a model may choose from: the evidence's most frequent names and content words
    (lower case, file names without their extension), so a tag is always a word of the session."""
    from offmem.summarize.claims import STOPWORDS

    counts: dict[str, int] = {}
    for text in texts:
        for token in _TOPIC_TOKEN.findall(text):
            tag = token.lower()
            if "." in tag:  # a file name or dotted name: its stem
                tag = tag.rsplit(".", 1)[0] if len(tag.rsplit(".", 1)[-1]) <= 4 else tag
            tag = tag.strip("._-")
            if len(tag) < 3 or len(tag) > CONCEPT_MAX or tag in STOPWORDS or tag in LOG_WORDS or tag.isdigit():
                continue
            counts[tag] = counts.get(tag, 0) + 1
    order = {tag: n for n, tag in enumerate(counts)}
    return sorted(counts, key=lambda t: (-counts[t], order[t]))[:limit]


def observation_schema(topics: list[str]) -> dict:
    """The observation schema with concept tags limited to ``topics`` (when there are enough to choose)."""
    if len(topics) < 2:
        return OBSERVATION_SCHEMA
    schema = json.loads(json.dumps(OBSERVATION_SCHEMA))
    schema["properties"]["concepts"]["items"] = {"type": "string", "enum": list(topics)}
    return schema


def observation_prompt(
    events: list[EventRecord],
    drafts: list[Observation],
    project: str,
    *,
    one_shot: bool = True,
    max_chars: int = EVIDENCE_MAX_CHARS,
) -> Prompt:
    """Ask for the title, type, concepts and ranked evidence of one unit of work."""
    lines = [f"Project: {project_label(project)}"]
    asked = [e.payload.get("prompt") for e in events if e.kind == "UserPromptSubmit" and e.payload.get("prompt")]
    if asked:
        lines.append(f"User asked: {_one_line(asked[-1], 240)}")
    intent = next((d.narrative for d in drafts if d.narrative), "")
    if intent:
        lines.append(f"Agent's plan: {_one_line(intent.removeprefix('agent: '), 240)}")
    changed = changed_files(events, drafts)
    lines.append("Files changed: " + (", ".join(changed[:8]) if changed else "none"))
    evidence = evidence_lines(drafts, events, max_chars)
    topics = topic_candidates([*changed, *evidence])
    lines.append("Evidence:")
    lines += [f"{n}. {line}" for n, line in enumerate(evidence, 1)] or ["(none)"]
    if len(topics) >= 2:
        lines.append("Topics: " + ", ".join(topics))
    text = "\n".join(lines)
    turns = _example_turns(OBSERVATION_EXAMPLE_LOG, OBSERVATION_EXAMPLE) if one_shot else []
    return Prompt(
        system=OBSERVATION_SYSTEM,
        messages=[*turns, {"role": "user", "content": text}],
        schema=observation_schema(topics),
        schema_name=OBSERVATION_SCHEMA_NAME,
        source=text,
        examples=[OBSERVATION_EXAMPLE_LOG, json.dumps(OBSERVATION_EXAMPLE)],
        evidence=evidence,
        topics=tuple(topics),
    )


def fields_to_condense(draft) -> tuple[str, ...]:
    """The draft summary's fields too long to show whole: those a model condenses."""
    return tuple(name for name in SUMMARY_FIELDS if len(getattr(draft, name) or "") > CONDENSE_OVER)


_CLAUSE_SPLIT = re.compile(r";\s+|(?<=[.!?])\s+(?=[A-Z`\"'(]|agent:|user:)|\s+/\s+")


def clauses(text: str, limit: int = CLAUSES_MAX) -> list[str]:
    """A draft field cut where the rules joined its parts ("; ", " / ") and at sentence ends."""
    out = []
    for piece in _CLAUSE_SPLIT.split(str(text or "")):
        piece = piece.strip().rstrip(";").strip()
        if piece and piece not in out:
            out.append(piece)
    return out[:limit]


def _session_input(ctx: SessionContext, fields: dict[str, list[str]]) -> str:
    lines = [f"Project: {project_label(ctx.project)}", "User asked:"]
    lines += [f"- {_one_line(p, 300)}" for p in ctx.prompts[:3]] or ["- (no prompt recorded)"]
    for name, parts in fields.items():
        lines.append(f"{name}:")
        lines += [f"{n}. {_one_line(part, CLAUSE_MAX)}" for n, part in enumerate(parts, 1)]
    lines.append("Answer with: " + ", ".join(fields))
    return "\n".join(lines)


def summary_prompt(
    ctx: SessionContext,
    draft,
    *,
    one_shot: bool = True,
    fields: tuple[str, ...] | None = None,
) -> Prompt:
    """Ask which clauses of the draft summary's long fields (:func:`fields_to_condense`) to keep.

    The model chooses and orders the draft's own clauses; it writes no text of its own.
    """
    fields = fields_to_condense(draft) if fields is None else fields
    parts = {name: clauses(getattr(draft, name)) for name in fields}
    text = _session_input(ctx, parts)
    turns = _example_turns(SUMMARY_EXAMPLE_INPUT, SUMMARY_EXAMPLE) if one_shot else []
    return Prompt(
        system=SUMMARY_SYSTEM,
        messages=[*turns, {"role": "user", "content": text}],
        schema=summary_schema(fields),
        schema_name=SUMMARY_SCHEMA_NAME,
        source=text,
        examples=[SUMMARY_EXAMPLE_INPUT, json.dumps(SUMMARY_EXAMPLE)],
        fields=fields,
        clauses=parts,
    )
