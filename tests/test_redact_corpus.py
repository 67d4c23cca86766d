"""Acceptance: the secret corpus, through the real hooks, worker, embedder and Chroma, leaves nothing.

Every format of fake secret in tests/secret_corpus (over 150) is placed in three of
these carriers (rotating, so every carrier sees half the formats): prompts, tool
inputs, tool outputs, file contents written and read, error output; and the final
assistant message of four sessions. Every event goes through the installed hook
command; then the real worker runs (default settings, rules summarizer, the real
MiniLM embedder and an embedded Chroma store). Afterwards no fragment of any
secret may be in any file of the data directory: ``offmem.db``, its WAL, Chroma's
files, the logs, the spool; nor among the terms of any FTS index.
"""

from __future__ import annotations

import json
import re
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import run_hook
from secret_corpus.generate import Generator, Sample, leaks, load_formats
from support.durability import data_files, fts_terms, minilm_dir, offmem, wait_until_drained  # noqa: F401

PROJECT = "/home/dev/shop-api"
CARRIERS = ("prompt", "command", "stdout", "write", "read", "error")
TOOL_CARRIERS = CARRIERS[1:]


def base(session: str) -> dict:
    return {"session_id": session, "cwd": PROJECT,
            "transcript_path": f"/home/dev/.claude/projects/-home-dev-shop-api/{session}.jsonl"}


def carrier_event(carrier: str, sample: Sample, session: str, n: int) -> dict:
    ev = {**base(session), "hook_event_name": "PostToolUse", "tool_name": "Bash", "tool_use_id": f"toolu_{session}_{n}"}
    path = f"{PROJECT}/config/settings_{n}.env"
    if carrier == "prompt":
        return {**base(session), "hook_event_name": "UserPromptSubmit", "prompt": f"Why does this fail?\n{sample.line}"}
    if carrier == "command":
        return {**ev, "tool_input": {"command": sample.line, "description": "Run it"}, "tool_response": {"stdout": "done", "stderr": ""}}
    if carrier == "stdout":
        return {**ev, "tool_input": {"command": "cat .env.production"}, "tool_response": {"stdout": sample.line, "stderr": ""}}
    if carrier == "write":
        return {**ev, "tool_name": "Write", "tool_input": {"file_path": path, "content": sample.line},
                "tool_response": {"type": "create", "filePath": path, "content": sample.line}}
    if carrier == "read":
        return {**ev, "tool_name": "Read", "tool_input": {"file_path": path},
                "tool_response": {"type": "text", "file": {"filePath": path, "content": sample.line, "numLines": 3}}}
    return {**ev, "hook_event_name": "PostToolUseFailure", "tool_input": {"command": "make deploy"},
            "error": f"Exit code 2\n{sample.line}\nmake: *** [deploy] Error 2"}


def build_sessions(seed: int = 11, sessions: int = 4) -> tuple[list[list[dict]], list[tuple[str, Sample]]]:
    gen = Generator(seed)
    formats = load_formats()
    planted: list[tuple[str, Sample]] = []
    scripts: list[list[dict]] = [[] for _ in range(sessions)]
    for i, fmt in enumerate(formats):
        sid = f"corpus-session-{i % sessions}"
        for carrier in (CARRIERS[i % 6], CARRIERS[(i + 2) % 6], CARRIERS[(i + 4) % 6]):
            sample = gen.sample(fmt)
            planted.append((carrier, sample))
            scripts[i % sessions].append(carrier_event(carrier, sample, sid, len(planted)))
    for k, script in enumerate(scripts):
        sid = f"corpus-session-{k}"
        closing = gen.sample(formats[k])
        planted.append(("stop", closing))
        script.insert(0, {**base(sid), "hook_event_name": "SessionStart", "source": "startup"})
        script.append({**base(sid), "hook_event_name": "Stop", "stop_hook_active": False,
                       "last_assistant_message": f"Done. For the record: {closing.line}"})
        script.append({**base(sid), "hook_event_name": "SessionEnd", "reason": "other"})
    return scripts, planted


def replay_sessions(scripts: list[list[dict]]) -> None:
    def run(script):
        for payload in script:
            result = run_hook(payload)
            assert result.returncode == 0, result.stderr
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(run, scripts))


def leaked(planted, files: dict[str, bytes]) -> list[tuple[str, str, str]]:
    """(format, carrier, file) of every secret fragment found in ``files``."""
    found = []
    for carrier, sample in planted:
        for name, blob in files.items():
            if leaks(sample, blob):
                found.append((sample.name, carrier, name))
    return found


@pytest.fixture
def worker_env(monkeypatch, minilm_dir):  # noqa: F811 - a fixture imported from support.durability
    monkeypatch.setenv("OFFMEM_MODELS_DIR", str(minilm_dir))
    monkeypatch.setenv("OFFMEM_SUMMARIZER_BACKEND", "rules")
    monkeypatch.setenv("OFFMEM_WORKER_PORT", "0")
    yield
    offmem("worker", "stop", check=False)


def test_secret_corpus_leaves_nothing_in_sqlite_chroma_or_logs(offmem_home, worker_env):
    scripts, planted = build_sessions()
    assert len({s.name for _, s in planted}) >= 50 and {c for c, _ in planted} >= set(CARRIERS)
    replay_sessions(scripts)

    # Before the worker runs, tool events sit raw in the spool: the scan below finds them.
    raw = leaked(planted, data_files(offmem_home))
    raw_carriers = {carrier for _name, carrier, _file in raw}
    assert raw_carriers == set(TOOL_CARRIERS), raw_carriers  # prompts and Stop were already clean

    offmem("worker", "start", "--json")
    wait_until_drained(offmem_home, timeout=300)
    offmem("worker", "stop")

    conn = sqlite3.connect(offmem_home / "offmem.db")
    observations = conn.execute("SELECT count(*) FROM observations").fetchone()[0]
    assert observations >= 50
    assert conn.execute("SELECT count(*) FROM summaries").fetchone()[0] == 4
    markers = sum(len(re.findall(r"\[REDACTED:[a-z0-9-]+\]", r[0])) for r in conn.execute("SELECT payload FROM events"))
    assert markers >= len(planted) - 4  # (the four Stop messages live in the sessions table)
    assert conn.execute("SELECT count(*) FROM events WHERE redacted = 0 OR status = 'pending'").fetchone()[0] == 0
    conn.close()

    from offmem.config import load_settings
    from offmem.search.chroma import ChromaIndex

    index = ChromaIndex.from_settings(load_settings())
    assert index.count() == observations  # the semantic layer really embedded every memory
    stored = index.collection().get(include=["metadatas", "documents"])
    index._client = None  # release the embedded client before reading its files

    files = data_files(offmem_home)
    assert any(name.startswith("chroma") for name in files) and "offmem.log" in files
    assert leaked(planted, files) == []
    assert leaked(planted, {"chroma metadata": json.dumps(stored, default=str).encode()}) == []

    terms = fts_terms(offmem_home / "offmem.db")
    assert "redacted" in terms
    tokens = {t for _, s in planted for f in s.fragments for t in re.findall(r"[a-z0-9]+", f.lower()) if len(t) >= 10}
    assert sorted(tokens & terms) == []
