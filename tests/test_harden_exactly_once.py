"""Exactly once, against offmem's own races (issue 12, items 10-12).

* ``offmem process`` and ``offmem import-transcripts`` hold the worker's lock while
  they process, so a worker a hook starts meanwhile processes nothing twice;
* a batch commits only when every one of its events is still pending (another
  processor finished them, or ``offmem forget`` removed them, while the batch was
  with the model): otherwise it rolls back, and a forget sticks;
* a spool file's name is recorded in the transaction that stores its event, so a
  worker killed between that commit and the unlink does not store it twice.

Tool events here are read-only (``Read``), which the rule-based compressor groups
per batch: two processors with different batch sizes that both process an event
leave it in two observations, which the checks below count.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from support.durability import OFFMEM, offmem, start_worker, statuses, stop_worker, wait_until_drained
from support.polling import wait_for

from offmem.config import load_settings
from offmem.hooks import capture
from offmem.lean.settings import capture_settings
from offmem.worker.pipeline import BatchPolicy, Pipeline
from offmem.privacy.stage import PrivacyStage
from offmem.records import SessionSummary
from offmem.store.db import Store
from offmem.store.events import build_record
from offmem.store.spool import spool_record
from offmem.summarize.base import merge_observation

PROJECT = "/home/dev/shop-api"
RULES = {"OFFMEM_SUMMARIZER_BACKEND": "rules", "OFFMEM_EMBEDDER_BACKEND": "none", "OFFMEM_WORKER_PORT": "0"}


def reading_session(session: str, reads: int) -> list[dict]:
    base = {"session_id": session, "cwd": PROJECT, "transcript_path": f"/tmp/{session}.jsonl"}
    script = [{**base, "hook_event_name": "SessionStart", "source": "startup"},
              {**base, "hook_event_name": "UserPromptSubmit", "prompt": f"Explain how {session} is wired"}]
    for i in range(reads):
        script.append({**base, "hook_event_name": "PostToolUse", "tool_name": "Read", "tool_use_id": f"toolu_{session}_{i}",
                       "tool_input": {"file_path": f"{PROJECT}/src/{session}/module_{i}.py"},
                       "tool_response": {"type": "text", "file": {"filePath": f"{PROJECT}/src/{session}/module_{i}.py",
                                                                  "content": f"def f{i}():\n    return {i}\n"}}})
    script.append({**base, "hook_event_name": "Stop", "stop_hook_active": False, "last_assistant_message": "Explained."})
    return script


def store_in_process(home: Path, scripts: list[list[dict]]) -> int:
    """Store events through the hook's own code, in this process (fast set-up); returns how many."""
    for script in scripts:
        for payload in script:
            capture.handle(json.dumps(payload).encode(), str(home))
    return sum(len(s) for s in scripts)


def coverage(home: Path) -> dict[int, int]:
    """For every tool event: how many observations were made from it."""
    conn = sqlite3.connect(home / "offmem.db")
    try:
        seen = {r[0]: 0 for r in conn.execute("SELECT id FROM events WHERE kind = 'PostToolUse'")}
        for (event_ids,) in conn.execute("SELECT event_ids FROM observations"):
            for eid in json.loads(event_ids):
                seen[eid] = seen.get(eid, 0) + 1
        return seen
    finally:
        conn.close()


def assert_processed_exactly_once(home: Path, expected_events: int) -> None:
    assert statuses(home) == {"done": expected_events}
    seen = coverage(home)
    twice = {eid: n for eid, n in seen.items() if n != 1}
    assert not twice, f"{len(twice)} tool events are in more (or fewer) than one observation: {sorted(twice.items())[:10]}"


def stored_events(home: Path) -> int:
    """Events in the database so far (0 while it is still being created)."""
    try:
        return sum(statuses(home).values())
    except sqlite3.Error:
        return 0


def worker_processed(worker: subprocess.Popen) -> int:
    """Events the running worker says it processed (0 once it has exited)."""
    if worker.poll() is not None:
        return 0
    status = json.loads(offmem("worker", "status", "--json", env=RULES).stdout)
    return int(status.get("events_processed") or 0) if status.get("running") else 0


