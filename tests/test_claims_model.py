"""The claim check on what real models write: nothing a session does not support reaches a memory.

SmolLM2-135M (plumbing: its output is often junk) and Qwen2.5-Coder-0.5B (the
default model) answer real prompts built from the recorded VAT session. Their
answers go through the same validation, claim check and merge as in the worker;
the check is then given *crafted* sources (another session's text, or this
session's with its names and numbers changed) so that what the model wrote about
the VAT fix names identifiers, paths and numbers those sources lack: every such
claim must be dropped, and counted.
"""

from __future__ import annotations

import pytest

from offmem.config import Settings
from offmem.errors import SummarizerError
from offmem.summarize import claims, rules, validate
from offmem.summarize.base import merge_observation
from offmem.summarize.claims import ClaimCheck, ClaimTally, SourceText
from offmem.summarize.llamacpp import LlamaCppSummarizer
from offmem.summarize import prompts
from tests.support.fixture_events import PROJECT, session_events
from tests.support.models import qwen_gguf, smollm2_gguf  # noqa: F401 - session fixtures

pytestmark = pytest.mark.slow

# What the VAT session is about, renamed: a claim naming the originals is not supported by the renamed text.
RENAMES = {"RATES": "LEVIES", "cart/vat.py": "shop/levy.py", "vat.py": "levy.py", "vat": "levy", "VAT": "LEVY",
           "19.0": "17.5", "20.0": "18.5", "0.19": "0.175", "0.2": "0.185", "check.py": "probe.py", "cart": "shop",
           "country": "region", "NOTES.md": "LOG.md"}


def model_settings() -> Settings:
    settings = Settings()
    settings.summarizer.temperature = 0.0
    settings.summarizer.timeout_s = 900.0
    return settings


def renamed(text: str) -> str:
    for old, new in RENAMES.items():
        text = text.replace(old, new)
    return text


def unit():
    events = [e for e in session_events(0) if e.kind in ("PostToolUse", "PostToolUseFailure")]
    return events, rules.compress_unit(events, PROJECT)[0]


def model_answer(backend: LlamaCppSummarizer, events, draft) -> tuple[dict, prompts.Prompt]:
    prompt = prompts.observation_prompt(events, [draft], PROJECT)
    raw = backend._ask(prompt)  # the real model call, as Summarizer.compress makes it
    return validate.observation(raw, prompt.source, prompt.examples, draft.type, len(prompt.evidence)), prompt


def model_claims(answer: dict) -> list[str]:
    return [c for c in [answer["title"], *claims.sentences(answer["summary"])] if c]


def assert_nothing_unsupported_kept(obs, draft, sources: SourceText, answer: dict) -> None:
    """Every model claim in the observation is supported by ``sources``; every other one is gone."""
    for claim in model_claims(answer):
        verdict = sources.check(claim, changed=bool(draft.files_modified))
        where = obs.title if claim == answer["title"] else obs.narrative
        if verdict.supported:
            continue
        assert claim not in where, (claim, verdict.missing)
    assert obs.facts and sorted(obs.facts) == sorted(draft.facts)  # the evidence itself is never touched


@pytest.fixture(scope="module")
def qwen(qwen_gguf) -> LlamaCppSummarizer:  # noqa: F811
    backend = LlamaCppSummarizer(model_settings(), model_path=qwen_gguf)
    backend.load()
    return backend


@pytest.fixture(scope="module")
def smol(smollm2_gguf) -> LlamaCppSummarizer:  # noqa: F811
    backend = LlamaCppSummarizer(model_settings(), model_path=smollm2_gguf)
    backend.load()
    return backend


def test_qwen_claims_about_names_paths_and_numbers_the_sources_lack_are_dropped(qwen):
    events, draft = unit()
    answer, prompt = model_answer(qwen, events, draft)
    true_sources = SourceText(claims.event_texts(events) + claims.observation_texts([draft]))
    crafted = SourceText([renamed(t) for t in claims.event_texts(events) + claims.observation_texts([draft])])
    written = model_claims(answer)
    lacking = [c for c in written if not crafted.check(c, changed=True).supported]
    # the model wrote about the VAT fix: its title or summary names something the renamed text lacks
    assert lacking, f"the model wrote nothing specific: {answer}"

    tally = ClaimTally()
    obs = merge_observation(answer, [draft], events, "llamacpp", evidence=prompt.evidence,
                            check=ClaimCheck(crafted, tally, changed=True), topics=prompt.topics)
    assert_nothing_unsupported_kept(obs, draft, crafted, answer)
    assert tally.unsupported >= len(lacking) and tally.checked == len(written)
    if answer["title"] in lacking:
        assert obs.title == draft.title  # the rules' title stays

    # the same answer against the session's real text keeps what the session supports
    real = ClaimTally()
    kept = merge_observation(answer, [draft], events, "llamacpp", evidence=prompt.evidence,
                             check=ClaimCheck(true_sources, real, changed=True), topics=prompt.topics)
    assert_nothing_unsupported_kept(kept, draft, true_sources, answer)
    assert real.unsupported < tally.unsupported
    print(answer, tally.as_dict(examples=True), real.as_dict(examples=True))


def test_qwen_on_another_sessions_sources_keeps_nothing_of_its_own_words(qwen):
    events, draft = unit()
    answer, prompt = model_answer(qwen, events, draft)
    other = SourceText(claims.event_texts(session_events(1)))  # the RATES question: no edit, no check run
    tally = ClaimTally()
    obs = merge_observation(answer, [draft], events, "llamacpp", evidence=prompt.evidence,
                            check=ClaimCheck(other, tally, changed=False), topics=prompt.topics)
    assert_nothing_unsupported_kept(obs, draft, other, answer)
    assert tally.unsupported >= 1


def test_the_backend_counts_every_claim_it_checks_and_keeps_only_supported_ones(qwen):
    events, draft = unit()
    before = ClaimTally()
    before.add(qwen.stats.claims)
    obs = qwen.compress(events, [draft], PROJECT)
    sources = SourceText(claims.event_texts(events) + claims.observation_texts([draft]))
    model_title = obs.title != draft.title
    if model_title:
        assert sources.check(obs.title, changed=True).supported
    for sentence in claims.sentences(obs.narrative):
        assert sources.check(sentence, changed=True).supported, sentence
    assert qwen.stats.claims.checked > before.checked
    status = qwen.status()["claims"]
    assert status["checked"] == qwen.stats.claims.checked and status["unsupported"] == qwen.stats.claims.unsupported


def test_smollm2_output_never_reaches_a_memory_unchecked(smol):
    events, draft = unit()
    for index in (0, 1):
        events = [e for e in session_events(index) if e.kind in ("PostToolUse", "PostToolUseFailure")]
        made = rules.compress_unit(events, PROJECT)
        if not made:
            continue
        draft = made[0]
        checked = smol.stats.claims.checked
        try:
            obs = smol.compress(events, [draft], PROJECT)
        except SummarizerError:
            continue  # junk: the pipeline keeps the rules' observation
        sources = SourceText(claims.event_texts(events) + claims.observation_texts([draft]))
        if obs.title != draft.title:
            assert sources.check(obs.title, changed=bool(draft.files_modified)).supported
        for sentence in claims.sentences(obs.narrative):
            assert sources.check(sentence, changed=bool(draft.files_modified)).supported, sentence
        assert smol.stats.claims.checked > checked
