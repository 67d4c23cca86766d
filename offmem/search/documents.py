"""What gets embedded for an observation, and the metadata stored with its vector.

Changing :func:`embedding_text` changes the vectors: bump :data:`TEXT_FORMAT` with
it, so existing indexes are reported as stale and rebuilt by ``offmem reindex``.
"""

from __future__ import annotations

import json
import posixpath

from offmem.search.filters import parse_created

TEXT_FORMAT = "obs-v1"
KIND = "observation"


def _list(value) -> list:
    if isinstance(value, list):
        return value
    try:
        parsed = json.loads(value or "[]")
    except (TypeError, ValueError):
        return []
    return parsed if isinstance(parsed, list) else []


def embedding_text(row) -> str:
    """Title, subtitle and narrative, then file names: what the memory is *about*.

    Facts and concepts are left to the keyword half: on the evaluation's dev split
    they made vector ranking worse (error strings and tags are noise to MiniLM,
    which reads 256 tokens at most).
    """
    files = [str(f) for f in _list(row["files_modified"]) + _list(row["files_read"])]
    names = list(dict.fromkeys(posixpath.basename(f.rstrip("/")) or f for f in files))
    parts = [
        str(row["title"] or "").strip(),
        str(row["subtitle"] or "").strip(),
        str(row["narrative"] or "").strip(),
        ("files: " + ", ".join(names[:12])) if names else "",
    ]
    return ". ".join(p.rstrip(".") for p in parts if p)


def vector_id(instance: str, observation_id: int) -> str:
    return f"{instance}:o:{observation_id}"


def observation_id(vid: str) -> int | None:
    try:
        instance, kind, number = vid.rsplit(":", 2)
        return int(number) if kind == "o" else None
    except ValueError:
        return None


def vector_metadata(row, instance: str) -> dict:
    """Filterable fields of a vector: Chroma applies project/type/session/time filters itself."""
    created = str(row["created_at"] or "")
    return {
        "db": instance,
        "kind": KIND,
        "project": str(row["project"] or ""),
        "type": str(row["type"] or ""),
        "session_id": str(row["session_id"] or ""),
        "created_at": created,
        "created_ts": float(parse_created(created)),
    }
