"""What the summarizers work on: a session's context, made of the records in :mod:`offmem.records`."""

from __future__ import annotations

from dataclasses import dataclass

from offmem.records import EventRecord, Observation


@dataclass
class SessionContext:
    """What a session summary is built from."""

    session_id: str
    project: str
    prompts: list[str]
    observations: list[Observation]
    events: list[EventRecord]
    last_assistant_message: str = ""
