"""The Claude Code hook: one entry point for every lifecycle event.

Contract (fail-open): whatever arrives on stdin, this process exits 0 and writes
nothing to stdout except, for SessionStart, UserPromptSubmit and SubagentStart, one
valid JSON object carrying ``hookSpecificOutput.additionalContext``. After a
compaction (SessionStart with source ``compact``) the block also gives back the
memories the session's prompts had been given, and what the session was given is
forgotten (it went with the summarized turns). SubagentStart stores nothing: it
answers with the memories of the subagent's task. Problems go to
``$OFFMEM_HOME/offmem.log``.

Each accepted event is committed to SQLite (``synchronous=FULL``) before the
process exits. If the database cannot take it (locked past the busy timeout,
corrupt, unreadable) the event is written to ``$OFFMEM_HOME/spool/`` instead
(fsynced, renamed into place) and ingested later by the worker, so an accepted
event is never lost.

What an event becomes is :mod:`offmem.store.events`' business, the spool
:mod:`offmem.store.spool`'s, starting the worker :mod:`offmem.worker.launch`'s. This
module imports only those, the kernel (:mod:`offmem.lean`) and, for SessionStart and
UserPromptSubmit, the context builders of :mod:`offmem.retrieval` that run here
(:mod:`~offmem.retrieval.session`, :mod:`~offmem.retrieval.hook`): standard library
only, and only its cheap parts, so the PostToolUse path costs little more than
starting the interpreter.
"""


import os
import sys

from offmem.lean import data_home, fastjson, log
from offmem.lean.settings import capture_settings
from offmem.store.events import DB_FILE, NotAPayload, build_record, connect_durable, headroom, parse, store_event


def accept(record: dict, home: str, settings: dict) -> None:
    """Make the record durable: SQLite first, the file spool if that fails."""
    try:
        os.makedirs(home, mode=0o700, exist_ok=True)
        conn = connect_durable(os.path.join(home, DB_FILE), settings["busy_timeout_ms"] / 1000)
        try:
            store_event(conn, record)
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
        from offmem.store.spool import spool_record

        path = spool_record(home, record)
        log(home, f"database unavailable ({type(exc).__name__}: {exc}); event spooled to {path}")


def session_start_output(payload: dict, record: dict, home: str) -> str | None:
    # the lean path: _sqlite3 and the config cache, no dataclasses/json/pathlib
    from offmem.retrieval.session import session_start_block

    project, session_id = record["project"], record["session_id"]
    compacted = payload.get("source") == "compact"
    earlier: list[int] = []
    if compacted:  # the turns that carried what the session was given were summarized away
        from offmem.retrieval.hook import forget_given

        try:
            earlier = forget_given(home, session_id)
        except Exception as exc:  # noqa: BLE001 - the block below still comes
            log(home, f"could not clear what session {session_id} was given: {type(exc).__name__}: {exc}")
    text = session_start_block(home, project, session_id)
    if earlier:
        from offmem.retrieval.hook import earlier_memories

        try:
            text = "\n\n".join(t for t in (text, earlier_memories(home, project, session_id, earlier, text)) if t)
        except Exception as exc:  # noqa: BLE001
            log(home, f"could not give session {session_id} its earlier memories again: {type(exc).__name__}: {exc}")
    if not text:
        return None
    return fastjson.dumps(
        {"hookSpecificOutput": {"hookEventName": "SessionStart", "additionalContext": text}}
    )


def prompt_output(payload: dict, record: dict) -> str | None:
    from offmem.retrieval.hook import prompt_time_context

    text = prompt_time_context(record["project"], record["session_id"], record["payload"].get("prompt", ""))
    if not text:
        return None
    return fastjson.dumps(
        {"hookSpecificOutput": {"hookEventName": "UserPromptSubmit", "additionalContext": text}}
    )


def subagent_output(payload: dict, home: str, settings: dict) -> str | None:
    """SubagentStart: the memories of the subagent's task as its context (nothing is stored)."""
    from offmem.project import project_root
    from offmem.retrieval.hook import subagent_context
    from offmem.store.events import _is_excluded

    cwd = payload.get("cwd") if isinstance(payload.get("cwd"), str) and payload.get("cwd") else os.getcwd()
    project = project_root(cwd)
    if _is_excluded(project, cwd, settings):
        return None
    text = subagent_context(project, payload)
    if not text:
        return None
    return fastjson.dumps({"hookSpecificOutput": {"hookEventName": "SubagentStart", "additionalContext": text}})


def _keep_raw(raw: bytes, home: str, exc: BaseException, autostart: bool) -> None:
    why = f"{type(exc).__name__}: {str(exc)[:300]}"
    try:
        from offmem.store.spool import spool_raw

        path = spool_raw(home, raw)
    except Exception as spool_exc:  # noqa: BLE001 - nowhere left to keep it
        log(home, f"hook failed: no record could be built ({why}) and the raw payload could not be spooled"
                  f" ({type(spool_exc).__name__}: {spool_exc}); event lost")
        return
    log(home, f"no record could be built from the payload ({why}); spooled raw to {path} for the worker")
    if autostart:
        try:
            from offmem.worker.launch import ensure_processing

            ensure_processing(home, reason="raw spool")
        except Exception as kick_exc:  # noqa: BLE001
            log(home, f"could not start background processing: {type(kick_exc).__name__}: {kick_exc}")


def handle(raw: bytes, home: str) -> str | None:
    """Process one hook invocation; returns what to print on stdout (or None).

    A valid payload is never dropped: when no record can be built or stored from it
    (nesting past the recursion headroom, no memory, a bug), its raw bytes are spooled.
    """
    with headroom():
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
    if payload.get("hook_event_name") == "SubagentStart":
        try:
            return subagent_output(payload, home, settings)
        except Exception as exc:  # noqa: BLE001 - the subagent starts without memory
            log(home, f"no subagent memory: {type(exc).__name__}: {exc}")
            return None
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
            from offmem.worker.launch import ensure_processing

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
