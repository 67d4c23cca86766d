"""What keeps other web pages and other hosts' names out of the worker's HTTP server.

Three layers, all needed because a browser will happily send requests to
``127.0.0.1`` on behalf of any site the user visits:

1. :class:`HostOriginGuard` (ASGI middleware on the whole app, ``/api/*`` included)
   refuses a ``Host`` header that is not ``127.0.0.1:<port>`` or ``localhost:<port>``
   (DNS rebinding: ``evil.example`` resolving to 127.0.0.1) with 400, and an
   ``Origin`` header from any other origin (cross-site ``fetch`` or form posts)
   with 403.
2. Mutating endpoints depend on :func:`token_checker`: the request must carry the
   per-install token (``X-Offmem-Token``), compared in constant time. The token
   lives in ``<data dir>/ui-token`` (mode 0600) and is embedded in the pages the
   UI serves, which other origins cannot read.
3. :data:`SECURITY_HEADERS` on every response: a strict Content-Security-Policy
   (own scripts and styles only, no framing) and no referrer.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOKEN_FILE = "ui-token"
TOKEN_HEADER = "X-Offmem-Token"
LOOPBACK_NAMES = ("127.0.0.1", "localhost")

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-resource-policy": "same-origin",
}


def load_or_create_token(home: Path) -> str:
    """The per-install UI token, created (0600, atomically) on first use."""
    path = Path(home) / TOKEN_FILE
    try:
        token = path.read_text("ascii").strip()
    except FileNotFoundError:
        token = ""
    if token:
        return token
    token = secrets.token_urlsafe(32)
    try:
        return _persist_token(path, token)
    except OSError:
        # a full or read-only data directory must not stop the worker: this token
        # lives as long as the process (the UI page carries it), a new one next start
        return token


def _persist_token(path: Path, token: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{TOKEN_FILE}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(token + "\n")
    try:
        os.link(tmp, path)  # fails if another process created it first: theirs wins
    except FileExistsError:
        token = path.read_text("ascii").strip()
    finally:
        tmp.unlink()
    return token


def token_matches(given: str | None, expected: str) -> bool:
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8"))


def token_checker(expected: str) -> Callable:
    """A FastAPI dependency that refuses (403) requests without the install's token."""
    from fastapi import Header, HTTPException

    def require_token(x_offmem_token: str | None = Header(default=None)) -> None:
        if not token_matches(x_offmem_token, expected):
            raise HTTPException(
                status_code=403,
                detail=f"this action needs the {TOKEN_HEADER} header the offmem UI sends; "
                f"use the UI at http://127.0.0.1:<port>/ (the token is in {TOKEN_FILE} in the data directory)",
            )

    return require_token


def allowed_hosts(port: int, extra: tuple[str, ...] = ()) -> set[str]:
    names = {n.lower() for n in (*LOOPBACK_NAMES, *extra) if n}
    hosts = {f"{name}:{port}" for name in names}
    if port == 80:
        hosts |= names
    return hosts


def allowed_origins(port: int, extra: tuple[str, ...] = ()) -> set[str]:
    return {f"http://{host}" for host in allowed_hosts(port, extra)}


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


class HostOriginGuard:
    """Refuse foreign ``Host`` (400) and foreign ``Origin`` (403); add security headers."""

    def __init__(self, app: ASGIApp, extra_hosts: tuple[str, ...] = ()) -> None:
        self.app = app
        self.extra_hosts = extra_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        if refusal is not None:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, self._with_headers(send))

    def refusal(self, scope: Scope) -> PlainTextResponse | None:
        port = int((scope.get("server") or ("", 0))[1] or 0)
        host = (_header(scope, b"host") or "").lower()
        if host not in allowed_hosts(port, self.extra_hosts):
            return PlainTextResponse(
                f"refused: Host {host or '(none)'!r} is not this offmem worker; "
                f"open http://127.0.0.1:{port}/ instead",
                status_code=400,
            )
        origin = _header(scope, b"origin")
        if origin is not None and origin.lower() not in allowed_origins(port, self.extra_hosts):
            return PlainTextResponse(
                f"refused: requests from {origin!r} may not use the offmem worker", status_code=403
            )
        return None

    @staticmethod
    def _with_headers(send: Send) -> Send:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                for name, value in SECURITY_HEADERS.items():
                    if name.encode() not in present:
                        headers.append((name.encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        return send_with_headers
