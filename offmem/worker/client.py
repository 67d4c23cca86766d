"""The one client of the worker's HTTP API: standard library only, cheap to import.

Every offmem caller of the worker goes through here: the UserPromptSubmit hook's
prompt-time lookup (:func:`post_json`, time-boxed), and the library face
(:mod:`offmem.api`: search, context, reindex, status, the UI's sign-in link, worker
start) through :func:`call` and :func:`request_json`.

* The address is the running worker's own (``worker.json`` in the data directory,
  written by :mod:`offmem.worker.runner`), and only while it holds its lock.
* The HTTP exchange is written on ``_socket`` directly, to that loopback address:
  no proxy variable (``HTTP_PROXY``, ``ALL_PROXY``...) ever sees a query, a project
  path or the token, and nothing here costs an import on the hook's path
  (``urllib.request`` takes about 35 ms to import on this class of machine, as it
  pulls in ``ssl`` and ``email``; ``socket`` about 11 ms, ``_socket`` under one).
  The worker speaks HTTP/1.1 and answers with a ``Content-Length``.
* Every request carries the install's token (``X-Offmem-Token``,
  :mod:`offmem.worker.token_file`): the worker serves memory to no one else.
"""

import os
import time

from offmem.lean import fastjson
from offmem.worker.launch import STATE_NAME, worker_running
from offmem.worker.token_file import TOKEN_HEADER, read_token

HOOK_MAX_REPLY_BYTES = 1 << 20  # what the prompt hook reads at most (a context block is a few KiB)
MAX_REPLY_BYTES = 64 << 20  # what any other caller reads at most


class NoAnswer(Exception):
    """The worker gave no usable answer in time; the message says why."""


class Refused(NoAnswer):
    """The worker answered with an error status (``status``, the reply's ``text``)."""

    def __init__(self, status: int, status_line: str, text: str) -> None:
        super().__init__(f"worker answered {status_line!r}: {text[:200]}")
        self.status = status
        self.text = text


def read_state(home) -> dict | None:
    """The worker's ``worker.json`` (pid, host, port, started_at), or None."""
    try:
        with open(os.path.join(os.fspath(home), STATE_NAME), encoding="utf-8") as fh:
            state = fastjson.loads(fh.read())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return state if isinstance(state, dict) else None


def worker_address(home) -> tuple[str, int] | None:
    """Host and port of the running worker, or None."""
    state = read_state(home)
    try:
        host, port = str(state.get("host") or "127.0.0.1"), int(state["port"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return (host, port) if worker_running(os.fspath(home)) else None


def _http_request(address: tuple[str, int], method: str, path: str, body: bytes | None, token: str) -> bytes:
    token = token if token.isascii() and token.isprintable() else ""  # one header line, never more
    head = f"{method} {path} HTTP/1.1\r\nHost: {address[0]}:{address[1]}\r\n"
    if body is not None:
        head += "Content-Type: application/json\r\n"
    head += f"{TOKEN_HEADER}: {token}\r\nContent-Length: {len(body or b'')}\r\nConnection: close\r\n\r\n"
    return head.encode("ascii") + (body or b"")


def _parse_reply(raw: bytes) -> dict:
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise NoAnswer(f"incomplete HTTP reply ({len(raw)} bytes)")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = headers.get("content-length", "")
    if len(parts) < 2 or parts[1] != "200":
        status = int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else 0
        text = body[: int(length)] if length.isdigit() else body
        raise Refused(status, lines[0], text.decode("utf-8", "replace"))
    if not length.isdigit() or len(body) < int(length):
        raise NoAnswer("reply without a complete Content-Length body")
    reply = fastjson.loads(body[: int(length)].decode("utf-8"))
    if not isinstance(reply, dict):
        raise NoAnswer("reply is not a JSON object")
    return reply


def exchange(address: tuple[str, int], method: str, path: str, payload, deadline: float, token: str = "",
             max_bytes: int = MAX_REPLY_BYTES) -> dict:
    """One request (``payload`` as JSON unless None) and its JSON object reply, before ``deadline``
    (``time.monotonic()``); raises :class:`NoAnswer` (:class:`Refused` for an error status)."""
    import _socket

    body = fastjson.dumps(payload).encode("utf-8") if payload is not None else None
    sock = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    try:
        chunks: list[bytes] = []
        received = 0
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        sock.connect(address)
        sock.sendall(_http_request(address, method, path, body, token))
        while received < max_bytes:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("time box over")
            sock.settimeout(remaining)
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            received += len(chunk)
        return _parse_reply(b"".join(chunks))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise NoAnswer(f"{type(exc).__name__}: {exc}") from None
    finally:
        sock.close()


def post_json(address: tuple[str, int], path: str, payload: dict, deadline: float, token: str = "") -> dict:
    """POST ``payload`` with the install's ``token`` and return the JSON reply (the hook's call:
    at most :data:`HOOK_MAX_REPLY_BYTES`); raises NoAnswer on any failure or past ``deadline``."""
    return exchange(address, "POST", path, payload, deadline, token, HOOK_MAX_REPLY_BYTES)


def call(home, path: str, *, method: str = "GET", body=None, timeout: float = 2.0) -> dict:
    """Call the worker of data directory ``home`` with the install's token; raises NoAnswer when
    it does not run or gives no answer within ``timeout`` seconds, Refused for an error status."""
    started = time.monotonic()
    address = worker_address(home)
    if address is None:
        raise NoAnswer("the worker is not running")
    return exchange(address, method, path, body, started + timeout, read_token(home))


def request_json(settings, path: str, *, timeout: float = 2.0, method: str = "GET", body=None) -> dict | None:
    """:func:`call` for ``settings``' data directory; None instead of any failure."""
    try:
        return call(settings.home, path, method=method, body=body, timeout=timeout)
    except NoAnswer:
        return None
