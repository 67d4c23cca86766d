"""Bring Chroma in step after an import or a forget, when no worker will do it."""

from __future__ import annotations

from collections.abc import Callable


def outbox_size(db_path) -> int:
    """Observation changes the vector index has not applied yet (0 for a database without an outbox)."""
    import sqlite3

    from offmem.store.examine import outbox_size as waiting

    try:
        return waiting(db_path)
    except sqlite3.OperationalError:
        return 0


def sync_vectors(settings, progress: Callable[[int, int], None] | None = None) -> str:
    """Apply the queued vector writes and deletes now; returns a one-line note of what happened.

    With a worker running, the worker does it (it drains the outbox every poll);
    without an embedder, or when Chroma or the model is unavailable, the work stays
    queued for the next worker run and the note says why.
    """
    from offmem.worker.launch import worker_running

    if not settings.db_path.exists() or outbox_size(settings.db_path) == 0:
        return "semantic index: nothing to update"
    if worker_running(str(settings.home)):
        return "semantic index: the running worker applies the changes within seconds"
    if settings.embedder.backend == "none":
        return "semantic index: none (embedder.backend = none); keyword search is up to date"
    try:
        from offmem.search.indexer import get_indexer

        indexer = get_indexer(settings)
        if indexer is None:
            return "semantic index: none configured"
        done = indexer.index_pending(progress)
    except Exception as exc:  # noqa: BLE001 - the outbox keeps the work for the worker
        return f"semantic index: queued for the worker ({type(exc).__name__}: {exc})"
    return f"semantic index: updated ({done} changes applied)"
