"""The records offmem keeps: raw events as the pipeline reads them, and the
observations and session summaries compression makes of them.

Below the store (which writes and reads them) and the summarizers (which make
them); imports only the standard library.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

OBSERVATION_TYPES = ("bugfix", "feature", "refactor", "change", "discovery", "decision")


@dataclass
class Observation:
    """One compressed memory of what happened (one or more raw events).

    ``files_read``, ``files_modified`` and the payload-stated ``facts`` come from
    the events themselves; a model may only add type, title, subtitle, narrative,
    concepts and facts that explain why.
    """

    type: str
    title: str
    subtitle: str = ""
    facts: list[str] = field(default_factory=list)
    narrative: str = ""
    concepts: list[str] = field(default_factory=list)
    files_read: list[str] = field(default_factory=list)
    files_modified: list[str] = field(default_factory=list)
    event_ids: list[int] = field(default_factory=list)
    backend: str = "rules"

    def __post_init__(self) -> None:
        if self.type not in OBSERVATION_TYPES:
            self.type = "change"

    def to_dict(self) -> dict:
        return asdict(self)

    def content_hash(self) -> str:
        """Normalized hash used to store an observation once per session."""
        norm = {
            "type": self.type,
            "title": " ".join(self.title.lower().split()),
            "facts": sorted(" ".join(f.lower().split()) for f in self.facts),
            "files": sorted(self.files_read + self.files_modified),
            "events": sorted(self.event_ids),
        }
        return hashlib.sha256(json.dumps(norm, sort_keys=True).encode()).hexdigest()[:32]


@dataclass
class SessionSummary:
    request: str = ""
    investigated: str = ""
    learned: str = ""
    completed: str = ""
    next_steps: str = ""
    files_read: list[str] = field(default_factory=list)
    files_modified: list[str] = field(default_factory=list)
    backend: str = "rules"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class EventRecord:
    """A raw hook event as read back from the spool, payload already parsed."""

    id: int
    session_id: str
    project: str
    kind: str  # hook_event_name
    tool_name: str | None
    payload: dict
    created_at: str
    prompt_number: int | None = None
