"""The Claude Code hook: one entry point for every lifecycle event.

Contract (fail-open): whatever arrives on stdin, this process exits 0 and writes
nothing to stdout except, for SessionStart and UserPromptSubmit, one valid JSON
object carrying ``hookSpecificOutput.additionalContext``. Problems go to
``$OFFMEM_HOME/offmem.log``.

Each accepted event is committed to SQLite (``synchronous=FULL``) before the
process exits. If the database cannot take it (locked past the busy timeout,
corrupt, unreadable) the event is written to ``$OFFMEM_HOME/spool/`` instead
(fsynced, renamed into place) and ingested later by the worker, so an accepted
event is never lost.

Only the standard library is imported here, and only the cheap parts of it: the
PostToolUse path must cost little more than starting the interpreter.
"""


import os
import sys
import time

from offmem import _fastjson
from offmem.config_cache import cached_config, data_home as _data_home, last_parsed_config
from offmem.project import project_root

HANDLED = frozenset(
    {
        "SessionStart",
        "UserPromptSubmit",
        "PostToolUse",
        "PostToolUseFailure",
        "PreCompact",
        "Stop",
        "SessionEnd",
    }
)
TOOL_EVENTS = frozenset({"PostToolUse", "PostToolUseFailure"})
# offmem's own MCP tools would otherwise be remembered as memories of memories.
OWN_TOOL_PREFIX = "mcp__offmem__"

DEFAULT_MAX_FIELD_CHARS = 12000
# Containers nested deeper than this are stored as their JSON text, so nothing after the
# hook (clipping, redaction, the pipeline) recurses deeper than this into a payload.
MAX_DEPTH = 64
# Recursion headroom to parse and serialize a deeply nested payload (the C stack it takes
# at this depth is a few MB at most); a deeper one is spooled raw (see spool_raw).
RECURSION_LIMIT = 5000
RAW_MAGIC = b"offmem-raw-payload 1\n"
MAX_LIST_ITEMS = 200
PRIVATE_OPEN, PRIVATE_CLOSE = "<private>", "</private>"
# Payload fields that are identifiers, never text a person or the model wrote.
PRIVATE_KEEP = frozenset({"session_id", "transcript_path", "cwd", "hook_event_name", "tool_name", "tool_use_id",
                          "prompt_id", "permission_mode", "agent_id", "agent_type", "agent_transcript_path"})
CUT_WINDOW = 200  # how far clip looks for whitespace to cut at


def now_iso(t: float | None = None) -> str:
    t = time.time() if t is None else t
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)


def data_home() -> str:
    """``$OFFMEM_HOME`` resolved as the worker and the CLI resolve it (offmem.config_cache.data_home)."""
    return _data_home()


def log(home: str, message: str) -> None:
    """Append one line to the data directory's log; never raises."""
    line = f"{now_iso()} hook[{os.getpid()}] {message}\n"
    try:
        os.makedirs(home, mode=0o700, exist_ok=True)
        with open(os.path.join(home, "offmem.log"), "a", encoding="utf-8", errors="replace") as fh:
            fh.write(line)
    except OSError:
        try:
            sys.stderr.write("offmem: " + line)
        except Exception:  # noqa: BLE001 - nothing left to report to
            pass


# --------------------------------------------------------------------------- settings


