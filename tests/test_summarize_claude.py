"""The claude backend: the real anthropic SDK against a local Messages API server."""

from __future__ import annotations

import json
import socket

import pytest

from offmem.config import Settings
from offmem.errors import SummarizerError
from offmem.summarize import prompts, rules
from offmem.summarize.claude import ClaudeSummarizer
from offmem.summarize.validate import JunkOutputError
from tests.support.fake_anthropic import FakeAnthropic, ToolCall
from tests.support.fixture_events import PROJECT, session_context, session_events

KEY_ENV = "MY_CLAUDE_KEY"
ANSWER = {
    "type": "bugfix",
    "title": "VAT looks up the rate per country",
    "concepts": ["vat", "rates"],
    "evidence": [8, 10],
    "summary": "The VAT check failed with AssertionError: 20.0 until vat() looked up RATES[country].",
}
LEARNED = "vat() ignored its country argument and used a flat rate of 0.2 for every cart"


@pytest.fixture
def fake():
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def settings(fake, monkeypatch) -> Settings:
    monkeypatch.setenv(KEY_ENV, "sk-test-123")
    s = Settings()
    s.summarizer.backend = "claude"
    s.summarizer.claude_model = "claude-haiku-4-5"
    s.summarizer.claude_api_key_env = KEY_ENV
    s.summarizer.claude_base_url = fake.base_url
    s.summarizer.timeout_s = 10.0
    return s


def test_compress_sends_one_forced_tool_call_and_merges_the_answer(fake, settings):
    fake.set_script([[ToolCall("record_observation", ANSWER)]])
    events, drafts = session_events(0), rules.compress(session_events(0), PROJECT)
    backend = ClaudeSummarizer(settings)
    obs = backend.compress(events, drafts, PROJECT)

    assert (obs.type, obs.title, obs.narrative, obs.backend) == ("bugfix", ANSWER["title"], ANSWER["summary"], "claude")
    assert obs.files_modified == ["cart/vat.py", "NOTES.md"] and obs.concepts == ["vat", "rates"]
    assert obs.facts[:2] == ["AssertionError: 20.0", "+ rate = RATES[country]"]  # the evidence it ranked first
    (request,) = fake.messages_requests()
    body = request.body
    headers = {k.lower(): v for k, v in request.headers.items()}
    # the SDK sends the key as x-api-key or (2.x) as a bearer token
    assert "sk-test-123" in (headers.get("x-api-key"), headers.get("authorization", "").removeprefix("Bearer "))
    assert body["model"] == "claude-haiku-4-5" and body["max_tokens"] == settings.summarizer.max_tokens
    assert body["tool_choice"] == {"type": "tool", "name": "record_observation"}
    topics = body["tools"][0]["input_schema"]["properties"]["concepts"]["items"]["enum"]
    assert body["tools"][0]["input_schema"] == prompts.observation_schema(topics) and "vat" in topics
    assert body["system"] == prompts.OBSERVATION_SYSTEM
    assert [m["role"] for m in body["messages"]] == ["user"]  # no one-shot example for Claude
    assert "\n8. AssertionError: 20.0\n" in body["messages"][0]["content"]
    assert "sk-live-123" not in request.dumps()
    status = backend.status()
    assert status["calls"] == 1 and status["failures"] == 0 and status["prompt_tokens"] > 0
    assert status["backend"] == "claude" and status["model"] == "claude-haiku-4-5" and status["loaded"]
    assert status["claims"]["checked"] == 2 and status["claims"]["unsupported"] == 0  # the title and the summary


