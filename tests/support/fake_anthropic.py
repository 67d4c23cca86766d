"""A local, scripted server that speaks the Anthropic Messages API.

It stands in for the remote Anthropic API so that the real Claude Code CLI and
the real ``anthropic`` Python SDK can run offline against 127.0.0.1.

Protocol subset implemented
---------------------------
``POST /v1/messages`` (any query string, e.g. ``?beta=true``)
    * ``"stream": true``: a ``text/event-stream`` body with the events
      ``message_start``, ``ping``, then per content block ``content_block_start``,
      ``content_block_delta`` (``text_delta`` for text, ``input_json_delta`` for
      tool input, sent in a few chunks), ``content_block_stop``, then
      ``message_delta`` (``stop_reason`` ``tool_use`` or ``end_turn``, with
      ``usage.output_tokens``) and ``message_stop``. The body is sent with a
      ``Content-Length`` so connections can be kept alive.
    * otherwise one JSON ``message`` object (``id``, ``type``, ``role``,
      ``model``, ``content``, ``stop_reason``, ``stop_sequence``, ``usage``).
``POST /v1/messages/count_tokens``
    ``{"input_tokens": N}`` with N estimated as serialized-request-length / 4.
``GET /v1/models``, ``GET /v1/models/{id}``
    a one-model list / that model.
``HEAD`` or ``GET`` on ``/``
    200 with an empty body (connectivity probes).
anything else
    404 with an Anthropic-shaped error body; the path is kept in ``unknown_paths``.

Errors use the API's shape ``{"type": "error", "error": {"type", "message"}}``
plus a ``request-id`` header; ``x-should-retry: false`` is sent when a queued
error asks the client not to retry (the SDK honours that header).

Scripted behaviour
------------------
* **Agent turns.** A request that carries ``tools`` belongs to the main agent
  loop. Its answer is ``script[k]`` where ``k`` is the number of assistant
  messages already in the request's ``messages``; so a retried request gets the
  same answer, and each new conversation starts at turn 0. A turn is either a
  ``str`` (final text, ``stop_reason: end_turn``) or a list of :class:`ToolCall`
  (``stop_reason: tool_use``); such a list may also hold ``str`` items, sent as
  text blocks in their place (the agent explaining itself before a tool call). Past the end of the script the answer is
  ``done_text``. Call :meth:`FakeAnthropic.set_script` before each ``claude -p``
  run; it also starts a new *run* number that recorded requests are tagged with.
* **Side requests.** A request without ``tools`` (titles, summaries, quota
  probes, an SDK ``messages.create``) takes the next reply queued with
  :meth:`FakeAnthropic.push_text` or :meth:`FakeAnthropic.push_error`, else gets
  ``side_text``.
* **Outage.** :meth:`FakeAnthropic.fail_all` makes every Messages request fail
  with one HTTP status until it is called with ``None``.

Every request is recorded (:class:`RecordedRequest`: method, path, query,
headers, parsed JSON body, run number).
"""

from __future__ import annotations

import json
import math
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Union
from urllib.parse import urlsplit

DEFAULT_SIDE_TEXT = "Fixing a test"
DEFAULT_DONE_TEXT = "Done."
MODEL_ID = "claude-fake-1"


@dataclass(frozen=True)
class ToolCall:
    """One ``tool_use`` block the fake model emits."""

    name: str
    input: dict[str, Any]


Turn = Union[str, list[Union[ToolCall, str]]]


@dataclass(frozen=True)
class Reply:
    """A queued answer for a side request: text, or an HTTP error."""

    text: str = ""
    status: int = 200
    error_type: str = "api_error"
    should_retry: bool = True


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any
    run: int

    @property
    def has_tools(self) -> bool:
        return isinstance(self.body, dict) and bool(self.body.get("tools"))

    @property
    def is_messages(self) -> bool:
        return self.method == "POST" and self.path == "/v1/messages"

    def dumps(self) -> str:
        """The whole body serialized, for substring assertions."""
        return json.dumps(self.body, ensure_ascii=False)


@dataclass
class _State:
    script: list[Turn] = field(default_factory=list)
    run: int = 0
    replies: deque = field(default_factory=deque)
    fail_status: int | None = None
    fail_message: str = ""
    requests: list[RecordedRequest] = field(default_factory=list)
    unknown_paths: list[str] = field(default_factory=list)


