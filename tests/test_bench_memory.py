"""bench/bench_memory.py on one small real session, with the rule-based compressor.

The bench runs the real offmem CLI in a throwaway data directory; this test runs the
bench itself as a process, then reads the kept data directory back with `offmem
export` to check the bench's "kept" verdicts independently.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench" / "bench_memory.py"
OFFMEM = Path(sys.executable).parent / "offmem"
QUERIES = json.loads((ROOT / "eval" / "transcripts" / "queries.json").read_text(encoding="utf-8"))["queries"]


def run_bench(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCH), "--rules", "--skip-pull", *args],
                          capture_output=True, text=True, timeout=timeout, env=dict(os.environ))


def test_one_session_json_report_and_kept_facts_check_out(tmp_path):
    keep = tmp_path / "run"
    done = run_bench("--sessions", "fasthooks-sample", "--json", "--keep", str(keep))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)

    assert report["compressor"] == "rules" and report["sessions"] == ["fasthooks-sample"]
    imp = report["import"]
    assert imp["exit"] == 0 and imp["files"] == 1 and imp["imported_files"] == 1, imp
    assert imp["tool_events"] == 10, imp  # the session's ten main-thread tool calls (corpus README)
    assert imp["events_by_kind"]["PostToolUseFailure"] >= 1  # `cat nonexistent.txt`
    assert imp["tool_events_per_min"] > 0
    searchable = report["searchable"]  # time to searchable (issue 14 item 5), bounded by the import's time
    assert searchable["sessions"] == 1 and 0 < searchable["all_s"] <= imp["seconds"] + 1, searchable
    mem = report["memories"]
    assert mem["count"] == sum(mem["by_type"].values()) > 0
    assert mem["stored_tokens"] > 0
    assert mem["tokens_per_tool_event"] == round(mem["stored_tokens"] / 10, 1)
    claims = report["claims"]  # rules write no claims: nothing checked, no rate
    assert claims["rate"] is None and claims["checked"] in (None, 0) and claims["unsupported"] in (None, 0)
    evidence = report["evidence"]  # the transcript stage read the agent's words, and units took them
    assert evidence["items"] == sum(evidence["by_kind"].values()) > 0
    assert evidence["by_status"] == {"used": evidence["items"]}

    ids = [q["id"] for q in QUERIES if q["session"] == "fasthooks-sample"]
    rows = {r["id"]: r for r in report["queries"]}
    assert sorted(rows) == sorted(ids)
    scores = report["scores"]
    assert scores["overall"]["n"] == len(ids)
    assert set(scores) == {q["kind"] for q in QUERIES if q["session"] == "fasthooks-sample"} | {"overall"}
    # the failing `cat nonexistent.txt` is a tool error the rules keep, and search finds it
    assert rows["fasthooks-sample-04"]["kept"] is True
    assert rows["fasthooks-sample-04"]["rank"] is not None and rows["fasthooks-sample-04"]["rank"] <= 10, report["search"]
    assert scores["overall"]["kept"] == round(sum(r["kept"] for r in rows.values()) / len(rows), 4)

    # independent check of "kept": every exported memory of the session's project, all scored fields
    env = dict(os.environ, HOME=str(keep / "home"), OFFMEM_HOME=str(keep / "offmem"))
    out = subprocess.run([str(OFFMEM), "export"], capture_output=True, text=True, env=env, timeout=120).stdout
    memories = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert len(memories) == mem["count"]
    fields = ("title", "subtitle", "text", "request", "investigated", "learned", "completed", "next_steps",
              "facts", "concepts", "files_read", "files_modified")  # not search_text
    blob = "\n".join(json.dumps([m.get(f) for f in fields], ensure_ascii=False) for m in memories).lower()
    for q in QUERIES:
        if q["session"] == "fasthooks-sample":
            assert rows[q["id"]]["kept"] == any(e.lower() in blob for e in q["expect_any"]), q["id"]


def test_table_output_and_unknown_session():
    done = run_bench("--sessions", "obra-streaming-tentative")
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "kind           n     R@5    R@10    kept" in text
    assert "overall" in text and "tool events/min (import)" in text
    assert "stored tokens per tool event" in text
    assert "unsupported-claim rate            n/a" in text
    assert "transcript items stored" in text
    bad = run_bench("--sessions", "no-such-session")
    assert bad.returncode != 0 and "no session no-such-session" in bad.stderr
