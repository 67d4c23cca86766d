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

from offmem.embed.base import Embedder, FolderEmbedder, ModelCache
from offmem.errors import ModelError

BACKENDS = ("auto", "numpy", "sentence-transformers", "none")


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