class FakeAnthropic:
    """The scripted server; use as a context manager or call start()/stop()."""

    def __init__(self, *, side_text: str = DEFAULT_SIDE_TEXT, done_text: str = DEFAULT_DONE_TEXT):
        self.side_text = side_text
        self.done_text = done_text
        self._lock = threading.Lock()
        self._state = _State()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> FakeAnthropic:
        handler = type("_BoundHandler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-anthropic", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: the value for ANTHROPIC_BASE_URL / ``base_url``."""
        if self._httpd is None:
            raise RuntimeError("FakeAnthropic is not started; call start() or use it in a with-block")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # -- scripting ---------------------------------------------------------

    def set_script(self, turns: list[Turn]) -> int:
        """Script the agent loop for the next conversation; returns the new run number."""
        for turn in turns:
            _check_turn(turn)
        with self._lock:
            self._state.script = list(turns)
            self._state.run += 1
            return self._state.run

    def push_text(self, text: str) -> None:
        """Queue a text answer for the next request that carries no tools."""
        with self._lock:
            self._state.replies.append(Reply(text=text))

    def push_error(
        self, status: int, message: str = "scripted failure", *, error_type: str | None = None, should_retry: bool = True
    ) -> None:
        """Queue an HTTP error for the next request that carries no tools."""
        kind = error_type or _error_type_for(status)
        with self._lock:
            self._state.replies.append(Reply(text=message, status=status, error_type=kind, should_retry=should_retry))

    def fail_all(self, status: int | None, message: str = "scripted outage") -> None:
        """Fail every Messages request with ``status`` (``None`` ends the outage)."""
        with self._lock:
            self._state.fail_status = status
            self._state.fail_message = message

    # -- inspection --------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._state.requests)

    @property
    def unknown_paths(self) -> list[str]:
        with self._lock:
            return list(self._state.unknown_paths)

    def messages_requests(self, run: int | None = None) -> list[RecordedRequest]:
        """Recorded ``POST /v1/messages`` requests, optionally of one run only."""
        return [r for r in self.requests if r.is_messages and (run is None or r.run == run)]

    def agent_requests(self, run: int | None = None) -> list[RecordedRequest]:
        """Recorded Messages requests that carried tools (the agent loop)."""
        return [r for r in self.messages_requests(run) if r.has_tools]

    # -- used by the handler -----------------------------------------------

    def _record(self, req: RecordedRequest) -> None:
        with self._lock:
            req.run = self._state.run
            self._state.requests.append(req)

    def _note_unknown(self, method: str, path: str) -> None:
        with self._lock:
            self._state.unknown_paths.append(f"{method} {path}")

    def _answer(self, body: dict[str, Any]) -> Reply | list[ToolCall]:
        """Decide what a Messages request gets: tool calls, text or an error."""
        with self._lock:
            if self._state.fail_status is not None:
                status = self._state.fail_status
                return Reply(self._state.fail_message, status, _error_type_for(status))
            if body.get("tools"):
                turn = _turn_for(self._state.script, body.get("messages") or [], self.done_text)
                return Reply(turn) if isinstance(turn, str) else turn
            if self._state.replies:
                return self._state.replies.popleft()
            return Reply(self.side_text)


def _check_turn(turn: Turn) -> None:
    if isinstance(turn, str):
        return
    calls = [call for call in turn if isinstance(call, ToolCall)] if isinstance(turn, list) else []
    if not calls or not all(isinstance(call, (ToolCall, str)) for call in turn):
        raise TypeError(f"a script turn is a str or a list of ToolCall (and text) with a ToolCall, got {turn!r}")


def _turn_for(script: list[Turn], messages: list[Any], done_text: str) -> Turn:
    index = sum(1 for m in messages if isinstance(m, dict) and m.get("role") == "assistant")
    return script[index] if index < len(script) else done_text


def _error_type_for(status: int) -> str:
    return {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        413: "request_too_large",
        429: "rate_limit_error",
        529: "overloaded_error",
    }.get(status, "api_error")


def _estimate_tokens(body: Any) -> int:
    return max(1, math.ceil(len(json.dumps(body)) / 4))


def _content_blocks(answer: Reply | list[ToolCall]) -> list[dict[str, Any]]:
    if isinstance(answer, Reply):
        return [{"type": "text", "text": answer.text}]
    return [
        {"type": "text", "text": call} if isinstance(call, str) else
        {"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:24]}", "name": call.name, "input": call.input}
        for call in answer
    ]


def _message(model: str, blocks: list[dict[str, Any]], input_tokens: int) -> dict[str, Any]:
    stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
    return {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": _estimate_tokens(blocks)},
    }


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def _chunks(text: str, n: int = 3) -> list[str]:
    size = max(1, math.ceil(len(text) / n))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _block_events(index: int, block: dict[str, Any]) -> list[str]:
    if block["type"] == "text":
        start = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": part} for part in _chunks(block["text"])]
    else:
        start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": part} for part in _chunks(json.dumps(block["input"]))]
    out = [_sse("content_block_start", {"type": "content_block_start", "index": index, "content_block": start})]
    out += [_sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d}) for d in deltas]
    out.append(_sse("content_block_stop", {"type": "content_block_stop", "index": index}))
    return out


def _stream_body(message: dict[str, Any]) -> str:
    head = dict(message, content=[], stop_reason=None)
    head["usage"] = dict(message["usage"], output_tokens=1)
    events = [_sse("message_start", {"type": "message_start", "message": head}), _sse("ping", {"type": "ping"})]
    for index, block in enumerate(message["content"]):
        events += _block_events(index, block)
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
        "usage": {"output_tokens": message["usage"]["output_tokens"]},
    }
    events += [_sse("message_delta", delta), _sse("message_stop", {"type": "message_stop"})]
    return "".join(events)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeAnthropic  # set on the bound subclass

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def do_HEAD(self) -> None:
        self._read_and_record()
        self._send(200, b"", "text/plain")

    def do_GET(self) -> None:
        req = self._read_and_record()
        if req.path == "/":
            self._send(200, b"", "text/plain")
        elif req.path == "/v1/models":
            self._json(200, {"data": [_model_info()], "has_more": False, "first_id": MODEL_ID, "last_id": MODEL_ID})
        elif req.path.startswith("/v1/models/"):
            self._json(200, _model_info(req.path.rsplit("/", 1)[1]))
        else:
            self._not_found(req)

    def do_POST(self) -> None:
        req = self._read_and_record()
        if req.path == "/v1/messages":
            self._messages(req.body if isinstance(req.body, dict) else {})
        elif req.path == "/v1/messages/count_tokens":
            self._json(200, {"input_tokens": _estimate_tokens(req.body)})
        else:
            self._not_found(req)

    def _read_and_record(self) -> RecordedRequest:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        parts = urlsplit(self.path)
        req = RecordedRequest(self.command, parts.path, parts.query, dict(self.headers.items()), body, 0)
        self.fake._record(req)
        return req

    def _messages(self, body: dict[str, Any]) -> None:
        answer = self.fake._answer(body)
        if isinstance(answer, Reply) and answer.status != 200:
            self._error(answer.status, answer.error_type, answer.text, retry=answer.should_retry)
            return
        message = _message(str(body.get("model") or MODEL_ID), _content_blocks(answer), _estimate_tokens(body))
        if body.get("stream"):
            self._send(200, _stream_body(message).encode(), "text/event-stream; charset=utf-8")
        else:
            self._json(200, message)

    def _not_found(self, req: RecordedRequest) -> None:
        self.fake._note_unknown(req.method, req.path)
        self._error(404, "not_found_error", f"fake Anthropic server has no {req.method} {req.path}", retry=False)

    def _error(self, status: int, kind: str, message: str, *, retry: bool) -> None:
        body = {"type": "error", "error": {"type": kind, "message": message}}
        extra = {} if retry else {"x-should-retry": "false"}
        self._send(status, json.dumps(body).encode(), "application/json", extra)

    def _json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _send(self, status: int, data: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", f"req_{uuid.uuid4().hex[:24]}")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


def _model_info(model_id: str = MODEL_ID) -> dict[str, Any]:
    return {"type": "model", "id": model_id, "display_name": model_id, "created_at": "2025-01-01T00:00:00Z"}
