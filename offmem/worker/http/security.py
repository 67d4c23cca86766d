"""What keeps other web pages, other hosts' names and other users out of the worker's HTTP server.

Installed by the app factory (:func:`offmem.worker.http.app.create_app`) around the whole
app, so no route can be served without them. A browser will happily send requests
to ``127.0.0.1`` on behalf of any site the user visits, and any local user can
connect to a loopback port, so:

1. :class:`HostOriginGuard` (outermost) refuses a ``Host`` header that is not
   ``127.0.0.1:<port>`` or ``localhost:<port>`` (DNS rebinding: ``evil.example``
   resolving to 127.0.0.1) with 400, and an ``Origin`` header from any other origin
   (cross-site ``fetch`` or form posts) with 403.
2. :class:`TokenGuard` refuses (403) every request but the few public paths
   (:data:`PUBLIC_PATHS`: health, sign-in, static assets) that does not carry the
   per-install token (``X-Offmem-Token``, compared in constant time; the CLI, the MCP
   server and the hook send it) or the browser's session cookie. The token lives in
   ``<data dir>/ui-token`` (mode 0600, :mod:`offmem.worker.token_file`).
3. The browser signs in with a one-time link ``offmem ui`` prints or opens
   (``/login?code=...``, valid :data:`LOGIN_CODE_TTL_S`, single use, issued only to a
   holder of the token). It sets an ``HttpOnly``, ``SameSite=Strict`` cookie. Cookies
   are not bound to a port, so a cookie is refused when the request comes from another
   site or another port (``Sec-Fetch-Site``) and, on Linux, when the connection
   belongs to another user (:func:`peer_uid`, from ``/proc/net/tcp``).
4. Mutating endpoints also depend on :func:`token_checker`: the token header itself,
   not the cookie, which the UI's script sends from the page.
5. :data:`SECURITY_HEADERS` on every response: a strict Content-Security-Policy
   (own scripts and styles only, no framing) and no referrer.
"""

from __future__ import annotations

import hmac
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from offmem.worker.token_file import TOKEN_FILE, TOKEN_HEADER, load_or_create_token, read_token, token_matches

__all__ = ["TOKEN_FILE", "TOKEN_HEADER", "load_or_create_token", "read_token", "token_matches"]

LOOPBACK_NAMES = ("127.0.0.1", "localhost")
# Paths served without the token: nothing there shows or changes memory.
PUBLIC_PATHS = frozenset({"/api/health", "/login"})
PUBLIC_PREFIXES = ("/static/",)
LOGIN_PATH = "/login"
LOGIN_CODE_TTL_S = 300.0
COOKIE_PREFIX = "offmem_ui_"

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


