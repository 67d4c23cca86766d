"""The sentence-transformers backend: a local model folder, loaded once per process.

The model is opened from a path with ``local_files_only`` and ``HF_HUB_OFFLINE``
set before the library is imported, so nothing reaches for a hub at run time.
Loaded models are shared by path within the process (the worker's indexer and its
search route use the same one; a test session loads MiniLM once). Encoding is
serialized by a lock: the fast tokenizer refuses concurrent use from threads.

Encoding runs on one torch thread by default (``threads``). On a busy machine,
and the worker's machine is busy whenever llama.cpp summarizes, torch's extra
threads spin waiting for cores. Measured on 2 loaded cores: one query p50/p95
50/580 ms with 2 threads, 10/20 ms with 1; batches 24-44 sentences/s with 2
threads, 140-210 with 1.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

from offmem.embed import Embedder
from offmem.errors import ModelError

_MODELS: dict[str, object] = {}
_LOAD_LOCK = threading.Lock()


def _import_library():
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import sentence_transformers
    except ImportError as exc:
        raise ModelError(
            f"the sentence-transformers backend needs its library ({exc}); "
            f"install it with `pip install 'offmem[local]'` or set embedder.backend = \"none\""
        ) from exc
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:
        pass
    return sentence_transformers


def load_model(path: Path | str):
    """The SentenceTransformer at ``path``, loaded on first request, then shared."""
    key = str(Path(path).resolve())
    with _LOAD_LOCK:
        model = _MODELS.get(key)
        if model is None:
            if not Path(key).is_dir():
                raise ModelError(f"no sentence-transformers model folder at {key}; run `offmem pull-models`")
            library = _import_library()
            try:
                model = library.SentenceTransformer(key, device="cpu", local_files_only=True)
            except Exception as exc:  # noqa: BLE001 - any failure means an unusable model folder
                raise ModelError(
                    f"cannot load the embedding model in {key}: {type(exc).__name__}: {exc}; "
                    f"reinstall it with `offmem pull-models --force`"
                ) from exc
            _MODELS[key] = model
        return model


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model in a local folder; vectors are L2-normalized."""

    backend = "sentence-transformers"

    def __init__(self, path: Path | str, *, model_id: str = "", batch_size: int = 32, dimension: int | None = None,
                 threads: int | None = 1) -> None:
        self.path = Path(path)
        self.model_id = model_id or self.path.name
        self.batch_size = max(1, int(batch_size))
        self.threads = threads
        self._dimension = dimension
        self._model = None
        self._encode_lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> None:
        if self._model is None:
            model = load_model(self.path)
            size = _model_dimension(model)
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
        with self._encode_lock, _threads(self.threads):
            vectors = self._model.encode(  # type: ignore[union-attr]
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)


@contextmanager
def _threads(count: int | None):
    """Run torch on ``count`` intra-op threads for the block (None or 0: torch's default)."""
    if not count:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _model_dimension(model) -> int:
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(getter())
