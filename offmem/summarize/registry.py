"""Pick the summarizer backend the settings name; heavy modules load only when chosen."""

from __future__ import annotations

import importlib

from offmem.config import ConfigError
from offmem.summarize.base import Summarizer

# backend name -> (module, class); "rules" has no model and maps to None.
BACKENDS = {
    "llamacpp": ("offmem.summarize.llamacpp", "LlamaCppSummarizer"),
    "claude": ("offmem.summarize.claude", "ClaudeSummarizer"),
    "openai": ("offmem.summarize.openai_compat", "OpenAICompatSummarizer"),
}
RULES = "rules"
UNIT_WRITERS = ("model", "rules")  # summarizer.units: who titles each unit of work


def backend_names() -> list[str]:
    return [*BACKENDS, RULES]


def get_summarizer(settings, **options) -> Summarizer | None:
    """The configured backend (not yet loaded), or None for ``rules``.

    ``options`` go to the backend's constructor (``model_path=`` for llamacpp).
    """
    name = (settings.summarizer.backend or RULES).strip().lower()
    if name == RULES:
        return None
    try:
        module_name, class_name = BACKENDS[name]
    except KeyError:
        raise ConfigError(
            f"[summarizer] backend = {name!r} is not a backend; choose one of {', '.join(backend_names())}"
        ) from None
    units = (getattr(settings.summarizer, "units", "") or "model").strip().lower()
    if units not in UNIT_WRITERS:
        raise ConfigError(f"[summarizer] units = {units!r}: choose one of {', '.join(UNIT_WRITERS)}")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(settings, **options)
