"""The token estimate against a real BPE tokenizer (Qwen2.5-Coder's, read from its GGUF).

Claude's tokenizer does not run offline; Qwen2.5's is a real, modern BPE
tokenizer with a 150k vocabulary. offmem's estimate must never come in under
it for a whole injected block, and should not waste more than about a third of
the budget by over-counting.
"""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from conftest import fixture_payloads, replay
from offmem.config import load_settings
from offmem.retrieval import build_session_context, count_tokens, prompt_memories
from offmem.store.db import Store
from tests.support.models import qwen_gguf  # noqa: F401 - session fixture
from tests.support.seed import ALL_KINDS, add_summary, days_ago, flood
from tests.test_retrieval_session import PROJECT, plant_history

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def qwen_tokens(qwen_gguf):  # noqa: F811
    from llama_cpp import Llama

    vocab = Llama(model_path=str(qwen_gguf), vocab_only=True, verbose=False)
    return lambda text: len(vocab.tokenize(text.encode("utf-8"), add_bos=False, special=False))


def blocks(store, settings) -> list[str]:
    """Injected blocks of several shapes: planted history, a big mixed store, prompt answers, a real session."""
    texts = []
    plant_history(store)
    texts.append(build_session_context(store, PROJECT, settings)["text"])
    flood(store, "/home/dev/big", 2000, start_days_ago=60, kinds=ALL_KINDS, sessions=100)
    for n in range(4):
        add_summary(store, "/home/dev/big", f"flood-session-{96 + n}", days_ago(n / 10),
                    request=f"Refactor the parser, pass {n}", completed="Split parse_expr() into three helpers",
                    learned="Tokenizer state leaks between calls", next_steps="Add a regression test for #812")
    for budget in (300, 1500, 4000):
        settings.context.budget_tokens = budget
        texts.append(build_session_context(store, "/home/dev/big", settings)["text"])
    texts.append(prompt_memories(store, PROJECT, "Why did the VAT check for DE carts fail?", settings)["text"])
    return [t for t in texts if t]


def test_estimate_never_under_counts_an_injected_block(offmem_home, qwen_tokens):
    settings = load_settings()
    with Store.open(settings.db_path) as store:
        texts = blocks(store, settings)
    replay(fixture_payloads())  # a real recorded session, compressed by the rules
    subprocess.run([sys.executable, "-m", "offmem", "process", "--rules"], check=True, capture_output=True)
    with Store.open(settings.db_path) as store:
        texts.append(build_session_context(store, "/home/dev/shop-api", settings)["text"])
    assert len(texts) == 6
    for text in texts:
        real, estimate = qwen_tokens(text), count_tokens(text)
        assert real <= estimate <= 1.35 * real, (real, estimate, text[:300])


def test_plain_length_ratio_would_under_count(offmem_home, qwen_tokens):
    """Why the estimate counts character classes: ids, dates and times cost a token a digit."""
    settings = load_settings()
    with Store.open(settings.db_path) as store:
        text = blocks(store, settings)[2]  # a 1,500-token block of a big store
    assert math.ceil(len(text) / 3.3) < qwen_tokens(text) <= count_tokens(text)


@pytest.mark.parametrize(
    "sample",
    [
        "#4812 bugfix: Fixed KeyError: 'UK' in cart/vat.py (RATES lookup)",
        "- 2026-03-02 14:07 · asked: why does checkout fail for EU carts? | next: add UK to RATES",
        "Décidé : garder les taux dans une seule table → RATES (voir cart/vat.py)",
        "def compute_vat(amount: Decimal, country: str) -> Decimal:\n    return amount * RATES[country]",
        "Refactored HTTPServerConfig.fromEnv() to parse OFFMEM_WORKER_PORT=37810 safely",
    ],
)
def test_single_lines_are_close(qwen_tokens, sample):
    real = qwen_tokens(sample)
    assert 0.9 * real <= count_tokens(sample) <= 1.5 * real + 2
