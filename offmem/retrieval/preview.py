"""``offmem context``: exactly what the hooks would inject, with token counts."""

from __future__ import annotations


def _prompt_part(settings, store, project: str, prompt: str, exclude: list[int]) -> dict:
    """What the prompt hook would add: the worker's answer when it runs (as the hook asks), else computed here."""
    from offmem.retrieval.prompt import prompt_memories
    from offmem.worker.control import request_json

    body = {"project": project, "prompt": prompt, "exclude": exclude}
    answer = request_json(settings, "/api/prompt-context", timeout=5.0, method="POST", body=body)
    if answer is not None:
        return answer | {"source": "worker"}
    local = prompt_memories(store, project, prompt, settings, exclude=set(exclude))
    note = "worker not running: the prompt hook would inject nothing now; this is what it would find"
    return local | {"source": "local", "notes": [*local.get("notes", []), note]}


def context_preview(settings, project: str, prompt: str | None = None) -> dict:
    """``{project, budget_tokens, text, tokens, observation_ids, summary_ids[, prompt]}``."""
    from offmem.context import build_context
    from offmem.store.db import Store

    result: dict = {"project": project, "budget_tokens": settings.context.budget_tokens, "text": "", "tokens": 0,
                    "observation_ids": [], "summary_ids": []}
    if not settings.db_path.exists():
        return result
    with Store.open(settings.db_path) as store:
        result.update(build_context(store, project, settings))
        if prompt:
            result["prompt"] = _prompt_part(settings, store, project, prompt, list(result["observation_ids"]))
    return result
