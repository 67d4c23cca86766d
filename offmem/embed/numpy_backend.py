"""The numpy backend: a sentence-transformers BERT model run without PyTorch.

Small sentence-transformers models such as all-MiniLM-L6-v2 are a BERT encoder,
mean (or CLS) pooling and a normalization: a few matrix products per layer. This
backend reads the same model folder as the sentence-transformers backend
(``model.safetensors``, ``config.json``, ``tokenizer.json``, ``modules.json``)
and computes the same forward pass with numpy and the ``tokenizers`` library, so
the worker holds neither torch nor transformers: about 150 MB resident instead of
about 550, and a 0.3 s load instead of a 5 s import. Its vectors are the library's
to float32 rounding (cosine >= 0.99999, checked by the tests against the real
sentence-transformers), so both backends share one model id and one index.

Only what this file implements is accepted: a ``bert`` encoder with absolute
positions and GELU, a Transformer module followed by one Pooling module (mean or
CLS) and optionally Normalize. :func:`supports` says why any other folder is
refused; the ``auto`` embedder backend then uses sentence-transformers instead.

Batches are formed by length (sorted, then cut at a padded-token budget), which
bounds the memory of the attention scores and wastes little work on padding.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from offmem.embed.base import FolderEmbedder, ModelCache
from offmem.errors import ModelError

# Padded tokens per forward pass. Attention scores take heads * tokens * longest * 4
# bytes: 12 * 2048 * 256 * 4 = 25 MB for MiniLM at its longest input.
TOKENS_PER_PASS = 2048

_POOLING = "sentence_transformers.models.Pooling"
_TRANSFORMER = "sentence_transformers.models.Transformer"
_NORMALIZE = "sentence_transformers.models.Normalize"

_MODELS = ModelCache()


def _read_json(path: Path) -> dict | list:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


@dataclass(frozen=True)
class Layout:
    """What a model folder says about the pipeline it was trained with."""

    config: dict
    pooling: str  # "mean" | "cls"
    max_length: int
    weights: Path
    tokenizer: Path


def inspect_folder(folder: Path | str) -> Layout:
    """Read a sentence-transformers folder; raise ModelError when this backend cannot run it."""
    folder = Path(folder)
    try:
        modules = _read_json(folder / "modules.json")
        config = _read_json(folder / "config.json")
    except (OSError, ValueError) as exc:
        raise ModelError(f"{folder} is not a readable sentence-transformers folder: {exc}") from exc
    types = [m.get("type") for m in modules] if isinstance(modules, list) else []
    if types[:2] != [_TRANSFORMER, _POOLING] or any(t != _NORMALIZE for t in types[2:]):
        raise ModelError(f"the numpy backend runs Transformer + Pooling (+ Normalize) models; {folder} has {types}")
    if not isinstance(config, dict) or config.get("model_type") != "bert":
        raise ModelError(f"the numpy backend runs BERT encoders; {folder} holds {config.get('model_type')!r}")
    if config.get("hidden_act") != "gelu" or config.get("position_embedding_type", "absolute") != "absolute":
        raise ModelError(f"the numpy backend needs GELU and absolute positions; {folder}/config.json differs")
    pooling_dir = next(m.get("path", "") for m in modules if m.get("type") == _POOLING)
    try:
        pooling = _read_json(folder / pooling_dir / "config.json")
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read the pooling config in {folder / pooling_dir}: {exc}") from exc
    modes = [k for k, v in pooling.items() if k.startswith("pooling_mode") and v]
    if modes == ["pooling_mode_mean_tokens"]:
        mode = "mean"
    elif modes == ["pooling_mode_cls_token"]:
        mode = "cls"
    else:
        raise ModelError(f"the numpy backend does mean or CLS pooling; {folder} asks for {modes}")
    max_length = int(config.get("max_position_embeddings", 512))
    try:
        st_config = _read_json(folder / "sentence_bert_config.json")
        max_length = min(max_length, int(st_config.get("max_seq_length") or max_length))
    except (OSError, ValueError):
        pass
    weights, tokenizer = folder / "model.safetensors", folder / "tokenizer.json"
    for needed in (weights, tokenizer):
        if not needed.is_file():
            raise ModelError(f"the numpy backend needs {needed.name} in {folder}")
    return Layout(config, mode, max_length, weights, tokenizer)


def supports(folder: Path | str) -> str | None:
    """None when the numpy backend can run the model in ``folder``, else the reason it cannot."""
    try:
        inspect_folder(folder)
    except ModelError as exc:
        return str(exc)
    return None


_ERF_P = 0.3275911
_ERF_A = (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)  # a5 .. a1
_GELU_ROWS = 64  # rows per step: 64 x 1536 floats stay in a core's L2 cache


def _gelu_rows(x):
    """Exact GELU, 0.5 * x * (1 + erf(x / sqrt 2)), of a small block, in float32.

    erf comes from Abramowitz and Stegun 7.1.26 (absolute error under 1.5e-7), so
    scipy is not needed: for z >= 0, erf(z) = 1 - poly(t) * exp(-z^2) with
    t = 1 / (1 + p z), and erf is odd, so 1 + erf(z) is 2 - q for z >= 0 and q below.
    """
    import numpy as np

    z = np.abs(x)
    z *= np.float32(1.0 / math.sqrt(2.0))
    t = z * np.float32(_ERF_P)
    t += np.float32(1.0)
    np.reciprocal(t, out=t)
    q = t * np.float32(_ERF_A[0])
    for coefficient in _ERF_A[1:]:
        q += np.float32(coefficient)
        q *= t
    z *= z
    np.negative(z, out=z)
    np.exp(z, out=z)
    q *= z  # q = 1 - erf(|x| / sqrt 2)
    out = np.where(x >= 0, np.float32(2.0) - q, q)
    out *= x
    out *= np.float32(0.5)
    return out


def _gelu(x):
    """GELU of ``x`` (last axis kept), a cache-sized block of rows at a time: twice as fast as whole."""
    import numpy as np

    rows = x.reshape(-1, x.shape[-1])
    out = np.empty_like(rows)
    for start in range(0, rows.shape[0], _GELU_ROWS):
        out[start:start + _GELU_ROWS] = _gelu_rows(rows[start:start + _GELU_ROWS])
    return out.reshape(x.shape)


_QKV = ("query", "key", "value")


@dataclass
class _Layer:
    """One encoder layer's weights, transposed for ``x @ w``; query, key and value fused."""

    qkv: object
    qkv_bias: object
    out: object
    out_bias: object
    norm1: tuple
    up: object
    up_bias: object
    down: object
    down_bias: object
    norm2: tuple


