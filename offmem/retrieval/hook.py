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

The same exchange gives a subagent its memories at its start (SubagentStart,
:func:`subagent_context`): the query is the task the main agent wrote for it,
read from the end of the session's transcript (Claude Code writes the Agent
call there before the subagent starts), else the session's latest prompt. A
subagent starts with none of the session's context, so nothing is excluded and
nothing recorded.
"""

import os
import time

from offmem.lean import data_home, fastjson, log
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


def _ask(home: str, project: str, session_id: str | None, prompt: str, started: float, what: str) -> dict | None:
    """The worker's answer for ``prompt`` within ``context.prompt_timeout_ms`` of ``started``, else None."""
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
        log(home, f"no {what} memory (time box {timeout_ms} ms): {exc}")
        return None
    return reply if reply.get("text") else None


def prompt_time_context(project: str, session_id: str, prompt: str) -> str | None:
    """The memories the warm worker finds for ``prompt`` in time, else None."""
    started = time.monotonic()
    home = data_home()
    reply = _ask(home, project, session_id, prompt, started, "prompt-time")
    if reply is None:
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


# ---------------------------------------------------------------------- subagents

TAIL_BYTES = 256 * 1024  # how much of the transcript's end is read for the subagent's task
TASK_MAX_CHARS = 2000
AGENT_TOOLS = ("Agent", "Task")  # Task before Claude Code 2.1.63
TASK_WAITS = (0, 0.02, 0.05, 0.1)  # seconds before each read of the transcript


