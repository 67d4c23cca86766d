"""The privacy stage: redact queued events in place before anything reads them.

The worker runs it on a thread of its own, from its start and every 0.25 s
(:meth:`offmem.worker.runner.Worker.privacy_loop`); the pipeline before each pass
and between batches.

Tool events reach the ``events`` table raw (the hook cannot afford redaction;
see :mod:`offmem.privacy`). :meth:`PrivacyStage.run` rewrites every event whose
``redacted`` flag is 0, oldest first, with secrets replaced, and sets the flag;
the pipeline reads only flagged events. Because ``secure_delete`` is on, SQLite
zeroes the freed bytes of the old payload, and a ``wal_checkpoint(TRUNCATE)``
then removes the old page images from the write-ahead log. A checkpoint that
cannot finish (a reader holds an old snapshot) is retried on the next pass.

Two kinds of events are set aside rather than processed, each with its reason
in ``last_error``:

* ``status = 'corrupt'``: a payload that is not a JSON object (a damaged row);
  its text is redacted all the same and it is never retried;
* ``status = 'excluded'``: a tool event on a file inside ``capture.excluded_paths``
  (reading ``~/.ssh/config`` from an ordinary project); its payload is dropped.

It rewrites payloads in place, so this module runs its own SQL, one of the three
places outside :mod:`offmem.store` that do (with :mod:`offmem.search` and
:mod:`offmem.privacy.forget`); the WAL checkpoint after it is
:func:`offmem.store.db.checkpoint`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass

from offmem.privacy.redact import Redactor
from offmem.store.db import Store, checkpoint, transaction

TOOL_KINDS = ("PostToolUse", "PostToolUseFailure")
PATH_KEYS = ("file_path", "notebook_path", "path")


@dataclass
class StageResult:
    redacted: int = 0  # events that went through the stage
    changed: int = 0  # of which a secret was replaced
    corrupt: int = 0
    excluded: int = 0
    checkpointed: bool = True


def _valid_unicode(value):
    """A copy of a JSON value whose strings are valid UTF-8 (a lone surrogate becomes '?')."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "replace").decode("utf-8")
        return value
    if isinstance(value, dict):
        return {_valid_unicode(k): _valid_unicode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_valid_unicode(v) for v in value]
    return value


def _under(path: str, roots: list[str]) -> bool:
    path = os.path.normpath(os.path.expanduser(path))
    return any(path == root or path.startswith(root + os.sep) for root in roots)


class PrivacyStage:
    """Redacts pending events in place; one per pipeline."""

    def __init__(
        self,
        redactor: Redactor,
        *,
        excluded_paths: list[str] | tuple[str, ...] = (),
        batch: int = 200,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.redactor = redactor
        self.excluded = [os.path.normpath(os.path.expanduser(p)).rstrip(os.sep) for p in excluded_paths if str(p).strip()]
        self.batch = max(1, batch)
        self.log = log or (lambda message: None)
        self.checkpoint_due = False
        for warning in redactor.warnings:
            self.log(f"privacy: {warning}; that pattern is skipped")

    @classmethod
    def from_settings(cls, settings, log: Callable[[str], None] | None = None) -> "PrivacyStage":
        from offmem.privacy import default_redactor

        return cls(default_redactor(settings), excluded_paths=list(settings.capture.excluded_paths), log=log)

    def run(self, store: Store, limit: int | None = None) -> StageResult:
        """Redact up to ``limit`` unredacted events (all when None), then checkpoint if needed."""
        result = StageResult()
        conn = store.conn
        while limit is None or result.redacted < limit:
            size = self.batch if limit is None else min(self.batch, limit - result.redacted)
            rows = conn.execute(
                "SELECT id, kind, payload FROM events WHERE redacted = 0 ORDER BY id LIMIT ?", (size,)
            ).fetchall()
            if not rows:
                break
            updates = [self._rewrite(row, result) for row in rows]
            with transaction(conn):
                conn.executemany(
                    "UPDATE events SET payload = ?, redacted = 1, status = COALESCE(?, status),"
                    " last_error = COALESCE(?, last_error) WHERE id = ? AND redacted = 0",
                    updates,
                )
            result.redacted += len(rows)
        if result.changed or result.corrupt or result.excluded:
            self.checkpoint_due = True
        if self.checkpoint_due:
            self.checkpoint_due = not checkpoint(conn)
            if self.checkpoint_due:
                self.log("privacy: the WAL checkpoint was blocked by another connection; retrying on the next pass")
        result.checkpointed = not self.checkpoint_due
        return result

    def _rewrite(self, row, result: StageResult) -> tuple:
        """``(payload, status, last_error, id)`` for the UPDATE of one event."""
        raw = row["payload"]
        try:
            payload = json.loads(raw)
        except (TypeError, ValueError):
            payload = None
        original = payload
        if isinstance(payload, dict) and ("\\ud" in raw or "\\uD" in raw):
            payload = _valid_unicode(payload)  # lone surrogates from JSON escapes: SQLite cannot store them as text
        if not isinstance(payload, dict):
            result.corrupt += 1
            text = self.redactor.redact_text(str(raw))
            result.changed += text != raw
            return (text, "corrupt", "payload is not a JSON object; kept aside, not processed", row["id"])
        if row["kind"] in TOOL_KINDS and self._excluded(payload):
            result.excluded += 1
            stub = {k: payload.get(k) for k in ("session_id", "cwd", "hook_event_name", "tool_name", "tool_use_id")}
            return (json.dumps(stub), "excluded", "file inside capture.excluded_paths; not remembered", row["id"])
        clean = self.redactor.redact_payload(payload)
        if clean == original:
            return (raw, None, None, row["id"])
        result.changed += 1
        return (json.dumps(clean, separators=(",", ":")), None, None, row["id"])

    def _excluded(self, payload: dict) -> bool:
        if not self.excluded:
            return False
        tool_input = payload.get("tool_input")
        if not isinstance(tool_input, dict):
            return False
        paths = [tool_input.get(k) for k in PATH_KEYS]
        return any(isinstance(p, str) and p and _under(p, self.excluded) for p in paths)
