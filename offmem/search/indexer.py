"""Keeps Chroma in step with SQLite: drain the outbox, rebuild on demand.

SQLite is the truth. Triggers (migration ``m002_vector_outbox``) queue every
observation insert, update and delete in ``vector_outbox`` inside the same
transaction as the change. :meth:`Indexer.index_pending` embeds what is queued,
writes it to Chroma, and only then deletes the queue rows, so a crash anywhere
leaves work queued (re-doing it is harmless: writes are upserts by id).

SQLite ``meta`` remembers which collection it filled (``vectors.collection``)
and with which embedder. A collection that is new to this database (first run,
a wiped directory, a fresh server) is filled from SQLite automatically; vectors
made by another embedder are refused until ``offmem reindex``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from pathlib import Path

from offmem.embed import Embedder, get_embedder
from offmem.search.chroma import ChromaIndex
from offmem.search.documents import KIND, TEXT_FORMAT, embedding_text, vector_id, vector_metadata
from offmem.search.errors import IndexMismatchError, SearchIndexError
from offmem.store import outbox
from offmem.store.db import Store, transaction
from offmem.store.observations import observation_rows

Progress = Callable[[int, int], None]

META_INSTANCE = "vectors.instance"
META_COLLECTION = "vectors.collection"
META_MODEL = "vectors.model"
META_DIM = "vectors.dim"
META_FORMAT = "vectors.format"


def instance_id(store: Store, create: bool = True) -> str | None:
    """This database's id in Chroma (several databases may share one server)."""
    value = store.get_meta(META_INSTANCE)
    if value or not create:
        return value
    with transaction(store.conn):
        value = store.get_meta(META_INSTANCE) or uuid.uuid4().hex[:12]
        store.set_meta(META_INSTANCE, value)
    return value


def enqueue_all(conn) -> int:
    """Queue every observation for (re)embedding; call inside a transaction."""
    return outbox.enqueue_all(conn, KIND)


def index_identity(embedder: Embedder) -> dict:
    """What the collection's metadata must say for vectors from ``embedder``."""
    return {"model": embedder.model_id, "dim": int(embedder.dimension), "format": TEXT_FORMAT}


def pending_count(conn) -> int:
    return outbox.pending_count(conn)


