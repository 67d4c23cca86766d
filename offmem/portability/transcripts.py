"""``offmem import-transcripts``: backfill memory from Claude Code's session transcripts.

A transcript (``~/.claude/projects/<cwd>/<session>.jsonl``, one record per line)
holds what the hooks would have seen: typed prompts (``user`` records with text),
tool calls (``tool_use`` blocks of ``assistant`` records) and their results
(``tool_result`` blocks of the next ``user`` record, with the structured result
in ``toolUseResult``), and turn ends (``assistant`` records with
``stop_reason: end_turn``). They are turned back into hook payloads
(SessionStart, UserPromptSubmit, PostToolUse / PostToolUseFailure, Stop,
SessionEnd) and stored exactly as the hook stores them
(:func:`offmem.store.events.build_record` and :func:`~offmem.store.events.store_event`:
same skip-list, exclusions, clipping and prompt redaction), with the transcript's
timestamps; the pipeline then processes them like live events.

Idempotent: ``meta`` remembers, per session, how many lines were imported and a
hash of them. An unchanged file is skipped, a grown one (a resumed session)
contributes only its new lines, and a session the hooks captured live is left
alone. Sidechain records and subagent transcripts are not imported as events.

The agent's own words (its text between tool calls, corrections, compaction
summaries) are not events: the pipeline reads them from the same file, through
the ``transcript_path`` each imported event carries, as it does for a live
session (:mod:`offmem.transcript.ingest`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from offmem.lean import now_iso
from offmem.lean.settings import capture_settings as hook_settings
from offmem.portability.lines import LineError, normalize_time
from offmem.store.db import Store
from offmem.store import evidence as evidence_table
from offmem.store.events import build_record
from offmem.transcript.reader import INTERRUPT_PREFIX, SYSTEM_PROMPT_PREFIXES, TASK_NOTIFICATION

LEDGER_PREFIX = "transcript:"
# Text in user records that Claude Code wrote, not the user: the hooks never see it as a prompt.
SKIPPED_PROMPT_PREFIXES = (*SYSTEM_PROMPT_PREFIXES, INTERRUPT_PREFIX, TASK_NOTIFICATION)


@dataclass
class TranscriptEvent:
    line: int  # 0-based line of the record the event comes from
    time: str
    payload: dict


@dataclass
class FileResult:
    path: str
    session_id: str | None = None
    status: str = "imported"  # imported | unchanged | captured-live | changed | empty
    events: int = 0
    skipped: int = 0  # events the capture rules leave out (skip-list, exclusions, private prompts)
    detail: str = ""


@dataclass
class TranscriptStats:
    files: list[FileResult] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "files": len(self.files),
            "imported_files": sum(f.status == "imported" for f in self.files),
            "events": sum(f.events for f in self.files),
            "results": [f.__dict__ for f in self.files],
        }


def projects_dir() -> Path:
    """Where Claude Code keeps transcripts: ``$CLAUDE_CONFIG_DIR/projects`` or ``~/.claude/projects``."""
    root = os.environ.get("CLAUDE_CONFIG_DIR")
    return (Path(root).expanduser() if root else Path.home() / ".claude") / "projects"


def discover(paths: Iterable[str | os.PathLike] = ()) -> list[Path]:
    """Transcript files under ``paths`` (files or folders; default: every project's), subagents excluded."""
    roots = [Path(p).expanduser() for p in paths] or [projects_dir()]
    found: set[Path] = set()
    for root in roots:
        if root.is_file():
            found.add(root)
        elif root.is_dir():
            for path in root.rglob("*.jsonl"):
                if "subagents" not in path.relative_to(root).parts and not path.name.startswith("agent-"):
                    found.add(path)
        else:
            raise FileNotFoundError(f"no transcript file or folder at {root}")
    return sorted(found)


# ---------------------------------------------------------------------- parsing


def read_lines(path: Path) -> list[str]:
    with open(path, encoding="utf-8", errors="replace") as fh:
        return fh.read().splitlines()


def _records(lines: list[str]) -> Iterable[tuple[int, dict]]:
    for number, line in enumerate(lines):
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a partly written last line, or damage: skip it
        if isinstance(record, dict):
            yield number, record


def _block_text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text")
    return ""


def _time(record: dict) -> str:
    try:
        return normalize_time(record.get("timestamp"))
    except LineError:
        return now_iso()


class _Parser:
    """Turns the records of one transcript into hook payloads, in order."""

    def __init__(self, path: Path) -> None:
        self.path = os.path.abspath(path)  # the worker reads the transcript from here, whatever the cwd
        self.session: str | None = None
        self.cwd: str | None = None
        self.tools: dict[str, dict] = {}  # tool_use id -> {"name", "input"}
        self.texts: dict[str, list[str]] = {}  # assistant message id -> its text blocks so far
        self.started = False
        self.events: list[TranscriptEvent] = []

    def base(self, kind: str) -> dict:
        return {"session_id": self.session, "cwd": self.cwd, "transcript_path": self.path, "hook_event_name": kind}

    def emit(self, line: int, record: dict, payload: dict) -> None:
        self.events.append(TranscriptEvent(line, _time(record), payload))

    def feed(self, line: int, record: dict) -> None:
        session = record.get("sessionId")
        if not isinstance(session, str) or not session or record.get("isSidechain"):
            return
        if self.session is None:
            self.session = session
        if session != self.session:
            return  # a record copied from another session (older summary lines)
        if isinstance(record.get("cwd"), str):
            self.cwd = record["cwd"]
        kind = record.get("type")
        message = record.get("message") if isinstance(record.get("message"), dict) else {}
        if kind not in ("user", "assistant") or not self.cwd:
            return
        if not self.started:
            self.emit(line, record, {**self.base("SessionStart"), "source": "transcript"})
            self.started = True
        if kind == "user":
            self._user(line, record, message)
        else:
            self._assistant(line, record, message)

    def _user(self, line: int, record: dict, message: dict) -> None:
        content = message.get("content")
        blocks = content if isinstance(content, list) else []
        results = [b for b in blocks if isinstance(b, dict) and b.get("type") == "tool_result"]
        for block in results:
            self._tool_result(line, record, block, single=len(results) == 1)
        if results or record.get("isMeta") or record.get("isCompactSummary"):
            return
        text = _block_text(content).strip()
        if text and not text.startswith(SKIPPED_PROMPT_PREFIXES):
            payload = {**self.base("UserPromptSubmit"), "prompt": text}
            if isinstance(record.get("promptId"), str):
                payload["prompt_id"] = record["promptId"]
            self.emit(line, record, payload)

    def _tool_result(self, line: int, record: dict, block: dict, single: bool) -> None:
        use_id = block.get("tool_use_id")
        tool = self.tools.pop(use_id, None) if isinstance(use_id, str) else None
        if tool is None:
            return  # a result whose call is not in this file
        payload = {**self.base("PostToolUse"), "tool_name": tool["name"], "tool_input": tool["input"], "tool_use_id": use_id}
        if block.get("is_error"):
            payload["hook_event_name"] = "PostToolUseFailure"
            payload["error"] = _block_text(block.get("content")) or str(record.get("toolUseResult") or "")
        elif single and "toolUseResult" in record:
            payload["tool_response"] = record["toolUseResult"]
        else:
            payload["tool_response"] = block.get("content")
        self.emit(line, record, payload)

    def _assistant(self, line: int, record: dict, message: dict) -> None:
        content = message.get("content") if isinstance(message.get("content"), list) else []
        texts = self.texts.setdefault(str(message.get("id")), [])
        for block in content:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "tool_use" and isinstance(block.get("id"), str) and isinstance(block.get("name"), str):
                tool_input = block.get("input") if isinstance(block.get("input"), dict) else {}
                self.tools[block["id"]] = {"name": block["name"], "input": tool_input}
            elif block.get("type") == "text" and isinstance(block.get("text"), str):
                texts.append(block["text"])
        if message.get("stop_reason") == "end_turn":
            payload = {**self.base("Stop"), "stop_hook_active": False, "last_assistant_message": "\n".join(texts).strip()}
            self.emit(line, record, payload)

    def finish(self, line: int) -> None:
        if self.started:
            self.events.append(TranscriptEvent(line, self.events[-1].time, {**self.base("SessionEnd"), "reason": "other"}))


def transcript_events(path: Path, lines: list[str] | None = None) -> tuple[str | None, list[TranscriptEvent]]:
    """The session id of a transcript and the hook events it holds, in order."""
    lines = read_lines(path) if lines is None else lines
    parser = _Parser(path)
    for number, record in _records(lines):
        parser.feed(number, record)
    parser.finish(len(lines))
    return parser.session, parser.events


# ---------------------------------------------------------------------- storing


def _digest(lines: list[str]) -> str:
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode("utf-8", "replace") + b"\n")
    return digest.hexdigest()


