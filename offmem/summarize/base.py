"""The one interface every model summarizer backend implements.

A backend implements :meth:`Summarizer.complete` (one model call that answers
a :class:`~offmem.summarize.prompts.Prompt` in JSON) and, when it holds a local
model, :meth:`Summarizer.load`. This class does the rest the same way for all
of them: build the prompt, time and count the call, validate the answer and
merge it with the rule-based drafts. Facts the payloads state (files read and
modified, commands, exit codes, error lines, event ids) always come from the
drafts, never from a model.

Every failure (no answer, a timeout, an HTTP error, junk output) is raised as
:class:`~offmem.errors.SummarizerError`; the pipeline then keeps the drafts, so
no batch is lost to a model error.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass
from typing import ClassVar

from offmem.errors import SummarizerError
from offmem.records import EventRecord, Observation, SessionSummary
from offmem.summarize import prompts, validate
from offmem.summarize.types import SessionContext

# Types that claim code was changed; a batch that modified no file gets the draft's type instead.
CHANGING_TYPES = frozenset({"bugfix", "feature", "refactor"})


@dataclass
class Reply:
    """What one model call returned: raw text, or an object the API already parsed."""

    text: str = ""
    data: dict | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = ""


@dataclass
class CallStats:
    calls: int = 0
    failures: int = 0
    last_error: str = ""
    last_call_seconds: float = 0.0
    total_seconds: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    last_prompt_tokens: int = 0
    last_completion_tokens: int = 0

    def as_dict(self) -> dict:
        return {
            "calls": self.calls,
            "failures": self.failures,
            "last_error": self.last_error,
            "last_call_seconds": round(self.last_call_seconds, 3),
            "avg_call_seconds": round(self.total_seconds / self.calls, 3) if self.calls else 0.0,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "last_prompt_tokens": self.last_prompt_tokens,
            "last_completion_tokens": self.last_completion_tokens,
        }


class Summarizer(ABC):
    """A model backend: one call per batch of events, one call per session summary."""

    name: ClassVar[str] = ""
    # Small local models need the one-shot example; a strong hosted model does not.
    one_shot: ClassVar[bool] = True

    def __init__(self, settings) -> None:
        self.settings = settings
        self.stats = CallStats()
        self.load_seconds: float | None = None
        self._lock = threading.Lock()

    # -- what a backend provides ------------------------------------------

    @property
    @abstractmethod
    def model(self) -> str:
        """The model's name (or file) for status and logs."""

    @abstractmethod
    def complete(self, prompt: prompts.Prompt, max_tokens: int) -> Reply:
        """One model call answering ``prompt`` in JSON; SummarizerError on any failure."""

    def load(self) -> None:
        """Warm up (load a local model); idempotent. Remote backends only check their config."""
        self.load_seconds = 0.0

    @property
    def loaded(self) -> bool:
        return self.load_seconds is not None

    def status(self) -> dict:
        return {
            "backend": self.name,
            "model": self.model,
            "loaded": self.loaded,
            "load_seconds": None if self.load_seconds is None else round(self.load_seconds, 3),
            **self.stats.as_dict(),
        }

    # -- the interface the pipeline calls ---------------------------------

    def compress(self, events: list[EventRecord], drafts: list[Observation], project: str) -> Observation:
        """One model call for the whole batch, merged with the drafts into one observation."""
        if not events and not drafts:
            raise SummarizerError("nothing to compress: the batch has no events and no drafts")
        prompt = prompts.observation_prompt(events, drafts, project, one_shot=self.one_shot, max_chars=self._log_chars())
        raw = self._ask(prompt)
        answer = self._checked(lambda: validate.observation(raw, prompt.source, prompt.examples, _draft_type(drafts)))
        return merge_observation(answer, drafts, events, self.name)

    def summarize(self, ctx: SessionContext, draft: SessionSummary) -> SessionSummary:
        """The session summary's five fields from the model; files from the draft."""
        files = list(dict.fromkeys(draft.files_modified))
        prompt = prompts.summary_prompt(ctx, files, one_shot=self.one_shot, max_chars=self._log_chars())
        raw = self._ask(prompt)
        answer = self._checked(lambda: validate.session_summary(raw, prompt.examples))
        return merge_summary(answer, draft, self.name)

    # -- shared machinery --------------------------------------------------

    def _log_chars(self) -> int:
        # ~3.5 characters a token for logs full of paths and code
        budget = int(getattr(self.settings.summarizer, "batch_max_tokens", 0) or 0)
        return max(1500, int(budget * 3.5)) if budget else prompts.DEFAULT_LOG_MAX_CHARS

    def _ask(self, prompt: prompts.Prompt) -> dict:
        """Call the model once, timed and counted; the parsed JSON object it answered."""
        max_tokens = int(self.settings.summarizer.max_tokens)
        with self._lock:
            started = time.perf_counter()
            self.stats.calls += 1
            try:
                reply = self.complete(prompt, max_tokens)
            except SummarizerError as exc:
                self._failed(exc)
                raise
            except Exception as exc:  # a backend bug must still end in the fallback
                err = SummarizerError(f"{self.name} backend failed: {type(exc).__name__}: {exc}")
                self._failed(err)
                raise err from exc
            finally:
                elapsed = time.perf_counter() - started
                self.stats.last_call_seconds = elapsed
                self.stats.total_seconds += elapsed
        self._count_tokens(reply)
        if reply.data is not None:
            return reply.data
        if reply.finish_reason == "length":
            return self._checked(lambda: _cut_off(reply, max_tokens))
        return self._checked(lambda: validate.parse_json_object(reply.text))

    def _count_tokens(self, reply: Reply) -> None:
        self.stats.prompt_tokens += reply.prompt_tokens
        self.stats.completion_tokens += reply.completion_tokens
        self.stats.last_prompt_tokens = reply.prompt_tokens
        self.stats.last_completion_tokens = reply.completion_tokens

    def _checked(self, check):
        """Run a validation step; record a rejection as this backend's last error."""
        try:
            return check()
        except SummarizerError as exc:
            self._failed(exc)
            raise

    def _failed(self, exc: Exception) -> None:
        self.stats.failures += 1
        self.stats.last_error = str(exc)


