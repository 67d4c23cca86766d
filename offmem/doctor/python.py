"""Checks: the Python interpreter, and the packages the configured backends need."""

from __future__ import annotations

import importlib.util
import sys

from offmem.config import Settings
from offmem.doctor.base import FAIL, OK, Check, Context, pip, py

MIN_PYTHON = (3, 10)


def check_python(ctx: Context) -> list[Check]:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info[:2] < MIN_PYTHON:
        return [Check("python", FAIL, f"Python {version} at {sys.executable}; offmem needs 3.10 or newer",
                      "install Python 3.10+ and run `PYTHON=python3.11 scripts/setup.sh`")]
    return [Check("python", OK, f"Python {version} at {sys.executable}")]


def _needed_packages(settings: Settings) -> dict[str, str]:
    """Importable module -> the requirement that provides it, for the configured backends."""
    needed = {"huggingface_hub": "offmem[local]", "mcp": "offmem[local]",
              "fastapi": "offmem[local]", "uvicorn": "offmem[local]"}
    embedder = settings.embedder.backend
    if embedder != "none":
        needed["chromadb"] = "offmem[local]"
    if embedder in ("auto", "numpy"):
        needed.update({"numpy": "offmem[local]", "safetensors": "offmem[local]", "tokenizers": "offmem[local]"})
    elif embedder == "sentence-transformers":
        needed["sentence_transformers"] = "offmem[sentence-transformers]"  # pulls PyTorch: an extra
    backend = settings.summarizer.backend
    if backend == "claude":
        needed["anthropic"] = "offmem[claude]"
    elif backend == "openai":
        needed["httpx"] = "offmem[local]"
    return needed


def check_packages(ctx: Context) -> list[Check]:
    needed = _needed_packages(ctx.settings)
    missing = [module for module in needed if importlib.util.find_spec(module) is None]
    if not missing:
        return [Check("python packages", OK, f"{len(needed)} packages importable: {', '.join(needed)}")]
    extras = sorted({needed[m] for m in missing})
    fix = " && ".join(pip(e) for e in extras)
    if "sentence_transformers" in missing and importlib.util.find_spec("torch") is None:
        cpu = f"{py()} -m pip install torch --index-url https://download.pytorch.org/whl/cpu"
        fix = f"{cpu} && {fix}"  # the CPU wheel first, or pip pulls gigabytes of CUDA packages
    return [Check("python packages", FAIL, f"not importable: {', '.join(missing)}", fix)]