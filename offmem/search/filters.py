"""Search filters: project scope, types, files, session and a time range.

The same filters are rendered as SQL over ``observations`` (the FTS half, and the
final check of every hit) and as a Chroma ``where`` (the vector half), so both
halves rank the same set of memories.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$", re.IGNORECASE)
_UNIT_S = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def iso(epoch: float) -> str:
    """The storage format of ``created_at``: ``2025-01-31T12:00:00.000Z`` (UTC)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + ".%03dZ" % int(round((epoch % 1) * 1000) % 1000)


def parse_created(text: str | None) -> float:
    """Epoch seconds of a stored ``created_at``; 0.0 when unreadable."""
    if not text:
        return 0.0
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            value = datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            return 0.0
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


def to_epoch(value, *, end: bool = False, now: float | None = None) -> float | None:
    """A time bound as epoch seconds.

    Accepts epoch numbers, datetimes (naive = UTC), ISO dates and datetimes, and
    ages such as ``30m``, ``12h``, ``7d``, ``2w`` (that long before now). A bare
    date used as an upper bound (``end``) includes the whole day.
    """
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    text = str(value).strip()
    match = _RELATIVE.match(text)
    if match:
        return (time.time() if now is None else now) - float(match.group(1)) * _UNIT_S[match.group(2).lower()]
    try:
        if len(text) == 10:
            day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc)
            return (day + timedelta(days=1) if end else day).timestamp()
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"cannot read the time {text!r}: use a date (2025-01-31), a date and time "
            f"(2025-01-31T14:00) or an age (30m, 12h, 7d, 2w)"
        ) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass
class SearchFilters:
    project: str | None = None
    types: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    session_id: str | None = None
    since: float | None = None
    until: float | None = None

    @classmethod
    def build(cls, *, project=None, types=None, files=None, session_id=None, since=None, until=None, now=None) -> "SearchFilters":
        return cls(
            project=project or None,
            types=_as_list(types),
            files=_as_list(files),
            session_id=session_id or None,
            since=to_epoch(since, now=now),
            until=to_epoch(until, end=True, now=now),
        )

    def sql(self, alias: str = "o") -> tuple[str, list]:
        """``(" AND …", args)`` restricting ``observations AS alias``; empty when unfiltered."""
        clauses: list[str] = []
        args: list = []
        if self.project:
            clauses.append(f"{alias}.project = ?")
            args.append(self.project)
        if self.types:
            clauses.append(f"{alias}.type IN ({','.join('?' * len(self.types))})")
            args.extend(self.types)
        if self.session_id:
            clauses.append(f"{alias}.session_id = ?")
            args.append(self.session_id)
        if self.since is not None:
            clauses.append(f"{alias}.created_at >= ?")
            args.append(iso(self.since))
        if self.until is not None:
            clauses.append(f"{alias}.created_at < ?")
            args.append(iso(self.until))
        if self.files:
            sql, file_args = self._files_sql(alias)
            clauses.append(sql)
            args.extend(file_args)
        return ("".join(f" AND {c}" for c in clauses), args)

    def _files_sql(self, alias: str) -> tuple[str, list]:
        """A file matches its exact path, a path ending in ``/<file>``, or a folder ``dir/``."""
        tests: list[str] = []
        args: list = []
        for name in self.files:
            test = "j.value = ? OR j.value LIKE ? ESCAPE '\\'"
            args.extend([name, "%/" + _like_escape(name.lstrip("/"))])
            if name.endswith("/"):
                test += " OR j.value LIKE ? ESCAPE '\\'"
                args.append("%" + _like_escape(name) + "%")
            tests.append(f"({test})")
        match = " OR ".join(tests)
        sql = (
            f"(EXISTS (SELECT 1 FROM json_each({alias}.files_modified) j WHERE {match})"
            f" OR EXISTS (SELECT 1 FROM json_each({alias}.files_read) j WHERE {match}))"
        )
        return sql, args + args

    def chroma_where(self) -> dict | None:
        """The Chroma ``where`` for every filter except files (done by candidate ids); None if unfiltered.

        The database instance is deliberately not a clause: Chroma's cost for a
        ``where`` grows with the number of vectors it matches, and the instance
        matches all of them (~300 ms at 100k). Vector ids carry it instead.
        """
        clauses: list[dict] = []
        if self.project:
            clauses.append({"project": self.project})
        if self.types:
            clauses.append({"type": {"$in": list(self.types)}})
        if self.session_id:
            clauses.append({"session_id": self.session_id})
        if self.since is not None:
            clauses.append({"created_ts": {"$gte": float(self.since)}})
        if self.until is not None:
            clauses.append({"created_ts": {"$lt": float(self.until)}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def active(self) -> bool:
        return bool(self.project or self.types or self.files or self.session_id
                    or self.since is not None or self.until is not None)


def _as_list(value) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, Sequence):
        return [str(v) for v in value if str(v)]
    return [str(value)]
