"""From the durable spool to observations and summaries, exactly once.

The pipeline reads pending events in spool order and, per session:

1. reads what the session's transcript gained since the last pass (the agent's
   words between tool calls, user corrections, compaction summaries) and stores it
   once (:mod:`offmem.transcript.ingest`; never in the hook, never fatal);
2. cuts the events into units of work (:mod:`offmem.summarize.units`: a prompt's
   turn, cut again where an edit → run → fix cycle is complete, with a size cap)
   and hands each unit the transcript items that fall inside it;
3. compresses a unit with the rules (facts and the agent's own sentences, one
   ``decision`` memory per choice) and, when a model is configured, lets it write
   the unit's title and narrative over those facts (falling back to the rules on
   any failure);
4. commits the observations, the "done" marks of the unit's events and the "used"
   marks of its transcript items in one transaction. A crash before that commit
   leaves them pending, to be processed again; a crash after it cannot repeat them.

The commit is conditional: it marks only events (and items) that are still
``pending`` and rolls back when fewer rows change than the unit holds. Another
processor that finished the same events meanwhile, or an ``offmem forget`` of the
session while its unit was with the model, makes the unit a no-op instead of a
duplicate (or a forgotten memory brought back); the pass stops for that session
and the next one reads the events afresh.

Stop closes the session's unit and writes its summary; SessionEnd finalizes it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable

from offmem.errors import SummarizerError
from offmem.records import EventRecord, Observation
from offmem.store import evidence as evidence_table
from offmem.store.db import Store, transaction
from offmem.summarize import rules, units
from offmem.summarize.types import SessionContext
from offmem.transcript import ingest

TOOL_KINDS = ("PostToolUse", "PostToolUseFailure")
BOUNDARY_KINDS = ("Stop", "SessionEnd", "PreCompact")


class BatchConflict(Exception):
    """Events of a batch stopped being pending while it was compressed (processed elsewhere, or forgotten)."""


@dataclass
class BatchPolicy:
    """How units of work are cut. ``max_events`` / ``max_tokens`` bound what one model call reads
    (with a model configured); ``unit_max_events`` is the rules' safety cap on a unit; ``idle_s``
    is how long an open unit waits for more events before it is compressed as it is."""

    max_events: int = 12
    max_tokens: int = 2400
    idle_s: float = 15.0
    unit_max_events: int = units.DEFAULT_MAX_EVENTS

    @classmethod
    def from_settings(cls, settings) -> "BatchPolicy":
        s = settings.summarizer
        return cls(max_events=s.batch_max_events, max_tokens=s.batch_max_tokens, idle_s=s.batch_idle_s)


@dataclass
class RunStats:
    events: int = 0
    observations: int = 0
    summaries: int = 0
    model_calls: int = 0
    fallbacks: int = 0
    conflicts: int = 0  # batches dropped because their events changed under them
    errors: list[str] = field(default_factory=list)
    units: int = 0  # units of work committed
    transcript_items: int = 0  # transcript items stored in this pass
    transcript_errors: int = 0  # transcripts that could not be read (memories came from events alone)


def estimate_tokens(ev: EventRecord) -> int:
    """A cheap size estimate of an event for batching (about 4 characters a token)."""
    inp = ev.payload.get("tool_input")
    out = ev.payload.get("tool_response", ev.payload.get("error"))
    return (len(str(inp)) + min(len(str(out)), 4000)) // 4 + 8


def background_report(ev: EventRecord) -> list[Observation]:
    """The memory of a background subagent's report, from its SubagentStop (the Agent call only said
    it was launched; Claude Code 2.1.332 runs subagents so by default). A foreground subagent (not
    among the payload's ``background_tasks``) gives none here: its Agent call's result is its memory."""
    payload = ev.payload
    report, agent_id = payload.get("last_assistant_message"), payload.get("agent_id")
    tasks = payload.get("background_tasks") if isinstance(payload.get("background_tasks"), list) else []
    task = next((t for t in tasks if isinstance(t, dict) and agent_id and t.get("id") == agent_id), None)
    if task is None or not isinstance(report, str) or not report.strip():
        return []
    call = EventRecord(
        id=ev.id, session_id=ev.session_id, project=ev.project, kind="PostToolUse", tool_name="Agent",
        payload={"tool_input": {"description": str(task.get("description") or ""),
                                "subagent_type": str(payload.get("agent_type") or "")},
                 "tool_response": {"status": "completed", "content": [{"type": "text", "text": report}]}},
        created_at=ev.created_at, prompt_number=ev.prompt_number,
    )
    return [rules.subagent_observation(call)]


def _parse_time(iso: str) -> float:
    try:
        return time.mktime(time.strptime(iso[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    except (ValueError, TypeError):
        return 0.0


def observation_from_dict(data: dict) -> Observation:
    return Observation(
        type=data.get("type", "change"),
        title=data.get("title", ""),
        subtitle=data.get("subtitle", ""),
        facts=list(data.get("facts", [])),
        narrative=data.get("narrative", ""),
        concepts=list(data.get("concepts", [])),
        files_read=list(data.get("files_read", [])),
        files_modified=list(data.get("files_modified", [])),
        event_ids=list(data.get("event_ids", [])),
        backend=data.get("backend", "rules"),
    )


class Pipeline:
    """One pass over the spool. The worker calls :meth:`run_once` in a loop."""

    def __init__(
        self,
        store: Store,
        *,
        summarizer=None,
        policy: BatchPolicy | None = None,
        log: Callable[[str], None] | None = None,
        on_commit: Callable[[list[int]], None] | None = None,
        privacy=None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.store = store
        self.summarizer = summarizer
        self.policy = policy or BatchPolicy()
        self.log = log or (lambda msg: None)
        self.on_commit = on_commit
        self.on_progress = on_progress  # (events, observations) after every commit, for live status
        self.last_error: str | None = None
        if privacy is None:  # redaction is never skipped by omission: default to the configured stage
            from offmem.config import load_settings
            from offmem.privacy.stage import PrivacyStage

            privacy = PrivacyStage.from_settings(load_settings(), log=self.log)
        self.privacy = privacy

    # ------------------------------------------------------------------ driving

    def run_once(self, *, force: bool = False, now: float | None = None, limit: int = 2000) -> RunStats:
        """Process every batch that is ready; ``force`` also flushes open batches."""
        now = time.time() if now is None else now
        stats = RunStats()
        by_session: "OrderedDict[str, list[EventRecord]]" = OrderedDict()
        self.privacy.run(self.store)  # first: nothing below may see an unredacted payload
        for ev in self.store.pending_events(limit, redacted_only=True):
            by_session.setdefault(ev.session_id, []).append(ev)
        self.read_transcripts(by_session, stats)
        for session_id, events in by_session.items():
            try:
                self._run_session(session_id, events, force=force, now=now, stats=stats)
            except BatchConflict as exc:  # not an error of these events: nothing to retry or count
                stats.conflicts += 1
                self.log(f"session {session_id}: {exc}; batch dropped, nothing written")
            except Exception as exc:  # noqa: BLE001 - one bad session must not stall the others
                msg = f"session {session_id}: {type(exc).__name__}: {exc}"
                self.last_error = msg
                stats.errors.append(msg)
                self.log(msg)
                self.store.note_attempt([e.id for e in events], msg)
        return stats

    # ------------------------------------------------------------------ transcripts

    def read_transcripts(self, by_session: "OrderedDict[str, list[EventRecord]]", stats: RunStats) -> None:
        """The transcript stage: store what these sessions' transcripts gained (redacted like events).

        Read after the pending events were fetched, so the words that precede them are
        on disk. Without a redactor nothing is read: redaction is never skipped.
        """
        redactor = getattr(self.privacy, "redactor", None)
        if not by_session or redactor is None:
            return
        ended = {sid for sid, events in by_session.items() if any(e.kind == "SessionEnd" for e in events)}
        result = ingest.read_sessions(self.store.conn, list(by_session), redact=redactor.redact_text,
                                      final=ended, log=self.log, excluded_paths=getattr(self.privacy, "excluded", ()))
        stats.transcript_items += result.items
        stats.transcript_errors += len(result.errors)

    # ------------------------------------------------------------------ units of work

    def _run_session(self, session_id: str, events: list[EventRecord], *, force: bool, now: float, stats: RunStats) -> None:
        pool = units.place(evidence_table.pending_evidence(self.store.conn, session_id))
        self._commit_compactions(pool, stats)
        if self.summarizer is not None and getattr(self.summarizer, "writes_units", True):  # one call per unit
            cap = {"max_events": min(self.policy.max_events, self.policy.unit_max_events),
                   "max_tokens": self.policy.max_tokens, "size": estimate_tokens}
        else:
            cap = {"max_events": self.policy.unit_max_events}
        for part in units.segment(events, **cap):
            if isinstance(part, units.Boundary):
                self._boundary(part.event, stats, pool)
            elif part.closed_by is not None:
                self._commit_unit(part, pool, stats)
            elif not part.events:
                self._commit_unit(part, [], stats)  # a prompt or a start: done now, the turn's words wait
            elif force or now - _parse_time(part.events[-1].created_at) >= self.policy.idle_s:
                part.closed_by = "idle"
                self._commit_unit(part, pool, stats)

    def _history(self, batch: list[EventRecord]) -> list[EventRecord]:
        first = batch[0].id
        return [
            e for e in self.store.session_events(batch[0].session_id, TOOL_KINDS, redacted_only=True) if e.id < first
        ]

    def compress(self, batch: list[EventRecord], stats: RunStats, evidence=()) -> list[Observation]:
        """The observations of one unit of work: the rules' (facts, the agent's sentences, decisions),
        with the unit's title and narrative by the model when one is configured."""
        project = batch[0].project if batch else (evidence[0].project if evidence else "")
        made = rules.compress_unit(batch, project, self._history(batch) if batch else [], evidence)
        if not batch or not made or self.summarizer is None or not getattr(self.summarizer, "writes_units", True):
            return made  # (summarizer.units = "rules": the model only condenses session summaries)
        main, decisions = made[0], made[1:]
        stats.model_calls += 1
        try:
            merged = self.summarizer.compress(batch, [main], project, sources=[r.text for r in evidence])
        except SummarizerError as exc:
            stats.fallbacks += 1
            self.last_error = f"summarizer: {exc}"
            self.log(f"summarizer fell back to rules for events {batch[0].id}..{batch[-1].id}: {exc}")
            return made
        return [merged, *decisions]

    def _commit_unit(self, unit: units.Unit, pool: list, stats: RunStats) -> None:
        """Compress one unit and commit its observations with the done marks of its events and the
        used marks of its transcript items."""
        taken = units.take_evidence(unit, pool) if pool else []
        events = unit.all_events
        if not events and not taken:
            return
        observations = self.compress(unit.events, stats, taken) if (unit.events or taken) else []
        observations += [obs for ev in unit.carry if ev.kind == "SubagentStop" for obs in background_report(ev)]
        turn = unit.turn if unit.turn is not None else (taken[-1].turn if taken else None)
        new_ids = self._commit(events, observations, taken, stats, turn=turn)
        stats.units += bool(unit.events or taken)
        self._count(stats, len(events), len(new_ids))
        if new_ids and self.on_commit:
            self.on_commit(new_ids)

    def _commit(self, events: list[EventRecord], observations: list[Observation], taken: list, stats: RunStats,
                *, turn: int | None) -> list[int]:
        new_ids: list[int] = []
        with transaction(self.store.conn):
            if events:
                self._claim([e.id for e in events])
            for obs in observations:
                anchor = next((e for e in reversed(events) if e.id in obs.event_ids), events[-1] if events else None)
                if anchor is not None:
                    where = dict(session_id=anchor.session_id, project=anchor.project,
                                 prompt_number=anchor.prompt_number, created_at=anchor.created_at)
                else:  # words only (a turn without tool calls, a compaction): placed at the last item
                    where = dict(session_id=taken[-1].session_id, project=taken[-1].project, prompt_number=turn,
                                 created_at=taken[-1].created_at)
                oid = self.store.insert_observation(obs, **where)
                if oid is not None:
                    new_ids.append(oid)
            if taken:
                ids = [r.id for r in taken]
                if evidence_table.mark_used(self.store.conn, ids, new_ids[0] if new_ids else None) != len(ids):
                    raise BatchConflict(f"transcript items {ids[0]}..{ids[-1]} were taken meanwhile"
                                        " (processed by another process, or forgotten)")
        return new_ids

    def _commit_compactions(self, pool: list, stats: RunStats) -> None:
        """Claude Code's compaction summaries, each as the memories :func:`rules.compaction_observations`
        makes of it (they are whole when read: no unit to wait for)."""
        for record in [r for r in pool if r.kind == "compact_summary"]:
            pool.remove(record)
            observations = rules.compaction_observations(record.text)
            new_ids = self._commit([], observations, [record], stats, turn=record.turn)
            self._count(stats, 0, len(new_ids))
            if new_ids and self.on_commit:
                self.on_commit(new_ids)

    # ------------------------------------------------------------------ summaries

    def _boundary(self, ev: EventRecord, stats: RunStats, pool: list | None = None) -> None:
        if pool:  # words of the turn no unit took (a turn without tool calls): their own unit first
            if ev.kind == "SessionEnd":
                closing = units.Unit(turn=10**9, closed_by="end")
            else:
                closing = units.Unit(turn=ev.prompt_number, closed_by="stop", until=ev.id)
            self._commit_unit(closing, pool, stats)
        if ev.kind in ("Stop", "SessionEnd"):
            summary = self.summarize(ev)
            with transaction(self.store.conn):
                self._claim([ev.id])
                if summary is not None:
                    self.store.upsert_summary(ev.session_id, ev.project, summary)
            stats.summaries += summary is not None
        else:
            with transaction(self.store.conn):
                self._claim([ev.id])
        self._count(stats, 1, 0)

    def _claim(self, ids: list[int]) -> None:
        """Inside the commit's transaction: mark ``ids`` done, or raise BatchConflict (rolling it back)
        when any of them is no longer pending."""
        changed = self.store.mark_events(ids, only_pending=True)
        if changed != len(ids):
            raise BatchConflict(
                f"{len(ids) - changed} of events {ids[0]}..{ids[-1]} were no longer pending"
                " (processed by another process, or forgotten)"
            )

    def _count(self, stats: RunStats, events: int, observations: int) -> None:
        stats.events += events
        stats.observations += observations
        if self.on_progress is not None:
            self.on_progress(events, observations)
        self.privacy.run(self.store)  # between batches too: what arrived meanwhile waits one batch at most

    def session_context(self, session_id: str, last_message: str = "") -> SessionContext:
        session = self.store.get_session(session_id) or {}
        return SessionContext(
            session_id=session_id,
            project=session.get("project", ""),
            prompts=self.store.session_prompts(session_id),
            observations=[observation_from_dict(o) for o in self.store.session_observations(session_id)],
            events=self.store.session_events(session_id, TOOL_KINDS, redacted_only=True),
            last_assistant_message=last_message or session.get("last_assistant_message") or "",
        )

    def summarize(self, ev: EventRecord):
        """The session summary at Stop/SessionEnd; None when the session did nothing."""
        message = ev.payload.get("last_assistant_message") if ev.kind == "Stop" else ""
        ctx = self.session_context(ev.session_id, str(message or ""))
        if not ctx.prompts and not ctx.observations:
            return None
        if ev.kind == "SessionEnd":
            if self.store.has_summary(ev.session_id) and not self.store.changed_since_summary(ev.session_id):
                return None
        said = evidence_table.session_evidence(self.store.conn, ev.session_id, ("assistant_text",))
        draft = rules.summarize_session(ctx, said, final_text=self.final_words(said, ctx.events))
        if self.summarizer is None:
            return draft
        try:
            return self.summarizer.summarize(ctx, draft, sources=[r.text for r in said])
        except SummarizerError as exc:
            self.last_error = f"summarizer: {exc}"
            self.log(f"session summary fell back to rules for {ev.session_id}: {exc}")
            return draft

    @staticmethod
    def final_words(said: list, tool_events: list[EventRecord]) -> str:
        """The agent's last words in the session: its text after the last tool call, last turn only."""
        if not said:
            return ""
        last_tool = max((e.id for e in tool_events), default=None)
        after = [r for r in units.place(list(said))
                 if (r.anchor_event_id == last_tool if last_tool is not None else r.after_tool_use_id is None)]
        if not after:
            return ""
        turn = max(r.turn or 0 for r in after)
        return "\n".join(r.text for r in after if (r.turn or 0) == turn)