class BertModel:
    """Weights laid out for the forward pass, the tokenizer, and the pooling mode."""

    def __init__(self, folder: Path | str) -> None:
        import numpy as np
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        layout = inspect_folder(folder)
        config = layout.config
        self.hidden = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.pooling = layout.pooling
        self.max_length = layout.max_length

        tensors = load_file(str(layout.weights))
        prefix = "bert." if any(k.startswith("bert.") for k in tensors) else ""

        def take(name: str):
            array = tensors.pop(prefix + name, None)
            if array is None:
                raise ModelError(f"{layout.weights} has no tensor {prefix + name}")
            return np.ascontiguousarray(array, dtype=np.float32)

        self.word = take("embeddings.word_embeddings.weight")
        self.position = take("embeddings.position_embeddings.weight")
        self.token_type = take("embeddings.token_type_embeddings.weight")[0]
        self.embed_norm = (take("embeddings.LayerNorm.weight"), take("embeddings.LayerNorm.bias"))
        self.layers = [
            _Layer(
                qkv=np.ascontiguousarray(np.concatenate([take(f"{p}attention.self.{n}.weight") for n in _QKV]).T),
                qkv_bias=np.concatenate([take(f"{p}attention.self.{n}.bias") for n in _QKV]),
                out=np.ascontiguousarray(take(f"{p}attention.output.dense.weight").T),
                out_bias=take(f"{p}attention.output.dense.bias"),
                norm1=(take(f"{p}attention.output.LayerNorm.weight"), take(f"{p}attention.output.LayerNorm.bias")),
                up=np.ascontiguousarray(take(f"{p}intermediate.dense.weight").T),
                up_bias=take(f"{p}intermediate.dense.bias"),
                down=np.ascontiguousarray(take(f"{p}output.dense.weight").T),
                down_bias=take(f"{p}output.dense.bias"),
                norm2=(take(f"{p}output.LayerNorm.weight"), take(f"{p}output.LayerNorm.bias")),
            )
            for p in (f"encoder.layer.{i}." for i in range(int(config["num_hidden_layers"])))
        ]
        tensors.clear()  # the pooler and any other unused tensors

        try:
            self.tokenizer = Tokenizer.from_file(str(layout.tokenizer))
        except Exception as exc:  # noqa: BLE001 - the tokenizers library raises its own exception types
            raise ModelError(f"cannot read {layout.tokenizer}: {exc}") from exc
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=self.max_length)

    # ------------------------------------------------------------------ forward pass

    def _layer_norm(self, x, params):
        import numpy as np

        weight, bias = params
        mean = x.mean(-1, keepdims=True)
        x = x - mean
        var = np.mean(x * x, axis=-1, keepdims=True)
        x *= 1.0 / np.sqrt(var + np.float32(self.eps))
        x *= weight
        x += bias
        return x

    def forward(self, ids, mask):
        """Sentence vectors (not normalized) for token ids ``(batch, length)`` and their 0/1 mask."""
        import numpy as np

        batch, length = ids.shape
        heads, size = self.heads, self.hidden // self.heads
        x = self.word[ids]
        x += self.position[:length]
        x += self.token_type
        x = self._layer_norm(x, self.embed_norm)
        # Padding gets a large negative score so softmax gives it no weight.
        padding = ((mask - 1.0) * np.float32(1e9))[:, None, None, :]
        scale = np.float32(1.0 / math.sqrt(size))
        for layer in self.layers:
            qkv = x @ layer.qkv
            qkv += layer.qkv_bias
            qkv = qkv.reshape(batch, length, 3, heads, size).transpose(2, 0, 3, 1, 4)
            query, key, value = qkv[0], qkv[1], qkv[2]
            scores = query @ key.transpose(0, 1, 3, 2)
            scores *= scale
            scores += padding
            scores -= scores.max(-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ value).transpose(0, 2, 1, 3).reshape(batch, length, self.hidden)
            attended = context @ layer.out
            attended += layer.out_bias
            attended += x
            x = self._layer_norm(attended, layer.norm1)
            inner = x @ layer.up
            inner += layer.up_bias
            inner = _gelu(inner)
            out = inner @ layer.down
            out += layer.down_bias
            out += x
            x = self._layer_norm(out, layer.norm2)
        if self.pooling == "cls":
            return x[:, 0]
        weights = mask[:, :, None]
        return (x * weights).sum(1) / np.maximum(weights.sum(1), np.float32(1e-9))

    def encode(self, texts: Sequence[str]):
        """Unit-length float32 vectors, one row per text, in the order given."""
        import numpy as np

        encodings = self.tokenizer.encode_batch(list(texts))
        lengths = [len(e.ids) for e in encodings]
        out = np.empty((len(texts), self.hidden), dtype=np.float32)
        order = sorted(range(len(texts)), key=lengths.__getitem__)
        start = 0
        while start < len(order):
            # Grow the pass while its padded size (count * longest) stays in budget.
            end = start + 1
            while end < len(order) and (end - start + 1) * lengths[order[end]] <= TOKENS_PER_PASS:
                end += 1
            chunk = order[start:end]
            longest = lengths[chunk[-1]]
            ids = np.zeros((len(chunk), longest), dtype=np.int64)
            mask = np.zeros((len(chunk), longest), dtype=np.float32)
            for row, index in enumerate(chunk):
                tokens = encodings[index].ids
                ids[row, :len(tokens)] = tokens
                mask[row, :len(tokens)] = 1.0
            out[chunk] = self.forward(ids, mask)
            start = end
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out /= np.maximum(norms, np.float32(1e-12))
        return out


