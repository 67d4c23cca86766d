"""Privacy: secrets are redacted before anything is stored for search, embedded, logged or sent.

Where redaction happens, and why there
--------------------------------------
The PostToolUse hook runs after every tool call and must cost little more than
starting Python, so it cannot afford ``re`` and a hundred regular expressions.
The design is therefore split by event kind:

* **Tool events** (PostToolUse, PostToolUseFailure) are committed by the hook as
  they arrive, in the ``events`` spool only (no FTS index, no embedding, no log
  line carries their content). Before the pipeline reads a pending event for
  anything (compression, a model prompt, embedding, a log line), the worker's
  first step, :class:`offmem.privacy.stage.PrivacyStage`, rewrites its payload
  in place with secrets replaced and sets ``events.redacted = 1``. The database
  runs with ``PRAGMA secure_delete=ON``, so the freed bytes of the old payload are
  zeroed, and the stage then runs ``PRAGMA wal_checkpoint(TRUNCATE)`` so the old
  page images in the write-ahead log are gone too. The raw secret therefore
  lives on disk only between the hook's commit and the worker's next pass
  (about a second while the worker runs); if the checkpoint cannot complete
  (another connection is reading), it is retried on every pass until it does.
  Events the hook had to spool to files (database locked) are plain files until
  the worker ingests and deletes them.
* **Every other event** (UserPromptSubmit, Stop, PreCompact, SessionStart,
  SessionEnd) is redacted in the hook itself, before it is stored: prompts go
  into the ``prompts`` table and its FTS index, and Stop's last assistant message
  into ``sessions``, so secrets must never reach those tables at all.
* **Imported memories** (``offmem import``) are redacted line by line before
  they are stored; transcripts (``offmem import-transcripts``) go through the
  same two steps as live hook events.

``<private>…</private>`` spans are removed by the hook before any of this
(a prompt that is all private records nothing). Excluded projects and paths and
the tool skip-list (``[capture]``) keep whole events out.

What is recognized is described in :mod:`offmem.privacy.redact` and
:mod:`offmem.privacy.patterns`; ``[privacy]`` settings: ``redact`` (on by
default), ``extra_patterns`` (``"name=regex"``), ``entropy_min_length`` and
``entropy_threshold``.
"""

from __future__ import annotations

from offmem.privacy.redact import MARKER, Finding, Redactor, shannon_entropy

_CACHE: dict = {}


def default_redactor(settings=None) -> Redactor:
    """The redactor for the configured ``[privacy]`` settings, built once per process and setting."""
    if settings is None:
        from offmem.config import load_settings

        settings = load_settings()
    p = settings.privacy
    key = (tuple(p.extra_patterns), p.entropy_min_length, p.entropy_threshold, p.redact)
    redactor = _CACHE.get(key)
    if redactor is None:
        redactor = _CACHE[key] = Redactor.from_settings(settings)
    return redactor


def redact_hook_payload(payload: dict, settings=None) -> dict:
    """What the hook stores for a non-tool event: the payload with its content redacted.

    A settings file that cannot be read does not turn redaction off: the built-in
    rules apply.
    """
    try:
        redactor = default_redactor(settings)
    except Exception:  # noqa: BLE001 - a broken config.toml must not let secrets through
        redactor = _CACHE.setdefault("builtin", Redactor())
    return redactor.redact_payload(payload)


__all__ = ["MARKER", "Finding", "Redactor", "default_redactor", "redact_hook_payload", "shannon_entropy"]
