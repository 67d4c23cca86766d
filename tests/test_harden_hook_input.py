"""The hook keeps every valid event (issue 12, items 13-15).

* a broken ``config.toml`` or a wrongly typed ``OFFMEM_*`` variable: the hook
  captures with the last settings that parsed (or the defaults) and logs why;
  ``save_settings`` never writes a file that does not parse back to what it saved;
* ``OFFMEM_HOME`` with ``~`` or a relative path: hook, worker and CLI resolve it to
  the same absolute directory (``~`` expanded, relative paths under ``$HOME``);
* payloads the hook cannot turn into a record (deep nesting, a NUL in ``cwd``,
  integers over Python's 4300-digit limit, or anything else that fails): the
  event is stored anyway, or its raw bytes are spooled (fsynced) for the worker.

Every hook here is the real installed launcher in its own process.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from conftest import INSTALLED_HOOK, run_hook
from support.durability import OFFMEM, offmem, start_worker, stop_worker, wait_until_drained
from support.polling import wait_for

from offmem.project import project_root

RULES = {"OFFMEM_SUMMARIZER_BACKEND": "rules", "OFFMEM_EMBEDDER_BACKEND": "none", "OFFMEM_WORKER_PORT": "0"}


def tool_event(n: int, **extra) -> dict:
    return {"session_id": "s-input", "cwd": "/home/dev/shop-api", "hook_event_name": "PostToolUse",
            "tool_name": "Bash", "tool_use_id": f"toolu_in_{n}",
            "tool_input": {"command": f"make step-{n}", "description": f"step {n}"},
            "tool_response": {"stdout": f"step {n} ok", "stderr": "", "interrupted": False}, **extra}


def rows(home: Path, sql: str, *args) -> list[tuple]:
    conn = sqlite3.connect(home / "offmem.db")
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def stored_tool_ids(home: Path) -> list[str]:
    if not (home / "offmem.db").exists():
        return []
    return [r[0] for r in rows(home, "SELECT tool_use_id FROM events WHERE tool_use_id IS NOT NULL ORDER BY id")]


def hook(payload, home: Path | None = None, **kwargs) -> subprocess.CompletedProcess:
    result = run_hook(payload, **kwargs)
    assert result.returncode == 0 and result.stdout == b"", result.stderr
    return result


def log_text(home: Path) -> str:
    path = home / "offmem.log"
    return path.read_text() if path.exists() else ""


# ---------------------------------------------------------------------- item 13: settings


def test_a_broken_config_toml_does_not_cost_the_event(offmem_home):
    offmem_home.mkdir()
    (offmem_home / "config.toml").write_text("[capture\nmax_field_chars = 5000\n")
    hook(tool_event(1))
    assert stored_tool_ids(offmem_home) == ["toolu_in_1"]
    assert "config.toml" in log_text(offmem_home)


def test_the_last_settings_that_parsed_still_apply_while_the_file_is_broken(offmem_home):
    offmem_home.mkdir()
    config = offmem_home / "config.toml"
    config.write_text('[capture]\nexcluded_projects = ["/home/dev/secret"]\n')
    hook(tool_event(1))  # parses the file and caches it
    config.write_text('[capture]\nexcluded_projects = ["/home/dev/secret"\n')  # a half-finished edit
    hook(tool_event(2, cwd="/home/dev/secret", session_id="s-secret"))
    hook(tool_event(3))
    assert stored_tool_ids(offmem_home) == ["toolu_in_1", "toolu_in_3"]


@pytest.mark.parametrize("config", [
    '[capture]\nmax_field_chars = "big"\nbusy_timeout_ms = [1]\n[worker]\nautostart = "banana"\n',
    '[capture]\nskip_tools = 3\nexcluded_projects = {a = 1}\n',
])
def test_wrongly_typed_values_in_config_toml_fall_back_to_defaults(offmem_home, config):
    offmem_home.mkdir()
    (offmem_home / "config.toml").write_text(config)
    hook(tool_event(1))
    hook(tool_event(2))  # the second reads the parse from the cache
    assert stored_tool_ids(offmem_home) == ["toolu_in_1", "toolu_in_2"]
    assert "ignored" in log_text(offmem_home)


@pytest.mark.parametrize("kind", ["PostToolUse", "UserPromptSubmit", "SessionStart", "Stop"])
def test_wrongly_typed_environment_variables_do_not_cost_the_event(offmem_home, kind):
    offmem_home.mkdir()
    (offmem_home / "config.toml").write_text("[context]\nbudget_tokens = 900\n")  # not cached yet: the slow path
    env = {"OFFMEM_WORKER_AUTOSTART": "banana", "OFFMEM_CAPTURE_MAX_FIELD_CHARS": "lots",
           "OFFMEM_CAPTURE_BUSY_TIMEOUT_MS": "soon", "OFFMEM_CONTEXT_BUDGET_TOKENS": "many",
           "OFFMEM_PRIVACY_ENTROPY_THRESHOLD": "high", "OFFMEM_SUMMARIZER_N_CTX": "big"}
    payload = {"session_id": "s-env", "cwd": "/home/dev/shop-api", "hook_event_name": kind}
    if kind == "PostToolUse":
        payload = {**tool_event(1), "session_id": "s-env"}
    elif kind == "UserPromptSubmit":
        payload["prompt"] = "Explain the VAT rounding rules for carts"
    result = run_hook(payload, env=env)
    assert result.returncode == 0, result.stderr
    assert rows(offmem_home, "SELECT kind FROM events WHERE session_id = 's-env'") == [(kind,)]
    assert "hook failed" not in log_text(offmem_home)


CONTROL = "".join(chr(c) for c in range(32) if chr(c) not in "\n") + "\x7f"


def test_save_settings_escapes_control_characters_and_the_file_parses_back(offmem_home):
    from offmem.config import load_settings, save_settings

    value = f"model{CONTROL}\n\"quoted\" \\ end"
    save_settings(load_settings(env=False), {"summarizer": {"claude_model": value},
                                              "capture": {"skip_tools": [f"Tool{CONTROL}", "Read"]}})
    again = load_settings()
    assert again.summarizer.claude_model == value
    assert again.capture.skip_tools == [f"Tool{CONTROL}", "Read"]
    hook(tool_event(1))  # and the hook, which now reads that file, still captures
    assert stored_tool_ids(offmem_home) == ["toolu_in_1"]
    assert "config" not in log_text(offmem_home)


def test_offmem_config_set_refuses_a_value_that_cannot_be_written(offmem_home):
    offmem("config", "set", "context.budget_tokens", "800")
    before = (offmem_home / "config.toml").read_bytes()
    # argv bytes that are not UTF-8 reach Python as lone surrogates, which no TOML file can hold
    result = subprocess.run([*OFFMEM, "config", "set", "summarizer.claude_model", b"haiku\xff"],
                            capture_output=True, text=True, env=os.environ.copy())
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "claude_model" in result.stderr
    assert (offmem_home / "config.toml").read_bytes() == before
    assert json.loads(offmem("config", "show", "--json").stdout)["context"]["budget_tokens"] == 800


def test_commands_name_a_wrongly_typed_setting_without_a_traceback(offmem_home):
    result = offmem("status", env={"OFFMEM_WORKER_AUTOSTART": "banana"}, check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == "offmem: environment [worker] autostart: expected bool, got 'banana'"


def test_save_settings_writes_nothing_that_does_not_round_trip(offmem_home):
    from offmem.config import ConfigError, load_settings, save_settings

    save_settings(load_settings(env=False), {"context": {"budget_tokens": 700}})
    before = (offmem_home / "config.toml").read_bytes()
    with pytest.raises(ConfigError, match="claude_model"):
        save_settings(load_settings(env=False), {"summarizer": {"claude_model": "bad\udcff"}})
    assert (offmem_home / "config.toml").read_bytes() == before
    assert not list(offmem_home.glob("*.tmp"))


# ---------------------------------------------------------------------- item 14: OFFMEM_HOME


@pytest.fixture
def project(tmp_path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


@pytest.mark.parametrize("setting, resolved", [("~/offmem-data", "offmem-data"), ("rel/offmem-data", "rel/offmem-data"),
                                               ("./dot/../offmem-data", "offmem-data")])
def test_hook_worker_and_cli_agree_on_an_unexpanded_or_relative_offmem_home(project, tmp_path, setting, resolved):
    user_home = Path(os.environ["HOME"])
    expected = user_home / resolved
    env = {"OFFMEM_HOME": setting}
    payload = {**tool_event(1), "cwd": str(project)}
    result = subprocess.run(INSTALLED_HOOK, input=json.dumps(payload).encode(), capture_output=True, timeout=60,
                            cwd=project, env={**os.environ, **env})
    assert result.returncode == 0, result.stderr
    assert not [p for p in project.rglob("*")], "the hook wrote into the project folder"
    assert stored_tool_ids(expected) == ["toolu_in_1"]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    status = subprocess.run([*OFFMEM, "status", "--json"], capture_output=True, text=True,
                            cwd=elsewhere, env={**os.environ, **env})
    assert json.loads(status.stdout)["home"] == str(expected)
    worker = start_worker(env=env, cwd=project)
    try:
        wait_until_drained(expected, timeout=120, vectors=False)
    finally:
        stop_worker(worker)
    assert rows(expected, "SELECT status FROM events") == [("done",)]
    assert len(rows(expected, "SELECT id FROM observations")) == 1
    assert not [p for p in project.rglob("*")] and not [p for p in elsewhere.rglob("*")]


# ---------------------------------------------------------------------- item 15: payloads that are hard to build


def nested(depth: int) -> str:
    return '{"level":' * depth + '"bottom"' + "}" * depth


VALID_BUT_AWKWARD = {
    "nested-900": lambda: ('{"session_id":"s-input","cwd":"/home/dev/shop-api","hook_event_name":"PostToolUse",'
                           '"tool_name":"Bash","tool_use_id":"toolu_awkward","tool_input":{"command":"make deep"},'
                           f'"tool_response":{nested(900)}}}').encode(),
    "nul-in-cwd": lambda: json.dumps({**tool_event(0), "tool_use_id": "toolu_awkward", "cwd": "/home/dev/shop\u0000api"}).encode(),
    "5000-digit-int": lambda: ('{"session_id":"s-input","cwd":"/home/dev/shop-api","hook_event_name":"PostToolUse",'
                               '"tool_name":"Bash","tool_use_id":"toolu_awkward","tool_input":{"command":"python -c big"},'
                               '"tool_response":{"stdout":"ok","value":' + "7" * 5000 + "}}").encode(),
    "nested-900-prompt": lambda: ('{"session_id":"s-input","cwd":"/home/dev/shop-api","hook_event_name":"UserPromptSubmit",'
                                  f'"prompt":"Explain the nesting","extra":{nested(900)}}}').encode(),
}


@pytest.mark.parametrize("case", sorted(VALID_BUT_AWKWARD))
def test_valid_payloads_the_hook_used_to_drop_are_stored_and_processed(offmem_home, case):
    hook(VALID_BUT_AWKWARD[case]())
    assert "hook failed" not in log_text(offmem_home) and "ignored" not in log_text(offmem_home)
    offmem("process", "--rules", env=RULES)
    kinds = rows(offmem_home, "SELECT kind, status FROM events")
    assert kinds == [("UserPromptSubmit" if "prompt" in case else "PostToolUse", "done")]
    if "prompt" not in case:
        assert len(rows(offmem_home, "SELECT id FROM observations")) == 1
    payload = json.loads(rows(offmem_home, "SELECT payload FROM events")[0][0])
    if case == "5000-digit-int":
        assert payload["tool_response"]["value"] == "7" * 5000  # the digits, kept as text
    if case == "nul-in-cwd":  # no directory has that name: the project is the one the hook runs in
        assert rows(offmem_home, "SELECT project FROM events") == [(project_root(os.getcwd()),)]


def test_a_payload_too_deep_for_the_hook_is_spooled_raw_and_the_worker_sets_it_aside(offmem_home):
    raw = ('{"session_id":"s-input","cwd":"/home/dev/shop-api","hook_event_name":"PostToolUse","tool_name":"Bash",'
           f'"tool_use_id":"toolu_abyss","tool_response":{nested(200_000)}}}').encode()
    hook(raw)
    hook(tool_event(1))
    spooled = list((offmem_home / "spool").glob("*.raw"))
    assert len(spooled) == 1 and spooled[0].read_bytes().endswith(raw)  # the bytes as they came
    assert "spooled raw" in log_text(offmem_home)
    worker = start_worker()
    try:
        wait_for(lambda: not list((offmem_home / "spool").glob("*.raw")), timeout=120, what="the raw file handled")
        wait_until_drained(offmem_home, timeout=120, vectors=False)
        assert worker.poll() is None  # it did not crash on the raw file
    finally:
        stop_worker(worker)
    assert stored_tool_ids(offmem_home) == ["toolu_in_1"]
    bad = list((offmem_home / "spool").glob("*.bad"))
    assert len(bad) == 1 and not list((offmem_home / "spool").glob("*.raw"))
    assert f"RecursionError: maximum recursion depth exceeded while decoding a JSON object" in log_text(offmem_home)
    assert f"kept as {bad[0].name}" in log_text(offmem_home)


@pytest.mark.parametrize("case", sorted(VALID_BUT_AWKWARD))
def test_raw_spool_files_of_valid_payloads_are_stored_by_offmem_process(offmem_home, tmp_path, case):
    """What the worker makes of a raw spool file the hook wrote (its own function), run from another folder."""
    from offmem.store.spool import spool_raw

    spool_raw(str(offmem_home), VALID_BUT_AWKWARD[case]())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run([*OFFMEM, "process", "--rules", "--json"], capture_output=True, text=True, cwd=elsewhere,
                            env={**os.environ, **RULES})
    assert result.returncode == 0, result.stderr
    assert rows(offmem_home, "SELECT kind, status FROM events") == [("UserPromptSubmit" if "prompt" in case else "PostToolUse", "done")]
    assert not list((offmem_home / "spool").iterdir())
    if case == "nul-in-cwd":  # the project of the folder the hook ran in, not the worker's
        assert rows(offmem_home, "SELECT project FROM events") == [(project_root(os.getcwd()),)]
