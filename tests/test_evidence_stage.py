"""The worker's transcript stage (issue 14 item 1): live sessions and imports, exactly once, redacted.

Real files, the real hook, a real store and the real pipeline: a session is played
(transcript appended on disk, hook events delivered), the pipeline runs, and what
it stored from the transcript and made of it is read back from SQLite.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from offmem.config import load_settings
from offmem.worker.pipeline import Pipeline
from offmem.privacy.forget import ForgetQuery, forget
from offmem.store import evidence as evidence_table
from offmem.store.db import Store
from tests.support.durability import OFFMEM, offmem
from tests.support.transcript_session import PlayedSession

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "eval" / "transcripts" / "sessions"
KEY = "AKIA" + "IOSFODNN7EXAMPLE"


def items(store: Store, session_id: str) -> list[evidence_table.EvidenceRecord]:
    return evidence_table.session_evidence(store.conn, session_id)


def facts_of(store: Store, session_id: str) -> str:
    return "\n".join(json.dumps(o) for o in store.session_observations(session_id))


def open_store() -> Store:
    return Store.open(load_settings().db_path)


def fixing_session(tmp_path) -> PlayedSession:
    s = PlayedSession(tmp_path / "projects").start()
    s.prompt("the VAT test fails for DE")
    s.say("Let me run the check first.")
    s.bash("python3 check.py", "Traceback (most recent call last):\n  File \"check.py\", line 3\n"
           "    assert vat(100, 'DE') == 19.0\nAssertionError: 20.0\n", exit_code=1)
    s.say("The root cause is that vat() uses the UK rate for every country instead of looking it up.")
    s.edit("cart/vat.py", "rate = 0.20", "rate = RATES[country]")
    s.bash("python3 check.py", "ok\n")
    return s


# ---------------------------------------------------------------------- live sessions


def test_live_session_words_are_read_once_as_the_transcript_grows(tmp_path, offmem_home):
    s = fixing_session(tmp_path)
    with open_store() as store:
        first = Pipeline(store).run_once(force=True)
        stored = items(store, s.session_id)
        assert first.transcript_items == len(stored) == 2
        assert any("root cause" in r.text for r in stored)
        assert "agent: The root cause is that vat() uses the UK rate" in facts_of(store, s.session_id)

        s.say("Now the docs.")
        s.edit("NOTES.md", "", "VAT rates come from RATES")
        s.stop("Done: vat() looks up RATES[country]. Next step: add the UK rate.")
        second = Pipeline(store).run_once(force=True)
        again = items(store, s.session_id)
        assert second.transcript_items == 2 and len(again) == 4
        assert len({r.text for r in again}) == 4  # nothing stored twice
        assert all(r.status == "used" for r in again)
        assert Pipeline(store).run_once(force=True).transcript_items == 0
        summary = store.get_summary(s.session_id)
        assert "add the UK rate" in summary["next_steps"]


def test_rotated_truncated_and_damaged_transcripts_give_no_duplicates(tmp_path, offmem_home):
    s = fixing_session(tmp_path)
    with open_store() as store:
        Pipeline(store).run_once(force=True)
        before = len(items(store, s.session_id))
        # rotated: the file is replaced by a copy (another inode) with garbage and a new line appended
        copy = s.path.with_suffix(".new")
        shutil.copy(s.path, copy)
        with open(copy, "a", encoding="utf-8") as fh:
            fh.write('{"type": "assistant", "message": {broken\n')
            fh.write("\x00\x01 not json at all\n")
        os.replace(copy, s.path)
        s.say("I found that RATES is defined in cart/rates.py already.")
        s.bash("ls cart", "vat.py\nrates.py\n")
        stats = Pipeline(store).run_once(force=True)
        assert stats.transcript_items == 1 and not stats.errors
        assert len(items(store, s.session_id)) == before + 1
        # truncated to nothing, then rewritten with the whole session again: nothing new
        content = s.path.read_bytes()
        s.path.write_bytes(b"")
        s.bash("true")
        assert Pipeline(store).run_once(force=True).transcript_items == 0
        s.path.write_bytes(content)
        s.bash("true")
        assert Pipeline(store).run_once(force=True).transcript_items == 0
        assert len(items(store, s.session_id)) == before + 1


def test_missing_or_unreadable_transcript_degrades_to_events_alone(tmp_path, offmem_home):
    s = fixing_session(tmp_path)
    s.path.unlink()
    with open_store() as store:
        stats = Pipeline(store).run_once(force=True)
        assert not stats.errors and store.queue_depth() == 0
        assert stats.transcript_errors == 1 and items(store, s.session_id) == []
        observations = store.session_observations(s.session_id)
        assert any(o["type"] == "bugfix" and "AssertionError: 20.0" in o["title"] for o in observations)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_transcript_path_does_not_block_the_pipeline(tmp_path, offmem_home):
    s = fixing_session(tmp_path)
    s.path.unlink()
    os.mkfifo(s.path)
    done: dict = {}

    def run() -> None:
        with open_store() as store:
            done["stats"] = Pipeline(store).run_once(force=True)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(30)
    if worker.is_alive():
        os.close(os.open(s.path, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(10)
        pytest.fail("a FIFO at the transcript path blocked the pipeline")
    assert done["stats"].transcript_errors == 1 and not done["stats"].errors


def test_evidence_is_redacted_and_private_spans_never_stored(tmp_path, offmem_home):
    s = PlayedSession(tmp_path / "projects").start()
    s.prompt("deploy it")
    s.say(f"I exported AWS_ACCESS_KEY_ID={KEY} because the deploy script reads it from the environment.")
    s.say("The password is <private>hunter2-correct-horse</private> so the login works now.")
    s.bash("make deploy", "deployed\n")
    s.stop("Deployed.")
    with open_store() as store:
        Pipeline(store).run_once(force=True)
        stored = "\n".join(r.text for r in items(store, s.session_id))
        assert KEY not in stored and "[REDACTED" in stored
        assert "hunter2" not in stored and "so the login works now" in stored
        everything = "\n".join(str(tuple(row)) for row in store.conn.execute("SELECT * FROM transcript_evidence"))
        assert KEY not in everything and "hunter2" not in everything
        assert KEY not in facts_of(store, s.session_id)


def test_compaction_summary_becomes_memories(tmp_path, offmem_home):
    s = fixing_session(tmp_path)
    s.compact(textwrap.dedent("""\
        This session is being continued from a previous conversation that ran out of context.
        Summary:
        1. Primary Request and Intent:
           The user asked to fix the VAT calculation for EU carts.
        4. Errors and fixes:
           - check.py failed with AssertionError: 20.0 because vat() used a flat rate; fixed by reading RATES[country]
        7. Pending Tasks:
           - Add the UK rate to RATES
        """))
    s.bash("python3 check.py", "ok\n")
    with open_store() as store:
        Pipeline(store).run_once(force=True)
        observations = store.session_observations(s.session_id)
        text = json.dumps(observations)
        assert "pending: Add the UK rate to RATES" in text
        assert any(o["title"].startswith("Errors fixed before compaction") and
                   any("fixed by reading RATES[country]" in f for f in o["facts"]) for o in observations)
        assert all(r.status == "used" for r in items(store, s.session_id))


def test_forgotten_session_is_not_read_back_when_it_goes_on(tmp_path, offmem_home):
    s = fixing_session(tmp_path)
    with open_store() as store:
        Pipeline(store).run_once(force=True)
        counts = forget(store, ForgetQuery(session=s.session_id))
        assert counts["transcript_evidence"] == 2 and items(store, s.session_id) == []
        s.say("Afterwards I checked the invoice totals as well, because they round differently.")
        s.bash("python3 invoices.py", "ok\n")
        Pipeline(store).run_once(force=True)
        left = [r.text for r in items(store, s.session_id)]
        assert left == ["Afterwards I checked the invoice totals as well, because they round differently."]
        assert "root cause" not in facts_of(store, s.session_id)


def test_forgetting_an_observation_removes_the_words_it_was_made_from(tmp_path, offmem_home):
    s = fixing_session(tmp_path)
    with open_store() as store:
        Pipeline(store).run_once(force=True)
        main = next(o for o in store.session_observations(s.session_id) if o["type"] == "bugfix")
        counts = forget(store, ForgetQuery(ids=[main["id"]]))
        assert counts["transcript_evidence"] == 2
        assert items(store, s.session_id) == []


CRASHING_RUN = """
import os, sys, time
from offmem.config import load_settings
from offmem.worker.pipeline import Pipeline
from offmem.privacy.stage import PrivacyStage
from offmem.store.db import Store

