"""From the durable spool to observations and summaries, exactly once.

The pipeline reads pending events in spool order, groups each session's
consecutive tool events into batches (by count, estimated tokens and idle time),
compresses a batch with the configured summarizer (falling back to rules on any
failure), and commits the observations *and* the "done" marks of the batch's
events in one transaction. A crash before that commit leaves the events pending,
to be processed again; a crash after it cannot repeat them.

The commit is conditional: it marks only events that are still ``pending`` and
rolls back when fewer rows change than the batch holds. Another processor that
finished the same events meanwhile, or an ``offmem forget`` of the session while
its batch was with the model, makes the batch a no-op instead of a duplicate (or
a forgotten memory brought back); the pass stops for that session and the next
one reads the events afresh.

Stop flushes the session's batch and writes its summary; SessionEnd finalizes it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable

from offmem.errors import SummarizerError
from offmem.records import EventRecord, Observation
from offmem.store.db import Store, transaction
from offmem.summarize import rules
from offmem.summarize.types import SessionContext

TOOL_KINDS = ("PostToolUse", "PostToolUseFailure")
BOUNDARY_KINDS = ("Stop", "SessionEnd", "PreCompact")


class BatchConflict(Exception):
    """Events of a batch stopped being pending while it was compressed (processed elsewhere, or forgotten)."""


@dataclass
class BatchPolicy:
    max_events: int = 12
    max_tokens: int = 2400
    idle_s: float = 15.0

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


def estimate_tokens(ev: EventRecord) -> int:
    """A cheap size estimate of an event for batching (about 4 characters a token)."""
    inp = ev.payload.get("tool_input")
    out = ev.payload.get("tool_response", ev.payload.get("error"))
    return (len(str(inp)) + min(len(str(out)), 4000)) // 4 + 8


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

    def _run_session(self, session_id: str, events: list[EventRecord], *, force: bool, now: float, stats: RunStats) -> None:
        batch: list[EventRecord] = []
        carry: list[EventRecord] = []  # non-tool events marked done with the next commit
        tokens = 0
        for ev in events:
            if ev.kind in TOOL_KINDS:
                batch.append(ev)
                tokens += estimate_tokens(ev)
                if len(batch) >= self.policy.max_events or tokens >= self.policy.max_tokens:
                    self._commit_batch(batch, carry, stats)
                    batch, carry, tokens = [], [], 0
            elif ev.kind in BOUNDARY_KINDS:
                self._commit_batch(batch, carry, stats)
                batch, carry, tokens = [], [], 0
                self._boundary(ev, stats)
            else:
                carry.append(ev)
        if not batch:
            if carry:
                self._commit_batch([], carry, stats)
            return
        idle = now - _parse_time(batch[-1].created_at)
        if force or idle >= self.policy.idle_s:
            self._commit_batch(batch, carry, stats)

    # ------------------------------------------------------------------ batches

    def _history(self, batch: list[EventRecord]) -> list[EventRecord]:
        first = batch[0].id
        return [
            e for e in self.store.session_events(batch[0].session_id, TOOL_KINDS, redacted_only=True) if e.id < first
        ]

    def compress(self, batch: list[EventRecord], stats: RunStats) -> list[Observation]:
        project = batch[0].project
        drafts = rules.compress(batch, project, self._history(batch))
        if not drafts or self.summarizer is None:
            return drafts
        stats.model_calls += 1
        try:
            merged = self.summarizer.compress(batch, drafts, project)
        except SummarizerError as exc:
            stats.fallbacks += 1
            self.last_error = f"summarizer: {exc}"
            self.log(f"summarizer fell back to rules for events {batch[0].id}..{batch[-1].id}: {exc}")
            return drafts
        return [merged]

    def _commit_batch(self, batch: list[EventRecord], carry: list[EventRecord], stats: RunStats) -> None:
        if not batch and not carry:
            return
        observations = self.compress(batch, stats) if batch else []
        new_ids: list[int] = []
        with transaction(self.store.conn):
            self._claim([e.id for e in carry + batch])
            for obs in observations:
                anchor = next((e for e in reversed(batch) if e.id in obs.event_ids), batch[-1])
                oid = self.store.insert_observation(
                    obs,
                    session_id=anchor.session_id,
                    project=anchor.project,
                    prompt_number=anchor.prompt_number,
                    created_at=anchor.created_at,
                )
                if oid is not None:
                    new_ids.append(oid)
        self._count(stats, len(batch) + len(carry), len(new_ids))
        if new_ids and self.on_commit:
            self.on_commit(new_ids)

    # ------------------------------------------------------------------ summaries

    def _boundary(self, ev: EventRecord, stats: RunStats) -> None:
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
        draft = rules.summarize_session(ctx)
        if self.summarizer is None:
            return draft
        try:
            return self.summarizer.summarize(ctx, draft)
        except SummarizerError as exc:
            self.last_error = f"summarizer: {exc}"
            self.log(f"session summary fell back to rules for {ev.session_id}: {exc}")
            return draft
