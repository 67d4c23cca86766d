"""Incremental, resumable reading of a Claude Code transcript into typed evidence.

A transcript is JSON Lines (``~/.claude/projects/<cwd>/<session>.jsonl``) that
Claude Code appends to while the session runs. :func:`read_transcript` reads
what was appended since the last call, starting at a byte offset kept in a
:class:`TranscriptState`, and returns :class:`Evidence` items plus the new state.
The state is plain JSON (:meth:`TranscriptState.to_dict`), so a worker can store
it next to what it made of the items and resume after a restart.

What becomes evidence (``Evidence.kind``):

``assistant_text``
    The agent's text blocks on the main thread: what it found, why it chose or
    rejected something, what is left. ``after_tool_use_id`` names the last tool
    call before it (``None`` before the first), ``prompt_index`` the typed prompt
    it belongs to (1 for the first, 0 before any; like offmem's ``prompt_number``),
    ``prompts_since_tool`` how many typed prompts came between that tool call (or
    the session's start) and the item: 0 within the same turn, 1 for the reply to
    the next prompt, and so on. Counting relative to the tool call lets a caller
    place the item among its own events even when its prompt numbering differs.
``user_prompt`` / ``user_correction``
    Text the user typed (not tool results, command wrappers, injected ``isMeta``
    text or compaction summaries). A prompt right after an interruption or a
    rejected tool call has ``meta["after_interrupt"]``; the words a user gives when
    rejecting a tool call ("… the user said: …") are a ``user_correction``.
``compact_summary`` / ``compact_boundary``
    Claude Code's own summary after a compaction (``isCompactSummary`` user
    records) and the boundary marker (``system``/``compact_boundary``, text empty,
    ``meta`` has ``trigger`` and ``pre_tokens``).
``subagent_result``
    The report a Task/Agent tool call returned to the main thread.
``subagent_text``
    A subagent's own text blocks: in the 2.1.x layout
    (``<session>/subagents/agent-<id>.jsonl``, also read by :func:`read_transcript`),
    in the older ``agent-<id>.jsonl`` files beside the session's file, and in inline
    sidechain records (``isSidechain: true``, 1.0.x). ``agent_id`` says which.
``task_notification``
    Claude Code's ``<task-notification>`` of a finished background command or agent.
``summary``
    The ``summary`` records older versions write (a session title; they may name
    another session's leaf).

Robustness: only complete lines are read (a partly written last line is left for
the next call unless ``final=True``); a line that is not a JSON object is
skipped and counted; a line longer than ``max_line_bytes`` is skipped without
being held in memory; a file that was truncated, replaced (other inode) or
rewritten (its first bytes changed) is read again from the start, and items
already returned are not returned again (their keys are in the state). A
missing or unreadable file, or one that is not a regular file (a FIFO would block
the reader), yields nothing and an error in the stats; this module never raises
for the file's content.

Privacy: every text goes through the caller's ``redact`` function (pass the
configured :class:`offmem.privacy.Redactor`'s ``redact_text``, the same one the
worker applies to events) after ``<private>…</private>`` spans are removed with
the hook's own :func:`offmem.store.events.strip_private`. The hook strips those
spans from prompts only; here they are stripped from every kind, since the agent
and the compaction summary can quote what the user marked private. An item whose
text is empty afterwards is dropped, like an all-private prompt.

Not evidence: tool calls and results other than subagent reports (the hooks
deliver those), ``thinking`` blocks, ``progress``, ``file-history-snapshot``,
``queue-operation``, ``attachment`` records, API error messages, and the
``agent-acompact-*`` subagent files (the compaction's own generation; the main
file's ``isCompactSummary`` record carries the summary).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from offmem.store.events import strip_private

EVIDENCE_KINDS = (
    "assistant_text",
    "user_prompt",
    "user_correction",
    "compact_summary",
    "compact_boundary",
    "subagent_result",
    "subagent_text",
    "task_notification",
    "summary",
)
TASK_TOOLS = frozenset({"Task", "Agent"})
# Text in user records that Claude Code (not the user) wrote.
SYSTEM_PROMPT_PREFIXES = (
    "<command-", "<local-command", "Caveat: ", "<bash-input>", "<bash-stdout>", "<bash-stderr>",
    "<system-reminder>", "<user-memory-input>",
)
INTERRUPT_PREFIX = "[Request interrupted"
TASK_NOTIFICATION = "<task-notification>"
REJECTION_PREFIX = "The user doesn't want to proceed"
REJECTION_SAID = "the user said:"
COMPACT_AGENT_PREFIX = "agent-acompact"

CHUNK_BYTES = 1 << 20
DEFAULT_MAX_LINE_BYTES = 16 << 20
HEAD_BYTES = 4096  # the first bytes are fingerprinted to notice a rewritten file


@dataclass
class Evidence:
    """One piece of what a session said, with where it sits in the transcript."""

    kind: str
    text: str
    session_id: str | None
    timestamp: str | None
    source: str  # the file it was read from
    offset: int  # byte offset of its record's line in that file
    uuid: str | None = None  # the record's uuid
    after_tool_use_id: str | None = None  # last tool call of the same thread before it
    prompt_index: int = 0  # the main thread's typed prompt it belongs to (1-based; 0 before the first)
    prompts_since_tool: int = 0  # typed prompts between after_tool_use_id and this item (0: same turn)
    agent_id: str | None = None  # subagent items: which subagent
    key: str = ""  # stable identity: record uuid (or line hash) and block number
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class FileState:
    """Where reading one file stopped, and what is needed to resume it."""

    offset: int = 0
    inode: int | None = None
    device: int | None = None
    head_len: int = 0
    head_hash: str = ""
    skipping: bool = False  # inside a line longer than max_line_bytes
    malformed: int = 0  # lines that were not JSON objects (all calls)
    oversized: int = 0  # lines skipped for their size (all calls)
    restarts: int = 0  # times the file was read again from the start
    seen: list[str] = field(default_factory=list)  # keys of the items already returned
    # reading context, rebuilt from the start after a restart
    session_id: str | None = None
    tools: dict[str, str] = field(default_factory=dict)  # open Task/Agent tool_use id -> name
    last_tool_use: str | None = None
    last_side_tool_use: str | None = None
    prompts: int = 0
    tool_prompt: int = 0  # ``prompts`` when last_tool_use was seen
    after_interrupt: bool = False

    def reset_context(self) -> None:
        self.offset = 0
        self.skipping = False
        self.head_len, self.head_hash = 0, ""
        self.session_id = None
        self.tools = {}
        self.last_tool_use = self.last_side_tool_use = None
        self.prompts = self.tool_prompt = 0
        self.after_interrupt = False

    @classmethod
    def from_dict(cls, data) -> "FileState":
        state = cls()
        if not isinstance(data, dict):
            return state
        for name, default in asdict(state).items():
            value = data.get(name, default)
            if isinstance(default, bool):
                ok = isinstance(value, bool)
            elif isinstance(default, int):
                ok = isinstance(value, int) and not isinstance(value, bool)
            elif isinstance(default, list):
                ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
            elif isinstance(default, dict):
                ok = isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
            else:  # optional str / int
                ok = value is None or isinstance(value, (str, int)) and not isinstance(value, bool)
            if ok:
                setattr(state, name, value)
        return state


@dataclass
class TranscriptState:
    """Reading state of a session: its main file and each subagent file."""

    main: FileState = field(default_factory=FileState)
    subagents: dict[str, FileState] = field(default_factory=dict)  # file name -> state
    not_ours: list[str] = field(default_factory=list)  # sibling agent-*.jsonl of other sessions

    def to_dict(self) -> dict:
        return {"version": 1, "main": asdict(self.main),
                "subagents": {name: asdict(s) for name, s in self.subagents.items()},
                "not_ours": list(self.not_ours)}

    @classmethod
    def from_dict(cls, data) -> "TranscriptState":
        """A state from :meth:`to_dict`'s output; anything unreadable starts afresh."""
        if not isinstance(data, dict) or data.get("version") != 1:
            return cls()
        subs = data.get("subagents") if isinstance(data.get("subagents"), dict) else {}
        not_ours = data.get("not_ours") if isinstance(data.get("not_ours"), list) else []
        return cls(main=FileState.from_dict(data.get("main")),
                   subagents={str(k): FileState.from_dict(v) for k, v in subs.items()},
                   not_ours=[str(n) for n in not_ours])


