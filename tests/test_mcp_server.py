"""``offmem mcp`` driven by the real ``mcp`` client over stdio (a spawned ``offmem mcp``)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from offmem.config import load_settings
from offmem.store.db import Store
from tests.support.seed import add_observation, days_ago, flood

OFFMEM = str(Path(sys.executable).parent / "offmem")
PROJECT = "/home/dev/shop-api"
OTHER = "/home/dev/other"


def server_params(offmem_home: Path, cwd: Path, project_dir: str | None = PROJECT) -> StdioServerParameters:
    env = {"OFFMEM_HOME": str(offmem_home), "HOME": os.environ["HOME"], "OFFMEM_WORKER_AUTOSTART": "0",
           "OFFMEM_EMBEDDER_BACKEND": "none", "CLAUDE_CODE_SESSION_ID": "mcp-test-session"}
    if project_dir:
        env["CLAUDE_PROJECT_DIR"] = project_dir
    return StdioServerParameters(command=OFFMEM, args=["mcp"], env=env, cwd=str(cwd))


def call(params: StdioServerParameters, *calls: tuple[str, dict]) -> list:
    """Open one stdio session, make the calls in order, return their results."""

    async def run() -> list:
        async with Client(params) as client:
            return [await client.call_tool(name, args) for name, args in calls]

    return asyncio.run(asyncio.wait_for(run(), timeout=60))


def text(result) -> str:
    return "\n".join(block.text for block in result.content if getattr(block, "type", "") == "text")


@pytest.fixture
def seeded(offmem_home, tmp_path) -> dict:
    with Store.open(load_settings().db_path) as store:
        ids = {
            "read": add_observation(store, PROJECT, "Read cart/vat.py", type="discovery", files_read=["cart/vat.py"],
                                    session_id="s1", created_at=days_ago(3)),
            "fail": add_observation(store, PROJECT, "check.py failed: AssertionError: 20.0", type="discovery",
                                    facts=["$ python3 check.py", "exit status 1"], session_id="s1",
                                    created_at=days_ago(3 - 0.01)),
            "fix": add_observation(store, PROJECT, "Fixed vat(): RATES[country] instead of a flat 0.2",
                                   type="bugfix", facts=["DE now gives 19.0"], narrative="The rate was hard-coded.",
                                   files_modified=["cart/vat.py"], session_id="s1", created_at=days_ago(3 - 0.02)),
            "later": add_observation(store, PROJECT, "Added the invoice PDF export", type="feature",
                                     files_modified=["invoices/pdf.py"], session_id="s2", created_at=days_ago(1)),
            "other": add_observation(store, OTHER, "Fixed vat rounding in the other project", type="bugfix",
                                     session_id="o1", created_at=days_ago(2)),
        }
    return ids


def test_lists_four_tools_with_short_clear_descriptions(offmem_home, tmp_path):
    async def run():
        async with Client(server_params(offmem_home, tmp_path)) as client:
            return await client.list_tools(), client.instructions

    tools, instructions = asyncio.run(asyncio.wait_for(run(), timeout=60))
    by_name = {t.name: t for t in tools.tools}
    assert sorted(by_name) == ["get_observations", "remember", "search", "timeline"]
    for tool in tools.tools:
        assert 80 < len(tool.description) < 2048
        assert len(json.dumps(tool.input_schema)) < 2048
        assert "project" in tool.input_schema["properties"]
    assert by_name["search"].input_schema["required"] == ["query"]
    assert by_name["get_observations"].input_schema["required"] == ["ids"]
    assert instructions and len(instructions) < 2048 and "search" in instructions


def test_search_returns_compact_rows_of_this_project_only(offmem_home, tmp_path, seeded):
    params = server_params(offmem_home, tmp_path)
    [found, typed, none] = call(params, ("search", {"query": "vat"}), ("search", {"query": "vat", "type": "bugfix"}),
                                ("search", {"query": "kubernetes helm chart"}))
    assert not found.is_error and found.structured_content is None  # plain text, as Claude Code shows it
    rows = [line for line in text(found).splitlines() if line.startswith("#")]
    assert {int(re.match(r"#(\d+) ", r).group(1)) for r in rows} == {seeded["read"], seeded["fix"]}
    assert f"#{seeded['fix']} bugfix " in text(found) and "other project" not in text(found)
    assert all(len(r) < 220 for r in rows)
    assert [line for line in text(typed).splitlines() if line.startswith("#")] == [
        line for line in rows if " bugfix " in line]
    assert "No memories match" in text(none)


def test_project_comes_from_claude_project_dir_or_the_argument(offmem_home, tmp_path, seeded):
    params = server_params(offmem_home, tmp_path)
    [other] = call(params, ("search", {"query": "vat rounding", "project": OTHER}))
    assert f"#{seeded['other']} bugfix" in text(other)
    # without CLAUDE_PROJECT_DIR the working directory is the project
    project_dir = tmp_path / "repo" / "sub"
    project_dir.mkdir(parents=True)
    (tmp_path / "repo" / ".git").mkdir()
    with Store.open(load_settings().db_path) as store:
        mine = add_observation(store, str(tmp_path / "repo"), "Pinned the vat package to 2.1", type="decision",
                               session_id="r1")
    [cwd_found] = call(server_params(offmem_home, project_dir, project_dir=None), ("search", {"query": "vat"}))
    assert text(cwd_found).count("\n#") == 1 and f"#{mine} decision" in text(cwd_found)


def test_timeline_around_an_id_and_a_time(offmem_home, tmp_path, seeded):
    params = server_params(offmem_home, tmp_path)
    [around, at_time, missing] = call(
        params,
        ("timeline", {"id": seeded["fail"], "before": 1, "after": 1}),
        ("timeline", {"at": "2d", "before": 1, "after": 5}),
        ("timeline", {"id": seeded["other"]}),
    )
    lines = [line for line in text(around).splitlines() if "#" in line and not line.startswith("Memories")]
    assert [int(re.search(r"#(\d+)", line).group(1)) for line in lines] == [seeded["read"], seeded["fail"],
                                                                            seeded["fix"]]
    assert lines[1].startswith(f"> #{seeded['fail']}")
    assert "[session s1]" in text(around)
    after = text(at_time)
    assert after.index(f"#{seeded['fix']} ") < after.index(f"#{seeded['later']} ")
    assert f"#{seeded['other']} " not in after
    assert missing.is_error and "find ids with the search tool" in text(missing)


def test_get_observations_gives_full_records_of_this_project(offmem_home, tmp_path, seeded):
    params = server_params(offmem_home, tmp_path)
    [details, empty] = call(params, ("get_observations", {"ids": [seeded["fix"], seeded["other"], 99999]}),
                            ("get_observations", {"ids": []}))
    body = text(details)
    assert "title: Fixed vat(): RATES[country] instead of a flat 0.2" in body
    assert "narrative: The rate was hard-coded." in body and "- DE now gives 19.0" in body
    assert "files modified: cart/vat.py" in body
    assert "other project" not in body
    assert f"Not found in project shop-api: #{seeded['other']}, #99999." in body
    assert empty.is_error and "pass the ids" in text(empty)


def test_remember_is_searchable_at_once(offmem_home, tmp_path, seeded):
    params = server_params(offmem_home, tmp_path)
    note = "Invoices for Swiss customers must show CHF with two decimals; the Zurich office asked for it."
    [saved, found, again, bad] = call(
        params,
        ("remember", {"text": note, "type": "decision", "files": ["invoices/pdf.py"]}),
        ("search", {"query": "Swiss invoices CHF"}),
        ("remember", {"text": note, "type": "decision", "files": ["invoices/pdf.py"]}),
        ("remember", {"text": "   "}),
    )
    new_id = int(re.search(r"#(\d+)", text(saved)).group(1))
    assert f"#{new_id} decision" in text(found)
    assert "Already remembered" in text(again)
    assert bad.is_error and "nothing to remember" in text(bad)
    with Store.open(load_settings().db_path) as store:
        row = store.get_observations([new_id])[0]
        queued = store.conn.execute("SELECT count(*) FROM vector_outbox WHERE ref_id = ?", (new_id,)).fetchone()[0]
    assert row["origin"] == "remember" and row["project"] == PROJECT and row["narrative"] == note
    assert row["session_id"] == "mcp-test-session" and row["files_modified"] == ["invoices/pdf.py"]
    assert queued == 1  # the worker embeds it on its next pass


def test_outputs_stay_small_on_a_big_store(offmem_home, tmp_path):
    with Store.open(load_settings().db_path) as store:
        ids = flood(store, PROJECT, 600, start_days_ago=30, prefix="bulk")
        store.conn.execute("UPDATE observations SET narrative = ? WHERE project = ?", ("x " * 3000, PROJECT))
    params = server_params(offmem_home, tmp_path)
    [found, details, around] = call(
        params,
        ("search", {"query": "bulk routine step", "limit": 50}),
        ("get_observations", {"ids": ids[:40]}),
        ("timeline", {"id": ids[300], "before": 25, "after": 25}),
    )
    assert text(found).count("\n#") == 50
    for result in (found, details, around):
        assert not result.is_error and len(text(result)) <= 20_100
    assert "Only the first 20 of 40 ids were fetched." in text(details) or "output cut" in text(details)
    assert text(around).count("\n#") + text(around).count("\n> #") == 51


def test_bad_arguments_are_reported_not_crashed(offmem_home, tmp_path, seeded):
    params = server_params(offmem_home, tmp_path)
    [bad_type, bad_time, no_anchor, ok] = call(
        params,
        ("search", {"query": "vat", "type": "bogus"}),
        ("search", {"query": "vat", "since": "last tuesday"}),
        ("timeline", {}),
        ("search", {"query": "vat"}),
    )
    assert bad_type.is_error and "use one of bugfix" in text(bad_type)
    assert bad_time.is_error and "cannot read the time" in text(bad_time)
    assert no_anchor.is_error and "give an anchor" in text(no_anchor)
    assert not ok.is_error