CAPTURE_DEFAULTS = {
    "max_field_chars": DEFAULT_MAX_FIELD_CHARS,
    "skip_tools": [],
    "excluded_projects": [],
    "excluded_paths": [],
    "busy_timeout_ms": 2000,
    "autostart": True,
}
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _setting(value, default):
    """``value`` as the type of ``default`` (as offmem.config coerces it), or None when it is not one."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        word = value.strip().lower() if isinstance(value, str) else None
        return True if word in _TRUE else False if word in _FALSE else None
    if isinstance(default, int):
        if isinstance(value, (bool, list, dict)):
            return None
        try:
            return int(value)
        except (TypeError, ValueError, OverflowError):
            return None
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return None


def capture_settings(home: str) -> dict:
    """The few settings the hook needs, without parsing TOML on the hot path.

    Never raises, and never loses the event to a settings problem: a config.toml that
    does not parse is replaced by its last parse that did (or the defaults), and a
    value of the wrong type, in the file or in ``OFFMEM_*``, by its default; each
    problem is logged.
    """
    result = dict(CAPTURE_DEFAULTS)
    problems: list[str] = []
    data = cached_config(home)
    if data is None:  # changed since its last parse (or never parsed)
        try:
            from offmem.config import read_config_file  # parses TOML and refreshes the cache

            data = read_config_file(home)
        except Exception as exc:  # noqa: BLE001 - a broken file must not cost the event
            data = last_parsed_config(home)
            problems.append(f"{exc}; capturing with {'its last readable version' if data else 'the defaults'}")
    if not isinstance(data, dict):
        data = {}
    sections = (("capture", "OFFMEM_CAPTURE_"), ("worker", "OFFMEM_WORKER_"))
    for key, default in CAPTURE_DEFAULTS.items():
        section, prefix = sections[1] if key == "autostart" else sections[0]
        values = data.get(section)
        found = [(f"config.toml [{section}] {key}", values[key])] if isinstance(values, dict) and key in values else []
        env = os.environ.get(prefix + key.upper())
        if env is not None:
            found.append((prefix + key.upper(), env))
        for where, value in found:  # the environment wins over the file
            coerced = _setting(value, default)
            if coerced is None:
                problems.append(f"ignored {where} = {value!r} (expected {type(default).__name__})")
            else:
                result[key] = coerced
    if problems:
        log(home, "settings: " + "; ".join(problems))
    return result


# --------------------------------------------------------------------------- payload


def clip(value, limit: int):
    """Truncate oversized strings and lists, keeping head and tail with a marker.

    The cuts move to the nearest whitespace (up to ``CUT_WINDOW`` characters), so a
    token is kept whole or dropped whole: half a key left at a cut is not a key the
    redactor can recognize any more.
    """
    if isinstance(value, str):
        if len(value) <= limit:
            return value
        head = limit * 2 // 3
        start = len(value) - (limit - head)  # where the kept tail starts
        for i in range(head, max(0, head - CUT_WINDOW), -1):
            if value[i - 1].isspace():
                head = i
                break
        for i in range(start, min(len(value), start + CUT_WINDOW)):
            if value[i].isspace():
                start = i + 1
                break
        return f"{value[:head]}\n…[offmem: {start - head} chars truncated]…\n{value[start:]}"
    if isinstance(value, dict):
        return {k: clip(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        if len(value) > MAX_LIST_ITEMS:
            keep_head = MAX_LIST_ITEMS * 3 // 4
            keep_tail = MAX_LIST_ITEMS - keep_head
            cut = len(value) - keep_head - keep_tail
            value = value[:keep_head] + [f"…[offmem: {cut} items truncated]…"] + value[-keep_tail:]
        return [clip(v, limit) for v in value]
    return value


def strip_private_fields(payload: dict) -> dict:
    """``payload`` with ``<private>…</private>`` removed from every text in it but the
    identifiers Claude Code assigns: prompts, /compact instructions, Stop messages, tool
    inputs, and tool outputs (Write and Edit echo their input there). Runs before
    :func:`clip`, which could otherwise cut an opening tag away and keep what it hid."""
    return {k: (v if k in PRIVATE_KEEP else _strip_private_value(v)) for k, v in payload.items()}


def _strip_private_value(value):
    if isinstance(value, str):
        return strip_private(value) if PRIVATE_OPEN in value else value
    if isinstance(value, dict):
        return {k: _strip_private_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_private_value(v) for v in value]
    return value


def strip_private(text: str) -> str:
    """Remove ``<private>…</private>`` spans (an unclosed tag hides the rest)."""
    out = []
    pos = 0
    while True:
        start = text.find(PRIVATE_OPEN, pos)
        if start < 0:
            out.append(text[pos:])
            break
        out.append(text[pos:start])
        end = text.find(PRIVATE_CLOSE, start)
        if end < 0:
            break
        pos = end + len(PRIVATE_CLOSE)
    return "".join(out).strip()


class NotAPayload(ValueError):
    """Input that is not a hook payload (not JSON, not an object, no session id): logged and dropped."""


def _int_or_digits(text: str):
    try:
        return int(text)
    except ValueError:  # more digits than Python converts (4300): keep them, as text
        return text


class _headroom:
    """``with _headroom():`` the recursion limit raised to RECURSION_LIMIT, restored after."""

    def __enter__(self) -> None:
        self.previous = sys.getrecursionlimit()
        if self.previous < RECURSION_LIMIT:
            sys.setrecursionlimit(RECURSION_LIMIT)

    def __exit__(self, *exc) -> None:
        if self.previous < RECURSION_LIMIT:
            sys.setrecursionlimit(self.previous)


def parse(raw: bytes) -> dict:
    """The payload object; NotAPayload when the input is not a JSON object. Any other failure
    (a payload nested too deep, no memory) propagates: the caller keeps the raw bytes."""
    text = raw.decode("utf-8", errors="replace")
    try:
        payload = _fastjson.loads(text)
    except ValueError:  # malformed, or an integer over the digit limit: the json module tells which
        import json

        try:
            payload = json.loads(text, parse_int=_int_or_digits)
        except json.JSONDecodeError as exc:
            raise NotAPayload(str(exc)) from None
    if not isinstance(payload, dict):
        raise NotAPayload(f"expected a JSON object, got {type(payload).__name__}")
    return payload


def _bounded(value, depth: int = MAX_DEPTH):
    """``value`` with the containers nested deeper than ``depth`` replaced by their compact JSON text."""
    if isinstance(value, dict):
        if depth <= 0:
            return _fastjson.dumps(value)
        return {k: _bounded(v, depth - 1) for k, v in value.items()}
    if isinstance(value, list):
        if depth <= 0:
            return _fastjson.dumps(value)
        return [_bounded(v, depth - 1) for v in value]
    return value


def _clean(value):
    """Text SQLite can take: a lone surrogate (which a JSON escape can carry, real text never
    does) is not valid UTF-8 and becomes '?'."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "replace").decode("utf-8")
    return value


