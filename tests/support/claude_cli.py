"""Find and run the real Claude Code CLI against a local Messages API server.

The CLI is the npm package ``@anthropic-ai/claude-code``; install it for the
tests with::

    npm install --prefix .cache/node @anthropic-ai/claude-code@2.1.197

or point ``OFFMEM_CLAUDE_BIN`` at a ``claude`` binary.

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
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCAL_BIN = REPO_ROOT / ".cache" / "node" / "node_modules" / ".bin" / "claude"
INSTALL_HINT = (
    "Claude Code CLI not found: run `npm install --prefix .cache/node @anthropic-ai/claude-code@2.1.197` "
    "in the repo root, or set OFFMEM_CLAUDE_BIN to a claude binary"
)
# Variables of an outer Claude Code / Anthropic / offmem setup that must not leak into a test run.
_SCRUBBED_PREFIXES = ("ANTHROPIC_", "CLAUDE", "OFFMEM_")


def find_claude() -> Path | None:
    """``$OFFMEM_CLAUDE_BIN``, else the repo's ``.cache/node`` install, else ``claude`` on PATH."""
    override = os.environ.get("OFFMEM_CLAUDE_BIN")
    if override:
        return Path(override) if Path(override).is_file() else None
    if LOCAL_BIN.exists():
        return LOCAL_BIN
    found = shutil.which("claude")
    return Path(found) if found else None


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
