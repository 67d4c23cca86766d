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
from contextlib import contextmanager
from pathlib import Path

from offmem.embed.base import FolderEmbedder, ModelCache
from offmem.errors import ModelError

_MODELS = ModelCache()


def _import_library():
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import sentence_transformers
    except ImportError as exc:
        raise ModelError(
            f"the sentence-transformers backend needs its library ({exc}); "
            f"install it with `pip install 'offmem[sentence-transformers]'` or set embedder.backend = \"none\""
        ) from exc
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:
        pass
    return sentence_transformers


def _open(folder: str):
    library = _import_library()
    return library.SentenceTransformer(folder, device="cpu", local_files_only=True)


def load_model(path: Path | str):
    """The SentenceTransformer at ``path``, loaded on first request, then shared."""
    return _MODELS.get(path, _open)


class SentenceTransformerEmbedder(FolderEmbedder):
    """A sentence-transformers model in a local folder; vectors are L2-normalized."""

    backend = "sentence-transformers"

    def _open(self) -> tuple[object, int]:
        model = load_model(self.path)
        return model, _model_dimension(model)

    def _encode(self, model, texts: list[str]):
        with _threads(self.threads):
            return model.encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )


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
