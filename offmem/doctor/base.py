"""What every doctor check shares: the record it returns, its context, and small helpers."""

from __future__ import annotations

import shlex
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from offmem.config import Settings
from offmem.units import format_bytes as human  # offmem's one byte formatter

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str
    fix: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Context:
    settings: Settings
    project: str  # the project whose .claude/settings.json is checked
    full: bool = False  # rehash every model file instead of trusting unchanged ones


def py() -> str:
    return shlex.quote(sys.executable)


def pip(requirement: str) -> str:
    return f"{py()} -m pip install {shlex.quote(requirement)}"


def spool_files(home: Path) -> tuple[int, int]:
    """Spool files waiting (``*.json``) and set aside as unreadable (``*.bad``)."""
    spool = home / "spool"
    if not spool.is_dir():
        return 0, 0
    return len(list(spool.glob("*.json"))), len(list(spool.glob("*.bad")))
