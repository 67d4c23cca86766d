"""The llama.cpp backend on real GGUF models that PyPI packages ship.

SmolLM2-135M (fast) exercises the plumbing and every failure path; its output
is usually junk, which validation must reject or sanitize without crashing.
Qwen2.5-Coder-0.5B (the default model) must turn the recorded session into a
valid observation and session summary. Each model loads once per test session.
"""

from __future__ import annotations

import json
import re

import pytest

from offmem.config import Settings
from offmem.errors import SummarizerError
from offmem.records import OBSERVATION_TYPES, Observation, SessionSummary
from offmem.summarize import claims, prompts, rules, validate
from offmem.summarize.llamacpp import LlamaCppSummarizer
from offmem.summarize.registry import get_summarizer
from tests.support.fixture_events import PROJECT, session_context, session_events
from tests.support.models import qwen_gguf, smollm2_gguf  # noqa: F401 - session fixtures

pytestmark = pytest.mark.slow


# The product's 120 s call limit is a guard for users; these tests check what the
# model writes, so a CI machine busy with other jobs must not turn them into timeouts.
TEST_CALL_LIMIT_S = 900.0


def model_settings(**summarizer) -> Settings:
    settings = Settings()
    settings.summarizer.temperature = 0.0  # greedy: the same answer every run
    settings.summarizer.timeout_s = TEST_CALL_LIMIT_S
    for key, value in summarizer.items():
        setattr(settings.summarizer, key, value)
    return settings


@pytest.fixture(scope="session")
def smol(smollm2_gguf) -> LlamaCppSummarizer:  # noqa: F811
    backend = LlamaCppSummarizer(model_settings(), model_path=smollm2_gguf)
    backend.load()
    return backend


@pytest.fixture(scope="session")
def qwen(qwen_gguf) -> LlamaCppSummarizer:  # noqa: F811
    backend = LlamaCppSummarizer(model_settings(), model_path=qwen_gguf)
    backend.load()
    return backend


def drafts_for(index: int) -> list[Observation]:
    return rules.compress(session_events(index), PROJECT)


def assert_merged_from_drafts(obs: Observation, drafts: list[Observation]) -> None:
    """The invariants of any model observation: payload facts and files are the drafts'."""
    assert obs.backend == "llamacpp" and obs.type in OBSERVATION_TYPES
    assert obs.files_modified == list(dict.fromkeys(f for d in drafts for f in d.files_modified))
    assert obs.files_read == list(dict.fromkeys(f for d in drafts for f in d.files_read))
    assert obs.event_ids == sorted({i for d in drafts for i in d.event_ids})
    draft_facts = list(dict.fromkeys(f for d in drafts for f in d.facts))
    assert sorted(obs.facts) == sorted(draft_facts)  # ranked, never added to or dropped


def long_draft(ctx) -> SessionSummary:
    """The rules' summary with a ``learned`` too long to show: the field a model is asked to condense."""
    draft = rules.summarize_session(ctx)
    draft.learned = ("agent: Let me look at cart/vat.py first.; agent: vat() ignored its country argument and "
                     "multiplied every amount by a flat rate of 0.2, so German carts got 20.0 instead of 19.0; "
                     "agent: RATES in cart/vat.py already held DE 0.19, FR 0.20 and IT 0.22.; "
                     "agent: The UK rate is still missing from RATES.")
    return draft


def assert_clean_fields(fields: dict) -> None:
    """What survived validation obeys the rules it was checked against."""
    title = fields.get("title")
    if title is not None:
        assert len(title) <= prompts.TITLE_MAX and not validate.only_file_names(title)
        assert len([w for w in validate.words(title) if w.isalpha()]) >= 2
    for key, value in fields.items():
        for text in value if isinstance(value, list) else [value]:
            assert isinstance(text, str) and not validate.is_repetitive(text), (key, text)


# ---------------------------------------------------------------- SmolLM2: plumbing