def _text(payload: dict, key: str) -> str | None:
    value = payload.get(key)
    if value is None:
        return None
    return _clean(value) if isinstance(value, str) else _fastjson.dumps(value)


def _string(payload: dict, key: str) -> str | None:
    """A field that must be text to be stored as such (a payload may carry anything)."""
    value = payload.get(key)
    return _clean(value) if isinstance(value, str) else None


def _is_excluded(project: str, cwd: str, settings: dict) -> bool:
    for pattern in settings["excluded_projects"] + settings["excluded_paths"]:
        pattern = os.path.expanduser(str(pattern)).rstrip("/")
        if not pattern:
            continue
        for path in (project, cwd):
            if path == pattern or path.startswith(pattern + "/"):
                return True
    return False


# --------------------------------------------------------------------------- storage


def connect(db_path: str, timeout_s: float):
    import _sqlite3

    from offmem.store.version import SCHEMA_VERSION

    conn = _sqlite3.connect(db_path, timeout=timeout_s, isolation_level=None)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version < SCHEMA_VERSION:
            conn.execute("PRAGMA journal_mode=WAL")
            from offmem.store.migrations import migrate

            migrate(conn)
        conn.execute("PRAGMA synchronous=FULL")
    except BaseException:
        conn.close()
        raise
    return conn


_SESSION_UPSERT = """
INSERT INTO sessions (id, project, cwd, transcript_path, started_at, last_activity_at, event_count)
VALUES (?, ?, ?, ?, ?, ?, 1)
ON CONFLICT(id) DO UPDATE SET
    last_activity_at = excluded.last_activity_at,
    transcript_path = COALESCE(excluded.transcript_path, sessions.transcript_path),
    event_count = sessions.event_count + 1
"""