def token_checker(expected: str) -> Callable:
    """A FastAPI dependency that refuses (403) requests without the install's token."""
    from fastapi import Header, HTTPException

    def require_token(x_offmem_token: str | None = Header(default=None)) -> None:
        if not token_matches(x_offmem_token, expected):
            raise HTTPException(
                status_code=403,
                detail=f"this action needs the {TOKEN_HEADER} header the offmem UI sends; "
                f"open the UI with `offmem ui` (the token is in {TOKEN_FILE} in the data directory)",
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
        port = server_port(scope)
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


# ---------------------------------------------------------------------- the token on every route


def install_guards(app, token: str, extra_hosts: tuple[str, ...] = ()) -> None:
    """Put the token guard and, around it, the Host/Origin guard in front of the whole app,
    and add the browser's sign-in routes. The app factory calls this: every route, whichever
    module adds it and whenever, is behind both guards."""
    app.add_middleware(TokenGuard, token=token)
    app.add_middleware(HostOriginGuard, extra_hosts=extra_hosts)  # added last: runs first
    add_login_routes(app, token)


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def server_port(scope: Scope) -> int:
    return int((scope.get("server") or ("", 0))[1] or 0)


def cookie_name(port: int) -> str:
    """Cookies are shared by every port of a host: the name carries the worker's port."""
    return f"{COOKIE_PREFIX}{port}"


def cookie_value(token: str) -> str:
    """What the browser holds: derived from the token, not the token itself."""
    return hmac.new(token.encode("utf-8"), b"offmem ui session", "sha256").hexdigest()


def _cookie(scope: Scope, name: str) -> str | None:
    raw = _header(scope, b"cookie")
    if not raw:
        return None
    for part in raw.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value
    return None


def _proc_address(host: str, port: int) -> str:
    """``127.0.0.1``, 8000 → ``0100007F:1F40``, as /proc/net/tcp prints it (host byte order)."""
    import socket

    return "%08X:%04X" % (int.from_bytes(socket.inet_aton(host), sys.byteorder), int(port))


def peer_uid(scope: Scope, table: str = "/proc/net/tcp") -> int | None:
    """The uid owning the client end of this loopback TCP connection; None when unknown
    (not Linux, not a TCP connection, or not found)."""
    client, server = scope.get("client"), scope.get("server")
    try:
        local, remote = _proc_address(*client), _proc_address(*server)
    except (OSError, TypeError, ValueError):
        return None
    try:
        with open(table, encoding="ascii") as fh:
            next(fh, None)
            for line in fh:
                fields = line.split()
                if len(fields) > 7 and fields[1] == local and fields[2] == remote:
                    return int(fields[7])
    except (OSError, ValueError):
        return None
    return None


def same_user(scope: Scope) -> bool:
    """False only when the connection provably belongs to another (non-root) user."""
    uid = peer_uid(scope)
    return uid is None or uid in (os.geteuid(), 0)


class TokenGuard:
    """Refuse (403) every non-public request without the install's token or session cookie."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token
        self.session = cookie_value(token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or is_public(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        reason = self.refusal(scope)
        if reason is None:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope.get("path", "").startswith("/api/"):
            response = JSONResponse({"detail": reason}, status_code=403)
        else:
            response = PlainTextResponse(reason, status_code=403)
        await response(scope, receive, send)

    def refusal(self, scope: Scope) -> str | None:
        """None when the request may go on, else why not."""
        if token_matches(_header(scope, b"x-offmem-token"), self.token):
            return None
        if not token_matches(_cookie(scope, cookie_name(server_port(scope))), self.session):
            return (f"refused: offmem's memory needs the {TOKEN_HEADER} header (offmem's own clients send it) "
                    f"or a browser signed in with `offmem ui`, which opens a one-time sign-in link")
        if (_header(scope, b"sec-fetch-site") or "same-origin") not in ("same-origin", "none"):
            return "refused: the offmem UI's cookie is not accepted from another site or port"
        if not same_user(scope):
            return "refused: this connection belongs to another user"
        return None


# ---------------------------------------------------------------------- the browser's sign-in


class LoginCodes:
    """One-time sign-in codes: issued to a holder of the token, valid ``ttl_s``, used once."""

    def __init__(self, ttl_s: float = LOGIN_CODE_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._codes: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self) -> str:
        code = secrets.token_urlsafe(24)
        with self._lock:
            now = time.monotonic()
            self._codes = {c: t for c, t in self._codes.items() if t > now}
            self._codes[code] = now + self.ttl_s
        return code

    def redeem(self, code: str) -> bool:
        if not code:
            return False
        with self._lock:
            expires = self._codes.pop(code, None)
        return expires is not None and expires > time.monotonic()


def add_login_routes(app, token: str) -> LoginCodes:
    """``POST /api/ui/login-code`` (token header) → a one-time ``/login?code=`` link that
    sets the session cookie and sends the browser to the live view."""
    from fastapi import Depends

    codes = LoginCodes()
    app.state.login_codes = codes
    session = cookie_value(token)

    @app.post("/api/ui/login-code", include_in_schema=False, dependencies=[Depends(token_checker(token))])
    def login_code() -> dict:
        code = codes.issue()
        return {"path": f"{LOGIN_PATH}?code={code}", "expires_in_s": codes.ttl_s}

    @app.get(LOGIN_PATH, include_in_schema=False)
    def login(request: Request, code: str = ""):
        if not same_user(request.scope):  # checked first: a refused attempt leaves the code to its owner
            return PlainTextResponse("refused: this connection belongs to another user", status_code=403)
        if not codes.redeem(code):
            return PlainTextResponse("This sign-in link was used already or has expired. "
                                     "Run `offmem ui` for a new one.", status_code=403)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(cookie_name(server_port(request.scope)), session, httponly=True, samesite="strict",
                            path="/")
        return response

    return codes
