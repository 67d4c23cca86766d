"""The per-install token: ``<data dir>/ui-token`` (0600), and the header that carries it.

Every offmem client of the worker's HTTP API (CLI, MCP server, the hook's prompt-time
lookup) sends it as ``X-Offmem-Token``; the browser gets a cookie derived from it
through a one-time sign-in link (:mod:`offmem.web.security`). Standard library only
and cheap to import: the hook reads the token on the prompt path.
"""

import os

TOKEN_FILE = "ui-token"
TOKEN_HEADER = "X-Offmem-Token"


def read_token(home) -> str:
    """The install's token, or "" when there is none yet (a client never creates it)."""
    try:
        with open(os.path.join(os.fspath(home), TOKEN_FILE), encoding="ascii") as fh:
            return fh.read().strip()
    except (OSError, ValueError):
        return ""


def load_or_create_token(home) -> str:
    """The per-install token, created (0600, atomically) on first use."""
    token = read_token(home)
    if token:
        return token
    import secrets

    token = secrets.token_urlsafe(32)
    try:
        return _persist_token(os.path.join(os.fspath(home), TOKEN_FILE), token)
    except OSError:
        # a full or read-only data directory must not stop the worker: this token
        # lives as long as the process (the UI page carries it), a new one next start
        return token


def _persist_token(path: str, token: str) -> str:
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = os.path.join(os.path.dirname(path), f".{TOKEN_FILE}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(token + "\n")
    try:
        os.link(tmp, path)  # fails if another process created it first: theirs wins
    except FileExistsError:
        with open(path, encoding="ascii") as fh:
            token = fh.read().strip()
    finally:
        os.unlink(tmp)
    return token


def token_matches(given, expected: str) -> bool:
    """Constant-time comparison; an empty token never matches."""
    if not given or not expected:
        return False
    import hmac

    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8"))
