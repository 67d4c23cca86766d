"""Find and run the real Claude Code CLI against a local Messages API server.

The CLI is the npm package ``@anthropic-ai/claude-code``. The tests run against
two pinned versions (:data:`CLAUDE_VERSIONS`): the one offmem was first built on
(:data:`PINNED_VERSION`, in ``.cache/node``) and the newest checked one
(:data:`NEWEST_VERSION`, in ``.cache/node-<version>``). ``scripts/test.sh``
installs both; by hand::

    npm install --prefix .cache/node @anthropic-ai/claude-code@2.1.197
    npm install --prefix .cache/node-2.1.332 @anthropic-ai/claude-code@2.1.332

or point ``OFFMEM_CLAUDE_BIN`` at a ``claude`` binary (it serves the version it
reports). A test asks for a version with :func:`require_claude`, or takes the
:func:`claude_version` / :func:`claude_bin` fixtures (import them into the test
module), which run it once per version. Update :data:`NEWEST_VERSION` deliberately:
capture its payloads first (``python -m tests.support.capture_payloads``).

What Claude Code 2.1.197 sends in ``-p`` mode with the environment below
(observed against ``FakeAnthropic``):

* ``HEAD /`` once, then only ``POST /v1/messages?beta=true`` with ``stream: true``,
  ``model: claude-opus-4-8``, ``max_tokens: 64000``, ``thinking: {"type": "adaptive"}``,
  ``tools`` (Agent, Bash, Edit, Read, Write, Task*, Cron*, WebFetch, ...; no Glob/Grep)
  and ``metadata.user_id`` (a JSON string holding ``session_id``); header
  ``X-Claude-Code-Session-Id``. No side requests (titles, quota) at all.
* ``system`` is a list of text blocks: a billing header line, the agent identity
  line, then the main prompt, which ends with a ``gitStatus:`` snapshot
  (branch, ``git status`` lines, recent commits): changed file names show up
  there without any memory tool.
* ``messages[0]`` (user): a ``<system-reminder>`` block (currentDate, CLAUDE.md)
  then the prompt. ``messages[1]`` has ``role: "system"`` and carries, in one
  string, ``SessionStart hook additional context: ...`` (plain stdout instead
  shows as ``SessionStart:startup hook success: ...``), the agent and skill lists,
  and ``UserPromptSubmit hook additional context: ...``.
* Tool results come back as ``tool_result`` blocks; a failing Bash command has
  ``is_error: true`` and content starting ``Exit code 1``.
* Hooks run in their own process session; a Stop hook's children outlive the
  CLI. A SessionEnd hook still running after its ~1.5 s budget is killed with
  its whole process tree (even ``start_new_session`` children), so it must
  spawn its work and exit at once.

What both versions do with the newer events, and what 2.1.332 changes (observed with
:mod:`tests.support.capture_payloads`; payloads in ``tests/fixtures/claude-code-<version>/``):

* Both fire PostToolBatch (``tool_calls``), SubagentStart (``agent_id``, ``agent_type``; not
  the task: the Agent call is already in the main transcript when it fires), SubagentStop
  (``agent_transcript_path``, ``last_assistant_message``, ``background_tasks``), PreCompact,
  PostCompact (``compact_summary``) and SessionStart with ``source: "compact"``. The additional
  context of SessionStart (compact) reaches the first request after the compaction, that of
  SubagentStart the subagent's first request.
* A compaction is a subagent of its own (SubagentStop with ``agent_type: ""``, its summary as
  the message); its request carries the tools, and its last user message asks for "a detailed
  summary". 2.1.197 refuses ``/compact`` when no tool was called yet ("Not enough messages").
* 2.1.332 runs the Agent tool in the background unless told otherwise: the call's result is
  ``status: "async_launched"``, the report comes in SubagentStop (the agent is among its
  ``background_tasks``) and in a ``<task-notification>`` that opens a turn of its own
  (UserPromptSubmit with it as the prompt). PreCompact's ``custom_instructions`` is ``null``
  for a bare ``/compact``. StopFailure (``error``, the API error as ``last_assistant_message``)
  fires only in a process that lives on (a stream-json session), not at the end of ``claude -p``.
"""

from __future__ import annotations

import functools
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.fake_anthropic import FakeAnthropic, Reply, _turn_for

