"""Moving memory in and out: JSONL export/import and Claude Code transcript backfill.

- :func:`export_memories` / :func:`import_memories`: the versioned line format of
  :mod:`offmem.portability.lines` (specified in docs/export-format.md);
- :func:`import_transcripts`: hook events rebuilt from ``~/.claude/projects/**.jsonl``;
- :func:`sync_vectors`: apply the Chroma changes an import or a forget queued.
"""

from __future__ import annotations

from offmem.portability.index import sync_vectors
from offmem.portability.lines import FORMAT, VERSION, LineError, Memory, parse_line
from offmem.portability.memories import ImportStats, export_memories, import_memories, iter_memories
from offmem.portability.transcripts import TranscriptStats, discover, import_transcripts, transcript_events

__all__ = [
    "FORMAT",
    "VERSION",
    "ImportStats",
    "LineError",
    "Memory",
    "TranscriptStats",
    "discover",
    "export_memories",
    "import_memories",
    "import_transcripts",
    "iter_memories",
    "parse_line",
    "sync_vectors",
    "transcript_events",
]
