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
(:func:`offmem.hooks.capture.strip_private_fields`): prompts, ``/compact``
instructions, Stop messages, tool inputs and outputs. A prompt that is all
private records nothing. Excluded projects and paths and the tool skip-list
(``[capture]``) keep whole events out.

What is recognized is described in :mod:`offmem.privacy.redact` and
:mod:`offmem.privacy.patterns`; ``[privacy]`` settings: ``redact`` (on by
default), ``extra_patterns`` (``"name=regex"``), ``entropy_min_length`` and
``entropy_threshold``.
"""

from __future__ import annotations

import os

from offmem.config_cache import cached_config, data_home
from offmem.privacy.redact import MARKER, Finding, Redactor, shannon_entropy

DEFAULTS = {"redact": True, "extra_patterns": [], "entropy_min_length": 24, "entropy_threshold": 4.0}
_CACHE: dict = {}


def _redactor_for(options: dict) -> Redactor:
    key = (options["redact"], tuple(options["extra_patterns"]), options["entropy_min_length"], options["entropy_threshold"])
    redactor = _CACHE.get(key)
    if redactor is None:
        from types import SimpleNamespace

        redactor = _CACHE[key] = Redactor.from_settings(SimpleNamespace(privacy=SimpleNamespace(**options)))
    return redactor


def default_redactor(settings=None) -> Redactor:
    """The redactor for the configured ``[privacy]`` settings, built once per process and setting."""
    if settings is None:
        from offmem.config import load_settings

        settings = load_settings()
    return _redactor_for({key: getattr(settings.privacy, key) for key in DEFAULTS})


def _coerce(options: dict) -> dict:
    """Settings values as the Redactor needs them; raises ValueError on a wrong type."""
    redact = options["redact"]
    if isinstance(redact, str):
        redact = redact.strip().lower() in ("1", "true", "yes", "on")
    patterns = options["extra_patterns"]
    if isinstance(patterns, str):
        patterns = [p.strip() for p in patterns.split(",") if p.strip()]
    if not isinstance(patterns, list):
        raise ValueError("privacy.extra_patterns must be a list")
    return {"redact": bool(redact), "extra_patterns": [str(p) for p in patterns],
            "entropy_min_length": int(options["entropy_min_length"]),
            "entropy_threshold": float(options["entropy_threshold"])}


def hook_options(home: str) -> dict:
    """``[privacy]`` for the hook: from the parsed-config cache when it is fresh (no TOML, no
    dataclasses on the hook path), else through :func:`offmem.config.load_settings`."""
    options = dict(DEFAULTS)
    data = cached_config(home)
    if data is None:
        from offmem.config import load_settings

        privacy = load_settings().privacy  # parses the TOML (and refreshes the cache)
        section = {key: getattr(privacy, key) for key in DEFAULTS}
    else:
        section = data.get("privacy")
        section = section if isinstance(section, dict) else {}
    options.update({k: v for k, v in section.items() if k in DEFAULTS})
    for key in DEFAULTS:
        value = os.environ.get("OFFMEM_PRIVACY_" + key.upper())
        if value is not None:
            options[key] = value
    return _coerce(options)


def redact_hook_payload(payload: dict, home: str | None = None) -> dict:
    """What the hook stores for a non-tool event: the payload with its content redacted.

    A settings file that cannot be read does not turn redaction off: the built-in
    rules apply.
    """
    if home is None:
        home = data_home()
    try:
        redactor = _redactor_for(hook_options(home))
    except Exception:  # noqa: BLE001 - a broken config.toml must not let secrets through
        redactor = _redactor_for(dict(DEFAULTS))
    return redactor.redact_payload(payload)


__all__ = ["DEFAULTS", "MARKER", "Finding", "Redactor", "default_redactor", "hook_options", "redact_hook_payload",
           "shannon_entropy"]