def test_load_is_idempotent_and_reported(smol):
    first = smol._llm
    smol.load()
    assert smol._llm is first
    status = smol.status()
    assert status["backend"] == "llamacpp" and status["loaded"] is True
    assert status["model"] == "SmolLM2-135M-Instruct.Q4_1.gguf" and 0 < status["load_seconds"] < 30


def test_grammar_makes_every_finished_answer_json(smol):
    """Raw SmolLM2 answers, before validation: JSON of the schema's shape whenever not cut off."""
    asks = [prompts.observation_prompt(session_events(i), drafts_for(i), PROJECT) for i in (0, 1)]
    asks += [prompts.summary_prompt(session_context(i, drafts_for(i)), long_draft(session_context(i))) for i in (0, 1)]
    finished = 0
    for prompt in asks:
        reply = smol.complete(prompt, max_tokens=320)
        assert reply.prompt_tokens > 100 and reply.completion_tokens > 0
        if reply.finish_reason == "stop":
            finished += 1
            data = json.loads(reply.text)
            assert list(data) == prompt.schema["required"]
        else:
            assert reply.finish_reason == "length" and reply.completion_tokens == 320
    assert finished >= 1


def test_smollm2_output_is_rejected_or_sanitized_never_a_crash(smol):
    before = smol.stats.calls
    outcomes = []
    for index in (0, 1):
        drafts = drafts_for(index)
        try:
            obs = smol.compress(session_events(index), drafts, PROJECT)
        except SummarizerError as exc:
            outcomes.append(f"rejected: {exc}")
            continue
        assert_merged_from_drafts(obs, drafts)
        assert_clean_fields({"title": obs.title, "narrative": obs.narrative, "concepts": obs.concepts})
        outcomes.append(f"kept: {obs.title}")
        try:
            summary = smol.summarize(session_context(index, drafts), long_draft(session_context(index, drafts)))
        except SummarizerError as exc:
            outcomes.append(f"summary rejected: {exc}")
            continue
        assert summary.backend == "llamacpp"
        assert_clean_fields({k: getattr(summary, k) for k in prompts.SUMMARY_FIELDS if getattr(summary, k)})
    assert smol.stats.calls > before and len(outcomes) >= 2
    print("\n".join(outcomes))


def test_registry_builds_the_backend_with_an_explicit_path(smollm2_gguf):  # noqa: F811
    settings = model_settings(backend="llamacpp")
    backend = get_summarizer(settings, model_path=smollm2_gguf)
    assert isinstance(backend, LlamaCppSummarizer) and backend.model_path() == smollm2_gguf


# ---------------------------------------------------------------- failure paths


def test_timeout_is_a_summarizer_error_and_the_model_still_works_after(smol, monkeypatch):
    monkeypatch.setattr(smol.settings.summarizer, "timeout_s", 0.2)
    with pytest.raises(SummarizerError, match=r"timed out after 0.2 s"):
        smol.compress(session_events(0), drafts_for(0), PROJECT)
    assert "timed out" in smol.status()["last_error"]
    monkeypatch.setattr(smol.settings.summarizer, "timeout_s", TEST_CALL_LIMIT_S)
    reply = smol.complete(prompts.summary_prompt(session_context(1), long_draft(session_context(1))), max_tokens=320)
    assert reply.finish_reason in ("stop", "length") and reply.completion_tokens > 0


def test_answer_cut_off_by_max_tokens_is_a_summarizer_error(smol, monkeypatch):
    monkeypatch.setattr(smol.settings.summarizer, "max_tokens", 6)
    with pytest.raises(SummarizerError, match="cut off at max_tokens=6"):
        smol.compress(session_events(1), drafts_for(1), PROJECT)


def test_prompt_longer_than_the_context_is_a_summarizer_error(smollm2_gguf):  # noqa: F811
    tiny = LlamaCppSummarizer(model_settings(n_ctx=256), model_path=smollm2_gguf)
    with pytest.raises(SummarizerError, match="rejected the request.*n_ctx"):
        tiny.compress(session_events(0), drafts_for(0), PROJECT)
    assert tiny.status()["failures"] == 1