REPO_ROOT = Path(__file__).resolve().parents[2]
PINNED_VERSION = "2.1.197"  # the version offmem was built on; .cache/node
NEWEST_VERSION = "2.1.332"  # the newest version checked (payloads in tests/fixtures/claude-code-<version>/)
CLAUDE_VERSIONS = (PINNED_VERSION, NEWEST_VERSION)
LOCAL_BIN = REPO_ROOT / ".cache" / "node" / "node_modules" / ".bin" / "claude"
INSTALL_HINT = (
    "Claude Code CLI not found: run `npm install --prefix .cache/node @anthropic-ai/claude-code@2.1.197` "
    "in the repo root, or set OFFMEM_CLAUDE_BIN to a claude binary"
)
# Variables of an outer Claude Code / Anthropic / offmem setup that must not leak into a test run.
_SCRUBBED_PREFIXES = ("ANTHROPIC_", "CLAUDE", "OFFMEM_")


def install_dir(version: str) -> Path:
    """Where ``scripts/test.sh`` installs ``version``: ``.cache/node`` for the pinned one
    (where it always was), ``.cache/node-<version>`` for any other."""
    name = "node" if version == PINNED_VERSION else f"node-{version}"
    return REPO_ROOT / ".cache" / name


def install_hint(version: str) -> str:
    return (f"Claude Code {version} not found: run `npm install --prefix {install_dir(version).relative_to(REPO_ROOT)}"
            f" @anthropic-ai/claude-code@{version}` in the repo root (scripts/test.sh does), or set"
            f" OFFMEM_CLAUDE_BIN to a claude {version} binary")


@functools.lru_cache(maxsize=None)
def binary_version(path: str) -> str | None:
    """What ``path --version`` reports (``2.1.332 (Claude Code)`` -> ``2.1.332``), None if it cannot say."""
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30,
                             stdin=subprocess.DEVNULL).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    words = out.split()
    return words[0] if words else None


def find_claude(version: str | None = None) -> Path | None:
    """The ``claude`` binary to run.

    Without ``version``: ``$OFFMEM_CLAUDE_BIN``, else the repo's ``.cache/node`` install,
    else ``claude`` on PATH. With one: the first of ``$OFFMEM_CLAUDE_BIN``, the repo's
    install of that version (:func:`install_dir`) and PATH that reports exactly it.
    """
    override = os.environ.get("OFFMEM_CLAUDE_BIN")
    found = shutil.which("claude")
    if version is None:
        if override:
            return Path(override) if Path(override).is_file() else None
        if LOCAL_BIN.exists():
            return LOCAL_BIN
        return Path(found) if found else None
    for candidate in (override, str(install_dir(version) / "node_modules" / ".bin" / "claude"), found):
        if candidate and Path(candidate).is_file() and binary_version(candidate) == version:
            return Path(candidate)
    return None


def require_claude(version: str = PINNED_VERSION) -> Path:
    """The binary of ``version`` for a test; skips the test when it is not installed,
    except under CI (``$CI`` set), where a missing install step must not hide a test."""
    import pytest

    found = find_claude(version)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{install_hint(version)}; CI must run the e2e tests against every version")
        pytest.skip(install_hint(version))
    return found


def _version_fixtures():
    import pytest

    @pytest.fixture(scope="module", params=CLAUDE_VERSIONS, ids=[f"claude-{v}" for v in CLAUDE_VERSIONS])
    def claude_version(request) -> str:
        """Each of :data:`CLAUDE_VERSIONS` in turn (import into a test module to run its tests once per version)."""
        return request.param

    @pytest.fixture(scope="module")
    def claude_bin(claude_version: str) -> Path:
        """The ``claude`` binary of :func:`claude_version` (skipped when missing, failed under CI)."""
        return require_claude(claude_version)

    return claude_version, claude_bin


claude_version, claude_bin = _version_fixtures()


