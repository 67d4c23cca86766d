"""bench/bench_evidence.py: where each question's answer lives, on real sessions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench" / "bench_evidence.py"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True, timeout=300)


def test_answers_only_the_agent_said_are_found_in_the_evidence_not_in_tool_events():
    done = run("--json", "--sessions", "obra-streaming-tentative", "fasthooks-sample")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    rows = {r["id"]: r for r in report["queries"]}
    assert sorted(report["sessions"]) == ["fasthooks-sample", "obra-streaming-tentative"]
    # "Proactiveness" / "strike a balance": the agent's explanation, never in a tool call
    tentative = rows["obra-streaming-tentative-02"]
    assert tentative["tool"] is False and tentative["evidence"] is True
    assert "assistant_text" in tentative["evidence_kinds"]
    # `cat nonexistent.txt` failed: a tool event
    assert rows["fasthooks-sample-04"]["tool"] is True
    overall = report["scores"]["overall"]
    assert overall["n"] == len(rows) == 6
    assert overall["union"] == round(sum(r["union"] for r in rows.values()) / 6, 4)
    assert report["volume"]["assistant_text"]["items"] > 0


def test_table_output():
    done = run("--sessions", "pomodoro-timer")
    assert done.returncode == 0, done.stderr
    assert "kind           n    tool  stored   evid.   union" in done.stdout
    assert "overall" in done.stdout and "assistant_text" in done.stdout
