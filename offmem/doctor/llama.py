"""Check: llama.cpp imports (in a child process: a build for another CPU dies there) and is fast here."""

from __future__ import annotations

import json
import subprocess
import sys

from offmem.doctor.base import FAIL, OK, WARN, Check, Context, py

MIN_LLAMA_CPP = (0, 3, 36)
# CPU features that make llama.cpp fast; one of them should be on.
FAST_CPU_FEATURES = ("AVX2", "AVX512", "NEON", "ARM_FMA")


_LLAMA_PROBE = (
    "import json, llama_cpp\n"
    "info = llama_cpp.llama_print_system_info()\n"
    "print(json.dumps({'version': llama_cpp.__version__,"
    " 'info': info.decode('utf-8', 'replace') if isinstance(info, bytes) else str(info),"
    " 'gpu': bool(llama_cpp.llama_supports_gpu_offload())}))\n"
)
LLAMA_INSTALL = ('CMAKE_ARGS="{cmake}" {py} -m pip install --force-reinstall --no-cache-dir '
                 '"llama-cpp-python[server]>=0.3.36"')


def probe_llama_cpp(timeout: float = 60.0) -> dict:
    """Import llama_cpp in a child process; ``{"error": ...}`` when that fails or crashes."""
    from offmem.worker.launch import python_flags

    try:  # isolated, and not in the project: its llama_cpp.py or json.py must not be what gets imported
        done = subprocess.run([sys.executable, *python_flags(), "-c", _LLAMA_PROBE], capture_output=True, text=True,
                              timeout=timeout, cwd="/")
    except subprocess.TimeoutExpired:
        return {"error": f"importing llama_cpp took over {timeout:.0f} s"}
    if done.returncode < 0:
        return {"error": f"importing llama_cpp crashed (signal {-done.returncode}); it was built for another CPU"}
    if done.returncode != 0:
        lines = (done.stderr or "").strip().splitlines()
        return {"error": lines[-1] if lines else f"exit status {done.returncode}"}
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": f"unexpected output: {done.stdout[:200]!r}"}


def cpu_features(info: str) -> list[str]:
    """Feature names switched on in llama_print_system_info(), e.g. ``AVX2 = 1``."""
    found = []
    for part in info.replace("\n", "|").split("|"):
        name, _, value = part.rpartition("=")
        name = name.split(":")[-1].strip()
        if name and value.strip() == "1":
            found.append(name)
    return found


def _version_tuple(text: str) -> tuple:
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def check_llama_cpp(ctx: Context) -> list[Check]:
    backend = ctx.settings.summarizer.backend
    used = backend == "llamacpp"
    probe = probe_llama_cpp()
    fix = LLAMA_INSTALL.format(cmake="-DLLAVA_BUILD=OFF", py=py())
    if "error" in probe:
        if not used:
            return [Check("llama.cpp", OK, f"not usable ({probe['error']}); not needed by summarizer backend {backend!r}")]
        return [Check("llama.cpp", FAIL, f"{probe['error']}; summaries fall back to rules", fix)]
    features = cpu_features(probe["info"])
    shown = [f for f in features if f in ("AVX", "AVX2", "FMA", "F16C", "AVX512", "NEON", "ARM_FMA", "OPENMP")]
    detail = f"llama-cpp-python {probe['version']}; CPU {', '.join(shown) or 'baseline'}"
    detail += "; GPU offload" if probe.get("gpu") else "; CPU only"
    if not used:
        return [Check("llama.cpp", OK, f"{detail} (not used: summarizer backend {backend!r})")]
    if _version_tuple(probe["version"]) < MIN_LLAMA_CPP:
        return [Check("llama.cpp", WARN, f"{detail}; offmem is tested with 0.3.36 or newer", fix)]
    if not probe.get("gpu") and not any(f in features for f in FAST_CPU_FEATURES):
        return [Check("llama.cpp", WARN, f"{detail}; built without AVX2/NEON, so summaries will be slow",
                      LLAMA_INSTALL.format(cmake="-DGGML_NATIVE=ON -DLLAVA_BUILD=OFF", py=py()))]
    return [Check("llama.cpp", OK, detail)]