"""Reading what the hooks never carry out of Claude Code's session transcripts.

Hooks see tool calls, prompts and the *last* assistant message of a turn. The
transcript file (``transcript_path`` in every hook payload) also holds the
agent's own text between tool calls, compaction summaries, subagent reports and
the user's corrections. :mod:`offmem.transcript.reader` reads it incrementally
by byte offset and yields typed :class:`~offmem.transcript.reader.Evidence`.

Standard library only; the caller supplies the redaction function, so this
package never loads settings or the worker.
"""

from offmem.transcript.reader import (
    EVIDENCE_KINDS,
    Evidence,
    FileState,
    ReadResult,
    TranscriptState,
    make_redact,
    read_transcript,
    subagent_files,
)

__all__ = [
    "EVIDENCE_KINDS",
    "Evidence",
    "FileState",
    "ReadResult",
    "TranscriptState",
    "make_redact",
    "read_transcript",
    "subagent_files",
]