def _open(folder: str) -> BertModel:
    try:
        return BertModel(folder)
    except ImportError as exc:
        raise ModelError(
            f"the numpy embedder backend needs numpy, safetensors and tokenizers ({exc}); "
            f"install them with `pip install 'offmem[local]'`"
        ) from exc


def load_model(folder: Path | str) -> BertModel:
    """The model in ``folder``, loaded on first request, then shared within the process."""
    return _MODELS.get(folder, _open)


class _BlasThreads:
    """Limit numpy's BLAS to ``count`` threads for a block (None or 0: leave it alone)."""

    _controller = None

    def __init__(self, count: int | None) -> None:
        self.count = count
        self._limit = None

    def __enter__(self):
        if self.count:
            try:
                from threadpoolctl import ThreadpoolController
            except ImportError:
                return self
            if _BlasThreads._controller is None:
                _BlasThreads._controller = ThreadpoolController()
            self._limit = _BlasThreads._controller.limit(limits=self.count, user_api="blas")
        return self

    def __exit__(self, *exc) -> None:
        if self._limit is not None:
            self._limit.restore_original_limits()


class NumpyEmbedder(FolderEmbedder):
    """A sentence-transformers BERT model folder, run with numpy; vectors are L2-normalized."""

    backend = "numpy"

    def _open(self) -> tuple[BertModel, int]:
        model = load_model(self.path)
        return model, model.hidden

    def _encode(self, model: BertModel, texts: list[str]):
        with _BlasThreads(self.threads):
            return model.encode(texts)
