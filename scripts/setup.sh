#!/usr/bin/env bash
# The main job on a fresh machine, from a clone: install offmem into ./.venv, then
# `offmem setup` (default models, Claude Code hooks and MCP server, worker, doctor).
#
#   scripts/setup.sh                 # user scope: ~/.claude/settings.json
#   OFFMEM_SCOPE=project scripts/setup.sh
#   PYTHON=python3.13 scripts/setup.sh   # any Python from 3.10 to 3.13
#
# The default install needs no PyTorch (the embedder runs on numpy); for the
# sentence-transformers runtime, install the CPU wheel of torch first, then
# `pip install -e '.[sentence-transformers]'`.
. "$(dirname "$0")/_env.sh"

ensure_venv
ensure_offmem ""
offmem setup --scope "${OFFMEM_SCOPE:-user}"
log "done. offmem is at $VENV/bin/offmem; add $VENV/bin to PATH to use it directly."