class Indexer:
    """Embeds observations into Chroma. One per process; methods are thread-safe."""

    def __init__(self, settings, embedder: Embedder, vectors: ChromaIndex, *, db_path: Path | str | None = None) -> None:
        self.settings = settings
        self.embedder = embedder
        self.vectors = vectors
        self.db_path = Path(db_path or settings.db_path)
        self.chunk = max(8, int(getattr(settings.embedder, "batch_size", 32)) * 4)
        self.last_error: str | None = None
        self.reindexing = False
        self.indexed_this_run = 0
        self._lock = threading.RLock()

    def identity(self) -> dict:
        return index_identity(self.embedder)

    # ------------------------------------------------------------------ writing

    def index_pending(self, progress: Progress | None = None) -> int:
        """Embed and store everything queued; returns the number of queue entries applied."""
        with self._lock, Store.open(self.db_path) as store:
            try:
                self._prepare(store)
                done = self._drain(store, progress)
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                raise
            self.last_error = None
            return done

    def reindex(self, progress: Progress | None = None) -> int:
        """Rebuild this database's vectors from SQLite with the configured embedder.

        Everything is queued first (one SQLite transaction), then the collection is
        emptied or, for another embedder, replaced, then the queue is drained: a crash
        part-way leaves the rest queued for the next :meth:`index_pending`.
        """
        self.reindexing = True
        try:
            with self._lock, Store.open(self.db_path) as store:
                try:
                    done = self._rebuild(store, progress)
                except Exception as exc:
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    raise
                self.last_error = None
                return done
        finally:
            self.reindexing = False

    def _rebuild(self, store: Store, progress: Progress | None) -> int:
        identity = self.identity()
        instance = instance_id(store)
        with transaction(store.conn):
            enqueue_all(store.conn)
            store.delete_meta(META_COLLECTION)
        if self.vectors.identity() == identity:
            self.vectors.delete(where={"db": instance})
        else:
            self.vectors.drop()
        self.vectors.create(identity)
        self._remember(store, identity)
        return self._drain(store, progress)

    def _prepare(self, store: Store) -> None:
        identity = self.identity()
        instance_id(store)
        if self.vectors.check(identity) is None:
            self.vectors.create(identity)
        if store.get_meta(META_COLLECTION) != self.vectors.collection_id():
            with transaction(store.conn):
                enqueue_all(store.conn)
            self._remember(store, identity)

    def _remember(self, store: Store, identity: dict) -> None:
        with transaction(store.conn):
            store.set_meta(META_COLLECTION, self.vectors.collection_id() or "")
            store.set_meta(META_MODEL, str(identity["model"]))
            store.set_meta(META_DIM, str(identity["dim"]))
            store.set_meta(META_FORMAT, str(identity["format"]))

    def _drain(self, store: Store, progress: Progress | None) -> int:
        conn = store.conn
        instance = instance_id(store)
        total = pending_count(conn)
        done = 0
        while True:
            rows = outbox.next_batch(conn, self.chunk)
            if not rows:
                break
            self._apply(conn, instance, rows)
            with transaction(conn):
                outbox.remove(conn, [r[0] for r in rows])
            done += len(rows)
            self.indexed_this_run += len(rows)
            if progress is not None:
                progress(done, max(total, done))
        return done

    def _apply(self, conn, instance: str, rows) -> None:
        latest: dict[int, str] = {}
        for _seq, kind, ref_id, op in rows:
            if kind == KIND:
                latest[int(ref_id)] = op
        wanted = [i for i, op in latest.items() if op == "upsert"]
        found = observation_rows(conn, wanted)
        gone = [i for i in latest if i not in found]
        if found:
            ids = list(found)
            vectors = self.embedder.embed_batch([embedding_text(found[i]) for i in ids])
            self.vectors.upsert(
                [vector_id(instance, i) for i in ids],
                vectors,
                [vector_metadata(found[i], instance) for i in ids],
            )
        if gone:
            self.vectors.delete(ids=[vector_id(instance, i) for i in gone])

    # ------------------------------------------------------------------ status

    def status(self) -> dict:
        info: dict = {
            "backend": getattr(self.embedder, "backend", self.settings.embedder.backend),
            "model": self.embedder.model_id,
            "dim": None,
            "loaded": self.embedder.loaded,
            "chroma": self.vectors.where,
            "collection": self.vectors.name,
            "indexed": None,
            "pending": None,
            "reindexing": self.reindexing,
            "error": self.last_error,
        }
        try:
            info["dim"] = self.embedder.known_dimension
            with Store.open(self.db_path) as store:
                info["pending"] = pending_count(store.conn)
            stored = self.vectors.identity()
            info["indexed"] = self.vectors.count() if stored is not None else 0
            if stored is not None and info["dim"] is not None and stored != self.identity():
                info["error"] = str(IndexMismatchError(stored, self.identity()))
        except Exception as exc:  # noqa: BLE001 - status must always answer
            info["error"] = f"{type(exc).__name__}: {exc}"
        return info


def get_indexer(settings) -> Indexer | None:
    """The worker's indexer; None when ``embedder.backend`` is ``none``.

    Raises ModelMissingError / ModelError when the embedding model is not usable
    and SearchIndexError for a bad Chroma setting; the caller then runs keyword-only.
    """
    embedder = get_embedder(settings)
    if embedder is None:
        return None
    return Indexer(settings, embedder, ChromaIndex.from_settings(settings))


def apply_queued(indexer: Indexer | None) -> str | None:
    """Apply the queued vector writes and deletes now with a loaded ``indexer`` (the worker's, after
    the UI forgot something); a note, not an error, when the work must wait for the next pass."""
    if indexer is None:
        return None
    try:
        indexer.index_pending()
    except Exception as exc:  # noqa: BLE001 - the outbox keeps the work for the worker's next pass
        return f"the semantic index will drop it on the worker's next pass ({type(exc).__name__}: {exc})"
    return None


__all__ = ["Indexer", "IndexMismatchError", "SearchIndexError", "apply_queued", "enqueue_all", "get_indexer", "index_identity", "instance_id"]
