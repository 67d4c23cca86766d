"""Privacy: secrets are redacted before anything is stored for search, embedded, logged or sent.

Where redaction happens, and why there
--------------------------------------
The PostToolUse hook runs after every tool call and must cost little more than
starting Python, so it cannot afford ``re`` and a hundred regular expressions.
The design is therefore split by event kind:

* **Tool events** (PostToolUse, PostToolUseFailure) are committed by the hook as
  they arrive, in the ``events`` spool only (no FTS index, no embedding, no log
  line carries their content). Before the pipeline reads a pending event for
  anything (compression, a model prompt, embedding, a log line),
  :class:`offmem.privacy.stage.PrivacyStage` rewrites its payload in place with
  secrets replaced and sets ``events.redacted = 1``. The database runs with
  ``PRAGMA secure_delete=ON``, so the freed bytes of the old payload are zeroed,
  and the stage then runs ``PRAGMA wal_checkpoint(TRUNCATE)`` so the old page
  images in the write-ahead log are gone too; if the checkpoint cannot complete
  (another connection is reading), it is retried on every pass until it does.
  The worker runs the stage on a thread of its own (``Worker.privacy_loop``):
  once when it starts, before any model loads, and every 0.25 s after, whatever
  the models do; the pipeline runs it before each pass and between batches.
  Measured (``bench/bench_privacy.py --window``), a raw tool event stays on disk
  at most about 0.25 s after the hook's commit while the worker runs, including
  while it loads models or compresses; when no worker runs, until one starts.
* **Spool files** (events the hook wrote to ``spool/`` because the database could
  not take them) are stored by the same pass; the ones the database cannot take
  (``.bad``) are redacted in place and deleted after 14 days, and ``offmem forget``
  reaches them (:mod:`offmem.privacy.spool`).
* **Every other event** (UserPromptSubmit, Stop, PreCompact, SessionStart,
  SessionEnd) is redacted in the hook itself, before it is stored: prompts go
  into the ``prompts`` table and its FTS index, and Stop's last assistant message
  into ``sessions``, so secrets must never reach those tables at all.
* **Imported memories** (``offmem import``) are redacted line by line before
  they are stored; transcripts (``offmem import-transcripts``) go through the
  same two steps as live hook events.

``<private>…</private>`` spans are removed by the hook before any of this, and
before long fields are clipped, from every text of every event but the ids
(:func:`offmem.store.events.strip_private_fields`): prompts, ``/compact``
instructions, Stop messages, tool inputs and outputs. A prompt that is all
private records nothing. Excluded projects and paths and the tool skip-list
(``[capture]``) keep whole events out.

What is recognized is described in :mod:`offmem.privacy.redact` and
:mod:`offmem.privacy.patterns`; ``[privacy]`` settings: ``redact`` (on by
default), ``extra_patterns`` (``"name=regex"``), ``entropy_min_length`` and
``entropy_threshold``.
"""

from __future__ import annotations

from offmem.lean import data_home
from offmem.lean.settings import DEFAULTS as _SETTINGS, privacy_settings
from offmem.privacy.redact import MARKER, Finding, Redactor, shannon_entropy

DEFAULTS = _SETTINGS["privacy"]
_CACHE: dict = {}


def _redactor_for(options: dict) -> Redactor:
    """The redactor for ``[privacy]`` ``options`` (the keys of DEFAULTS), built once per process."""
    key = (options["redact"], tuple(options["extra_patterns"]), options["entropy_min_length"], options["entropy_threshold"])
    redactor = _CACHE.get(key)
    if redactor is None:
        from types import SimpleNamespace

        redactor = _CACHE[key] = Redactor.from_settings(SimpleNamespace(privacy=SimpleNamespace(**options)))
    return redactor


def redact_hook_payload(payload: dict, home: str | None = None) -> dict:
    """What the hook stores for a non-tool event: the payload with its content redacted.

    A settings file that cannot be read does not turn redaction off: its last readable
    version applies, else the built-in rules (as for capture). Settings come from
    :func:`offmem.lean.settings.privacy_settings` (the parsed-config cache: no TOML, no
    dataclasses on the hook path).
    """
    if home is None:
        home = data_home()
    try:
        redactor = _redactor_for(privacy_settings(home))
    except Exception:  # noqa: BLE001 - a broken config.toml must not let secrets through
        redactor = _redactor_for(dict(DEFAULTS))
    return redactor.redact_payload(payload)


def default_redactor(settings=None) -> Redactor:
    """The redactor for the configured ``[privacy]`` settings (``settings.privacy``; without
    settings, :func:`offmem.lean.settings.privacy_settings` of the data directory), built once
    per process and setting."""
    if settings is None:
        return _redactor_for(privacy_settings(data_home()))
    return _redactor_for({key: getattr(settings.privacy, key) for key in DEFAULTS})


__all__ = ["DEFAULTS", "MARKER", "Finding", "Redactor", "default_redactor", "redact_hook_payload",
           "shannon_entropy"]