def test_summarize_uses_the_summary_tool(fake, settings):
    fake.set_script([[ToolCall("record_session_summary", {"learned": [2]})]])
    drafts = rules.compress(session_events(0), PROJECT)
    draft = rules.summarize_session(session_context(0, drafts))
    draft.learned = (f"agent: {LEARNED}.; agent: RATES already held DE 0.19, FR 0.20 and IT 0.22 in cart/vat.py.; "
                     "agent: The UK rate is still missing from RATES.")
    summary = ClaudeSummarizer(settings).summarize(session_context(0, drafts), draft)
    assert summary.learned == (f"agent: RATES already held DE 0.19, FR 0.20 and IT 0.22 in cart/vat.py.; agent: {LEARNED}.; "
                               "agent: The UK rate is still missing from RATES.")  # the chosen clause first, none lost
    assert {k: getattr(summary, k) for k in prompts.SUMMARY_FIELDS if k != "learned"} == {
        k: getattr(draft, k) for k in prompts.SUMMARY_FIELDS if k != "learned"}
    assert summary.files_modified == draft.files_modified and summary.backend == "claude"
    body = fake.messages_requests()[0].body
    assert body["tool_choice"]["name"] == "record_session_summary"
    assert body["tools"][0]["input_schema"]["required"] == ["learned"]
    assert "\nlearned:\n1. agent: vat() ignored" in body["messages"][0]["content"]


def test_a_text_answer_holding_json_is_accepted(fake, settings):
    fake.set_script(["Sure:\n" + json.dumps(ANSWER)])
    obs = ClaudeSummarizer(settings).compress(session_events(1), rules.compress(session_events(1), PROJECT), PROJECT)
    assert obs.title == ANSWER["title"] and obs.type == "discovery"  # nothing was edited


# ---------------------------------------------------------------- failure paths


def test_missing_key_is_a_clear_error_and_sends_nothing(fake, settings, monkeypatch):
    monkeypatch.delenv(KEY_ENV)
    backend = ClaudeSummarizer(settings)
    with pytest.raises(SummarizerError, match=rf"needs an API key in \${KEY_ENV}"):
        backend.compress(session_events(1), [], PROJECT)
    assert fake.requests == [] and not backend.loaded


def test_empty_model_name_is_an_error(settings):
    settings.summarizer.claude_model = ""
    with pytest.raises(SummarizerError, match="claude_model is empty"):
        ClaudeSummarizer(settings).load()


def test_rejected_key_is_a_summarizer_error(fake, settings):
    fake.fail_all(401, "invalid x-api-key")
    with pytest.raises(SummarizerError, match=rf"rejected the key in \${KEY_ENV}"):
        ClaudeSummarizer(settings).compress(session_events(1), [], PROJECT)


def test_overloaded_api_is_a_summarizer_error(fake, settings):
    fake.fail_all(529, "Overloaded")
    backend = ClaudeSummarizer(settings)
    with pytest.raises(SummarizerError, match="HTTP 529"):
        backend.compress(session_events(1), [], PROJECT)
    assert backend.status()["failures"] == 1 and "529" in backend.status()["last_error"]


def test_unreachable_api_is_a_summarizer_error(settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.summarizer.claude_base_url = f"http://127.0.0.1:{port}"  # nothing listens there now
    with pytest.raises(SummarizerError, match="cannot reach"):
        ClaudeSummarizer(settings).compress(session_events(1), [], PROJECT)


def test_silent_api_times_out_as_a_summarizer_error(settings):
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        settings.summarizer.claude_base_url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        settings.summarizer.timeout_s = 0.5
        with pytest.raises(SummarizerError, match=r"did not answer within 0.5 s"):
            ClaudeSummarizer(settings).compress(session_events(1), [], PROJECT)


def test_junk_in_the_tool_input_is_rejected(fake, settings):
    fake.set_script([[ToolCall("record_observation", {"type": "bugfix", "title": "cart/vat.py", "concepts": [],
                                                      "evidence": [], "summary": ""})]])
    with pytest.raises(JunkOutputError, match="only files"):
        ClaudeSummarizer(settings).compress(session_events(0), [], PROJECT)


def test_prose_instead_of_a_record_is_rejected(fake, settings):
    fake.set_script(["I fixed the VAT calculation for you."])
    with pytest.raises(JunkOutputError, match="no JSON object"):
        ClaudeSummarizer(settings).compress(session_events(0), [], PROJECT)
