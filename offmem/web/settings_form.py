"""The settings the UI edits: their fields, validation, and saving to config.toml.

The form shows the values of the config file (what is saved); a value that an
``OFFMEM_*`` environment variable overrides in the worker is flagged, since
saving the file does not change it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from offmem.api import summarizer_backends, summarizer_catalog
from offmem.config import ConfigError, load_settings, save_settings

MIN_BUDGET = 100
MAX_BUDGET = 50_000


@dataclass(frozen=True)
class Field:
    name: str  # "section.key"
    label: str
    kind: str  # select | number | lines | checkbox
    help: str = ""

    @property
    def section(self) -> str:
        return self.name.partition(".")[0]

    @property
    def key(self) -> str:
        return self.name.partition(".")[2]

    @property
    def env_var(self) -> str:
        return f"OFFMEM_{self.section}_{self.key}".upper()

    @property
    def dom_id(self) -> str:
        return "setting-" + self.name.replace(".", "-").replace("_", "-")


FIELDS = (
    Field("summarizer.backend", "Summarizer backend", "select",
          "Which engine compresses events into memories. rules needs no model."),
    Field("summarizer.model", "Summarizer model", "select",
          "A local model from the catalog (`offmem models`); used by the llamacpp backend."),
    Field("context.budget_tokens", "Session start token budget", "number",
          f"How many tokens of memory SessionStart may inject ({MIN_BUDGET}–{MAX_BUDGET})."),
    Field("capture.skip_tools", "Tools never captured", "lines",
          "One tool name per line, e.g. TodoWrite. Their calls are not recorded at all."),
    Field("privacy.redact", "Redact secrets before storing", "checkbox",
          "Replace keys, tokens and passwords with typed markers before anything is stored."),
    Field("privacy.extra_patterns", "Extra redaction patterns", "lines",
          "One regular expression per line; matches are redacted like built-in secrets."),
)
BY_NAME = {f.name: f for f in FIELDS}


def summarizer_models(home: Path) -> list[tuple[str, str]]:
    """``(value, label)`` choices: the catalog default first (empty value), then every summarizer."""
    default, models = summarizer_catalog(home)
    choices = [("", f"default ({default})" if default else "default")]
    for name, description in models:
        blurb = description.split(". ")[0].rstrip(".")
        choices.append((name, f"{name} ({blurb})" if blurb else name))
    return choices


def choices(field: Field, home: Path) -> list[tuple[str, str]]:
    if field.name == "summarizer.backend":
        return [(b, b) for b in summarizer_backends()]
    if field.name == "summarizer.model":
        return summarizer_models(home)
    return []


def form(home: Path) -> list[dict]:
    """Each field with its saved value, its choices and any environment override."""
    saved = load_settings(home, env=False).to_dict()
    effective = load_settings(home).to_dict()
    rows = []
    for field in FIELDS:
        value = saved[field.section][field.key]
        live = effective[field.section][field.key]
        override = os.environ.get(field.env_var) if live != value else None
        rows.append({"field": field, "value": value, "override": override, "choices": choices(field, home)})
    return rows


class SettingsInputError(ValueError):
    """A submitted value is invalid; the message says which and why."""


def _lines(value) -> list[str]:
    if isinstance(value, str):
        value = value.splitlines()
    if not isinstance(value, list):
        raise SettingsInputError("expected a list of lines")
    return [str(v).strip() for v in value if str(v).strip()]


def _check(field: Field, value, home: Path):
    if field.kind == "lines":
        value = _lines(value)
        if field.name == "privacy.extra_patterns":
            for pattern in value:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise SettingsInputError(f"{field.label}: {pattern!r} is not a valid regular expression ({exc})")
        return value
    if field.kind == "checkbox":
        if not isinstance(value, bool):
            raise SettingsInputError(f"{field.label}: expected true or false")
        return value
    if field.kind == "number":
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise SettingsInputError(f"{field.label}: {value!r} is not a whole number") from None
        if not MIN_BUDGET <= number <= MAX_BUDGET:
            raise SettingsInputError(f"{field.label}: {number} is outside {MIN_BUDGET}–{MAX_BUDGET}")
        return number
    allowed = [v for v, _ in choices(field, home)]
    if str(value) not in allowed:
        raise SettingsInputError(f"{field.label}: {value!r} is not one of {', '.join(repr(a) for a in allowed)}")
    return str(value)


def parse_changes(body: dict, home: Path) -> dict:
    """``{"section.key": value}`` from the UI → validated ``{section: {key: value}}``."""
    if not isinstance(body, dict) or not body:
        raise SettingsInputError("send a JSON object of settings, e.g. {\"context.budget_tokens\": 1500}")
    changes: dict = {}
    for name, value in body.items():
        field = BY_NAME.get(name)
        if field is None:
            raise SettingsInputError(f"{name!r} cannot be changed here; use `offmem config set {name} VALUE`")
        changes.setdefault(field.section, {})[field.key] = _check(field, value, home)
    return changes


def save(home: Path, body: dict) -> dict:
    """Validate and write the changes to config.toml; returns the path and the saved values."""
    changes = parse_changes(body, home)
    settings = load_settings(home, env=False)  # environment overrides are never written to the file
    try:
        path = save_settings(settings, changes)
    except ConfigError as exc:
        raise SettingsInputError(str(exc)) from exc
    saved = settings.to_dict()
    return {"path": str(path), "saved": {f.name: saved[f.section][f.key] for f in FIELDS}}