def subagent_task(transcript_path, agent_type) -> str:
    """What the main agent asked of the subagent that is starting: the ``prompt`` (else the
    ``description``) of the Agent (or Task) calls of its latest message that calls one, those of
    ``agent_type`` when some are ("" when the transcript has none)."""
    if not isinstance(transcript_path, str) or not transcript_path.endswith(".jsonl"):
        return ""
    try:
        fd = os.open(transcript_path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return ""
    try:
        import stat

        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return ""  # a FIFO or a device would block or never end
        start = max(0, info.st_size - TAIL_BYTES)
        os.lseek(fd, start, os.SEEK_SET)
        chunks, left = [], info.st_size - start
        while left > 0:
            chunk = os.read(fd, min(left, 65536))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError:
        return ""
    finally:
        os.close(fd)
    lines = b"".join(chunks).split(b"\n")
    if start:
        lines = lines[1:]  # the first one is cut
    calls, message_id = [], None
    for line in reversed(lines):
        if b'"tool_use"' not in line or not any(b'"%s"' % name.encode() in line for name in AGENT_TOOLS):
            if message_id is not None and line.strip():
                break  # the records of that message are contiguous
            if message_id is None and _is_prompt_line(line):
                return ""  # the latest call is of an earlier turn: this one's is not written yet
            continue
        try:
            record = fastjson.loads(line.decode("utf-8", "replace"))
        except ValueError:
            continue
        message = record.get("message") if isinstance(record, dict) else None
        if not isinstance(message, dict) or record.get("type") != "assistant" or record.get("isSidechain"):
            continue
        if message_id is not None and message.get("id") != message_id:
            break
        message_id = message.get("id") or ""
        blocks = message.get("content") if isinstance(message.get("content"), list) else []
        calls[:0] = [b.get("input") for b in blocks if isinstance(b, dict) and b.get("type") == "tool_use"
                     and b.get("name") in AGENT_TOOLS and isinstance(b.get("input"), dict)]
    mine = [c for c in calls if c.get("subagent_type") == agent_type] or calls
    # the prompt is the task (the description, a few words of it, only dilutes the lookup's terms)
    parts = [str(call.get("prompt") or "").strip() or str(call.get("description") or "").strip() for call in mine]
    return "\n".join(p for p in parts if p)[:TASK_MAX_CHARS]


def _is_prompt_line(line: bytes) -> bool:
    """A transcript line holding a prompt (typed, or Claude Code's own for a new turn)."""
    if b'"user"' not in line or b'"tool_result"' in line:
        return False
    try:
        record = fastjson.loads(line.decode("utf-8", "replace"))
    except ValueError:
        return False
    return (isinstance(record, dict) and record.get("type") == "user" and not record.get("isMeta")
            and not record.get("isCompactSummary") and not record.get("isSidechain"))


def latest_prompt(home: str, session_id: str) -> str:
    """The session's latest recorded prompt ("" when there is none or the store cannot tell)."""
    from offmem.store.events import DB_FILE
    from offmem.store.prompts import next_prompt_number, prompt_at

    if not os.path.exists(os.path.join(home, DB_FILE)):
        return ""
    conn = connect_light(home)
    try:
        return prompt_at(conn, session_id, next_prompt_number(conn, session_id) - 1) or ""
    except Exception:  # noqa: BLE001 - no table yet, a locked store: no query
        return ""
    finally:
        conn.close()


def subagent_context(project: str, payload: dict) -> str | None:
    """The memories for the task of the subagent a SubagentStart payload announces, else None."""
    started = time.monotonic()
    home = data_home()
    if context_settings(home)["prompt_timeout_ms"] <= 0 or worker_address(home) is None:
        return None  # nobody to ask: no reading, no waiting
    session_id = payload.get("session_id") if isinstance(payload.get("session_id"), str) else ""
    task = ""
    for pause in TASK_WAITS:  # Claude Code writes its transcript asynchronously
        time.sleep(pause)
        task = subagent_task(payload.get("transcript_path"), payload.get("agent_type"))
        if task:
            break
    if not task and session_id:
        log(home, "the subagent's task is not in the transcript; its memories are looked up for the latest prompt")
        task = latest_prompt(home, session_id)
    if not task:
        return None
    reply = _ask(home, project, None, task, started, "subagent")
    return None if reply is None else str(reply["text"])


# ---------------------------------------------------------------------- after a compaction

EARLIER_HEADING = "Memories this session was given before the compaction (its summary may not keep their details):"
EARLIER_MAX = 8  # memories
EARLIER_SHARE = 0.5  # of context.budget_tokens, on top of the SessionStart block


def forget_given(home: str, session_id: str) -> list[int]:
    """After a compaction: what the session was given is gone from its context with the turns that
    carried it, so its ``injected:`` entries are cleared (prompt-time lookups may give those memories
    again); returns the ids the prompts had been given, in the order recorded."""
    from offmem.store.meta import take_injected

    conn = connect_light(home)
    try:
        given = take_injected(conn, session_id)
    finally:
        conn.close()
    return [int(i) for i in given if isinstance(i, int) and not isinstance(i, bool)]


def earlier_memories(home: str, project: str, session_id: str, ids: list[int], shown: str) -> str:
    """The memories of ``ids`` (given at prompt time before a compaction) that ``shown`` (the new
    SessionStart block) does not hold, newest first, with their facts, within
    :data:`EARLIER_SHARE` of the budget; they are recorded as given again. "" when none."""
    import _sqlite3

    from offmem.retrieval.format import detail_line
    from offmem.retrieval.tokens import count_tokens
    from offmem.store.observations import get_observations

    wanted = [i for i in sorted(set(ids), reverse=True) if f"#{i} " not in shown]
    if not wanted:
        return ""
    budget = int(context_settings(home)["budget_tokens"] * EARLIER_SHARE)
    conn = connect_light(home)
    try:
        conn.row_factory = _sqlite3.Row
        rows = [o for o in get_observations(conn, wanted[:EARLIER_MAX * 4]) if o.get("project") == project]
        lines, kept = [EARLIER_HEADING], []
        for obs in rows:
            line = detail_line(obs)
            if len(kept) >= EARLIER_MAX or count_tokens("\n".join([*lines, line])) > budget:
                break
            lines.append(line)
            kept.append(int(obs["id"]))
        if kept:
            add_injected(conn, session_id, kept)
    finally:
        conn.close()
    return "\n".join(lines) if kept else ""
