"""The spool → observations pipeline: batching, summaries, exactly-once commits."""

from __future__ import annotations

import json
import time

from conftest import fixture_payloads, replay, run_hook

from offmem.errors import SummarizerError
from offmem.worker.pipeline import BatchPolicy, Pipeline
from offmem.records import Observation
from offmem.store.db import Store

SESSION1 = "aec79197-7a7d-4653-bf2b-6e40ad63e1d2"


def store(home):
    return Store.open(home / "offmem.db")


def test_fixture_sessions_processed_once(offmem_home):
    replay(fixture_payloads())
    with store(offmem_home) as s:
        stats = Pipeline(s).run_once(force=True)
        assert stats.events == s.conn.execute("SELECT count(*) FROM events").fetchone()[0]
        assert s.queue_depth() == 0
        first = s.conn.execute("SELECT count(*) FROM observations").fetchone()[0]
        assert first >= 3 and stats.summaries == 2  # one per unit of work (and decision), not per tool call
        again = Pipeline(s).run_once(force=True)
        assert again.events == 0
        assert s.conn.execute("SELECT count(*) FROM observations").fetchone()[0] == first
        summary = s.conn.execute("SELECT * FROM summaries WHERE session_id = ?", (SESSION1,)).fetchone()
        assert "cart/vat.py" in summary["completed"] + summary["investigated"]


def test_open_batch_waits_for_more_events_until_idle(offmem_home):
    payloads = [p for p in fixture_payloads() if p["session_id"] == SESSION1]
    replay(payloads[:6])  # start, prompt, some tool events; no Stop yet
    with store(offmem_home) as s:
        p = Pipeline(s, policy=BatchPolicy(max_events=50, max_tokens=100000, idle_s=3600))
        stats = p.run_once()
        assert stats.observations == 0
        pending = s.queue_depth()
        assert pending >= 2  # the open batch waits
        later = p.run_once(now=time.time() + 7200)  # an hour of silence flushes it
        assert later.observations >= 1 and s.queue_depth() == 0


def test_batches_are_bounded_by_count(offmem_home):
    base = next(p for p in fixture_payloads() if p["hook_event_name"] == "PostToolUse")
    for i in range(30):
        run_hook({**base, "tool_use_id": f"t{i}", "tool_input": {"command": f"make step{i}"}})

    calls = []

    class Counting:
        def compress(self, events, drafts, project, sources=()):
            calls.append(len(events))
            return Observation(type="change", title=f"Batch of {len(events)} commands", facts=[],
                               event_ids=[e.id for e in events])

    progress = []  # what the worker's status sees: one report per committed batch, as it commits
    with store(offmem_home) as s:
        pipeline = Pipeline(s, summarizer=Counting(), policy=BatchPolicy(max_events=8, max_tokens=10**6, idle_s=0),
                            on_progress=lambda events, observations: progress.append((events, observations)))
        stats = pipeline.run_once()
    assert calls == [8, 8, 8, 6]
    assert stats.model_calls == 4 and stats.observations == 4
    assert progress == [(8, 1), (8, 1), (8, 1), (6, 1)]


def test_model_failure_falls_back_to_rules_and_loses_nothing(offmem_home):
    replay(fixture_payloads())

    class Broken:
        def compress(self, events, drafts, project, sources=()):
            raise SummarizerError("model returned junk")

        def summarize(self, ctx, draft, sources=()):
            raise SummarizerError("model timed out")

    with store(offmem_home) as s:
        stats = Pipeline(s, summarizer=Broken()).run_once(force=True)
        assert stats.fallbacks >= 1 and s.queue_depth() == 0
        backends = {r[0] for r in s.conn.execute("SELECT backend FROM observations")}
        assert backends == {"rules"}
        assert s.conn.execute("SELECT count(*) FROM summaries").fetchone()[0] == 2


def test_unexpected_error_leaves_events_pending_for_retry(offmem_home):
    replay(fixture_payloads())

    class Exploding:
        def compress(self, events, drafts, project, sources=()):
            raise RuntimeError("bug")

        def summarize(self, ctx, draft, sources=()):
            return draft

    with store(offmem_home) as s:
        depth = s.queue_depth()
        stats = Pipeline(s, summarizer=Exploding()).run_once(force=True)
        assert stats.errors
        assert s.conn.execute("SELECT count(*) FROM observations").fetchone()[0] == 0
        assert s.queue_depth() > 0
        attempts = s.conn.execute("SELECT max(attempts) FROM events").fetchone()[0]
        assert attempts == 1
        Pipeline(s).run_once(force=True)  # the next pass (rules) completes them
        assert s.queue_depth() == 0
        assert depth > 0


def test_observation_payload_facts_survive_storage(offmem_home):
    replay(fixture_payloads())
    with store(offmem_home) as s:
        Pipeline(s).run_once(force=True)
        row = s.conn.execute("SELECT * FROM observations WHERE type = 'bugfix'").fetchone()
        assert json.loads(row["files_modified"]) == ["cart/vat.py"]
        hits = s.conn.execute("SELECT rowid FROM observations_fts WHERE observations_fts MATCH 'AssertionError'").fetchall()
        assert row["id"] in [h[0] for h in hits]
