"""Redactors built once per process and setting, and the hook's redaction of prompts and messages.

Imports only the kernel (:mod:`offmem.lean`) and :mod:`offmem.privacy.redact`: the hook
(through :func:`offmem.store.events.build_record`) redacts with it.
"""

from __future__ import annotations

from offmem.lean.home import data_home
from offmem.lean.settings import DEFAULTS as _SETTINGS, privacy_settings
from offmem.privacy.redact import Redactor

DEFAULTS = _SETTINGS["privacy"]
_CACHE: dict = {}


def redactor_for(options: dict) -> Redactor:
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
        redactor = redactor_for(privacy_settings(home))
    except Exception:  # noqa: BLE001 - a broken config.toml must not let secrets through
        redactor = redactor_for(dict(DEFAULTS))
    return redactor.redact_payload(payload)
