"""Issue 12 item 19: every MCP tool validates its input and answers bad input as a tool error.

The real ``offmem mcp`` server is driven by the real ``mcp`` client over stdio. Each tool gets
hostile arguments (ids beyond SQLite's 64 bits, negative and zero ids, strings and booleans
where integers belong, NUL bytes, huge strings and lists, empty values, times out of range,
unusable project paths). Every call must come back as a tool error (isError) whose message
names the argument, the server must log no traceback, store nothing for a refused remember,
and still answer normal calls afterwards.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from offmem.config import load_settings
from offmem.store.db import Store
from tests.support.seed import add_observation

OFFMEM = str(Path(sys.executable).parent / "offmem")
PROJECT = "/home/dev/shop-api"
BIG = 2**64

HOSTILE = [
    # get_observations
    ("get_observations", {"ids": [BIG]}, "ids"),
    ("get_observations", {"ids": [2**63]}, "ids"),
    ("get_observations", {"ids": [1, -BIG]}, "ids"),
    ("get_observations", {"ids": [-1]}, "ids"),
    ("get_observations", {"ids": [0]}, "ids"),
    ("get_observations", {"ids": ["abc"]}, "ids"),
    ("get_observations", {"ids": "12"}, "ids"),
    ("get_observations", {"ids": [True]}, "ids"),
    ("get_observations", {"ids": [1.5]}, "ids"),
    ("get_observations", {"ids": [None]}, "ids"),
    ("get_observations", {"ids": [[1]]}, "ids"),
    ("get_observations", {"ids": []}, "ids"),
    ("get_observations", {"ids": list(range(1, 5002))}, "ids"),
    ("get_observations", {}, "ids"),
    ("get_observations", {"ids": [1], "project": "\x00"}, "project"),
    ("get_observations", {"ids": [1], "project": "p" * 100_000}, "project"),
    ("get_observations", {"ids": [1], "project": 7}, "project"),
    # timeline
    ("timeline", {"id": BIG}, "id"),
    ("timeline", {"id": -3}, "id"),
    ("timeline", {"id": 0}, "id"),
    ("timeline", {"id": "abc"}, "id"),
    ("timeline", {"id": True}, "id"),
    ("timeline", {"at": "99999999999999999d"}, "at"),
    ("timeline", {"at": "-99999999999999999d"}, "at"),
    ("timeline", {"at": "\x00"}, "at"),
    ("timeline", {"at": "9" * 5000}, "at"),
    ("timeline", {"id": 1, "before": 10**30}, "before"),
    ("timeline", {"id": 1, "after": -1}, "after"),
    ("timeline", {"id": 1, "project": "\x00"}, "project"),
    # search
    ("search", {"query": ""}, "query"),
    ("search", {"query": "   "}, "query"),
    ("search", {"query": "\x00"}, "query"),
    ("search", {"query": "vat\x00rate"}, "query"),
    ("search", {"query": "a" * 100_000}, "query"),
    ("search", {"query": 12}, "query"),
    ("search", {"query": ["vat"]}, "query"),
    ("search", {}, "query"),
    ("search", {"query": "vat", "limit": 2**70}, "limit"),
    ("search", {"query": "vat", "limit": -1}, "limit"),
    ("search", {"query": "vat", "limit": "many"}, "limit"),
    ("search", {"query": "vat", "since": "9999999999999999999d"}, "since"),
    ("search", {"query": "vat", "until": "\x00"}, "until"),
    ("search", {"query": "vat", "since": "s" * 100_000}, "since"),
    ("search", {"query": "vat", "type": "\x00"}, "type"),
    ("search", {"query": "vat", "type": "x" * 100_000}, "type"),
    ("search", {"query": "vat", "project": "\x00"}, "project"),
    ("search", {"query": "vat", "project": "a" * 100_000}, "project"),
    # remember
    ("remember", {"text": "x\x00y"}, "text"),
    ("remember", {"text": "z" * 1_000_000}, "text"),
    ("remember", {"text": ""}, "remember"),
    ("remember", {"text": ["ok"]}, "text"),
    ("remember", {}, "text"),
    ("remember", {"text": "ok", "title": "t" * 100_000}, "title"),
    ("remember", {"text": "ok", "title": "a\x00b"}, "title"),
    ("remember", {"text": "ok", "type": "\x00"}, "type"),
    ("remember", {"text": "ok", "type": 5}, "type"),
    ("remember", {"text": "ok", "files": "notalist"}, "files"),
    ("remember", {"text": "ok", "files": ["\x00"]}, "files"),
    ("remember", {"text": "ok", "files": ["f"] * 10_000}, "files"),
    ("remember", {"text": "ok", "files": ["f" * 100_000]}, "files"),
    ("remember", {"text": "ok", "files": [1]}, "files"),
    ("remember", {"text": "ok", "project": "\x00"}, "project"),
]


def count(home: Path) -> int:
    conn = sqlite3.connect(home / "offmem.db")
    try:
        return conn.execute("SELECT count(*) FROM observations").fetchone()[0]
    finally:
        conn.close()


def texts(result) -> str:
    return "\n".join(block.text for block in result.content if getattr(block, "type", "") == "text")


@pytest.fixture
def memory_id(offmem_home) -> int:
    with Store.open(load_settings().db_path) as store:
        return add_observation(store, PROJECT, "Fixed vat(): RATES[country] instead of a flat 0.2", type="bugfix",
                               session_id="s1")


def test_every_tool_answers_hostile_input_with_a_tool_error_and_stays_up(offmem_home, tmp_path, memory_id):
    env = {"OFFMEM_HOME": str(offmem_home), "HOME": os.environ["HOME"], "OFFMEM_WORKER_AUTOSTART": "0",
           "OFFMEM_EMBEDDER_BACKEND": "none", "CLAUDE_PROJECT_DIR": PROJECT, "PATH": os.environ.get("PATH", "")}
    params = StdioServerParameters(command=OFFMEM, args=["mcp"], env=env, cwd=str(tmp_path))
    stderr_path = tmp_path / "server-stderr.log"
    before = count(offmem_home)

    async def run() -> tuple[list, list]:
        with open(stderr_path, "w") as errlog:
            async with Client(stdio_client(params, errlog=errlog)) as client:
                answers = [await client.call_tool(name, args) for name, args, _ in HOSTILE]
                alive = [await client.call_tool("search", {"query": "vat"}),
                         await client.call_tool("get_observations", {"ids": [memory_id, 2**63 - 1]}),
                         await client.call_tool("timeline", {"id": memory_id})]
        return answers, alive

    answers, alive = asyncio.run(asyncio.wait_for(run(), timeout=180))
    problems = []
    for (name, args, argument), result in zip(HOSTILE, answers):
        message = texts(result)
        shown = {k: (v if len(repr(v)) < 40 else f"{repr(v)[:30]}…") for k, v in args.items()}
        if not result.is_error:
            problems.append(f"{name}({shown}) was accepted: {message[:120]!r}")
        elif message.strip() == f"Error executing tool {name}" or argument not in message:
            problems.append(f"{name}({shown}) gave an unhelpful error: {message[:200]!r}")
        elif len(message) > 2_000:
            problems.append(f"{name}({shown}) echoed {len(message)} characters back")
    assert problems == [], "\n".join(problems)

    assert not any(r.is_error for r in alive), [texts(r) for r in alive]
    assert f"#{memory_id} bugfix" in texts(alive[0])
    assert "title: Fixed vat()" in texts(alive[1]) and f"#{2**63 - 1}" in texts(alive[1])
    assert count(offmem_home) == before, "a refused remember stored nothing"
    log = stderr_path.read_text(errors="replace")
    assert "Traceback" not in log and "unexpected exception" not in log, log[-3000:]


def test_a_failure_inside_offmem_is_a_one_line_tool_error_not_a_traceback(offmem_home, tmp_path):
    """Not the caller's fault (here: a damaged database that lost its observations table): still a tool
    error that says what broke, and the server keeps answering."""
    with Store.open(load_settings().db_path) as store:
        store.conn.execute("DROP TABLE observations")
    env = {"OFFMEM_HOME": str(offmem_home), "HOME": os.environ["HOME"], "OFFMEM_WORKER_AUTOSTART": "0",
           "OFFMEM_EMBEDDER_BACKEND": "none", "CLAUDE_PROJECT_DIR": PROJECT, "PATH": os.environ.get("PATH", "")}
    params = StdioServerParameters(command=OFFMEM, args=["mcp"], env=env, cwd=str(tmp_path))
    stderr_path = tmp_path / "server-stderr.log"
    calls = [("search", {"query": "vat"}), ("timeline", {"id": 1}), ("get_observations", {"ids": [1]}),
             ("remember", {"text": "Keep VAT rates in cart/vat.py."})]

    async def run() -> list:
        with open(stderr_path, "w") as errlog:
            async with Client(stdio_client(params, errlog=errlog)) as client:
                answers = [await client.call_tool(name, args) for name, args in calls]
                answers.append(await client.call_tool("search", {"query": "still there?"}))
                return answers

    answers = asyncio.run(asyncio.wait_for(run(), timeout=120))
    for (name, _), result in zip(calls + [("search", {})], answers):
        message = texts(result)
        assert result.is_error, (name, message)
        assert "no such table: observations" in message, (name, message)
    log = stderr_path.read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]