def _ledger(store: Store, session: str) -> dict | None:
    value = store.get_meta(LEDGER_PREFIX + session)
    try:
        return json.loads(value) if value else None
    except ValueError:
        return None


def import_file(store: Store, path: Path, capture_settings: dict) -> FileResult:
    """Store the new events of one transcript (see the module docstring for what is new)."""
    lines = read_lines(path)
    result = FileResult(str(path))
    session, events = transcript_events(path, lines)
    result.session_id = session
    if session is None or not events:
        result.status, result.detail = "empty", "no session records"
        return result
    ledger = _ledger(store, session)
    start = 0
    if ledger is None:
        if store.get_session(session) is not None:
            result.status, result.detail = "captured-live", "the hooks already recorded this session"
            return result
    else:
        start = int(ledger.get("lines", 0))
        if start > len(lines) or _digest(lines[:start]) != ledger.get("digest"):
            result.status, result.detail = "changed", "the file no longer starts with what was imported; left alone"
            return result
        if start >= len(lines) or all(ev.line < start for ev in events if ev.payload["hook_event_name"] != "SessionEnd"):
            result.status = "unchanged"
            return result
    fresh = [ev for ev in events if ev.line >= start]
    if not start:  # imported from its first line: its transcript is read again from there too
        evidence_table.reset_read(store.conn, session)
    if start:  # a resumed session: it restarts, and its earlier SessionEnd is behind it
        fresh.insert(0, TranscriptEvent(fresh[0].line, fresh[0].time,
                                        {**events[0].payload, "hook_event_name": "SessionStart", "source": "resume"}))
    for ev in fresh:
        record = build_record(dict(ev.payload), capture_settings)
        if record is None:
            result.skipped += 1
            continue
        record["created_at"] = ev.time
        store.store_event(record)
        result.events += 1
    entry = {"path": str(path), "lines": len(lines), "digest": _digest(lines), "imported_at": now_iso()}
    store.set_meta(LEDGER_PREFIX + session, json.dumps(entry))
    return result


