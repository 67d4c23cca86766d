"""prompts.py on the recorded payloads, the merge rules of base.py, and the registry."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from offmem.config import ConfigError, Settings
from offmem.records import OBSERVATION_TYPES, EventRecord, SessionSummary
from offmem.summarize import prompts, rules
from offmem.summarize.base import merge_observation, merge_summary
from offmem.summarize.registry import get_summarizer
from tests.support.fixture_events import PROJECT, session_context, session_events


def event(tool: str, inp: dict, resp=None, *, kind: str = "PostToolUse", error: str | None = None) -> EventRecord:
    payload = {"hook_event_name": kind, "tool_name": tool, "tool_input": inp, "cwd": PROJECT}
    if resp is not None:
        payload["tool_response"] = resp
    if error is not None:
        payload["error"] = error
    return EventRecord(id=1, session_id="s", project=PROJECT, kind=kind, tool_name=tool, payload=payload, created_at="")


# ---------------------------------------------------------------- the log


def test_session_log_is_compact_relative_and_numbered():
    log = prompts.render_log(session_events(0, with_pre=True), PROJECT)
    lines = log.splitlines()
    assert lines[0] == "Project: shop-api"
    assert lines[1].startswith("1. user asked: Fix the VAT calculation")
    assert "read cart/vat.py (7 lines)" in log and "/home/dev/shop-api/cart" not in log
    assert "edit cart/vat.py: `rate = 0.2` -> `rate = RATES[country]`" in log
    assert "assistant said: Fixed: vat() now looks up RATES[country]" in log
    assert len(lines) == 10  # prompt + 7 tool calls + final message; PreToolUse and lifecycle events skipped
    assert len(log) < 1500


def test_failed_command_shows_exit_code_and_error_lines_without_caret_lines():
    log = prompts.render_log(session_events(0), PROJECT)
    failed = next(line for line in log.splitlines() if "FAILED" in line)
    assert "$ python3 check.py -> FAILED (exit 1):" in failed
    assert failed.endswith("AssertionError: 20.0") and "^^^" not in failed


def test_private_spans_never_reach_a_model():
    events = session_events(0)
    assert "sk-live-123" in json.dumps([e.payload for e in events])  # the fixture holds it
    prompt = prompts.observation_prompt(events, [], PROJECT)
    ctx = session_context(0)
    summary = prompts.summary_prompt(ctx, rules.summarize_session(ctx), fields=prompts.SUMMARY_FIELDS)
    for text in (json.dumps(prompt.chat()), json.dumps(summary.chat())):
        assert "sk-live-123" not in text and "[private]" in text


def test_outcome_and_changed_files_lines_come_from_the_payloads():
    prompt = prompts.observation_prompt(session_events(0), [], PROJECT)
    log = prompt.messages[-1]["content"]
    assert "1. outcome: `python3 check.py` failed, then passed after the edit" in log
    assert "\nFiles changed: cart/vat.py, NOTES.md\n" in log
    quiet = prompts.observation_prompt(session_events(1), [], PROJECT).messages[-1]["content"]
    assert "\nFiles changed: none\n" in quiet and "outcome" not in quiet


def test_a_command_that_never_recovers_is_reported():
    evs = [event("Bash", {"command": "pytest -q"}, kind="PostToolUseFailure", error="Exit code 2\nE   boom")]
    assert prompts.outcomes(evs) == ["`pytest -q` still fails"]


def test_drafts_files_win_over_the_payload_paths():
    drafts = rules.compress(session_events(0), PROJECT)
    assert prompts.changed_files(session_events(0), drafts) == ["cart/vat.py", "NOTES.md"]


def test_the_log_is_cut_at_its_budget():
    many = [event("Bash", {"command": f"echo step {i}"}, {"stdout": "x" * 200}) for i in range(60)]
    log = prompts.render_log(many, PROJECT, max_chars=1500)
    assert len(log) <= 1500 + 80
    assert log.endswith("(60 events in all; the rest left out)")


@pytest.mark.parametrize(
    "ev,expected",
    [
        (event("Grep", {"pattern": "RATES"}, {"filenames": [f"{PROJECT}/cart/vat.py"], "numFiles": 1}),
         "grep RATES -> 1 files: cart/vat.py"),
        (event("Glob", {"pattern": "**/*.py"}, {"filenames": [], "numFiles": 0}), "glob **/*.py"),
        (event("WebFetch", {"url": "https://docs.python.org/3/", "prompt": "x"}, {"code": 200}),
         "webfetch https://docs.python.org/3/"),
        (event("Agent", {"description": "Find VAT tests", "prompt": "look"}, {"status": "completed"}),
         "Agent: Find VAT tests"),
        (event("TodoWrite", {"todos": [{"content": "Add UK", "status": "pending"}]}, {}), "todos: Add UK (pending)"),
        (event("MultiEdit", {"file_path": f"{PROJECT}/a.py", "edits": [{"old_string": "x", "new_string": "y"}]}, {}),
         "edit a.py (1 edits): `x` -> `y`"),
        (event("mcp__db__query", {"sql": "select 1"}, "1 row"), 'mcp__db__query {"sql": "select 1"} -> 1 row'),
        (event("Read", {"file_path": f"{PROJECT}/gone.py"}, kind="PostToolUseFailure", error="File does not exist."),
         'Read {"file_path": "/home/dev/shop-api/gone.py"} -> FAILED: File does not exist.'),
    ],
)
def test_other_tools_render_to_one_line(ev, expected):
    assert prompts.render_event(ev) == expected


def test_long_outputs_are_cut_per_event():
    ev = event("Bash", {"command": "cat big.log"}, {"stdout": "\n".join(f"line {i} " + "y" * 300 for i in range(50))})
    line = prompts.render_event(ev)
    assert len(line) <= prompts.EVENT_MAX_CHARS and line.endswith("…")


# ---------------------------------------------------------------- prompts and schemas


def test_observation_prompt_puts_the_static_part_first():
    prompt = prompts.observation_prompt(session_events(0), [], PROJECT)
    chat = prompt.chat()
    assert [m["role"] for m in chat] == ["system", "user", "assistant", "user"]
    again = prompts.observation_prompt(session_events(1), [], PROJECT).chat()
    assert chat[:3] == again[:3]  # same prefix: llama.cpp reuses its KV cache
    assert json.loads(chat[2]["content"]) == prompts.OBSERVATION_EXAMPLE
    assert [m["role"] for m in prompts.observation_prompt(session_events(0), [], PROJECT, one_shot=False).chat()] == [
        "system", "user"]


def test_summary_prompt_asks_only_for_the_draft_fields_too_long_to_show():
    ctx = session_context(0, rules.compress(session_events(0), PROJECT))
    long_learned = "agent: vat() ignored its country argument and used a flat rate of 0.2. " * 4
    draft = SessionSummary(request="Fix the VAT calculation for EU carts", learned=long_learned.strip(),
                           completed="Fixed: vat() now looks up RATES[country]", files_modified=["cart/vat.py"])
    assert prompts.fields_to_condense(draft) == ("learned",)
    prompt = prompts.summary_prompt(ctx, draft)
    text = prompt.messages[-1]["content"]
    assert "User asked:\n- Fix the VAT calculation for EU carts" in text
    assert "\nlearned:\n1. agent: vat() ignored its country argument and used a flat rate of 0.2.\n" in text
    assert "completed:" not in text and text.endswith("Answer with: learned")
    assert prompt.fields == ("learned",) and prompt.schema["required"] == ["learned"]
    assert prompt.clauses == {"learned": ["agent: vat() ignored its country argument and used a flat rate of 0.2."]}


def test_a_draft_field_is_cut_into_clauses_where_the_rules_joined_it():
    field = ("agent: The total ignored the discount.; agent: Rounding is per item. It is correct for EU; "
             "Fixed AssertionError: 20.0 / Add the UK rate; modified cart/vat.py")
    assert prompts.clauses(field) == ["agent: The total ignored the discount.", "agent: Rounding is per item.",
                                      "It is correct for EU", "Fixed AssertionError: 20.0", "Add the UK rate",
                                      "modified cart/vat.py"]


def _fits(value, schema) -> bool:
    """A small JSON-schema check for the keywords our schemas use."""
    if schema["type"] == "object":
        return (isinstance(value, dict) and set(value) == set(schema["required"])
                and all(_fits(value[k], s) for k, s in schema["properties"].items()))
    if schema["type"] == "array":
        return (isinstance(value, list) and len(value) <= schema.get("maxItems", 10**6)
                and all(_fits(v, schema["items"]) for v in value))
    if schema["type"] == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    return (isinstance(value, str) and len(value) <= schema.get("maxLength", 10**6)
            and value in schema.get("enum", [value]))


def test_the_examples_fit_their_own_schemas():
    topics = [t.strip() for t in prompts.OBSERVATION_EXAMPLE_LOG.rsplit("Topics: ", 1)[1].split(",")]
    assert _fits(prompts.OBSERVATION_EXAMPLE, prompts.observation_schema(topics))
    assert _fits(prompts.SUMMARY_EXAMPLE, prompts.summary_schema(prompts.SUMMARY_EXAMPLE_FIELDS))
    assert prompts.OBSERVATION_SCHEMA["properties"]["type"]["enum"] == list(OBSERVATION_TYPES)


def test_the_schemas_compile_to_llama_grammars():
    from offmem.summarize.llamacpp import prepare_runtime

    prepare_runtime()  # this may be the process's first llama_cpp import
    from llama_cpp import llama_grammar

    for schema in (prompts.OBSERVATION_SCHEMA, prompts.observation_schema(["vat", "rates"]), prompts.SUMMARY_SCHEMA,
                   prompts.summary_schema(("learned",))):
        gbnf = llama_grammar.json_schema_to_gbnf(json.dumps(schema))
        assert gbnf.startswith("char ::=") or "root ::=" in gbnf


# ---------------------------------------------------------------- merging


ANSWER = {"type": "bugfix", "title": "VAT now uses the per-country rate", "concepts": ["vat"], "picks": [],
          "summary": "vat() used a flat rate; it now looks the rate up by country."}


def test_facts_files_and_event_ids_come_from_the_drafts():
    events = session_events(0)
    drafts = rules.compress(events, PROJECT)
    obs = merge_observation(dict(ANSWER), drafts, events, "llamacpp")
    assert obs.files_modified == ["cart/vat.py", "NOTES.md"] and obs.files_read == ["cart/vat.py"]
    assert obs.event_ids == sorted({i for d in drafts for i in d.event_ids})
    assert obs.facts == list(dict.fromkeys(f for d in drafts for f in d.facts))  # nothing ranked: the drafts' order
    assert (obs.type, obs.title, obs.backend) == ("bugfix", ANSWER["title"], "llamacpp")
    assert obs.narrative.startswith(ANSWER["summary"])
    assert obs.subtitle == next((d.subtitle for d in drafts if d.subtitle), "")


def test_the_facts_the_model_ranks_go_first_and_none_is_dropped():
    events = session_events(0)
    drafts = rules.compress(events, PROJECT)
    facts = list(dict.fromkeys(f for d in drafts for f in d.facts))
    obs = merge_observation({**ANSWER, "picks": [3, 1]}, drafts, events, "llamacpp")
    assert obs.facts[:2] == [facts[2], facts[0]] and sorted(obs.facts) == sorted(facts)


def test_a_batch_that_edited_nothing_is_not_called_a_fix():
    events = session_events(1)
    drafts = rules.compress(events, PROJECT)
    assert drafts and not any(d.files_modified for d in drafts)
    for claimed in ("bugfix", "feature", "refactor", "change"):
        obs = merge_observation({**ANSWER, "type": claimed}, drafts, events, "llamacpp")
        assert obs.type == "discovery"
    assert merge_observation({**ANSWER, "type": "decision"}, drafts, events, "x").type == "decision"


def test_a_fix_the_payloads_show_stays_a_fix():
    events = session_events(0)
    drafts = [rules.compress_unit([e for e in events if e.kind.startswith("PostTool")], PROJECT)[0]]
    assert drafts[0].type == "bugfix"  # a check failed, the file was edited, the check passed
    assert merge_observation({**ANSWER, "type": "feature"}, drafts, events, "llamacpp").type == "bugfix"


def test_without_drafts_the_events_give_the_ids():
    events = session_events(1)
    obs = merge_observation(dict(ANSWER), [], events, "claude")
    assert obs.event_ids == [e.id for e in events] and obs.files_modified == []


def test_a_summary_field_puts_the_clauses_the_model_chose_first_and_drops_none():
    draft = SessionSummary(request="r", investigated="i", completed="c", next_steps="n",
                           learned="agent: vat() used a flat rate.; Looked around.; RATES holds DE 0.19.",
                           files_read=["a.py"], files_modified=["b.py"])
    clauses = {"learned": prompts.clauses(draft.learned), "completed": ["c"]}
    out = merge_summary({"learned": [3, 1], "completed": []}, draft, "openai", clauses=clauses)
    assert out.learned == "RATES holds DE 0.19.; agent: vat() used a flat rate.; Looked around."
    assert (out.request, out.investigated, out.completed, out.next_steps) == ("r", "i", "c", "n")  # not chosen: draft
    assert out.files_read == ["a.py"] and out.files_modified == ["b.py"] and out.backend == "openai"


# ---------------------------------------------------------------- registry


def test_registry_picks_the_configured_backend():
    settings = Settings()
    settings.summarizer.backend = "rules"
    assert get_summarizer(settings) is None
    for name, cls in (("llamacpp", "LlamaCppSummarizer"), ("claude", "ClaudeSummarizer"),
                      ("openai", "OpenAICompatSummarizer")):
        settings.summarizer.backend = name
        backend = get_summarizer(settings)
        assert type(backend).__name__ == cls and backend.name == name and not backend.loaded
    settings.summarizer.backend = "gpt5"
    with pytest.raises(ConfigError, match="llamacpp, claude, openai, rules"):
        get_summarizer(settings)


def test_registry_imports_no_model_library_until_load():
    code = (
        "import sys\n"
        "from offmem.config import Settings\n"
        "from offmem.summarize.registry import get_summarizer\n"
        "for b in ('llamacpp', 'claude', 'openai'):\n"
        "    s = Settings(); s.summarizer.backend = b; get_summarizer(s, **({'model_path': 'x.gguf'} if b == 'llamacpp' else {}))\n"
        "print(sorted(m for m in ('llama_cpp', 'anthropic', 'httpx') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_long_command_output_keeps_its_first_line_and_its_summary():
    log = "\n".join(["============ test session starts ============", "platform linux -- Python 3.11.7",
                     *[f"tests/test_a.py::test_{i} PASSED" for i in range(30)], "============ 30 passed in 0.5s ============"])
    line = prompts.render_event(event("Bash", {"command": "pytest -v"}, {"stdout": log}))
    assert line == ("$ pytest -v -> ok: test session starts | … (+30 lines) … | "
                    "tests/test_a.py::test_29 PASSED | 30 passed in 0.5s")


def test_read_shows_code_not_imports_or_docstrings():
    content = '"""Cart helpers."""\n\nfrom __future__ import annotations\nimport decimal\n\nRATES = {}\n\ndef vat(a):\n    return a\n'
    line = prompts.render_event(event("Read", {"file_path": f"{PROJECT}/cart/vat.py"},
                                      {"type": "text", "file": {"content": content, "totalLines": 9}}))
    assert line == "read cart/vat.py (9 lines): RATES = {} | def vat(a):"
