"""Backfill, newest sessions first (issue 14 item 5): a large history becomes searchable from
the sessions a user is most likely to ask about; the report keeps the order it was given."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3

from conftest import FIXTURES
from support.durability import offmem

TRANSCRIPTS = [FIXTURES / "transcript-session1.jsonl", FIXTURES / "transcript-session2.jsonl"]


def test_the_newest_transcript_is_imported_and_processed_first(tmp_path, offmem_home):
    folder = tmp_path / "projects" / "-home-dev-shop"
    folder.mkdir(parents=True)
    copies = []
    for n, source in enumerate(TRANSCRIPTS):
        target = folder / f"{n}-{source.name}"  # path order: session 1, then session 2
        shutil.copy(source, target)
        copies.append(target)
    os.utime(copies[0], (1_000_000_000, 1_000_000_000))
    os.utime(copies[1], (2_000_000_000, 2_000_000_000))  # session 2, last by path, is the newest by far

    out = json.loads(offmem("import-transcripts", str(folder), "--rules", "--json").stdout)

    assert [r["path"] for r in out["results"]] == [str(p) for p in copies]  # reported in the given order
    conn = sqlite3.connect(offmem_home / "offmem.db")
    try:
        first = {row[0]: row[1] for row in conn.execute(
            "SELECT session_id, min(id) FROM events GROUP BY session_id")}
        summaries = [row[0] for row in conn.execute("SELECT session_id FROM summaries ORDER BY id")]
    finally:
        conn.close()
    newest = next(r["session_id"] for r in out["results"] if r["path"] == str(copies[1]))
    assert min(first, key=first.get) == newest
    assert summaries[0] == newest
