"""The worker's warm search models, as a request may use them: never waiting for a load.

A request inside the worker uses the embedder only once it is loaded (loading takes
seconds); until then it searches by keyword and the first such request starts the
load in the background.
"""

from __future__ import annotations

import threading

_LOADING = threading.Lock()


def _load_in_background(worker, embedder) -> None:
    """Start loading the embedder once; requests meanwhile search by keyword."""
    if not _LOADING.acquire(blocking=False):
        return

    def run() -> None:
        try:
            embedder.load()
        except Exception as exc:  # noqa: BLE001 - keyword search goes on
            worker.log(f"embedder did not load for search: {type(exc).__name__}: {exc}")
        finally:
            _LOADING.release()

    threading.Thread(target=run, name="offmem-load-embedder", daemon=True).start()


def warm_search_backends(worker) -> tuple[object | None, object | None]:
    """``(embedder, chroma)`` when the worker's embedder is loaded, else ``(None, None)``.

    An embedder that is configured but not loaded yet starts loading in the
    background; this request is answered by keyword search.
    """
    indexer = getattr(worker, "indexer", None)
    embedder = getattr(indexer, "embedder", None)
    if embedder is None:
        return None, None
    if not getattr(embedder, "loaded", False):
        _load_in_background(worker, embedder)
        return None, None
    return embedder, getattr(indexer, "vectors", None)
