"""The recorded Claude Code sessions of tests/fixtures/hook-payloads.jsonl as spool events."""

from __future__ import annotations

import json
from pathlib import Path

from offmem.records import EventRecord
from offmem.summarize.types import SessionContext

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PROJECT = "/home/dev/shop-api"


def payloads() -> list[dict]:
    with open(FIXTURES / "hook-payloads.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def session_ids() -> list[str]:
    return list(dict.fromkeys(p["session_id"] for p in payloads()))


def session_events(index: int, *, with_pre: bool = False) -> list[EventRecord]:
    """Session ``index`` (0 = the VAT fix, 1 = the RATES question) as the spool holds it."""
    sid = session_ids()[index]
    out = []
    for number, p in enumerate(payloads(), start=1):
        if p["session_id"] != sid or (p["hook_event_name"] == "PreToolUse" and not with_pre):
            continue
        out.append(EventRecord(
            id=number, session_id=sid, project=PROJECT, kind=p["hook_event_name"], tool_name=p.get("tool_name"),
            payload=p, created_at="2026-11-24T10:00:00.000Z",
        ))
    return out


def session_context(index: int, observations=()) -> SessionContext:
    events = session_events(index)
    return SessionContext(
        session_id=events[0].session_id,
        project=PROJECT,
        prompts=[e.payload["prompt"] for e in events if e.kind == "UserPromptSubmit"],
        observations=list(observations),
        events=events,
        last_assistant_message=next(
            (e.payload.get("last_assistant_message", "") for e in events if e.kind == "Stop"), ""
        ),
    )
