"""What every embedder is: :class:`Embedder` (one abstract method, ``embed_batch``),
:class:`FolderEmbedder` (a model in a local folder, loaded on first use) and
:class:`ModelCache` (models loaded once per process). The backends subclass these;
:mod:`offmem.embed` chooses among them.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path

from offmem.errors import ModelError


class Embedder(ABC):
    """A text embedding model. ``model_id`` and ``dimension`` identify its vectors."""

    model_id: str = ""
    backend: str = ""  # the runtime, for status output; not part of the vectors' identity
    batch_size: int = 32

    @property
    @abstractmethod
    def dimension(self) -> int:
        """Length of every vector this embedder returns."""

    @property
    def known_dimension(self) -> int | None:
        """The dimension if it is known without loading the model, else None."""
        return self.dimension

    @property
    def loaded(self) -> bool:
        return True

    def load(self) -> None:
        """Load the model now (it is otherwise loaded on first use)."""

    @abstractmethod
    def embed_batch(self, texts: Sequence[str]):
        """Embed ``texts`` as a float32 array of shape ``(len(texts), dimension)``, rows of norm 1."""

    def embed_query(self, text: str):
        """One vector (a 1-d float32 array) for a search query."""
        return self.embed_batch([text])[0]

    def iter_batches(self, texts: Sequence[str]) -> Iterator:
        """Embed ``texts`` ``batch_size`` at a time, yielding one array per batch."""
        for start in range(0, len(texts), self.batch_size):
            yield self.embed_batch(texts[start:start + self.batch_size])

    def identity(self) -> dict:
        """What is stored next to the vectors to detect a model change."""
        return {"model": self.model_id, "dim": self.dimension}


class ModelCache:
    """Models loaded once per process, shared by resolved folder (the worker's indexer
    and its search route use one; a test session loads MiniLM once)."""

    def __init__(self) -> None:
        self._models: dict[str, object] = {}
        self._lock = threading.Lock()

    def get(self, folder, open_model):
        """The model in ``folder``, from ``open_model(path_str)`` on first request.

        Any failure to open becomes a ModelError naming the folder and the forced pull.
        """
        key = str(Path(folder).resolve())
        with self._lock:
            model = self._models.get(key)
            if model is None:
                if not Path(key).is_dir():
                    raise ModelError(f"no embedding model folder at {key}; run `offmem pull-models`")
                try:
                    model = open_model(key)
                except ModelError:
                    raise
                except Exception as exc:  # noqa: BLE001 - a damaged folder fails in many ways
                    raise ModelError(
                        f"cannot load the embedding model in {key}: {type(exc).__name__}: {exc}; "
                        f"reinstall it with `offmem pull-models --force`"
                    ) from exc
                self._models[key] = model
            return model


class FolderEmbedder(Embedder):
    """A model in a local folder, loaded on first use; subclasses open and run it.

    ``dimension``, when given (from the catalog), is checked against the model on
    load. Encoding is serialized: neither runtime's tokenizer or buffers are shared
    safely between threads. A batch is encoded ``TURN`` texts at a time, and a
    query waiting for its turn goes before the batch's next slice: a prompt's
    lookup in the worker waits for at most one slice of the indexer's batch, not
    for all of it (a batch of 128 memories is seconds on a busy core).
    """

    TURN = 4  # texts encoded per turn of a batch

    def __init__(self, path, *, model_id: str = "", batch_size: int = 32, dimension: int | None = None,
                 threads: int | None = 1) -> None:
        self.path = Path(path)
        self.model_id = model_id or self.path.name
        self.batch_size = max(1, int(batch_size))
        self.threads = threads  # 0 or None: the runtime's default
        self._dimension = dimension
        self._model = None
        self._turns = threading.Condition()
        self._encoding = False
        self._queries_waiting = 0

    @abstractmethod
    def _open(self) -> tuple[object, int]:
        """The loaded model and the length of its vectors."""

    @abstractmethod
    def _encode(self, model, texts: list[str]):
        """Unit-length vectors for ``texts`` (not empty), one row each."""

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> None:
        if self._model is None:
            model, size = self._open()
            if self._dimension and size != self._dimension:
                raise ModelError(
                    f"the model in {self.path} makes {size}-d vectors but the catalog says "
                    f"{self._dimension}; fix `dimensions` in models.toml"
                )
            self._dimension = size
            self._model = model

    @property
    def known_dimension(self) -> int | None:
        return self._dimension

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self.load()
        return int(self._dimension)  # type: ignore[arg-type]

    def _take_turn(self, query: bool) -> None:
        with self._turns:
            self._queries_waiting += query
            try:
                while self._encoding or (not query and self._queries_waiting):
                    self._turns.wait()
            finally:
                self._queries_waiting -= query
            self._encoding = True

    def _end_turn(self) -> None:
        with self._turns:
            self._encoding = False
            self._turns.notify_all()

    def _run(self, texts: list[str], query: bool):
        import numpy as np

        self._take_turn(query)
        try:
            return np.asarray(self._encode(self._model, texts), dtype=np.float32)
        finally:
            self._end_turn()

    def embed_batch(self, texts: Sequence[str]):
        import numpy as np

        self.load()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        texts = list(texts)
        parts = [self._run(texts[i:i + self.TURN], False) for i in range(0, len(texts), self.TURN)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def embed_query(self, text: str):
        """One vector for a search query; it goes before the next slice of any batch being encoded."""
        self.load()
        return self._run([text], True)[0]
