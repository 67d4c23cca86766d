"""A Claude Code session played for real: its transcript file on disk and its hook events.

Each step appends the records Claude Code writes to the session's JSONL transcript
and, where Claude Code runs a hook, delivers the hook payload to the real hook
process (``tests.conftest.run_hook``), with the same tool_use ids, session id and
``transcript_path``: what the worker's transcript stage and pipeline see live.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

VERSION = "2.1.39"


class PlayedSession:
    def __init__(self, folder: Path, session_id: str = "0b6f3c52-live-session", cwd: str = "/home/dev/shop-api",
                 *, deliver=None) -> None:
        from conftest import run_hook

        self.session_id = session_id
        self.cwd = cwd
        self.path = Path(folder) / f"{session_id}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.deliver = deliver or run_hook
        self._ids = itertools.count(1)
        self.hooks = True  # False: write the transcript only (a session offmem did not capture)

    # -- transcript records ------------------------------------------------

    def _uuid(self) -> str:
        return f"u-{next(self._ids):04d}"

    def _record(self, kind: str, **extra) -> dict:
        return {"parentUuid": None, "isSidechain": False, "userType": "external", "cwd": self.cwd,
                "sessionId": self.session_id, "version": VERSION, "type": kind, "uuid": self._uuid(),
                "timestamp": "2026-03-02T10:00:00.000Z", **extra}

    def write(self, *records) -> None:
        with open(self.path, "a", encoding="utf-8") as fh:
            for record in records:
                fh.write((record if isinstance(record, str) else json.dumps(record)) + "\n")

    def _hook(self, kind: str, **payload) -> None:
        if self.hooks:
            done = self.deliver({"session_id": self.session_id, "transcript_path": str(self.path), "cwd": self.cwd,
                                 "hook_event_name": kind, **payload})
            assert done.returncode == 0, done.stderr

    # -- steps ---------------------------------------------------------------

    def start(self) -> "PlayedSession":
        self._hook("SessionStart", source="startup")
        return self

    def prompt(self, text: str) -> None:
        self.write(self._record("user", message={"role": "user", "content": text}))
        self._hook("UserPromptSubmit", prompt=text)

    def say(self, text: str) -> None:
        self.write(self._record("assistant", message={"id": "msg_" + self._uuid(), "role": "assistant",
                                                      "model": "claude-opus-4-6", "content": [{"type": "text", "text": text}]}))

    def tool(self, name: str, tool_input: dict, response, *, error: str | None = None) -> str:
        use_id = f"toolu_{next(self._ids):06d}"
        self.write(self._record("assistant", message={"id": "msg_" + use_id, "role": "assistant", "model": "claude-opus-4-6",
                                                      "content": [{"type": "tool_use", "id": use_id, "name": name,
                                                                   "input": tool_input}]}))
        block = {"tool_use_id": use_id, "type": "tool_result", "content": error if error is not None else json.dumps(response)}
        if error is not None:
            block["is_error"] = True
        self.write(self._record("user", message={"role": "user", "content": [block]},
                                **({} if error is not None else {"toolUseResult": response})))
        if error is not None:
            self._hook("PostToolUseFailure", tool_name=name, tool_input=tool_input, tool_use_id=use_id, error=error)
        else:
            self._hook("PostToolUse", tool_name=name, tool_input=tool_input, tool_use_id=use_id, tool_response=response)
        return use_id

    def bash(self, command: str, stdout: str = "", *, exit_code: int = 0, stderr: str = "") -> str:
        if exit_code:
            return self.tool("Bash", {"command": command}, None, error=f"Exit code {exit_code}\n{stdout}{stderr}")
        return self.tool("Bash", {"command": command}, {"stdout": stdout, "stderr": stderr, "interrupted": False})

    def edit(self, rel: str, old: str, new: str) -> str:
        path = os.path.join(self.cwd, rel)
        return self.tool("Edit", {"file_path": path, "old_string": old, "new_string": new},
                         {"filePath": path, "oldString": old, "newString": new, "structuredPatch": []})

    def read(self, rel: str, content: str = "...") -> str:
        path = os.path.join(self.cwd, rel)
        return self.tool("Read", {"file_path": path}, {"type": "text", "file": {"filePath": path, "content": content}})

    def compact(self, summary: str) -> None:
        self._hook("PreCompact", trigger="auto", custom_instructions="")
        self.write(self._record("system", subtype="compact_boundary", content="Conversation compacted",
                                compactMetadata={"trigger": "auto", "preTokens": 150000}),
                   self._record("user", message={"role": "user", "content": summary}, isCompactSummary=True))

    def stop(self, text: str) -> None:
        self.say(text)
        self._hook("Stop", stop_hook_active=False, last_assistant_message=text)

    def end(self) -> None:
        self._hook("SessionEnd", reason="other")