@dataclass
class ReadResult:
    items: list[Evidence]
    state: TranscriptState
    bytes_read: int = 0
    lines: int = 0
    malformed: int = 0  # in this call
    oversized: int = 0  # in this call
    restarts: int = 0  # in this call
    more: bool = False  # max_bytes stopped a file before its end
    errors: list[str] = field(default_factory=list)  # missing or unreadable files


def make_redact(redactor) -> Callable[[str], str]:
    """The ``redact`` argument for a :class:`offmem.privacy.Redactor` (or anything with ``redact_text``)."""
    return redactor.redact_text


# ---------------------------------------------------------------------------- records


def _text_of(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(b["text"] for b in content
                         if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str))
    return ""


class _FileReader:
    """Turns one file's records into evidence, updating its :class:`FileState`."""

    def __init__(self, path: Path, state: FileState, redact: Callable[[str], str], *,
                 agent_id: str | None, out: list[Evidence]) -> None:
        self.path = path
        self.source = str(path)
        self.state = state
        self.redact = redact
        self.agent_id = agent_id  # set for a subagent file
        self.out = out
        self.seen = set(state.seen)

    # -- emitting -------------------------------------------------------------

    def emit(self, kind: str, text: str, record: dict, offset: int, key: str, *,
             agent_id: str | None = None, side: bool = False, meta: dict | None = None, keep_empty: bool = False) -> None:
        if key in self.seen:
            return
        if text:
            text = strip_private(text)
            text = self.redact(text).strip() if text else ""
        if not text and not keep_empty:
            return
        self.seen.add(key)
        self.state.seen.append(key)
        s = self.state
        self.out.append(Evidence(
            kind=kind, text=text,
            session_id=record.get("sessionId") if isinstance(record.get("sessionId"), str) else s.session_id,
            timestamp=record.get("timestamp") if isinstance(record.get("timestamp"), str) else None,
            source=self.source, offset=offset,
            uuid=record.get("uuid") if isinstance(record.get("uuid"), str) else None,
            after_tool_use_id=s.last_side_tool_use if side else s.last_tool_use,
            prompt_index=s.prompts, agent_id=agent_id, key=key, meta=meta or {},
            prompts_since_tool=0 if side else s.prompts - (s.tool_prompt if s.last_tool_use else 0),
        ))

    # -- records --------------------------------------------------------------

    def feed(self, record: dict, offset: int, raw: bytes) -> None:
        s = self.state
        if s.session_id is None and isinstance(record.get("sessionId"), str):
            s.session_id = record["sessionId"]
        uuid = record.get("uuid")
        ident = uuid if isinstance(uuid, str) and uuid else "h:" + hashlib.sha1(raw.strip()).hexdigest()[:20]
        kind = record.get("type")
        side = bool(record.get("isSidechain")) or self.agent_id is not None
        agent = self.agent_id or (record.get("agentId") if isinstance(record.get("agentId"), str) else None)
        if kind == "summary":
            text = record.get("summary") if isinstance(record.get("summary"), str) else ""
            leaf = record.get("leafUuid") if isinstance(record.get("leafUuid"), str) else None
            self.emit("summary", text, record, offset, f"{ident}#summary", meta={"leaf_uuid": leaf})
        elif kind == "system":
            if record.get("subtype") == "compact_boundary" and not side:
                data = record.get("compactMetadata") if isinstance(record.get("compactMetadata"), dict) else {}
                self.emit("compact_boundary", "", record, offset, f"{ident}#boundary", keep_empty=True,
                          meta={"trigger": data.get("trigger"), "pre_tokens": data.get("preTokens")})
        elif kind == "assistant":
            self._assistant(record, offset, ident, side, agent)
        elif kind == "user":
            self._user(record, offset, ident, side)

    def _assistant(self, record: dict, offset: int, ident: str, side: bool, agent: str | None) -> None:
        message = record.get("message") if isinstance(record.get("message"), dict) else {}
        if record.get("isApiErrorMessage") or message.get("model") == "<synthetic>":
            return
        content = message.get("content")
        blocks = content if isinstance(content, list) else [{"type": "text", "text": content}] if isinstance(content, str) else []
        for number, block in enumerate(blocks):
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text" and isinstance(block.get("text"), str):
                meta = {"message_id": message.get("id")} if isinstance(message.get("id"), str) else {}
                self.emit("subagent_text" if side else "assistant_text", block["text"], record, offset,
                          f"{ident}#{number}", agent_id=agent if side else None, side=side, meta=meta)
            elif block.get("type") == "tool_use" and isinstance(block.get("id"), str):
                if side:
                    self.state.last_side_tool_use = block["id"]
                else:
                    self.state.last_tool_use = block["id"]
                    self.state.tool_prompt = self.state.prompts
                    if block.get("name") in TASK_TOOLS:
                        self.state.tools[block["id"]] = str(block["name"])

    def _user(self, record: dict, offset: int, ident: str, side: bool) -> None:
        s = self.state
        message = record.get("message") if isinstance(record.get("message"), dict) else {}
        content = message.get("content")
        if record.get("isCompactSummary"):
            if not side:
                self.emit("compact_summary", _text_of(content), record, offset, f"{ident}#compact")
            return
        if side:
            return  # a subagent's task prompt or its tool results
        blocks = content if isinstance(content, list) else []
        results = [b for b in blocks if isinstance(b, dict) and b.get("type") == "tool_result"]
        if results:
            for number, block in enumerate(blocks):
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    self._tool_result(record, offset, f"{ident}#{number}", block)
            return
        if record.get("isMeta"):
            return
        text = _text_of(content).strip()
        if not text:
            return
        if text.startswith(INTERRUPT_PREFIX):
            s.after_interrupt = True
        elif text.startswith(TASK_NOTIFICATION):
            self.emit("task_notification", text, record, offset, f"{ident}#task")
        elif not text.startswith(SYSTEM_PROMPT_PREFIXES):
            meta = {"after_interrupt": True} if s.after_interrupt else {}
            s.prompts += 1
            s.after_interrupt = False
            self.emit("user_prompt", text, record, offset, f"{ident}#prompt", meta=meta)

    def _tool_result(self, record: dict, offset: int, key: str, block: dict) -> None:
        s = self.state
        use_id = block.get("tool_use_id") if isinstance(block.get("tool_use_id"), str) else None
        text = _text_of(block.get("content"))
        tool = s.tools.pop(use_id, None) if use_id else None
        if block.get("is_error") and text.startswith(REJECTION_PREFIX):
            s.after_interrupt = True
            said = text.find(REJECTION_SAID)
            if said >= 0:
                self.emit("user_correction", text[said + len(REJECTION_SAID):], record, offset, key,
                          meta={"tool_use_id": use_id})
                s.after_interrupt = False
            return
        if tool is not None and not block.get("is_error"):
            result = record.get("toolUseResult") if isinstance(record.get("toolUseResult"), dict) else {}
            meta = {"tool_use_id": use_id, "tool": tool}
            if isinstance(result.get("agentId"), str):
                meta["agent_id"] = result["agentId"]
            if isinstance(result.get("status"), str):
                meta["status"] = result["status"]
            self.emit("subagent_result", text, record, offset, key, meta=meta)

    # -- bytes ----------------------------------------------------------------

    def handle_line(self, raw: bytes, offset: int, result: ReadResult) -> None:
        result.lines += 1
        if not raw.strip():
            return
        try:
            record = json.loads(raw.decode("utf-8", errors="replace"))
        except (ValueError, RecursionError):  # damage, or nesting deeper than the parser goes
            record = None
        if not isinstance(record, dict):
            self.state.malformed += 1
            result.malformed += 1
            return
        try:
            self.feed(record, offset, raw)
        except Exception:  # noqa: BLE001 - an odd record shape must not stop the reading
            self.state.malformed += 1
            result.malformed += 1