def _cut_off(reply: Reply, max_tokens: int) -> dict:
    """An answer stopped by max_tokens: usable only if its JSON happens to be complete."""
    try:
        return validate.parse_json_object(reply.text)
    except validate.JunkOutputError:
        raise validate.JunkOutputError(
            f"model answer was cut off at max_tokens={max_tokens} before its JSON was complete "
            "(raise summarizer.max_tokens, or the model is looping)"
        ) from None


def _draft_type(drafts: list[Observation]) -> str:
    counts = Counter(d.type for d in drafts)
    return counts.most_common(1)[0][0] if counts else "change"


def _unique(items) -> list:
    return list(dict.fromkeys(i for i in items if i))


def merge_observation(answer: dict, drafts: list[Observation], events: list[EventRecord], backend: str) -> Observation:
    """The model's words on top of the drafts' facts."""
    files_modified = _unique(f for d in drafts for f in d.files_modified)
    kind = answer["type"]
    if drafts and not files_modified:  # nothing was edited: not a fix, feature or refactor
        if kind in CHANGING_TYPES or (kind == "change" and _draft_type(drafts) == "discovery"):
            kind = _draft_type(drafts)
    facts = _unique(f for d in drafts for f in d.facts)
    facts += [w for w in answer["why"] if w.lower() not in {f.lower() for f in facts}]
    event_ids = sorted({i for d in drafts for i in d.event_ids}) if drafts else sorted({e.id for e in events})
    return Observation(
        type=kind,
        title=answer["title"],
        subtitle=answer["subtitle"] or next((d.subtitle for d in drafts if d.subtitle), ""),
        facts=facts,
        narrative=answer["narrative"] or "\n".join(_unique(d.narrative for d in drafts)),
        concepts=answer["concepts"] or _unique(c for d in drafts for c in d.concepts),
        files_read=_unique(f for d in drafts for f in d.files_read),
        files_modified=files_modified,
        event_ids=event_ids,
        backend=backend,
    )


def merge_summary(answer: dict, draft: SessionSummary, backend: str) -> SessionSummary:
    """Model fields where usable, else the draft's; files always the draft's."""
    fields = {name: answer.get(name) or getattr(draft, name) for name in prompts.SUMMARY_FIELDS}
    return SessionSummary(
        **fields,
        files_read=list(draft.files_read),
        files_modified=list(draft.files_modified),
        backend=backend,
    )