class SlowRedactor:  # the real redactor, slowed down so the test can kill the process mid-read
    def __init__(self, inner):
        self.inner = inner
        self.warnings = []
    def redact_text(self, text):
        open(sys.argv[1], "a").write("x")
        time.sleep(0.4)
        return self.inner.redact_text(text)
    def redact_payload(self, payload):
        return self.inner.redact_payload(payload)

settings = load_settings()
stage = PrivacyStage.from_settings(settings)
stage.redactor = SlowRedactor(stage.redactor)
with Store.open(settings.db_path) as store:
    Pipeline(store, privacy=stage).run_once(force=True)
"""


def test_exactly_once_when_the_worker_dies_mid_read_and_restarts(tmp_path, offmem_home):
    s = fixing_session(tmp_path)
    for n in range(6):
        s.say(f"Step {n}: the totals match because the rounding is done per line.")
    s.bash("python3 check.py", "ok\n")
    marker = tmp_path / "redacting"
    script = tmp_path / "crash.py"
    script.write_text(CRASHING_RUN)
    proc = subprocess.Popen([sys.executable, str(script), str(marker)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.time() + 60
    while (not marker.exists() or len(marker.read_text()) < 3) and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    with open_store() as store:
        assert items(store, s.session_id) == []  # killed mid-read: nothing half-stored
        assert store.conn.execute("SELECT count(*) FROM transcript_reads").fetchone()[0] == 0
        first = Pipeline(store).run_once(force=True)
        assert first.transcript_items == 8
        assert Pipeline(store).run_once(force=True).transcript_items == 0
    with open_store() as store:  # a new process, a new connection: still nothing new
        assert Pipeline(store).run_once(force=True).transcript_items == 0
        texts = [r.text for r in items(store, s.session_id)]
        assert len(texts) == len(set(texts)) == 8


# ---------------------------------------------------------------------- imports


def test_import_transcripts_reads_the_agents_words_of_a_real_session(tmp_path, offmem_home):
    source = CORPUS / "spotter-live-tail-sync.jsonl"
    offmem("import-transcripts", str(source), "--rules", "--json")
    with open_store() as store:
        session = store.conn.execute("SELECT id, transcript_path FROM sessions").fetchone()
        assert session["transcript_path"] == str(source)
        stored = items(store, session["id"])
        assert len(stored) > 50 and all(r.status == "used" for r in stored)
        kinds = {r.kind for r in stored}
        assert kinds <= {"assistant_text", "user_correction", "compact_summary"} and "compact_summary" in kinds
        text = facts_of(store, session["id"])
        assert "known Elixir compiler bug" in text
        decisions = [o for o in store.session_observations(session["id"]) if o["type"] == "decision"]
        assert decisions and all(o["facts"][0].startswith(("agent: ", "user: ")) for o in decisions)
    offmem("import-transcripts", str(source), "--rules", "--json")
    with open_store() as store:
        assert len(items(store, session["id"])) == len(stored)


def test_import_of_a_relative_path_still_reads_the_transcript(tmp_path, offmem_home):
    folder = tmp_path / "t"
    folder.mkdir()
    shutil.copy(CORPUS / "pomodoro-timer.jsonl", folder / "p.jsonl")
    done = subprocess.run([*OFFMEM, "import-transcripts", "t/p.jsonl", "--rules", "--json"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with open_store() as store:
        path = store.conn.execute("SELECT transcript_path FROM sessions").fetchone()[0]
        assert Path(path).is_absolute() and store.conn.execute("SELECT count(*) FROM transcript_evidence").fetchone()[0]


def test_words_about_an_excluded_file_are_not_stored(tmp_path, offmem_home):
    secret_dir = tmp_path / "secrets"
    offmem_home.mkdir(parents=True, exist_ok=True)
    (offmem_home / "config.toml").write_text(f'[capture]\nexcluded_paths = ["{secret_dir}"]\n')
    s = PlayedSession(tmp_path / "projects").start()
    s.prompt("why does deploy fail")
    s.tool("Read", {"file_path": str(secret_dir / "deploy.env")}, {"type": "text", "file": {"content": "TOKEN=x"}})
    s.say("The deploy token there belongs to the old staging account.")
    s.bash("make deploy", "deployed\n")
    s.say(f"I left {secret_dir}/deploy.env untouched.")
    s.say("Deploying works again because the staging host is back.")
    s.stop("Done.")
    with open_store() as store:
        Pipeline(store).run_once(force=True)
        stored = [r.text for r in items(store, s.session_id)]
        assert stored == ["Deploying works again because the staging host is back.", "Done."]
        assert "staging account" not in facts_of(store, s.session_id)


def test_a_session_processed_before_the_transcript_stage_is_not_dumped_into_its_next_memory(tmp_path, offmem_home):
    s = fixing_session(tmp_path)
    with open_store() as store:
        Pipeline(store).run_once(force=True)
        # as after an upgrade: the events were processed by an offmem that did not read transcripts
        store.conn.execute("DELETE FROM transcript_evidence")
        store.conn.execute("DELETE FROM transcript_reads")
        s.say("Next I looked at the invoices because they round per line.")
        s.bash("python3 invoices.py", "ok\n")
        s.stop("Invoices are fine.")
        Pipeline(store).run_once(force=True)
        newest = store.session_observations(s.session_id)[-1]
        assert any("round per line" in f for f in newest["facts"])
        assert "root cause" not in json.dumps(newest)  # words of work processed before are not attached here
        stored = {r.text: r.status for r in items(store, s.session_id)}
        assert stored["The root cause is that vat() uses the UK rate for every country instead of looking it up."] == "used"