def test_missing_model_file_is_a_summarizer_error(tmp_path):
    backend = LlamaCppSummarizer(model_settings(), model_path=tmp_path / "nope.gguf")
    with pytest.raises(SummarizerError, match="does not exist.*pull-models"):
        backend.load()
    with pytest.raises(SummarizerError):
        backend.compress(session_events(1), drafts_for(1), PROJECT)


def test_a_file_that_is_not_gguf_is_a_summarizer_error(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(SummarizerError, match="could not load"):
        LlamaCppSummarizer(model_settings(), model_path=bad).load()


def test_no_installed_model_is_a_summarizer_error_naming_the_fix(offmem_home):
    settings = Settings(home=offmem_home)
    backend = get_summarizer(settings)  # default backend: llamacpp, model from models.toml
    with pytest.raises(SummarizerError, match="pull-models"):
        backend.load()
    assert not backend.loaded


# ---------------------------------------------------------------- Qwen 0.5B: quality


def test_qwen_turns_the_recorded_session_into_a_valid_observation(qwen):
    events, drafts = session_events(0), drafts_for(0)
    checked = qwen.stats.claims.checked
    obs = qwen.compress(events, drafts, PROJECT)
    assert_merged_from_drafts(obs, drafts)
    assert_clean_fields({"title": obs.title, "narrative": obs.narrative, "concepts": obs.concepts})
    assert obs.files_modified == ["cart/vat.py", "NOTES.md"]
    assert obs.type in ("bugfix", "change", "feature", "refactor")  # it edited code
    topic = f"{obs.title} {obs.narrative}".lower()
    assert re.search(r"\bvat\b|\brates?\b", topic), topic
    # what the model wrote and kept is supported by the session; each piece was checked
    sources = claims.SourceText(claims.event_texts(events) + claims.observation_texts(drafts))
    for sentence in [obs.title, *claims.sentences(obs.narrative)]:
        assert sources.check(sentence).supported, sentence
    assert qwen.stats.claims.checked > checked
    status = qwen.status()
    assert status["last_prompt_tokens"] > 300 and 0 < status["last_completion_tokens"] < 320
    print(json.dumps(obs.to_dict(), indent=1), status)


def test_qwen_orders_the_clauses_of_a_long_summary_field(qwen):
    drafts = drafts_for(0)
    obs = qwen.compress(session_events(0), drafts, PROJECT)
    ctx = session_context(0, [obs])
    draft = long_draft(session_context(0, drafts))
    summary = qwen.summarize(ctx, draft)
    assert summary.backend == "llamacpp"
    assert summary.files_modified == draft.files_modified == ["cart/vat.py", "NOTES.md"]
    # the draft's own clauses, each once, the model's choice first (0.5B tends to choose them in order)
    assert sorted(summary.learned.split("; ")) == sorted(prompts.clauses(draft.learned)), summary.learned
    assert qwen.stats.calls
    # the fields short enough to show were not sent to the model at all
    assert {k: getattr(summary, k) for k in prompts.SUMMARY_FIELDS if k != "learned"} == {
        k: getattr(draft, k) for k in prompts.SUMMARY_FIELDS if k != "learned"}
    assert_clean_fields({k: getattr(summary, k) for k in prompts.SUMMARY_FIELDS if getattr(summary, k)})
    print(json.dumps(summary.to_dict(), indent=1), qwen.status())


def test_qwen_calls_a_read_only_batch_a_discovery(qwen):
    events, drafts = session_events(1), drafts_for(1)
    obs = qwen.compress(events, drafts, PROJECT)
    assert_merged_from_drafts(obs, drafts)
    assert obs.type in ("discovery", "decision") and obs.files_modified == []
    assert "rates" in f"{obs.title} {obs.narrative}".lower()