def claude_env(home: Path, base_url: str, offmem_home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """An environment for an offline, non-interactive ``claude`` run in a throwaway HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
    venv_bin = str(Path(sys.executable).parent)
    env.update(
        HOME=str(home),
        PATH=venv_bin + os.pathsep + env.get("PATH", ""),
        ANTHROPIC_BASE_URL=base_url,
        ANTHROPIC_API_KEY="test",
        IS_SANDBOX="1",  # lets root use --dangerously-skip-permissions
        DISABLE_TELEMETRY="1",
        DISABLE_AUTOUPDATER="1",
        DISABLE_ERROR_REPORTING="1",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        OFFMEM_HOME=str(offmem_home),
    )
    env.update(extra or {})
    return env


@dataclass
class ClaudeRun:
    """What one ``claude -p`` run returned."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def result(self) -> dict[str, Any]:
        """The ``--output-format json`` result object (raises if stdout is not JSON)."""
        try:
            return json.loads(self.stdout)
        except ValueError as exc:
            raise AssertionError(f"claude printed no JSON result:\n{self.describe()}") from exc

    def describe(self) -> str:
        return f"$ {' '.join(self.args)}\nexit {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def run_claude(
    prompt: str,
    *,
    cwd: Path,
    home: Path,
    base_url: str,
    offmem_home: Path,
    timeout: float = 90,
    extra_args: tuple[str, ...] = (),
    extra_env: dict[str, str] | None = None,
    binary: Path | None = None,
) -> ClaudeRun:
    """Run ``claude -p PROMPT --dangerously-skip-permissions --output-format json`` in ``cwd``."""
    claude = binary or find_claude()
    if claude is None:
        raise FileNotFoundError(INSTALL_HINT)
    args = [str(claude), "-p", prompt, "--dangerously-skip-permissions", "--output-format", "json", *extra_args]
    env = claude_env(home, base_url, offmem_home, extra_env)
    proc = subprocess.run(
        args, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
    )
    return ClaudeRun(args, proc.returncode, proc.stdout, proc.stderr)


# ---------------------------------------------------------------------- one session, several prompts


class ClaudeSession:
    """One ``claude -p`` session fed prompt by prompt (``--input-format stream-json``).

    :meth:`send` writes one user message and waits for the ``result`` message that
    ends its turn, so each prompt (``/compact`` too) is a turn of its own, as a person
    typing them one after the other would make them. Use as a context manager; on
    exit stdin is closed and the CLI ends the session (SessionEnd hooks run).
    """

    def __init__(self, *, cwd: Path, home: Path, base_url: str, offmem_home: Path, binary: Path | None = None,
                 extra_args: tuple[str, ...] = (), extra_env: dict[str, str] | None = None) -> None:
        claude = binary or find_claude()
        if claude is None:
            raise FileNotFoundError(INSTALL_HINT)
        self.args = [str(claude), "-p", "--input-format", "stream-json", "--output-format", "stream-json",
                     "--verbose", "--dangerously-skip-permissions", *extra_args]
        self.messages: list[dict[str, Any]] = []  # every stream-json message the CLI printed
        self.returncode: int | None = None
        self._lines: queue.Queue = queue.Queue()
        self._proc = subprocess.Popen(
            self.args, cwd=cwd, env=claude_env(home, base_url, offmem_home, extra_env), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
        )
        self._stderr: list[str] = []
        threading.Thread(target=self._pump, args=(self._proc.stdout, self._lines), daemon=True).start()
        threading.Thread(target=lambda: self._stderr.extend(self._proc.stderr), daemon=True).start()

    @staticmethod
    def _pump(stream, lines: queue.Queue) -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    @property
    def session_id(self) -> str | None:
        return next((m.get("session_id") for m in self.messages if m.get("session_id")), None)

    def send(self, prompt: str, timeout: float = 120) -> dict[str, Any]:
        """Send ``prompt``; returns the turn's ``result`` message."""
        message = {"type": "user", "message": {"role": "user", "content": prompt}}
        self._proc.stdin.write(json.dumps(message) + "\n")
        self._proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no result within {timeout:.0f}s for {prompt!r}:\n{self.describe()}") from None
            if line is None:
                raise AssertionError(f"claude exited before answering {prompt!r}:\n{self.describe()}")
            try:
                parsed = json.loads(line)
            except ValueError:
                continue
            self.messages.append(parsed)
            if parsed.get("type") == "result":
                return parsed

    def drain(self, quiet: float = 3.0, timeout: float = 60) -> list[dict[str, Any]]:
        """Take what the CLI prints on its own (a turn a background agent's report started)
        until it has been quiet for ``quiet`` seconds; returns those messages."""
        taken: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=quiet)
            except queue.Empty:
                break
            if line is None:
                break
            try:
                taken.append(json.loads(line))
            except ValueError:
                continue
        self.messages.extend(taken)
        return taken

    def close(self, timeout: float = 60) -> int:
        """End the session (stdin closed) and wait for the CLI to exit; returns its exit code."""
        if self.returncode is None:
            try:
                self._proc.stdin.close()
            except OSError:
                pass
            try:
                self.returncode = self._proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self.returncode = self._proc.wait()
        return self.returncode

    def describe(self) -> str:
        tail = "\n".join(json.dumps(m)[:300] for m in self.messages[-5:])
        return f"$ {' '.join(self.args)}\n--- last messages\n{tail}\n--- stderr\n{''.join(self._stderr)[-2000:]}"

    def __enter__(self) -> ClaudeSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------- a model for subagents and compaction