def store(conn, record: dict, spool_name: str | None = None) -> bool:
    """Commit one event; returns False when it was a repeated delivery.

    ``spool_name`` (the worker ingesting a spool file) is recorded in the same
    transaction, and a name already recorded makes this a repeated delivery.
    """
    sid, kind, ts = record["session_id"], record["kind"], record["created_at"]
    payload = record["payload"]
    conn.execute("BEGIN IMMEDIATE")
    try:
        if spool_name is not None and not conn.execute(
            "INSERT OR IGNORE INTO spool_ingested (name, ingested_at) VALUES (?, ?)", (spool_name, now_iso())
        ).rowcount:
            conn.execute("ROLLBACK")  # stored by an earlier pass that did not get to remove the file
            return False
        conn.execute(
            _SESSION_UPSERT,
            (sid, record["project"], _string(payload, "cwd"), _string(payload, "transcript_path"), ts, ts),
        )
        prompt_number = conn.execute(
            "SELECT prompt_count FROM sessions WHERE id = ?", (sid,)
        ).fetchone()[0]
        if kind == "UserPromptSubmit":
            prompt_number += 1
            conn.execute(
                "UPDATE sessions SET prompt_count = ?, status = 'active' WHERE id = ?",
                (prompt_number, sid),
            )
            conn.execute(
                "INSERT OR IGNORE INTO prompts (session_id, project, prompt_number, prompt_id, text, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (sid, record["project"], prompt_number, _text(payload, "prompt_id"), _text(payload, "prompt") or "", ts),
            )
        elif kind == "SessionStart":
            conn.execute(
                "UPDATE sessions SET source = ?, model = COALESCE(?, model), status = 'active' WHERE id = ?",
                (_text(payload, "source"), _text(payload, "model"), sid),
            )
        elif kind == "Stop":
            conn.execute(
                "UPDATE sessions SET stopped_at = ?, status = 'stopped',"
                " last_assistant_message = COALESCE(?, last_assistant_message) WHERE id = ?",
                (ts, _text(payload, "last_assistant_message"), sid),
            )
        elif kind == "SessionEnd":
            conn.execute(
                "UPDATE sessions SET ended_at = ?, end_reason = ?, status = 'ended' WHERE id = ?",
                (ts, _text(payload, "reason"), sid),
            )
        cur = conn.execute(
            "INSERT OR IGNORE INTO events"
            " (session_id, project, kind, tool_name, tool_use_id, prompt_number, payload, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                sid,
                record["project"],
                kind,
                record["tool_name"],
                record["tool_use_id"],
                prompt_number,
                _fastjson.dumps(payload),
                ts,
            ),
        )
        if cur.rowcount == 0:  # same tool_use_id delivered again: keep the first
            conn.execute("ROLLBACK")
            return False
        conn.execute("COMMIT")
        return True
    except BaseException:
        try:
            conn.execute("ROLLBACK")
        except Exception:  # noqa: BLE001 - the connection may already be unusable
            pass
        raise


def spool_to_file(home: str, record: dict) -> str:
    """Fallback when SQLite cannot take the event: one fsynced JSON file."""
    spool = os.path.join(home, "spool")
    os.makedirs(spool, mode=0o700, exist_ok=True)
    name = f"{time.time_ns():020d}-{os.getpid()}"
    tmp = os.path.join(spool, name + ".tmp")
    final = os.path.join(spool, name + ".json")
    data = memoryview(_fastjson.dumps(record).encode("ascii"))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        while data:  # a nearly full disk takes part of a write: never keep half a record
            data = data[os.write(fd, data):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, final)
    return final


# --------------------------------------------------------------------------- entry


def build_record(payload: dict, settings: dict, fallback_cwd: str | None = None) -> dict | None:
    """Normalize a payload into a spool record, or None when it is not captured.

    A ``cwd`` that cannot name a directory (missing, empty, holding a NUL) gives way
    to ``fallback_cwd``: the hook's own working directory when None (Claude Code runs
    hooks in the session's), the one recorded with a raw spool file for the worker.
    """
    kind = payload.get("hook_event_name")
    if not isinstance(kind, str) or kind not in HANDLED:
        return None
    session_id = _clean(payload.get("session_id"))
    if not isinstance(session_id, str) or not session_id:
        raise NotAPayload(f"{kind} payload without a session_id")
    tool_name = _clean(payload.get("tool_name"))
    tool_name = tool_name if isinstance(tool_name, str) else None
    if kind in TOOL_EVENTS:
        if not tool_name:
            raise NotAPayload(f"{kind} payload without a tool_name")
        if tool_name in settings["skip_tools"] or tool_name.startswith(OWN_TOOL_PREFIX):
            return None
    given = payload.get("cwd")
    cwd = _clean(given) if isinstance(given, str) and given else None
    if cwd is not None and "\x00" not in cwd:
        where = cwd
    elif fallback_cwd is None:
        where = os.getcwd()
    elif fallback_cwd:
        where = fallback_cwd
    else:
        raise ValueError("the payload names no usable working directory, and none was recorded with it")
    project = project_root(where)
    if _is_excluded(project, cwd or where, settings):
        return None
    payload = _bounded(payload)
    payload = strip_private_fields(payload)  # first: a clipped-away opening tag would expose the rest
    if kind == "UserPromptSubmit":
        prompt = payload.get("prompt") if isinstance(payload.get("prompt"), str) else ""
        if not prompt.strip():
            return None  # an all-private prompt records nothing for that turn
        payload["prompt"] = prompt.strip()
    payload = clip(payload, max(256, int(settings["max_field_chars"])))
    if kind in ("UserPromptSubmit", "Stop", "PreCompact"):
        # Prompts and Stop messages are redacted here, before they reach the prompts
        # table's FTS index; tool events are redacted by the worker's first step
        # (offmem.privacy.stage), which keeps `re` off the PostToolUse path.
        # SessionStart/SessionEnd carry no user text (ids, paths, source, reason).
        from offmem.privacy import redact_hook_payload

        payload = redact_hook_payload(payload)
    tool_use_id = _clean(payload.get("tool_use_id"))
    return {
        "session_id": session_id,
        "project": project,
        "kind": kind,
        "tool_name": tool_name,
        "tool_use_id": tool_use_id if isinstance(tool_use_id, str) and tool_use_id else None,
        "created_at": now_iso(),
        "payload": payload,
    }


