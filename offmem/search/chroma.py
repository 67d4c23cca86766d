"""The Chroma side of the index: one collection of vectors offmem computed itself.

Chroma is derived data. Every vector is supplied by offmem (``embeddings=`` on
write, ``query_embeddings=`` on read) and collections are opened with
``embedding_function=None``, so Chroma's default embedder, which downloads a
model, can never run. The collection's metadata records which embedder made the
vectors (model id, dimension, text format); a different one is refused with
:class:`IndexMismatchError`.

Modes (``[chroma] mode``): ``embedded`` keeps a persistent store in
``<data dir>/chroma``; ``http`` talks to a ``chroma run`` server at host:port.
Several offmem databases may share one server: each vector's id and metadata
carry its database's instance id.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from offmem.search.errors import IndexMismatchError, SearchIndexError

META_MODEL = "offmem_model"
META_DIM = "offmem_dim"
META_FORMAT = "offmem_format"


def open_client(settings):
    """A Chroma client for ``settings.chroma`` with anonymized telemetry off."""
    try:
        import chromadb
    except ImportError as exc:
        raise SearchIndexError(
            f"semantic search needs chromadb ({exc}); install it with `pip install 'offmem[local]'`"
        ) from exc
    chroma_settings = chromadb.Settings(anonymized_telemetry=False)
    mode = settings.chroma.mode
    try:
        if mode == "http":
            return chromadb.HttpClient(host=settings.chroma.host, port=int(settings.chroma.port), settings=chroma_settings)
        if mode == "embedded":
            settings.chroma_dir.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(path=str(settings.chroma_dir), settings=chroma_settings)
    except Exception as exc:  # noqa: BLE001 - chromadb raises many kinds; all mean "unavailable"
        raise SearchIndexError(f"cannot open Chroma ({describe(settings)}): {type(exc).__name__}: {exc}; {_hint(settings)}") from exc
    raise SearchIndexError(f"unknown chroma.mode {mode!r}; use `embedded` or `http` (`offmem config set chroma.mode embedded`)")


def describe(settings) -> str:
    if settings.chroma.mode == "http":
        return f"http://{settings.chroma.host}:{settings.chroma.port}"
    return f"embedded:{settings.chroma_dir}"


def _hint(settings) -> str:
    if settings.chroma.mode == "http":
        return (
            f"start the server with `chroma run --path DIR --host {settings.chroma.host} --port {settings.chroma.port}` "
            f"or go back to a local store with `offmem config set chroma.mode embedded`"
        )
    return f"check that {settings.chroma_dir} is writable, or move it aside and run `offmem reindex`"


def identity_of(metadata: dict | None) -> dict:
    metadata = metadata or {}
    return {"model": metadata.get(META_MODEL), "dim": metadata.get(META_DIM), "format": metadata.get(META_FORMAT)}


class ChromaIndex:
    """One named collection; opened lazily and cached, safe to share between threads."""

    def __init__(self, client_factory, name: str, where: str = "") -> None:
        self._client_factory = client_factory
        self._client = None
        self._collection = None
        self.name = name
        self.where = where
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings) -> "ChromaIndex":
        return cls(lambda: open_client(settings), settings.chroma.collection, describe(settings))

    # ------------------------------------------------------------------ collection

    @property
    def client(self):
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SearchIndexError:
            raise
        except Exception as exc:  # noqa: BLE001 - a dead server or a broken store; callers degrade
            self._collection = None
            raise SearchIndexError(f"Chroma ({self.where}) failed to {what}: {type(exc).__name__}: {exc}") from exc

    def collection(self):
        """The collection, or None when it does not exist (nothing indexed yet)."""
        with self._lock:
            if self._collection is None:
                names = self._call("list collections", lambda: [c if isinstance(c, str) else c.name for c in self.client.list_collections()])
                if self.name not in names:
                    return None
                self._collection = self._call("open the collection", self.client.get_collection, self.name, embedding_function=None)
            return self._collection

    def identity(self) -> dict | None:
        col = self.collection()
        return None if col is None else identity_of(col.metadata)

    def collection_id(self) -> str | None:
        col = self.collection()
        return None if col is None else str(col.id)

    def check(self, identity: dict):
        """The collection if its vectors were made by ``identity``; IndexMismatchError if not."""
        col = self.collection()
        if col is not None and identity_of(col.metadata) != identity:
            raise IndexMismatchError(identity_of(col.metadata), identity)
        return col

    def create(self, identity: dict):
        """Create the collection for ``identity`` (cosine space); an existing one is kept if it matches."""
        metadata = {META_MODEL: identity["model"], META_DIM: int(identity["dim"]), META_FORMAT: identity["format"]}
        with self._lock:
            self._collection = self._call(
                "create the collection",
                self.client.get_or_create_collection,
                self.name,
                metadata=metadata,
                configuration={"hnsw": {"space": "cosine"}},
                embedding_function=None,
            )
        return self.check(identity)

    def drop(self) -> None:
        with self._lock:
            self._collection = None
            try:
                self.client.delete_collection(self.name)
            except Exception as exc:  # noqa: BLE001
                if "does not exist" not in str(exc).lower() and "not found" not in str(exc).lower():
                    raise SearchIndexError(f"Chroma ({self.where}) failed to drop {self.name}: {exc}") from exc

    # ------------------------------------------------------------------ vectors

    def upsert(self, ids: Sequence[str], vectors, metadatas: Sequence[dict]) -> None:
        if len(ids):
            col = self._require()
            self._call("write vectors", col.upsert, ids=list(ids), embeddings=vectors, metadatas=list(metadatas))

    def delete(self, ids: Sequence[str] = (), where: dict | None = None) -> None:
        col = self.collection()
        if col is None or (not ids and not where):
            return
        if ids:
            self._call("delete vectors", col.delete, ids=list(ids))
        if where:
            self._call("delete vectors", col.delete, where=where)

    def query(self, vector, n: int, where: dict | None = None, ids: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """Nearest ``n`` ids with their cosine distances, best first."""
        col = self.collection()
        if col is None or n <= 0:
            return []
        kwargs: dict = {"query_embeddings": [vector], "n_results": n, "include": ["distances"]}
        if where:
            kwargs["where"] = where
        if ids is not None:
            if not ids:
                return []
            kwargs["ids"] = list(ids)
        result = self._call("search", col.query, **kwargs)
        return list(zip(result["ids"][0], result["distances"][0]))

    def count(self, where: dict | None = None) -> int:
        col = self.collection()
        if col is None:
            return 0
        if where is None:
            return int(self._call("count vectors", col.count))
        return len(self._call("count vectors", col.get, where=where, include=[])["ids"])

    def _require(self):
        col = self.collection()
        if col is None:
            raise SearchIndexError(f"the Chroma collection {self.name!r} does not exist; run `offmem reindex`")
        return col
