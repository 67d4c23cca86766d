"""Errors of the semantic index (subclasses of :class:`offmem.errors.OffmemError`).

    OffmemError
    └── SearchIndexError        Chroma cannot be opened, reached or written
        └── IndexMismatchError  the vectors were made by another model: run `offmem reindex`
"""

from __future__ import annotations

from offmem.errors import OffmemError


class SearchIndexError(OffmemError):
    pass


class IndexMismatchError(SearchIndexError):
    def __init__(self, stored: dict, configured: dict) -> None:
        self.stored = stored
        self.configured = configured
        super().__init__(
            f"the semantic index holds vectors from {_describe(stored)} but the configured embedder is "
            f"{_describe(configured)}; run `offmem reindex` to rebuild the vectors from the database "
            f"(keyword search keeps working meanwhile)"
        )


def _describe(identity: dict) -> str:
    text = f"{identity.get('model') or 'an unknown model'} ({identity.get('dim') or '?'}-d"
    if identity.get("format"):
        text += f", text format {identity['format']}"
    return text + ")"