def accept(record: dict, home: str, settings: dict) -> None:
    """Make the record durable: SQLite first, the file spool if that fails."""
    try:
        os.makedirs(home, mode=0o700, exist_ok=True)
        conn = connect(os.path.join(home, "offmem.db"), settings["busy_timeout_ms"] / 1000)
        try:
            store(conn, record)
        finally:
            if _FAST_EXIT:
                # Closing the last connection checkpoints the WAL and deletes it: several
                # fsyncs per hook. The commit above is already durable (synchronous=FULL),
                # so the launcher exits without closing, exactly like a crash after commit,
                # which SQLite is built to survive; the worker and autocheckpoint do the
                # checkpointing instead.
                _ABANDONED.append(conn)
            else:
                conn.close()
    except Exception as exc:  # noqa: BLE001 - any database failure: keep the event anyway
        path = spool_to_file(home, record)
        log(home, f"database unavailable ({type(exc).__name__}: {exc}); event spooled to {path}")


def session_start_output(payload: dict, record: dict, home: str) -> str | None:
    # the lean path: _sqlite3 and the config cache, no dataclasses/json/pathlib
    from offmem.retrieval.session import session_start_block

    text = session_start_block(home, record["project"], record["session_id"])
    if not text:
        return None
    return _fastjson.dumps(
        {"hookSpecificOutput": {"hookEventName": "SessionStart", "additionalContext": text}}
    )


def prompt_output(payload: dict, record: dict) -> str | None:
    try:
        from offmem.context import prompt_context
    except ImportError:
        return None
    text = prompt_context(record["project"], record["session_id"], record["payload"].get("prompt", ""))
    if not text:
        return None
    return _fastjson.dumps(
        {"hookSpecificOutput": {"hookEventName": "UserPromptSubmit", "additionalContext": text}}
    )


