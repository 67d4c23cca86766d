"""Prompt-time injection, hook side: ask the warm worker, within a hard time box.

Runs inside the UserPromptSubmit hook (``python -S``: standard library only, and
only its cheap parts). It never waits for anything slow: when the prompt is not
substantive, the worker is not running, or the answer does not arrive within
``context.prompt_timeout_ms`` (default 300 ms, counted from the call), it
returns None and the prompt goes on without memory.

The HTTP exchange is written on ``_socket`` directly: ``urllib.request`` costs
about 35 ms to import on this class of machine (it pulls in ``ssl`` and
``email``), ``socket`` about 11 ms, ``_socket`` under one. The worker speaks
HTTP/1.1 on 127.0.0.1 and answers with a ``Content-Length``.

What the worker returned is recorded in the session's ``injected:<session_id>``
meta entry only after it arrived in time, so a late answer never hides a
memory from a later prompt.
"""

import os
import time

from offmem.lean import fastjson
from offmem.lean.home import data_home
from offmem.lean.log import log
from offmem.lean.settings import DEFAULTS, context_settings
from offmem.store.light import connect_light
from offmem.store.meta import add_injected
from offmem.worker.launch import worker_running

DEFAULT_MIN_CHARS = DEFAULTS["context"]["prompt_min_chars"]
PATH = "/api/prompt-context"
_MAX_REPLY_BYTES = 1 << 20

# Prompts made of these words alone carry no topic to look up.
FILLER = frozenset(
    """ok okay yes yep no nope sure thanks thank you thx please go ahead continue proceed do it that this
    again retry next more done good great nice fine cool lgtm looks perfect right correct agreed and the a
    now then too also just keep going try one same""".split()
)


def _words(text: str) -> list[str]:
    cleaned = "".join(ch.lower() if ch.isalnum() else " " for ch in text)
    return cleaned.split()


def is_substantive(prompt: str, min_chars: int = DEFAULT_MIN_CHARS) -> bool:
    """Worth a memory lookup: long enough, not a command, with at least two topic words."""
    text = (prompt or "").strip()
    if len(text) < min_chars or text.startswith(("/", "!", "#")):
        return False
    topical = [w for w in _words(text) if len(w) >= 3 and w not in FILLER]
    return len(topical) >= 2


def worker_address(home: str) -> tuple[str, int] | None:
    """Host and port of the running worker, or None."""
    try:
        with open(os.path.join(home, "worker.json"), encoding="utf-8") as fh:
            state = fastjson.loads(fh.read())
        host, port = str(state.get("host") or "127.0.0.1"), int(state["port"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return (host, port) if worker_running(home) else None


def _http_request(address: tuple[str, int], path: str, body: bytes, token: str = "") -> bytes:
    token = token if token.isascii() and token.isprintable() else ""  # one header line, never more
    return (
        f"POST {path} HTTP/1.1\r\nHost: {address[0]}:{address[1]}\r\nContent-Type: application/json\r\n"
        f"X-Offmem-Token: {token}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode("ascii") + body


class NoAnswer(Exception):
    """The worker gave no usable answer in time; the message says why."""


def _parse_reply(raw: bytes) -> dict:
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise NoAnswer(f"incomplete HTTP reply ({len(raw)} bytes)")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or parts[1] != "200":
        raise NoAnswer(f"worker answered {lines[0]!r}: {body[:200].decode('utf-8', 'replace')}")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = headers.get("content-length", "")
    if not length.isdigit() or len(body) < int(length):
        raise NoAnswer("reply without a complete Content-Length body")
    reply = fastjson.loads(body[: int(length)].decode("utf-8"))
    if not isinstance(reply, dict):
        raise NoAnswer("reply is not a JSON object")
    return reply


def post_json(address: tuple[str, int], path: str, payload: dict, deadline: float, token: str = "") -> dict:
    """POST ``payload`` (with the install's ``token``: the worker serves memory to no one else) and
    return the JSON reply; raises NoAnswer on any failure or past ``deadline``."""
    import _socket

    sock = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    try:
        chunks: list[bytes] = []
        received = 0
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        sock.connect(address)
        sock.sendall(_http_request(address, path, fastjson.dumps(payload).encode("utf-8"), token))
        while received < _MAX_REPLY_BYTES:
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


def record_injected(home: str, session_id: str, ids: list[int], timeout_s: float = 2.0) -> None:
    """Add ``ids`` to what session ``session_id`` was given."""
    conn = connect_light(home, timeout_s)
    try:
        add_injected(conn, session_id, ids)
    finally:
        conn.close()


def prompt_time_context(project: str, session_id: str, prompt: str) -> str | None:
    """The memories the warm worker finds for ``prompt`` in time, else None."""
    started = time.monotonic()
    home = data_home()
    cfg = context_settings(home)
    timeout_ms, min_chars = cfg["prompt_timeout_ms"], cfg["prompt_min_chars"]
    if timeout_ms <= 0 or not is_substantive(prompt, min_chars):
        return None
    deadline = started + timeout_ms / 1000.0
    address = worker_address(home)
    if address is None:
        return None
    payload = {"project": project, "session_id": session_id, "prompt": prompt, "timeout_ms": timeout_ms}
    try:
        from offmem.web.token_file import read_token

        reply = post_json(address, PATH, payload, deadline, read_token(home))
    except NoAnswer as exc:
        log(home, f"no prompt-time memory (time box {timeout_ms} ms): {exc}")
        return None
    if not reply.get("text"):
        return None
    ids = [int(i) for i in reply.get("observation_ids") or []]
    if ids and session_id:
        try:
            record_injected(home, session_id, ids)
        except Exception as exc:  # noqa: BLE001 - the memories still reach the prompt
            log(home, f"could not record prompt-time memories for {session_id}: {type(exc).__name__}: {exc}")
    return str(reply["text"])
