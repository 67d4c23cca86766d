"""Check: the semantic index (Chroma), opened only when its store already exists."""

from __future__ import annotations

import importlib.util
import shlex
import sqlite3

from offmem.config import Settings
from offmem.doctor.base import FAIL, OK, WARN, Check, Context, pip


def check_chroma(ctx: Context) -> list[Check]:
    settings = ctx.settings
    if settings.embedder.backend == "none":
        return [Check("chroma", OK, "semantic search is off (embedder.backend = 'none')")]
    if importlib.util.find_spec("chromadb") is None:
        return [Check("chroma", FAIL, "chromadb is not installed; search is keyword-only", pip("offmem[local]"))]
    if settings.chroma.mode == "embedded" and not settings.chroma_dir.exists():
        return [Check("chroma", WARN, f"no semantic index yet at {settings.chroma_dir}; "
                      "the worker creates it when it indexes its first observation", "offmem worker start")]
    return [_chroma_collection(ctx)]


def _chroma_fix(settings: Settings) -> str:
    if settings.chroma.mode == "http":
        c = settings.chroma
        return (f"chroma run --path ~/.offmem/chroma-server --host {c.host} --port {c.port}  "
                f"# or: offmem config set chroma.mode embedded")
    return f"mv {shlex.quote(str(settings.chroma_dir))} {shlex.quote(str(settings.chroma_dir) + '.old')} && offmem reindex"


def _chroma_collection(ctx: Context) -> Check:
    from offmem.search.chroma import ChromaIndex
    from offmem.search.errors import SearchIndexError

    settings = ctx.settings
    index = ChromaIndex.from_settings(settings)
    try:
        identity = index.identity()
        count = index.count() if identity is not None else 0
        if settings.chroma.mode == "http":
            index.client.heartbeat()
    except SearchIndexError as exc:
        return Check("chroma", FAIL, f"{exc}; search is keyword-only", _chroma_fix(settings))
    where = f"{index.where}, collection {index.name!r}"
    if identity is None:
        return Check("chroma", WARN, f"{where} does not exist yet; nothing indexed",
                     "offmem worker start  # indexes observations as they arrive")
    detail = f"{where}: {count} vectors from {identity.get('model')} ({identity.get('dim')}-d)"
    detail += _outbox_note(settings)
    configured = _configured_embedder(settings)
    if configured and identity.get("model") and configured != identity.get("model"):
        return Check("chroma", WARN, f"{detail}; the configured embedder is {configured}", "offmem reindex")
    return Check("chroma", OK, detail)


def _outbox_note(settings: Settings) -> str:
    if not settings.db_path.exists():
        return ""
    from offmem.store.examine import outbox_size

    try:
        pending = outbox_size(settings.db_path, readonly=False)
    except sqlite3.DatabaseError:
        return ""
    return f", {pending} observations waiting to be embedded"


def _configured_embedder(settings: Settings) -> str | None:
    """The model id new vectors would carry, without loading the model."""
    try:
        from offmem.embed import get_embedder

        embedder = get_embedder(settings)
    except Exception:  # noqa: BLE001 - a missing model is the models check's business
        return None
    return embedder.model_id if embedder is not None else None