"""Embedders: text in, unit-length float32 vectors out.

One abstract method, :meth:`Embedder.embed_batch`; everything else derives from
it. Backends import their heavy libraries only when they load a model, so
importing this package costs nothing.

``get_embedder(settings)`` builds the configured backend for a model folder
resolved by :func:`offmem.models.resolve_model_path` (never downloaded at run time):

- ``auto`` (default): ``numpy`` when it can run the model, else ``sentence-transformers``;
- ``numpy``: :mod:`offmem.embed.numpy_backend`, BERT models without PyTorch
  (the same vectors as the library, in a third of the memory);
- ``sentence-transformers``: the library itself, for any model it loads;
- ``none``: no embedder, search is keyword-only.

The backend is not part of a vector's identity: ``numpy`` and
``sentence-transformers`` make the same vectors for a model, so switching between
them needs no reindex.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path

from offmem.errors import ModelError

BACKENDS = ("auto", "numpy", "sentence-transformers", "none")


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
    safely between threads.
    """

    def __init__(self, path, *, model_id: str = "", batch_size: int = 32, dimension: int | None = None,
                 threads: int | None = 1) -> None:
        self.path = Path(path)
        self.model_id = model_id or self.path.name
        self.batch_size = max(1, int(batch_size))
        self.threads = threads  # 0 or None: the runtime's default
        self._dimension = dimension
        self._model = None
        self._encode_lock = threading.Lock()

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

    def embed_batch(self, texts: Sequence[str]):
        import numpy as np

        self.load()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._encode_lock:
            return np.asarray(self._encode(self._model, list(texts)), dtype=np.float32)


def resolve_backend(backend: str, path) -> str:
    """The runtime for the model folder at ``path``: ``auto`` becomes ``numpy`` where it can run it."""
    if backend != "auto":
        return backend
    from offmem.embed.numpy_backend import supports

    return "numpy" if supports(path) is None else "sentence-transformers"


def get_embedder(settings) -> Embedder | None:
    """The configured embedder, not yet loaded; None when the backend is ``none``.

    Raises ModelMissingError (with the pull command) when the model is not
    installed and ModelError for an unknown backend.
    """
    backend = settings.embedder.backend
    if backend == "none":
        return None
    if backend not in BACKENDS:
        raise ModelError(
            f"unknown embedder backend {backend!r}; set embedder.backend to one of {', '.join(BACKENDS)} "
            f"(`offmem config set embedder.backend auto`)"
        )
    from offmem.models import load_catalog, resolve_model_path, selected_name

    catalog = load_catalog(settings.home)
    name = settings.embedder.model or selected_name(settings, catalog, "embedder")
    path = resolve_model_path(settings, "embedder", name)
    options = {
        "model_id": name,
        "batch_size": settings.embedder.batch_size,
        "dimension": catalog.get(name).dimensions or None,
        "threads": getattr(settings.embedder, "threads", 1),  # 0 = the library's default
    }
    return embedder_for_folder(path, backend, **options)


def embedder_for_folder(path, backend: str = "auto", **options) -> Embedder:
    """An embedder (not yet loaded) for the model folder at ``path`` with ``backend``
    (``auto``, ``numpy`` or ``sentence-transformers``); ``options`` go to its constructor."""
    if resolve_backend(backend, path) == "numpy":
        from offmem.embed.numpy_backend import NumpyEmbedder

        return NumpyEmbedder(path, **options)
    from offmem.embed.st_backend import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(path, **options)

__all__ = ["BACKENDS", "Embedder", "FolderEmbedder", "ModelCache", "embedder_for_folder", "get_embedder", "resolve_backend"]
