"""Token counting for injected context, calibrated against a real BPE tokenizer.

Claude's tokenizer cannot run offline. A plain characters-per-token ratio is a
poor stand-in for what offmem injects: ids, dates and times are digits, which
BPE vocabularies such as Qwen2.5's split one per token, so ``#4812 11-24 22:28``
costs far more than its length suggests (the old ``len / 3.3`` estimate came in
up to 45% under the Qwen2.5 count on such lines).

This estimate counts character classes in one pass (C-speed ``str.translate``,
no ``re``, so it stays cheap on the hook path) and weighs them with coefficients
fitted by non-negative least squares on ~800 samples (context lines, titles,
facts, hook payloads, code, prose) tokenized by the Qwen2.5-Coder GGUF's own
tokenizer, then scaled by :data:`SAFETY_MARGIN`. ``tests/test_retrieval_tokens.py``
re-checks it against that tokenizer: a whole context block must never be
under-counted, and should not be over-counted by more than about a third.
"""

from __future__ import annotations

import math

# Weight of each character class, fitted as described above (Qwen2.5 tokens).
DIGIT = 1.14  # BPE vocabularies like Qwen's split numbers into single digits
NON_ASCII = 1.39  # accents, arrows, CJK: often one or more tokens each
LOWER = 0.118
UPPER = 0.214  # identifiers in CAPS or CamelCase split into more pieces
PUNCT = 0.105
PUNCT_RUN = 0.714  # a run of punctuation (`(`, `):`, `-->`) starts a new token
WORD = 0.51  # each run of ASCII letters starts at least one token
SPACE = 0.072
# Headroom for the difference between Claude's tokenizer and the calibration one.
SAFETY_MARGIN = 1.15


class _Classes(dict):
    """``str.translate`` table: one class letter per character; non-ASCII → ``n``."""

    def __missing__(self, key: int) -> str:
        return "n"


def _class_of(ch: str) -> str:
    if ch.isdigit():
        return "d"
    if ch.isalpha():
        return "U" if ch.isupper() else "a"
    if ch.isspace():
        return " "
    return "p"


_CLASSES = _Classes({i: _class_of(chr(i)) for i in range(128)})
_LETTER_RUNS = {ord("d"): " ", ord("n"): " ", ord("p"): " "}
_PUNCT_RUNS = {ord("d"): " ", ord("n"): " ", ord("a"): " ", ord("U"): " "}


def count_tokens(text: str) -> int:
    """A safe (rarely low) estimate of the tokens ``text`` costs a model."""
    if not text:
        return 0
    classes = text.translate(_CLASSES)
    raw = (
        DIGIT * classes.count("d")
        + NON_ASCII * classes.count("n")
        + LOWER * classes.count("a")
        + UPPER * classes.count("U")
        + PUNCT * classes.count("p")
        + SPACE * classes.count(" ")
        + WORD * len(classes.translate(_LETTER_RUNS).split())
        + PUNCT_RUN * len(classes.translate(_PUNCT_RUNS).split())
    )
    return max(1, math.ceil(raw * SAFETY_MARGIN))