def import_transcripts(
    store: Store,
    home: Path,
    files: list[Path],
    *,
    progress: Callable[[int, int, FileResult], None] | None = None,
    after_file: Callable[[FileResult], None] | None = None,
) -> TranscriptStats:
    """Import each transcript in ``files``, the most recently written first (a long history becomes
    searchable from the sessions a user is likeliest to ask about); ``after_file`` runs after each
    (the CLI processes there). ``stats.files`` keeps the order of ``files``."""
    settings = hook_settings(str(home))
    stats = TranscriptStats()
    store.set_synchronous("NORMAL")  # a backfill can be re-run; WAL keeps commit order
    position = {str(path): n for n, path in enumerate(files)}
    for number, path in enumerate(sorted(files, key=_newest_first), 1):
        try:
            result = import_file(store, path, settings)
        except (OSError, UnicodeError) as exc:
            result = FileResult(str(path), status="unreadable", detail=f"{type(exc).__name__}: {exc}")
        stats.files.append(result)
        if after_file is not None and result.events:
            after_file(result)
        if progress is not None:
            progress(number, len(files), result)
    stats.files.sort(key=lambda r: position.get(str(r.path), len(position)))
    return stats


def _newest_first(path: Path) -> tuple[float, str]:
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        mtime = 0.0  # unreadable: last (import_file reports it)
    return (-mtime, str(path))