# How the CLI's requests tell what they are for (both pinned versions): a subagent's request
# carries this in its billing header (system block 0); a compaction's last user message asks for the summary.
SUBAGENT_MARK = "cc_is_subagent=true"
COMPACT_MARK = "create a detailed summary"
NOTIFICATION_MARK = "<task-notification>"  # a background agent's report, as the prompt of a turn


def request_role(body: Any) -> str:
    """``subagent``, ``compact``, ``agent`` (the main loop) or ``side`` (no tools) for a Messages request body."""
    if not isinstance(body, dict) or not body.get("tools"):
        return "side"
    if SUBAGENT_MARK in json.dumps(body.get("system") or "")[:2000]:
        return "subagent"
    # the compaction's instruction is its last user message (2.1.332 may put a system message after it)
    users = [m for m in body.get("messages") or [] if isinstance(m, dict) and m.get("role") == "user"]
    if users and COMPACT_MARK in json.dumps(users[-1]):
        return "compact"
    return "agent"


def _is_prompt(message: Any) -> bool:
    if not isinstance(message, dict) or message.get("role") != "user":
        return False
    content = message.get("content")
    return not (isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "tool_result"
                                                  for b in content))


def _last_prompt(messages: list[Any]) -> Any:
    return next((m for m in reversed(messages) if _is_prompt(m)), None)


def _this_turn(messages: list[Any]) -> list[Any]:
    """The messages since the last prompt (the current turn's assistant steps and tool results)."""
    last = max((n for n, m in enumerate(messages) if _is_prompt(m)), default=-1)
    return messages[last + 1:]


class ScriptedClaude(FakeAnthropic):
    """:class:`FakeAnthropic` that also plays subagents and compactions, turn by turn.

    The main script is one *turn*: the step it plays is the number of assistant messages
    since the last prompt (a user message that is not tool results), so a session fed
    several prompts (:class:`ClaudeSession`) takes a :meth:`set_script` before each, and
    a compaction's summary and what Claude Code keeps around it do not shift the steps.
    A subagent's conversation follows ``subagent_script`` the same way; a compaction
    request gets ``compact_summary``, the turn a background agent's report opens (its
    ``<task-notification>``) ``notification_text``. Side requests and outages are :class:`FakeAnthropic`'s.
    """

    def __init__(self, *, subagent_script=(), compact_summary: str = "Summary: the session so far.",
                 notification_text: str = "Noted.", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.notification_text = notification_text
        self.subagent_script = list(subagent_script)
        self.compact_summary = compact_summary

    def _answer(self, body: dict[str, Any]):
        role = request_role(body)
        with self._lock:
            failing = self._state.fail_status is not None
        if failing or role == "side":
            return super()._answer(body)
        if role == "compact":
            return Reply(self.compact_summary)
        messages = body.get("messages") or []
        if role == "agent" and NOTIFICATION_MARK in json.dumps(_last_prompt(messages)):
            return Reply(self.notification_text)
        with self._lock:
            script = self.subagent_script if role == "subagent" else self._state.script
        turn = _turn_for(script, _this_turn(messages), self.done_text)
        return Reply(turn) if isinstance(turn, str) else turn

    def requests_of(self, role: str, run: int | None = None) -> list:
        """Recorded Messages requests of one :func:`request_role`."""
        return [r for r in self.messages_requests(run) if request_role(r.body) == role]
