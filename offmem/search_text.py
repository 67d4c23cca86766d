"""Text expansion that lets FTS5 find code identifiers by their parts.

FTS5's unicode61 tokenizer already splits on ``_``, ``.`` and ``/``; what it cannot
do is split ``camelCase`` or ``HTTPServer``. The expansion stores those parts (and
each file's base name and stem) in ``search_text`` so `tax rate`, `TaxRate`,
`tax_rate` and `taxRate.ts` all meet.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[._/-][A-Za-z0-9]+)*")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def split_identifier(word: str) -> list[str]:
    """``parseHTTPResponse_v2`` → ``['parse', 'HTTP', 'Response', 'v', '2']``."""
    parts: list[str] = []
    for chunk in re.split(r"[._/\-]+", word):
        parts.extend(_CAMEL.findall(chunk))
    return parts


def expand_identifiers(text: str) -> str:
    """The identifier parts of ``text`` not already visible to the tokenizer."""
    extra: list[str] = []
    seen: set[str] = set()
    for match in _WORD.finditer(text):
        word = match.group(0)
        if word.islower() or word.isupper():
            continue  # unicode61 already splits these on punctuation
        for part in split_identifier(word):
            low = part.lower()
            if low not in seen:
                seen.add(low)
                extra.append(low)
    return " ".join(extra)
