"""Forget a memory or a whole session from the UI, with the shared ``offmem forget``.

The deletion is :func:`offmem.privacy.forget.forget` (SQLite rows, FTS through its
triggers and an optimize, raw events no other memory was made from, the Chroma
deletions queued in ``vector_outbox``). The UI then drains that queue with the
worker's own warm indexer, so the vectors are gone before the page reloads; the
worker's next poll retries if Chroma is unavailable.
"""

from __future__ import annotations

from offmem.privacy.forget import ForgetQuery, forget
from offmem.store.db import Store


def forget_observations(store: Store, ids: list[int]) -> dict:
    """Delete observations (and their now unreferenced raw events); returns the counts removed."""
    return forget(store, ForgetQuery(ids=[int(i) for i in ids]))


def forget_session(store: Store, session_id: str) -> dict:
    """Delete a session and everything recorded or derived from it; returns the counts removed."""
    return forget(store, ForgetQuery(session=session_id))


def sync_vectors(indexer) -> str | None:
    """Apply queued vector deletions now; a note (not an error) when it must wait for the worker."""
    if indexer is None:
        return None
    try:
        indexer.index_pending()
    except Exception as exc:  # noqa: BLE001 - the outbox keeps the work for the worker's next pass
        return f"the semantic index will drop it on the worker's next pass ({type(exc).__name__}: {exc})"
    return None
