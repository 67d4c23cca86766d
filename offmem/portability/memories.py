"""``offmem export`` and ``offmem import``: memories as JSONL lines (see :mod:`.lines`).

Export writes every observation, session summary and prompt, oldest first within
each kind, so an import into an empty data directory recreates them in the same
order (and therefore with the same keyword ranking). Import is idempotent: an
observation is skipped when its session already holds one with the line's ``id``
(the content hash), a summary when its session's summary is the same or newer,
a prompt when its session already has it. Imported text is redacted like
captured text, since lines may come from other tools.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TextIO

from offmem.portability.lines import LIST_FIELDS, SUMMARY_FIELDS, TEXT_FIELDS, LineError, Memory, parse_line
from offmem.records import Observation
from offmem.store import observations, prompts, sessions
from offmem.store.db import Store, transaction

BATCH = 500


@dataclass
class ImportStats:
    read: int = 0
    imported: Counter = field(default_factory=Counter)  # by type
    duplicates: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)
    observation_ids: list[int] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"read": self.read, "imported": dict(self.imported), "imported_total": sum(self.imported.values()),
                "duplicates": self.duplicates, "rejected": [{"line": n, "error": e} for n, e in self.rejected]}


def _list(text: str | None) -> list:
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def _summary_text(row) -> str:
    parts = [(label, row[key]) for label, key in (("Investigated", "investigated"), ("Learned", "learned"),
                                                   ("Completed", "completed"), ("Next steps", "next_steps"))]
    return "\n".join(f"{label}: {value}" for label, value in parts if value)


def _first_line(text: str | None, default: str) -> str:
    """The first non-blank line of ``text`` (at most 200 characters), else ``default``."""
    line = next((part.strip() for part in (text or "").splitlines() if part.strip()), "")
    return line[:200] or default


def _prompt_id(session: str, number: int | None, text: str) -> str:
    return hashlib.sha256(json.dumps([session, number, text]).encode()).hexdigest()[:32]


# ---------------------------------------------------------------------- export


def iter_memories(store: Store, project: str | None = None) -> Iterator[Memory]:
    """Every memory of the store (or of one project) as :class:`Memory` objects."""
    conn = store.conn
    for row in observations.iter_rows(conn, project):
        memory = Memory(
            project=row["project"], session=row["session_id"], time=row["created_at"], type=row["type"],
            title=row["title"], text=row["narrative"], subtitle=row["subtitle"], facts=_list(row["facts"]),
            concepts=_list(row["concepts"]), files_read=_list(row["files_read"]),
            files_modified=_list(row["files_modified"]), prompt_number=row["prompt_number"] or None,
            origin=row["origin"], backend=row["backend"], search_text=row["search_text"],
        )
        memory.id = row["content_hash"] or memory.content_id()
        yield memory
    for row in sessions.iter_rows(conn, project):
        memory = Memory(
            project=row["project"], session=row["session_id"], time=row["updated_at"], type="summary",
            title=_first_line(row["request"], "Session summary"),
            text=_summary_text(row), files_read=_list(row["files_read"]), files_modified=_list(row["files_modified"]),
            backend=row["backend"], origin="capture", summary={k: row[k] for k in SUMMARY_FIELDS},
        )
        memory.id = memory.content_id()
        yield memory
    for row in prompts.iter_rows(conn, project):
        text = row["text"]
        title = _first_line(text, "(empty prompt)")
        yield Memory(project=row["project"], session=row["session_id"], time=row["created_at"], type="prompt",
                     title=title, text=text, prompt_number=row["prompt_number"], origin="capture", backend="",
                     id=_prompt_id(row["session_id"], row["prompt_number"], text))


def export_memories(store: Store, out: TextIO, project: str | None = None) -> Counter:
    """Write one line per memory to ``out``; returns the count of each type written."""
    counts: Counter = Counter()
    for memory in iter_memories(store, project):
        out.write(memory.to_line() + "\n")
        counts[memory.type] += 1
    return counts


# ---------------------------------------------------------------------- import


def _redact(memory: Memory, redactor) -> Memory:
    if redactor is None:
        return memory
    for key in TEXT_FIELDS:
        if key in SUMMARY_FIELDS:
            memory.summary[key] = redactor.redact_text(memory.summary.get(key, ""))
        else:
            setattr(memory, key, redactor.redact_text(getattr(memory, key)))
    for key in LIST_FIELDS:
        setattr(memory, key, [redactor.redact_text(v) for v in getattr(memory, key)])
    return memory


def _touch_session(conn, memory: Memory, prompt_number: int = 0) -> None:
    sessions.touch_session(conn, memory.session, memory.project, memory.time, prompt_number)


def _insert_observation(store: Store, memory: Memory) -> int | None:
    obs = Observation(type=memory.type, title=memory.title, subtitle=memory.subtitle, facts=memory.facts,
                      narrative=memory.text, concepts=memory.concepts, files_read=memory.files_read,
                      files_modified=memory.files_modified, backend=memory.backend)
    return store.insert_observation(obs, session_id=memory.session, project=memory.project,
                                    prompt_number=memory.prompt_number, origin=memory.origin, created_at=memory.time,
                                    search_text=memory.search_text, content_hash=memory.id)


def _insert_summary(conn, memory: Memory) -> bool:
    fields = {k: memory.summary.get(k, "") for k in SUMMARY_FIELDS}
    if not any(fields.values()):  # a summary written by another tool: its title and text
        fields["request"], fields["completed"] = memory.title, memory.text
    row = sessions.summary_row(conn, memory.session)
    if row is not None and (all(row[k] == v for k, v in fields.items()) or row["updated_at"] >= memory.time):
        return False
    sessions.write_summary_row(conn, memory.session, memory.project, fields, memory.files_read,
                               memory.files_modified, memory.backend, memory.time, update=row is not None)
    return True


def _insert_prompt(conn, memory: Memory) -> int | None:
    """The prompt's number if it was added, None when the session already has it.

    A numbered prompt is the same prompt only at the same number, so a session where the user
    typed the same words twice ("continue") keeps both; a line without a number (or whose number
    is taken by another prompt) is a duplicate when the session holds its text at all.
    """
    number = memory.prompt_number
    at_number = None
    if number is not None:
        at_number = prompts.prompt_at(conn, memory.session, number)
        if at_number is not None and at_number == memory.text:
            return None
    if (number is None or at_number is not None) and prompts.has_prompt(conn, memory.session, memory.text):
        return None
    if number is None or at_number is not None:
        number = prompts.next_prompt_number(conn, memory.session)
    prompts.insert_prompt(conn, memory.session, memory.project, number, memory.text, memory.time)
    return number


def _store_one(store: Store, memory: Memory, stats: ImportStats) -> None:
    conn = store.conn
    if memory.type == "summary":
        added = _insert_summary(conn, memory)
        number = 0
    elif memory.type == "prompt":
        number = _insert_prompt(conn, memory)
        added = number is not None
    else:
        oid = _insert_observation(store, memory)
        added, number = oid is not None, 0
        if oid is not None:
            stats.observation_ids.append(oid)
    if added:
        _touch_session(conn, memory, number or 0)
        stats.imported[memory.type] += 1
    else:
        stats.duplicates += 1


def import_memories(
    store: Store,
    lines: Iterable[str],
    *,
    redactor=None,
    progress: Callable[[int], None] | None = None,
) -> ImportStats:
    """Import JSONL memory lines; a bad line is reported in ``rejected`` and skipped."""
    stats = ImportStats()
    batch: list[Memory] = []

    def flush() -> None:
        with transaction(store.conn):
            for memory in batch:
                _store_one(store, memory, stats)
        batch.clear()
        if progress is not None:
            progress(stats.read)

    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        stats.read += 1
        try:
            batch.append(_redact(parse_line(line), redactor))
        except LineError as exc:
            stats.rejected.append((number, str(exc)))
        if len(batch) >= BATCH:
            flush()
    if batch or progress is not None:
        flush()
    return stats
