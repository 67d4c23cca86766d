"""10,000 fuzzed hook payloads (hypothesis): every hook exits 0 with valid output, and every
accepted event is processed exactly once.

The bulk runs the hook's real entry point, :func:`offmem.hooks.capture.main`, in this
process (stdin and stdout swapped) for speed; a smaller sample runs as real hook
processes. Payloads mix well-formed events with wrong types, missing and unknown
keys, huge, binary and private-tagged text, secrets, duplicates and raw garbage.
"""

from __future__ import annotations

import io
import json
import os
import re
import sqlite3
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import INSTALLED_HOOK
from support.durability import memory_home  # noqa: F401

from offmem.hooks import capture
from offmem.lean.settings import capture_settings
from offmem.store import events
from offmem.worker.pipeline import Pipeline
from offmem.store.db import Store

KINDS = ["SessionStart", "UserPromptSubmit", "PostToolUse", "PostToolUseFailure", "PreCompact", "Stop", "SessionEnd"]
NASTY = ["", " ", "\x00", "\ud800", "\udfff", "<private>", "</private>", "<private>hide</private>", "<private>open",
         "A" * 20_000, "é" * 5000, "../../etc/passwd", "\r\n\t", "AKIAIOSFODNN7EXAMPLQ", "DB_PASSWORD=hunter22",
         "ghp_" + "x1Y2" * 9, "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n", "null", "{}", "[]", "🙂" * 100]
FUZZ_SETTINGS = dict(deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))

text = st.one_of(st.text(max_size=40), st.sampled_from(NASTY))
leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), text)
json_value = st.recursive(leaf, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(text, kids, max_size=4),
                          max_leaves=12)


def maybe(strategy):
    """A key's value, or a value of any JSON type in its place."""
    return st.one_of(strategy, strategy, strategy, json_value)


tool_input = st.one_of(
    st.fixed_dictionaries({"command": text}, optional={"description": text, "timeout": st.integers()}),
    st.fixed_dictionaries({"file_path": st.sampled_from(["/home/dev/shop-api/a.py", "rel/b.py", "", "/"]) | text},
                          optional={"content": text, "old_string": text, "new_string": text}),
    json_value,
)
tool_response = st.one_of(
    st.fixed_dictionaries({"stdout": text, "stderr": text}, optional={"interrupted": st.booleans()}),
    st.fixed_dictionaries({"type": st.just("text"), "file": st.fixed_dictionaries({"filePath": text, "content": text})}),
    json_value,
)
payload = st.fixed_dictionaries(
    {"hook_event_name": maybe(st.sampled_from(KINDS + ["PreToolUse", "Notification", "SubagentStop"]))},
    optional={
        "session_id": maybe(st.sampled_from(["s1", "s2", "s3"]) | st.text(min_size=1, max_size=12)),
        "cwd": maybe(st.sampled_from(["/home/dev/shop-api", "/tmp", "", "relative/dir", "/nonexistent/x"])),
        "transcript_path": maybe(text),
        "tool_name": maybe(st.sampled_from(["Bash", "Read", "Edit", "Write", "Grep", "TaskCreate", "mcp__offmem__search",
                                            "mcp__github__get_issue"]) | text),
        "tool_use_id": maybe(st.sampled_from(["toolu_1", "toolu_2", "toolu_3"]) | st.text(max_size=12)),
        "tool_input": tool_input,
        "tool_response": tool_response,
        "error": maybe(text),
        "prompt": maybe(text),
        "last_assistant_message": maybe(text),
        "source": maybe(text),
        "reason": maybe(text),
        "extra": json_value,
    },
)
wellformed = st.fixed_dictionaries(
    {
        "hook_event_name": st.sampled_from(KINDS + ["PostToolUse"] * 4),
        "session_id": st.sampled_from(["s1", "s2", "s3"]) | st.text(min_size=1, max_size=12),
        "cwd": st.sampled_from(["/home/dev/shop-api", "/tmp", "/home/dev/other"]),
        "tool_name": st.sampled_from(["Bash", "Read", "Edit", "Write", "Grep", "TaskCreate", "mcp__github__get_issue"]),
        # UNIQUE-ID is replaced by a fresh id before the run; the fixed ones are repeated deliveries
        "tool_use_id": st.sampled_from(["UNIQUE-ID"] * 8 + ["toolu_dup1", "toolu_dup2"]),
        "tool_input": tool_input,
    },
    optional={"tool_response": tool_response, "error": text, "prompt": text, "last_assistant_message": text,
              "reason": text, "extra": json_value},
)
SHAPES = [
    wellformed.map(lambda p: json.dumps(p).encode()),
    payload.map(lambda p: json.dumps(p).encode()),
    json_value.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=300),
    payload.flatmap(lambda p: st.integers(0, len(json.dumps(p))).map(lambda n: json.dumps(p).encode()[:n])),
]
# weights: 70% well-formed events (with odd values), 15% loose payloads, 15% garbage
raw_payload = st.sampled_from([0] * 14 + [1] * 3 + [2, 3, 4]).flatmap(lambda i: SHAPES[i])