# ---------------------------------------------------------------------- item 10: the lock


def test_a_worker_started_while_offmem_process_runs_processes_nothing_twice(offmem_home):
    total = store_in_process(offmem_home, [reading_session(f"p{n}", 200) for n in range(9)])
    assert total < 2000  # one `offmem process` pass takes up to 2000 events
    cli = subprocess.Popen(OFFMEM + ["process", "--rules", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env={**os.environ, **RULES, "OFFMEM_SUMMARIZER_BATCH_MAX_EVENTS": "12"}, text=True)
    worker = None
    try:
        # the CLI is past its start-up and committing batches: now a hook starts a worker
        wait_for(lambda: statuses(offmem_home).get("done", 0) > 0 or cli.poll() is not None,
                 timeout=120, interval=0.02, what="offmem process committing its first batch")
        assert cli.poll() is None, "offmem process finished before the worker could start; give it more events"
        worker = start_worker(env={"OFFMEM_SUMMARIZER_BATCH_MAX_EVENTS": "5"})
        out, err = cli.communicate(timeout=300)
        assert cli.returncode == 0, err
        by_cli = json.loads(out)["events"]
        wait_until_drained(offmem_home, timeout=120, vectors=False)
        by_worker = worker_processed(worker)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
        if worker is not None:
            stop_worker(worker)
    assert by_cli + by_worker == total, f"offmem process did {by_cli}, the worker {by_worker}, of {total} events"
    assert_processed_exactly_once(offmem_home, total)


def test_offmem_process_refuses_while_a_worker_runs(offmem_home):
    store_in_process(offmem_home, [reading_session("w", 3)])
    worker = start_worker()
    try:
        wait_for(lambda: (offmem_home / "worker.json").exists(), timeout=60, what="the worker's state file")
        result = offmem("process", "--rules", env=RULES, check=False)
        assert result.returncode == 1 and "worker is running" in result.stderr
    finally:
        stop_worker(worker)


def transcript(session: str, reads: int) -> str:
    common = {"sessionId": session, "cwd": PROJECT, "isSidechain": False, "version": "2.1.197"}
    stamp = lambda n: f"2026-11-25T09:{n // 60 % 60:02d}:{n % 60:02d}.000Z"  # noqa: E731
    records = [{**common, "type": "user", "timestamp": stamp(0), "message": {"role": "user", "content": f"Walk me through {session}"}}]
    for i in range(reads):
        use = f"toolu_{session}_{i}"
        path = f"{PROJECT}/src/{session}/part_{i}.py"
        records.append({**common, "type": "assistant", "timestamp": stamp(2 * i + 1), "message": {
            "id": f"msg_{session}_{i}", "role": "assistant", "stop_reason": "tool_use",
            "content": [{"type": "tool_use", "id": use, "name": "Read", "input": {"file_path": path}}]}})
        records.append({**common, "type": "user", "timestamp": stamp(2 * i + 2),
                        "toolUseResult": {"type": "text", "file": {"filePath": path, "content": f"x = {i}\n"}},
                        "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use, "content": f"x = {i}"}]}})
    records.append({**common, "type": "assistant", "timestamp": stamp(2 * reads + 1), "message": {
        "id": f"msg_{session}_end", "role": "assistant", "stop_reason": "end_turn", "content": [{"type": "text", "text": "Done."}]}})
    return "\n".join(json.dumps(r) for r in records) + "\n"


def test_a_worker_started_during_import_transcripts_processes_nothing_twice(offmem_home, tmp_path):
    folder = tmp_path / "transcripts"
    folder.mkdir()
    for n in range(16):
        (folder / f"session-{n:02d}.jsonl").write_text(transcript(f"t{n:02d}", 150))
    cli = subprocess.Popen(OFFMEM + ["import-transcripts", str(folder), "--rules", "--json"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env={**os.environ, **RULES, "OFFMEM_SUMMARIZER_BATCH_MAX_EVENTS": "12"},
                           text=True)
    worker = None
    try:
        wait_for(lambda: stored_events(offmem_home) or cli.poll() is not None,
                 timeout=120, interval=0.02, what="import-transcripts storing its first events")
        assert cli.poll() is None, "the import finished before the worker could start; give it more transcripts"
        worker = start_worker(env={"OFFMEM_SUMMARIZER_BATCH_MAX_EVENTS": "5"})
        out, err = cli.communicate(timeout=300)
        assert cli.returncode == 0, err
        result = json.loads(out)
        assert result["imported_files"] == 16 and result["processed"] is True
        wait_until_drained(offmem_home, timeout=120, vectors=False)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
        if worker is not None:
            stop_worker(worker)
    assert_processed_exactly_once(offmem_home, result["events"])


# ---------------------------------------------------------------------- item 10: the conditional commit


class ModelStandIn:
    """A summarizer backend whose "model call" lets the test act while the batch is with the model.

    It answers like a model (one merged observation with its own title, through the
    real :func:`merge_observation`), after running ``during_call`` once.
    """

    name = "stand-in"

    def __init__(self, during_call=None, during_summary=None) -> None:
        self.during_call, self.during_summary = during_call, during_summary
        self.calls = 0

    def compress(self, events, drafts, project, sources=None):
        self.calls += 1
        if self.during_call is not None:
            action, self.during_call = self.during_call, None
            action()
        answer = {"type": "discovery", "title": f"Model read {len(events)} files", "subtitle": "", "why": [],
                  "narrative": "", "summary": "", "concepts": []}
        return merge_observation(answer, drafts, events, self.name)

    def summarize(self, ctx, draft, sources=None):
        if self.during_summary is not None:
            action, self.during_summary = self.during_summary, None
            action()
        return SessionSummary(request=draft.request, completed="the model's summary", backend=self.name)


def pipeline(store: Store, summarizer=None, **policy) -> Pipeline:
    return Pipeline(store, summarizer=summarizer, policy=BatchPolicy(idle_s=0, **policy),
                    privacy=PrivacyStage.from_settings(load_settings()))


def test_a_batch_whose_events_were_processed_meanwhile_rolls_back(offmem_home, settings):
    total = store_in_process(offmem_home, [reading_session("race", 10)])

    def another_processor_finishes_the_same_events() -> None:
        with Store.open(settings.db_path) as other:
            assert pipeline(other).run_once(force=True).events == total

    with Store.open(settings.db_path) as store:
        model = ModelStandIn(during_call=another_processor_finishes_the_same_events)
        stats = pipeline(store, model, max_events=12).run_once(force=True)
    assert model.calls == 1
    assert_processed_exactly_once(offmem_home, total)
    conn = sqlite3.connect(offmem_home / "offmem.db")
    assert conn.execute("SELECT backend, count(*) FROM observations GROUP BY backend").fetchall() == [("rules", 1)]
    assert conn.execute("SELECT max(attempts) FROM events").fetchone() == (0,)  # a conflict is not a failure
    assert stats.conflicts == 1 and stats.observations == 0 and stats.events == 0 and not stats.errors


# ---------------------------------------------------------------------- item 11: forget sticks


def forget_session(session: str) -> None:
    result = offmem("forget", "--session", session, "--yes", "--json", env=RULES)
    assert json.loads(result.stdout)["removed"]["events"] > 0


def leftovers(home: Path, session: str) -> dict:
    conn = sqlite3.connect(home / "offmem.db")
    try:
        return {t: conn.execute(f"SELECT count(*) FROM {t} WHERE session_id = ?", (session,)).fetchone()[0]
                for t in ("observations", "summaries", "prompts", "events")}
    finally:
        conn.close()


def test_forgetting_a_session_while_its_batch_is_with_the_model_sticks(offmem_home, settings):
    store_in_process(offmem_home, [reading_session("secret", 6), reading_session("kept", 4)])
    with Store.open(settings.db_path) as store:
        model = ModelStandIn(during_call=lambda: forget_session("secret"))  # the real CLI, another process
        stats = pipeline(store, model).run_once(force=True)
    assert leftovers(offmem_home, "secret") == {"observations": 0, "summaries": 0, "prompts": 0, "events": 0}
    conn = sqlite3.connect(offmem_home / "offmem.db")
    assert conn.execute("SELECT count(*) FROM sessions WHERE id = 'secret'").fetchone() == (0,)
    assert leftovers(offmem_home, "kept")["observations"] == 1 and leftovers(offmem_home, "kept")["summaries"] == 1
    assert model.calls == 2 and stats.conflicts == 1 and not stats.errors


def test_forgetting_a_session_while_its_summary_is_with_the_model_sticks(offmem_home, settings):
    store_in_process(offmem_home, [reading_session("secret", 4)])
    with Store.open(settings.db_path) as store:
        model = ModelStandIn(during_summary=lambda: forget_session("secret"))
        stats = pipeline(store, model).run_once(force=True)
    assert leftovers(offmem_home, "secret") == {"observations": 0, "summaries": 0, "prompts": 0, "events": 0}
    assert stats.conflicts == 1 and not stats.errors


# ---------------------------------------------------------------------- item 12: the spool file's id


def spool_files(home: Path, scripts: list[list[dict]]) -> list[Path]:
    """The events as the hook spools them when SQLite cannot take them (its own functions)."""
    settings = capture_settings(str(home))
    paths = []
    for script in scripts:
        for payload in script:
            record = build_record(payload, settings)
            paths.append(Path(spool_record(str(home), record)))
    return paths


def table_counts(home: Path) -> dict:
    conn = sqlite3.connect(home / "offmem.db")
    try:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("events", "prompts", "sessions")}
    finally:
        conn.close()


def test_a_spool_file_stored_but_not_yet_removed_is_not_stored_again(offmem_home, settings, tmp_path):
    script = reading_session("spooled", 2)
    paths = spool_files(offmem_home, [script])
    kept = tmp_path / "kept"
    kept.mkdir()
    for path in paths:
        shutil.copy(path, kept / path.name)
    with Store.open(settings.db_path) as store:
        assert store.ingest_spool_dir(offmem_home) == len(script)
        once = table_counts(offmem_home)
        for path in paths:  # the crash point: committed, but the files are still there
            shutil.copy(kept / path.name, path)
        assert store.ingest_spool_dir(offmem_home) == 0
    assert table_counts(offmem_home) == once == {"events": len(script), "prompts": 1, "sessions": 1}
    assert not list((offmem_home / "spool").glob("*.json"))


KILL_AT_UNLINK = """
import os, runpy, signal, sys

_unlink = os.unlink

def unlink(path, *args, **kwargs):
    name = os.fspath(path)
    if os.sep + "spool" + os.sep in name and not name.endswith(".tmp"):
        os.kill(os.getpid(), signal.SIGKILL)  # the crash point: the event is committed, the file not yet gone
    return _unlink(path, *args, **kwargs)

os.unlink = unlink
sys.argv = ["offmem.worker", "run"]
runpy.run_module("offmem.worker", run_name="__main__")
"""


def test_a_worker_killed_between_storing_a_spool_file_and_removing_it_stores_it_once(offmem_home, tmp_path):
    script = reading_session("killed", 1)
    paths = spool_files(offmem_home, [script])
    driver = tmp_path / "kill_at_unlink.py"
    driver.write_text(KILL_AT_UNLINK)
    from support.durability import WORKER_ENV

    doomed = subprocess.Popen([sys.executable, str(driver)], env={**os.environ, **WORKER_ENV},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert doomed.wait(timeout=120) == -signal.SIGKILL, doomed.stderr.read().decode()
    assert table_counts(offmem_home)["events"] == 1 and all(p.exists() for p in paths)

    worker = start_worker()
    try:
        wait_until_drained(offmem_home, timeout=120, vectors=False)
    finally:
        stop_worker(worker)
    assert table_counts(offmem_home) == {"events": len(script), "prompts": 1, "sessions": 1}
    assert statuses(offmem_home) == {"done": len(script)}
    assert not list((offmem_home / "spool").glob("*.json"))
