"""The JSONL memory line, version 1 (specified in docs/export-format.md).

One line is one memory: a JSON object with at least ``project``, ``session``,
``time``, ``type``, ``title`` and ``text``. ``type`` is an observation type
(bugfix, feature, refactor, change, discovery, decision), ``summary`` (a session
summary) or ``prompt`` (what the user asked). Other tools may write lines with
only the required keys; :func:`parse_line` fills in the rest.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone

from offmem.records import OBSERVATION_TYPES

FORMAT = "offmem-memory"
VERSION = 1
KINDS = (*OBSERVATION_TYPES, "summary", "prompt")
REQUIRED = ("project", "session", "time", "type", "title", "text")
LIST_FIELDS = ("facts", "concepts", "files_read", "files_modified")
SUMMARY_FIELDS = ("request", "investigated", "learned", "completed", "next_steps")
TEXT_FIELDS = ("title", "text", "subtitle", "search_text", *SUMMARY_FIELDS)


class LineError(ValueError):
    """A line that is not a valid memory; the message says which key and why."""


@dataclass
class Memory:
    project: str
    session: str
    time: str
    type: str
    title: str
    text: str
    id: str = ""
    subtitle: str = ""
    facts: list[str] = field(default_factory=list)
    concepts: list[str] = field(default_factory=list)
    files_read: list[str] = field(default_factory=list)
    files_modified: list[str] = field(default_factory=list)
    prompt_number: int | None = None
    origin: str = "import"
    backend: str = "import"
    search_text: str = ""
    summary: dict = field(default_factory=dict)  # request, investigated, learned, completed, next_steps

    def to_line(self) -> str:
        data: dict = {"format": FORMAT, "version": VERSION, "id": self.id or self.content_id()}
        for key in REQUIRED:
            data[key] = getattr(self, key)
        if self.type in OBSERVATION_TYPES:
            data.update(subtitle=self.subtitle, facts=self.facts, concepts=self.concepts,
                        files_read=self.files_read, files_modified=self.files_modified,
                        search_text=self.search_text)
        if self.prompt_number:  # 0 or None: no prompt, so no key (the format's numbers start at 1)
            data["prompt_number"] = self.prompt_number
        if self.type == "summary":
            data.update({k: self.summary.get(k, "") for k in SUMMARY_FIELDS})
            data.update(files_read=self.files_read, files_modified=self.files_modified)
        data.update(origin=self.origin, backend=self.backend)
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    def content_id(self) -> str:
        """A stable hash of what the memory says: the dedup key of lines written without ``id``."""
        norm = {
            "project": self.project, "session": self.session, "type": self.type,
            "title": " ".join(self.title.split()), "text": " ".join(self.text.split()),
            "facts": sorted(self.facts), "files": sorted(self.files_read + self.files_modified),
            "summary": {k: self.summary.get(k, "") for k in SUMMARY_FIELDS},
        }
        return hashlib.sha256(json.dumps(norm, sort_keys=True).encode()).hexdigest()[:32]


def normalize_time(value) -> str:
    """``time`` as offmem stores it (``2026-11-24T21:25:22.867Z``, UTC); raises LineError."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        moment = datetime.fromtimestamp(float(value), tz=timezone.utc)
    elif isinstance(value, str) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise LineError(f"time {value!r} is not an ISO 8601 date-time (2026-11-24T21:25:22Z) or epoch seconds") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
    else:
        raise LineError("time must be an ISO 8601 string or epoch seconds")
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _text(data: dict, key: str, required: bool = False) -> str:
    value = data.get(key)
    if value is None:
        if required:
            raise LineError(f"missing {key!r}")
        return ""
    if not isinstance(value, str):
        raise LineError(f"{key!r} must be a string, not {type(value).__name__}")
    if required and key != "text" and not value.strip():
        raise LineError(f"{key!r} is empty")
    return value


def _strings(data: dict, key: str) -> list[str]:
    value = data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise LineError(f"{key!r} must be a list of strings")
    return value


def parse_line(text: str) -> Memory:
    """A :class:`Memory` from one JSONL line; raises LineError naming the problem."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise LineError(f"not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise LineError("a line must be a JSON object")
    if data.get("format", FORMAT) != FORMAT:
        raise LineError(f"format {data.get('format')!r} is not {FORMAT!r}")
    version = data.get("version", VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version > VERSION or version < 1:
        raise LineError(f"version {version!r} is not supported (this offmem reads version {VERSION}); upgrade offmem")
    kind = _text(data, "type", required=True)
    if kind not in KINDS:
        raise LineError(f"type {kind!r} is not one of {', '.join(KINDS)}")
    number = data.get("prompt_number")
    if number is not None and (not isinstance(number, int) or isinstance(number, bool) or number < 0):
        raise LineError("'prompt_number' must be a positive integer (or null when there is no prompt)")
    number = number or None  # 0: "no prompt", as offmem export wrote it before it left the key out
    memory = Memory(
        project=_text(data, "project", required=True),
        session=_text(data, "session", required=True),
        time=normalize_time(data.get("time")),
        type=kind,
        title=_text(data, "title", required=True),
        text=_text(data, "text", required=True),
        id=_text(data, "id"),
        subtitle=_text(data, "subtitle"),
        prompt_number=number,
        origin=_text(data, "origin") or "import",
        backend=_text(data, "backend") or "import",
        search_text=_text(data, "search_text"),
        summary={k: _text(data, k) for k in SUMMARY_FIELDS},
    )
    for key in LIST_FIELDS:
        setattr(memory, key, _strings(data, key))
    if not memory.id:
        memory.id = memory.content_id()
    return memory