def _open_regular(path: Path):
    """``path`` opened for binary reading, only if it is a regular file.

    Opened non-blocking and checked before any read: a FIFO, socket or device put
    where a transcript is expected must not hang the worker (OSError instead).
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _head_hash(fh, length: int) -> str:
    fh.seek(0)
    return hashlib.sha1(fh.read(length)).hexdigest()


def _read_file(path: Path, state: FileState, redact: Callable[[str], str], result: ReadResult, *,
               agent_id: str | None, final: bool, max_bytes: int | None, max_line_bytes: int) -> None:
    """Read one file from ``state.offset``; evidence goes to ``result.items``."""
    reader = _FileReader(path, state, redact, agent_id=agent_id, out=result.items)
    try:
        fh = _open_regular(path)
    except OSError as exc:
        result.errors.append(f"{path}: {type(exc).__name__}: {exc}")
        return
    with fh:
        try:
            info = os.fstat(fh.fileno())
            rewritten = (
                (state.inode is not None and (info.st_ino, info.st_dev) != (state.inode, state.device))
                or info.st_size < state.offset
                or (state.head_len and _head_hash(fh, state.head_len) != state.head_hash)
            )
            if rewritten:
                state.reset_context()
                state.restarts += 1
                result.restarts += 1
            state.inode, state.device = info.st_ino, info.st_dev
            if _scan(fh, reader, result, final=final, max_bytes=max_bytes, max_line_bytes=max_line_bytes):
                result.more = result.more or state.offset < info.st_size
            if state.head_len < HEAD_BYTES and state.offset > state.head_len:
                state.head_len = min(HEAD_BYTES, state.offset)
                state.head_hash = _head_hash(fh, state.head_len)
        except OSError as exc:
            result.errors.append(f"{path}: {type(exc).__name__}: {exc}")


def _scan(fh, reader: _FileReader, result: ReadResult, *, final: bool, max_bytes: int | None,
          max_line_bytes: int) -> bool:
    """Read complete lines from ``state.offset``; True when ``max_bytes`` stopped it early."""
    state = reader.state
    stopped = False
    start = state.offset
    fh.seek(start)
    buf = b""
    pos = start  # file offset of buf[0]
    taken = 0  # bytes read in this call
    size = CHUNK_BYTES if max_bytes is None else max(1, min(CHUNK_BYTES, max_bytes))
    while True:
        if max_bytes is not None and taken >= max_bytes and pos > start:  # always make progress
            stopped = True
            break
        chunk = fh.read(size)
        if not chunk:
            break
        taken += len(chunk)
        result.bytes_read += len(chunk)
        if state.skipping:  # the rest of an oversized line
            newline = chunk.find(b"\n")
            if newline < 0:
                pos += len(chunk)
                state.offset = pos
                continue
            state.skipping = False
            pos += newline + 1
            chunk = chunk[newline + 1:]
        buf += chunk
        begin = 0
        while True:
            newline = buf.find(b"\n", begin)
            if newline < 0:
                break
            if newline - begin > max_line_bytes:
                state.oversized += 1
                result.oversized += 1
            else:
                reader.handle_line(buf[begin:newline], pos + begin, result)
            begin = newline + 1
            state.offset = pos + begin
        buf = buf[begin:]
        pos += begin
        if len(buf) > max_line_bytes:  # no end in sight: skip it without holding it
            state.oversized += 1
            result.oversized += 1
            state.skipping = True
            pos += len(buf)
            buf = b""
            state.offset = pos
    if final and not stopped:
        if buf:  # a last line without its newline: the session is over, take it as it is
            reader.handle_line(buf, pos, result)
            pos += len(buf)
        state.skipping = False
        state.offset = pos
    return stopped


# ---------------------------------------------------------------------------- sessions


def _first_session_id(path: Path) -> str | None:
    try:
        with _open_regular(path) as fh:
            for _ in range(20):
                line = fh.readline(DEFAULT_MAX_LINE_BYTES)
                if not line:
                    break
                try:
                    record = json.loads(line.decode("utf-8", errors="replace"))
                except (ValueError, RecursionError):
                    continue
                if isinstance(record, dict) and isinstance(record.get("sessionId"), str):
                    return record["sessionId"]
    except OSError:
        pass
    return None


def subagent_files(path: str | os.PathLike, session_id: str | None = None,
                   not_ours: list[str] | None = None) -> list[tuple[str, Path]]:
    """``(name, path)`` of a session's subagent transcripts, sorted by name.

    2.1.x keeps them in ``<session>/subagents/agent-*.jsonl`` next to the session's
    file; older versions wrote ``agent-*.jsonl`` beside it, which belong to this
    session only when their ``sessionId`` says so (``session_id`` must be given to
    look at those; names found to be another session's are added to ``not_ours``).
    The compaction agent's files (``agent-acompact-*``) are left out.
    """
    main = Path(path)
    found: dict[str, Path] = {}
    folder = main.with_suffix("") / "subagents"
    try:
        for entry in os.scandir(folder):
            if entry.name.endswith(".jsonl") and not entry.name.startswith(COMPACT_AGENT_PREFIX) and entry.is_file():
                found["subagents/" + entry.name] = Path(entry.path)
    except OSError:
        pass
    if session_id is not None:
        skip = not_ours if not_ours is not None else []
        try:
            entries = list(os.scandir(main.parent))
        except OSError:
            entries = []
        for entry in entries:
            name = entry.name
            if (not name.startswith("agent-") or not name.endswith(".jsonl") or name.startswith(COMPACT_AGENT_PREFIX)
                    or name in skip or not entry.is_file()):
                continue
            owner = _first_session_id(Path(entry.path))
            if owner == session_id:
                found[name] = Path(entry.path)
            elif owner is not None:  # another session's (an empty new file is looked at again)
                skip.append(name)
    return sorted(found.items())


def _agent_id_of(name: str) -> str:
    stem = name.rsplit("/", 1)[-1][: -len(".jsonl")]
    return stem[len("agent-"):] if stem.startswith("agent-") else stem


def read_transcript(
    path: str | os.PathLike,
    state: TranscriptState | None = None,
    *,
    redact: Callable[[str], str],
    final: bool = False,
    subagents: bool = True,
    max_bytes: int | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> ReadResult:
    """The evidence appended to a session's transcript (and its subagents' files) since ``state``.

    ``redact`` is applied to every text (after ``<private>`` spans are removed);
    ``final`` takes a last line that has no newline (the session ended);
    ``max_bytes`` bounds the bytes read per file in this call (``more`` is set when
    it stopped one early). The returned ``state`` (also updated in place) resumes
    where this call stopped. Items come main file first, then each subagent file,
    each in file order.
    """
    state = state if state is not None else TranscriptState()
    result = ReadResult(items=[], state=state)
    main = Path(path)
    _read_file(main, state.main, redact, result, agent_id=None, final=final,
               max_bytes=max_bytes, max_line_bytes=max_line_bytes)
    if subagents:
        for name, sub in subagent_files(main, state.main.session_id, state.not_ours):
            sub_state = state.subagents.setdefault(name, FileState())
            _read_file(sub, sub_state, redact, result, agent_id=_agent_id_of(name), final=final,
                       max_bytes=max_bytes, max_line_bytes=max_line_bytes)
    return result
