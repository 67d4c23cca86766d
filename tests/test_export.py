"""offmem export / import: the JSONL line format, round trips, idempotence, lines from other tools."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import fixture_payloads, replay
from support.durability import minilm_dir, offmem  # noqa: F401

from offmem.config import load_settings
from offmem.portability import FORMAT, VERSION, parse_line
from offmem.portability.lines import KINDS, LineError
from offmem.store.db import Store

REPO = Path(__file__).resolve().parent.parent
EPOCH_10AM = datetime(2026, 3, 1, 10, tzinfo=timezone.utc).timestamp()
QUERIES = ["vat", "RATES country", "check.py AssertionError", "NOTES.md", "cart/vat.py", "UK rate task", "grep"]


@pytest.fixture
def captured(offmem_home) -> Path:
    """The two recorded sessions, captured by the real hook and processed by the rules pipeline."""
    replay(fixture_payloads())
    offmem("process", "--rules")
    return offmem_home


def rows(home: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(home / "offmem.db")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


OBSERVATION_COLUMNS = ("project, session_id, type, title, subtitle, narrative, facts, concepts, files_read,"
                       " files_modified, search_text, prompt_number, created_at")


def memory_state(home: Path) -> dict:
    return {
        "observations": rows(home, f"SELECT {OBSERVATION_COLUMNS} FROM observations ORDER BY id"),
        "summaries": rows(home, "SELECT session_id, project, request, investigated, learned, completed, next_steps,"
                                " files_read, files_modified FROM summaries ORDER BY session_id"),
        "prompts": rows(home, "SELECT session_id, project, prompt_number, text, created_at FROM prompts ORDER BY id"),
    }


def search_results(home: Path, mode: str = "fts") -> dict:
    from offmem.search import fts_search, hybrid_search

    settings = load_settings(home=home)
    out = {}
    with Store.open(home / "offmem.db") as store:
        for query in QUERIES:
            if mode == "fts":
                hits = fts_search(store, query, limit=10)
            else:
                from offmem.embed import get_embedder

                hits = hybrid_search(store, query, limit=10, embedder=get_embedder(settings), settings=settings)
                assert hits.mode == "hybrid", hits.notes
            out[query] = [(h["session_id"], h["title"], round(h["score"], 6)) for h in hits]
    return out


def test_exported_lines_follow_the_documented_format(captured):
    text = offmem("export").stdout
    lines = text.splitlines()
    observations = len(memory_state(captured)["observations"])  # one per unit of work of the fixtures
    assert observations >= 3 and len(lines) == observations + 2 + 2  # observations, summaries, prompts
    doc = (REPO / "docs" / "export-format.md").read_text()
    for line in lines:
        data = json.loads(line)
        assert data["format"] == FORMAT and data["version"] == VERSION
        assert data["type"] in KINDS
        for key in ("project", "session", "time", "type", "title", "text", "id"):
            assert isinstance(data[key], str) and (data[key] or key == "text")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", data["time"])
        for key in data:
            assert f"`{key}`" in doc, f"docs/export-format.md does not describe {key!r}"
    assert {json.loads(line)["type"] for line in lines} >= {"summary", "prompt", "bugfix", "discovery"}


def test_export_import_into_an_empty_directory_preserves_memories_and_keyword_results(captured, tmp_path):
    dump = tmp_path / "memories.jsonl"
    offmem("export", "--output", str(dump))
    before, results_before = memory_state(captured), search_results(captured)
    assert all(results_before.values())

    fresh = tmp_path / "fresh-home"
    result = json.loads(offmem("import", str(dump), "--json", env={"OFFMEM_HOME": str(fresh)}).stdout)
    total = len(before["observations"]) + 2 + 2
    assert result["imported_total"] == total and result["rejected"] == []
    assert memory_state(fresh) == before
    assert search_results(fresh) == results_before

    again = json.loads(offmem("import", str(dump), "--json", env={"OFFMEM_HOME": str(fresh)}).stdout)
    assert again["imported_total"] == 0 and again["duplicates"] == total
    assert memory_state(fresh) == before
    into_source = json.loads(offmem("import", str(dump), "--json").stdout)
    assert into_source["imported_total"] == 0 and memory_state(captured) == before


def test_round_trip_preserves_hybrid_results(captured, tmp_path, monkeypatch, minilm_dir):  # noqa: F811
    monkeypatch.setenv("OFFMEM_MODELS_DIR", str(minilm_dir))
    from offmem.portability import sync_vectors

    assert "updated" in sync_vectors(load_settings())  # the source's own semantic index
    dump = tmp_path / "memories.jsonl"
    offmem("export", "--output", str(dump))
    fresh = tmp_path / "fresh-home"
    out = offmem("import", str(dump), env={"OFFMEM_HOME": str(fresh)}).stdout
    assert "semantic index: updated" in out
    assert search_results(fresh, "hybrid") == search_results(captured, "hybrid")


def test_export_of_one_project(captured, tmp_path):
    other = {**fixture_payloads()[1], "session_id": "other-s", "cwd": str(tmp_path / "elsewhere"),
             "prompt": "Tune the elsewhere cache"}
    replay([{**fixture_payloads()[0], "session_id": "other-s", "cwd": str(tmp_path / "elsewhere")}, other])
    everything = offmem("export").stdout.splitlines()
    only = offmem("export", "--project", "/home/dev/shop-api").stdout.splitlines()
    assert len(everything) == len(only) + 1
    assert {json.loads(line)["project"] for line in only} == {"/home/dev/shop-api"}


def test_lines_written_by_another_tool_are_imported_redacted_and_searchable(offmem_home, tmp_path):
    lines = [
        {"project": "/srv/app", "session": "notes-1", "time": "2026-03-01T10:00:00Z", "type": "decision",
         "title": "Use Postgres advisory locks for the job queue", "text": "Chosen over Redis: one less service."},
        {"project": "/srv/app", "session": "notes-1", "time": EPOCH_10AM, "type": "discovery",
         "title": "Staging credentials", "text": "DATABASE_URL=postgres://app:Zr8pQ2mW9x@staging-db/app"},
        {"project": "/srv/app", "session": "notes-1", "time": "2026-03-01T12:00:00+02:00", "type": "summary",
         "title": "Queue design", "text": "Decided on advisory locks."},
        {"project": "/srv/app", "session": "notes-1", "time": "2026-03-01T09:00:00Z", "type": "prompt",
         "title": "How should jobs be locked?", "text": "How should jobs be locked?"},
    ]
    path = tmp_path / "notes.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = json.loads(offmem("import", str(path), "--json").stdout)
    assert result["imported"] == {"decision": 1, "discovery": 1, "summary": 1, "prompt": 1}
    assert b"Zr8pQ2mW9x" not in (offmem_home / "offmem.db").read_bytes()
    assert rows(offmem_home, "SELECT narrative FROM observations WHERE title = 'Staging credentials'") == [
        ("DATABASE_URL=postgres://app:[REDACTED:url-password]@staging-db/app",)]
    assert rows(offmem_home, "SELECT created_at FROM observations ORDER BY id") == [
        ("2026-03-01T10:00:00.000Z",), ("2026-03-01T10:00:00.000Z",)]
    assert rows(offmem_home, "SELECT request, completed, updated_at FROM summaries") == [
        ("Queue design", "Decided on advisory locks.", "2026-03-01T10:00:00.000Z")]
    assert rows(offmem_home, "SELECT project, started_at, prompt_count FROM sessions") == [
        ("/srv/app", "2026-03-01T09:00:00.000Z", 1)]
    from offmem.search import fts_search

    with Store.open(offmem_home / "offmem.db") as store:
        assert [h["title"] for h in fts_search(store, "advisory locks", project="/srv/app")] == [
            "Use Postgres advisory locks for the job queue"]
    again = json.loads(offmem("import", str(path), "--json").stdout)
    assert again["imported_total"] == 0 and again["duplicates"] == 4


@pytest.mark.parametrize(
    "line,message",
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        ('{"project": "/p", "session": "s", "time": "2026-01-01", "type": "note", "title": "t", "text": "x"}', "type 'note'"),
        ('{"project": "/p", "session": "s", "time": "yesterday", "type": "change", "title": "t", "text": "x"}', "ISO 8601"),
        ('{"project": "/p", "session": "s", "type": "change", "title": "t", "text": "x"}', "time"),
        ('{"project": "/p", "session": "s", "time": "2026-01-01", "type": "change", "text": "x"}', "missing 'title'"),
        ('{"version": 9, "project": "/p", "session": "s", "time": "2026-01-01", "type": "change", "title": "t", "text": ""}', "upgrade offmem"),
        ('{"project": "/p", "session": "s", "time": "2026-01-01", "type": "change", "title": "t", "text": "", "facts": "a"}', "list of strings"),
    ],
)
def test_invalid_lines_are_named(line, message):
    with pytest.raises(LineError, match=re.escape(message)):
        parse_line(line)


def test_rejected_lines_are_reported_by_number_and_the_rest_imported(offmem_home, tmp_path):
    good = json.dumps({"project": "/p", "session": "s", "time": "2026-01-01", "type": "change", "title": "ok", "text": ""})
    path = tmp_path / "mixed.jsonl"
    path.write_text(f"{good}\n\n{{broken\n" + good.replace('"ok"', '"also ok"') + "\n")
    result = offmem("import", str(path), check=False)
    assert result.returncode == 1
    assert "imported 2 of 3 memories" in result.stdout
    assert "line 3: not JSON" in result.stderr


def test_import_of_a_missing_file_says_so(offmem_home):
    result = offmem("import", "/nonexistent/memories.jsonl", check=False)
    assert result.returncode == 1 and "cannot read /nonexistent/memories.jsonl" in result.stderr
