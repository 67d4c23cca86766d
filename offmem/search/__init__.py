"""Semantic memory and hybrid search.

- :func:`hybrid_search`, :func:`fts_search`, :func:`vector_search`: the library API
  the CLI, the worker's HTTP routes, the MCP server and prompt-time injection call;
- :mod:`offmem.search.indexer`: keeps Chroma in step with SQLite (outbox), reindex;
- :mod:`offmem.search.chroma`: the Chroma collection (embedded or ``chroma run``);
- :mod:`offmem.search.evaluate`: Recall@k / MRR of each mode on the corpus in ``eval/``.

Importing this package loads neither chromadb nor sentence-transformers.
"""

from __future__ import annotations

from offmem.search.errors import IndexMismatchError, SearchIndexError
from offmem.search.hybrid import FusionParams, SearchResults, fts_search, hybrid_search, vector_search

__all__ = [
    "FusionParams",
    "IndexMismatchError",
    "SearchIndexError",
    "SearchResults",
    "fts_search",
    "hybrid_search",
    "vector_search",
]
