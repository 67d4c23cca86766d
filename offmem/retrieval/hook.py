"""Prompt-time injection, hook side: ask the warm worker, within a hard time box.

Runs inside the UserPromptSubmit hook (``python -S``: standard library only, and
only its cheap parts). It never waits for anything slow: when the prompt is not
substantive, the worker is not running, or the answer does not arrive within
``context.prompt_timeout_ms`` (default 300 ms, counted from the call), it
returns None and the prompt goes on without memory.

The exchange is :mod:`offmem.worker.client`'s (standard library only, on
``_socket``, to the loopback address only, with the install's token).

What the worker returned is recorded in the session's ``injected:<session_id>``
meta entry only after it arrived in time, so a late answer never hides a
memory from a later prompt.
"""

import time

from offmem.lean import data_home, log
from offmem.lean.settings import DEFAULTS, context_settings
from offmem.store.meta import add_injected, connect_light
from offmem.worker.client import NoAnswer, post_json, worker_address

DEFAULT_MIN_CHARS = DEFAULTS["context"]["prompt_min_chars"]
PATH = "/api/prompt-context"

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
        from offmem.worker.token_file import read_token

        reply = post_json(address, PATH, payload, deadline, read_token(home))
    except NoAnswer as exc:
        log(home, f"no prompt-time memory (time box {timeout_ms} ms): {exc}")
        return None
    if not reply.get("text"):
        return None
    ids = [int(i) for i in reply.get("observation_ids") or []]
    summary_ids = [int(i) for i in reply.get("summary_ids") or []]
    if (ids or summary_ids) and session_id:
        try:
            if ids:
                record_injected(home, session_id, ids)
            if summary_ids:  # meta injected:summaries:<session_id> (offmem.retrieval.prompt.summaries_key)
                record_injected(home, "summaries:" + session_id, summary_ids)
        except Exception as exc:  # noqa: BLE001 - the memories still reach the prompt
            log(home, f"could not record prompt-time memories for {session_id}: {type(exc).__name__}: {exc}")
    return str(reply["text"])