def _spool_bytes(home: str, data: bytes, suffix: str) -> str:
    """``data`` as one new spool file: written, fsynced, renamed into place, folder fsynced."""
    spool = os.path.join(home, "spool")
    os.makedirs(spool, mode=0o700, exist_ok=True)
    name = f"{time.time_ns():020d}-{os.getpid()}"
    tmp = os.path.join(spool, name + ".tmp")
    final = os.path.join(spool, name + suffix)
    view = memoryview(data)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, final)
    folder = os.open(spool, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    return final


def spool_raw(home: str, raw: bytes) -> str:
    """The last resort for a payload the hook could not turn into a stored record: its bytes as
    they came, after one header line (the hook's working directory and the time), in
    ``spool/<name>.raw`` for the worker (:func:`record_from_raw`)."""
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = None
    header = _fastjson.dumps({"cwd": cwd, "received_at": now_iso()}).encode("ascii")
    return _spool_bytes(home, RAW_MAGIC + header + b"\n" + raw, ".raw")


def record_from_raw(blob: bytes, settings: dict) -> dict | None:
    """The record of a raw spool file; None when its payload is not captured. Raises when it
    cannot be built (the worker then sets the file aside as ``.bad``)."""
    if not blob.startswith(RAW_MAGIC):
        raise NotAPayload("not a raw spool file (unknown header)")
    header, _, raw = blob[len(RAW_MAGIC):].partition(b"\n")
    meta = _fastjson.loads(header.decode("ascii"))
    meta = meta if isinstance(meta, dict) else {}
    with _headroom():
        record = build_record(parse(raw), settings, fallback_cwd=meta.get("cwd") or "")
    if record is not None and isinstance(meta.get("received_at"), str):
        record["created_at"] = meta["received_at"]
    return record


def _keep_raw(raw: bytes, home: str, exc: BaseException, autostart: bool) -> None:
    why = f"{type(exc).__name__}: {str(exc)[:300]}"
    try:
        path = spool_raw(home, raw)
    except Exception as spool_exc:  # noqa: BLE001 - nowhere left to keep it
        log(home, f"hook failed: no record could be built ({why}) and the raw payload could not be spooled"
                  f" ({type(spool_exc).__name__}: {spool_exc}); event lost")
        return
    log(home, f"no record could be built from the payload ({why}); spooled raw to {path} for the worker")
    if autostart:
        try:
            from offmem.hooks.kick import ensure_processing

            ensure_processing(home, reason="raw spool")
        except Exception as kick_exc:  # noqa: BLE001
            log(home, f"could not start background processing: {type(kick_exc).__name__}: {kick_exc}")


def handle(raw: bytes, home: str) -> str | None:
    """Process one hook invocation; returns what to print on stdout (or None).

    A valid payload is never dropped: when no record can be built or stored from it
    (nesting past the recursion headroom, no memory, a bug), its raw bytes are spooled.
    """
    with _headroom():
        return _handle(raw, home)


def _handle(raw: bytes, home: str) -> str | None:
    try:
        payload = parse(raw)
    except NotAPayload as exc:
        log(home, f"ignored malformed hook payload ({len(raw)} bytes): {exc}")
        return None
    except Exception as exc:  # noqa: BLE001 - valid JSON the parser could not take
        _keep_raw(raw, home, exc, capture_settings(home)["autostart"])
        return None
    settings = capture_settings(home)
    try:
        record = build_record(payload, settings)
        if record is None:
            return None
        accept(record, home, settings)
    except NotAPayload as exc:
        log(home, f"ignored hook payload: {exc}")
        return None
    except Exception as exc:  # noqa: BLE001 - neither stored nor spooled: keep the bytes
        _keep_raw(raw, home, exc, settings["autostart"])
        return None
    kind = record["kind"]
    if settings["autostart"] and kind in ("SessionStart", "Stop", "SessionEnd", "UserPromptSubmit"):
        try:
            from offmem.hooks.kick import ensure_processing

            ensure_processing(home, reason=kind)
        except Exception as exc:  # noqa: BLE001
            log(home, f"could not start background processing: {type(exc).__name__}: {exc}")
    if kind == "SessionStart":
        return session_start_output(payload, record, home)
    if kind == "UserPromptSubmit":
        return prompt_output(payload, record)
    return None


_FAST_EXIT = False
_ABANDONED: list = []


def main(fast_exit: bool = False) -> int:
    """The hook. ``fast_exit`` (the installed launcher) ends the process with
    ``os._exit`` once stdout is flushed, skipping interpreter teardown and the
    WAL checkpoint a closing connection would do."""
    global _FAST_EXIT
    _FAST_EXIT = fast_exit
    os.umask(os.umask(0o077) | 0o077)  # all it creates (database, spool, log) is private (offmem.filemodes)
    home = data_home()
    try:
        raw = sys.stdin.buffer.read()
    except Exception as exc:  # noqa: BLE001
        log(home, f"could not read stdin: {exc}")
        return 0
    try:
        out = handle(raw, home)
    except BaseException as exc:  # noqa: BLE001 - a hook must never break the session
        log(home, f"hook failed: {type(exc).__name__}: {exc}")
        out = None
    if out:
        try:
            sys.stdout.write(out)
            sys.stdout.flush()
        except Exception:  # noqa: BLE001
            pass
    if fast_exit:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
