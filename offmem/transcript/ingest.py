"""The worker's transcript stage: read what sessions appended to their transcripts, store it once.

For each session with events to process and a ``transcript_path`` (every hook
payload carries one; ``offmem import-transcripts`` records the file it imports),
:func:`read_sessions` resumes the :mod:`~offmem.transcript.reader` from the state
saved in ``transcript_reads``, keeps the kinds a memory is built from
(:data:`STORED_KINDS`) and stores them with the new state in one transaction
(:func:`offmem.store.evidence.save_read`): a crash repeats the read, the unique
key of an item keeps it from being stored twice.

Everything read goes through the caller's ``redact`` (the worker passes the same
redactor it applies to tool events) after ``<private>`` spans are removed. What the
agent says right after a tool call on a file inside ``capture.excluded_paths`` (the
privacy stage set that event aside), and any item that names such a path, is not
stored: the agent's words about an excluded file are as private as the file.

A session whose events were processed before its transcript was ever read (offmem
upgraded mid-session) has the items up to its last processed tool call stored as
already used, so they are not attached to its next memory.

Never in the hook, never fatal: a transcript that is missing, unreadable, not a
regular file, truncated, rotated or malformed gives fewer items (or none) and a
line in the log; the pipeline then works from the events alone, as before.

Not stored: typed prompts (the ``prompts`` table has them, from the hook),
subagent reports (the Task tool event's result carries the same text), task
notifications and compaction boundaries (no words of the agent or the user). The
subagents' own transcript files are not read: their reports reach the memory
through the Task event.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from offmem.store import evidence as evidence_table
from offmem.store.db import transaction
from offmem.transcript.reader import TranscriptState, read_transcript

STORED_KINDS = frozenset({"assistant_text", "user_correction", "compact_summary"})
TRANSCRIPT_SUFFIX = ".jsonl"


@dataclass
class IngestStats:
    sessions: int = 0  # sessions whose transcript was looked at
    items: int = 0  # items stored
    bytes_read: int = 0
    malformed: int = 0
    errors: list[str] = field(default_factory=list)


def usable_path(path: str | None) -> bool:
    """A transcript path worth opening: absolute and a ``.jsonl`` file name."""
    return bool(path) and Path(path).is_absolute() and str(path).endswith(TRANSCRIPT_SUFFIX)


def read_sessions(
    conn,
    session_ids: list[str],
    *,
    redact: Callable[[str], str],
    final: frozenset[str] | set[str] = frozenset(),
    log: Callable[[str], None] | None = None,
    excluded_paths: list[str] | tuple[str, ...] = (),
) -> IngestStats:
    """Read and store the new transcript items of ``session_ids``; ``final``: sessions that ended
    (a last line without its newline is taken); ``excluded_paths``: ``capture.excluded_paths``."""
    stats = IngestStats()
    log = log or (lambda message: None)
    private = _path_forms(excluded_paths)
    for session_id, project, path in evidence_table.transcript_targets(conn, list(session_ids)):
        if not usable_path(path):
            continue
        try:
            _read_one(conn, session_id, project, path, redact=redact, final=session_id in final, stats=stats,
                      private=private)
        except Exception as exc:  # noqa: BLE001 - a transcript never stops the pipeline
            message = f"transcript of session {session_id}: {type(exc).__name__}: {exc}"
            stats.errors.append(message)
            log(message + "; memories of this pass come from the events alone")
    return stats


def _path_forms(roots) -> list[str]:
    """Each excluded root as the agent may write it: absolute, and with ``~`` for the home folder."""
    home = os.path.expanduser("~").rstrip(os.sep)
    forms: list[str] = []
    for root in roots:
        root = os.path.normpath(os.path.expanduser(str(root))).rstrip(os.sep)
        if not root or root == os.sep:
            continue
        forms.append(root)
        if home and root.startswith(home + os.sep):
            forms.append("~" + root[len(home):])
    return forms


def _private(item, excluded_uses: set[str], forms: list[str]) -> bool:
    if item.after_tool_use_id in excluded_uses and item.prompts_since_tool == 0:
        return True
    return any(form in item.text for form in forms)


def _read_one(conn, session_id: str, project: str, path: str, *, redact, final: bool, stats: IngestStats,
              private: list[str] = ()) -> None:
    saved = evidence_table.read_state(conn, session_id)
    state = TranscriptState.from_dict(saved[1]) if saved and saved[0] == path else TranscriptState()
    if saved and saved[0] != path:  # the session moved to another file: its keys still keep old items out
        state.main.seen = list(TranscriptState.from_dict(saved[1]).main.seen)
    result = read_transcript(path, state, redact=redact, final=final, subagents=False)
    stats.sessions += 1
    stats.bytes_read += result.bytes_read
    stats.malformed += result.malformed
    error = "; ".join(result.errors) if result.errors else None
    if result.errors:
        stats.errors.extend(result.errors)
    if not result.items and not result.bytes_read and saved is not None and not result.restarts:
        return  # nothing new: no write
    excluded_uses = evidence_table.excluded_tool_uses(conn, session_id)
    items = [item for item in result.items if item.kind in STORED_KINDS and not _private(item, excluded_uses, private)]
    settled = _settled(conn, session_id, items) if saved is None else set()
    with transaction(conn):
        stats.items += evidence_table.save_read(conn, session_id, project, path, result.state.to_dict(), items, error,
                                                settled=settled)


def _settled(conn, session_id: str, items) -> set[str]:
    """On the first read of a session whose events were processed before (an offmem that did not
    read transcripts yet): the keys of the items written before its last processed tool call. Their
    work is already a memory; no later unit may take them as leftovers. (What follows that call may
    open the work still to come, so it stays.)"""
    done = evidence_table.processed_tool_uses(conn, session_id)
    anchored = [n for n, item in enumerate(items) if item.after_tool_use_id in done and item.prompts_since_tool == 0]
    if not anchored:
        return set()
    last_tool = items[anchored[-1]].after_tool_use_id
    first_after = next(n for n in anchored if items[n].after_tool_use_id == last_tool)
    return {item.key for item in items[:first_after]}