class Ids:
    """Fresh tool_use ids for UNIQUE-ID placeholders, so most tool events are distinct."""

    def __init__(self) -> None:
        self.n = 0

    def fill(self, raw: bytes) -> bytes:
        while b"UNIQUE-ID" in raw:
            self.n += 1
            raw = raw.replace(b"UNIQUE-ID", f"toolu_{self.n:06d}".encode(), 1)
        return raw


def run_main(raw: bytes) -> tuple[int, str]:
    """The hook's entry point in-process: ``raw`` on stdin, what it prints returned."""
    saved = sys.stdin, sys.stdout
    sys.stdin, sys.stdout = io.TextIOWrapper(io.BytesIO(raw)), io.StringIO()
    try:
        code = capture.main()
        return code, sys.stdout.getvalue()
    finally:
        sys.stdin, sys.stdout = saved


def check_output(code, out: str) -> None:
    assert code == 0
    if out:
        assert set(json.loads(out)) == {"hookSpecificOutput"}


def expected_row_key(raw: bytes, settings_: dict, counter: list):
    """What the hook should store for ``raw``: None (nothing), or a key unique per stored row."""
    try:
        record = events.build_record(events.parse(raw), settings_)
    except ValueError:
        return None  # malformed, or a payload without session or tool name: logged and dropped
    if record is None:
        return None  # not an event offmem captures (skip-list, own tools, private prompt, other events)
    counter[0] += 1
    if record["tool_use_id"]:  # a repeated delivery of the same tool_use_id is stored once
        return ("tool", record["session_id"], record["tool_use_id"])
    return ("row", counter[0])


def process_all(home) -> int:
    processed = 0
    with Store.open(home / "offmem.db") as store:
        assert store.ingest_spool_dir(home) == 0
        for _ in range(50):
            stats = Pipeline(store).run_once(force=True)
            assert stats.errors == []
            processed += stats.events
            if stats.events == 0:
                return processed
    raise AssertionError("the pipeline never ran out of events")


def test_ten_thousand_fuzzed_payloads_in_process(memory_home):  # noqa: F811
    home = memory_home
    hook_settings = capture_settings(str(home))
    keys: set = set()
    counter = [0]
    examples = [0]
    ids = Ids()

    @settings(max_examples=10_000, **FUZZ_SETTINGS)
    @given(raw_payload)
    def one(raw: bytes) -> None:
        raw = ids.fill(raw)
        examples[0] += 1
        key = expected_row_key(raw, hook_settings, counter)
        if key is not None:
            keys.add(key)
        check_output(*run_main(raw))

    one()
    assert examples[0] >= 10_000
    log = (home / "offmem.log").read_text(errors="replace") if (home / "offmem.log").exists() else ""
    failures = re.findall(r"hook failed: (\w+): (.*)", log)
    unexpected = [f for f in failures if not (f[0] == "ValueError" and "without a" in f[1])]
    assert unexpected == []

    conn = sqlite3.connect(home / "offmem.db")
    rows = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    conn.close()
    assert len(keys) > 2000 and rows == len(keys)  # every accepted event stored, once
    assert process_all(home) == rows  # ... and processed, once
    conn = sqlite3.connect(home / "offmem.db")
    assert conn.execute("SELECT status, count(*) FROM events GROUP BY status").fetchall() == [("done", rows)]
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_fuzzed_payloads_through_real_hook_processes(memory_home):  # noqa: F811
    import subprocess

    env = {**os.environ}
    stored = [0]
    ids = Ids()

    @settings(max_examples=150, **FUZZ_SETTINGS)
    @given(raw_payload)
    def one(raw: bytes) -> None:
        raw = ids.fill(raw)
        result = subprocess.run(INSTALLED_HOOK, input=raw, capture_output=True, timeout=60, env=env)
        check_output(result.returncode, result.stdout.decode())
        stored[0] += 1

    one()
    assert stored[0] >= 150
    if (memory_home / "offmem.db").exists():
        conn = sqlite3.connect(memory_home / "offmem.db")
        rows = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        conn.close()
        assert process_all(memory_home) == rows
