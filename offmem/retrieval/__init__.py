"""Retrieval in layers: what offmem puts in front of the agent, and when.

* SessionStart: :func:`build_session_context` (SQL only; runs in the hook).
* UserPromptSubmit: :func:`prompt_time_context` (runs in the hook, asks the
  warm worker, time-boxed) built on :func:`prompt_memories` (worker side).
* On demand: the MCP server (:mod:`offmem.mcp_server`) over
  :mod:`offmem.retrieval.memories` (search, timeline, details, remember).

Importing this package costs nothing: each entry point imports its module when
called, so the hook loads only what its event needs.
"""

from __future__ import annotations


def build_session_context(store, project: str, settings) -> dict:
    """SessionStart block ``{text, tokens, observation_ids, summary_ids}`` for ``project``."""
    from offmem.retrieval.session import build_session_context as build

    return build(store, project, settings)


def prompt_time_context(project: str, session_id: str, prompt: str) -> str | None:
    """UserPromptSubmit context from the warm worker, or None (not warm, too slow, nothing relevant)."""
    from offmem.retrieval.hook import prompt_time_context as ask

    return ask(project, session_id, prompt)


def prompt_memories(store, project: str, prompt: str, settings, exclude=frozenset(), **search) -> dict:
    """The memories most relevant to ``prompt``: ``{text, tokens, observation_ids, ...}``."""
    from offmem.retrieval.prompt import prompt_memories as find

    return find(store, project, prompt, settings, exclude=exclude, **search)


def count_tokens(text: str) -> int:
    """Calibrated, safe token estimate of ``text`` (see :mod:`offmem.retrieval.tokens`)."""
    from offmem.retrieval.tokens import count_tokens as count

    return count(text)


__all__ = ["build_session_context", "count_tokens", "prompt_memories", "prompt_time_context"]
