"""The one interface every model summarizer backend implements.

A backend implements :meth:`Summarizer.complete` (one model call that answers
a :class:`~offmem.summarize.prompts.Prompt` in JSON) and, when it holds a local
model, :meth:`Summarizer.load`. This class does the rest the same way for all
of them: build the prompt, time and count the call, validate the answer, check
its claims against the session's sources (:mod:`offmem.summarize.claims`) and
merge it with the rule-based drafts.

Facts come from the drafts, never from a model: files read and modified,
commands, exit codes, error lines, the agent's sentences, event ids. The model
gives a unit of work its title, type and concept tags, ranks the evidence lines
(the facts it ranks go first; none is dropped) and may add one condensing
sentence; it picks which clauses of a session summary's over-long fields go first.
Any text it writes which
names an identifier, path or number the sources do not hold, or talks about
things they never mention, is dropped and counted (``claims`` in
:meth:`Summarizer.status`), and the rules' text stays.

Every failure (no answer, a timeout, an HTTP error, junk output) is raised as
:class:`~offmem.errors.SummarizerError`; the pipeline then keeps the drafts, so
no batch is lost to a model error.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from typing import ClassVar

from typing import Iterable

from offmem.errors import SummarizerError
from offmem.records import EventRecord, Observation, SessionSummary
from offmem.summarize import prompts, validate
from offmem.summarize.claims import ClaimCheck, ClaimTally, SourceText, event_texts, observation_texts
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
    claims: ClaimTally = field(default_factory=ClaimTally)  # model-written claims checked / unsupported

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
            "claims": self.claims.as_dict(examples=True),
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

    @property
    def writes_units(self) -> bool:
        """False when ``summarizer.units = "rules"`` (the default): the pipeline then leaves each unit of
        work to the rules (no call, no 12-event cap) and the model only condenses session summaries."""
        return str(getattr(self.settings.summarizer, "units", "model") or "model").strip().lower() != "rules"

    def status(self) -> dict:
        return {
            "backend": self.name,
            "model": self.model,
            "units": "model" if self.writes_units else "rules",
            "loaded": self.loaded,
            "load_seconds": None if self.load_seconds is None else round(self.load_seconds, 3),
            **self.stats.as_dict(),
        }

    # -- the interface the pipeline calls ---------------------------------

    def compress(self, events: list[EventRecord], drafts: list[Observation], project: str,
                 sources: Iterable[str] = ()) -> Observation:
        """One model call for the whole unit, merged with the drafts into one observation.

        ``sources``: more of the session's text the claims may rest on (the transcript
        evidence the drafts were built from); the events' payloads and the drafts count too.
        """
        if not events and not drafts:
            raise SummarizerError("nothing to compress: the batch has no events and no drafts")
        prompt = prompts.observation_prompt(events, drafts, project, one_shot=self.one_shot,
                                            max_chars=self._evidence_chars())
        raw = self._ask(prompt)
        answer = self._checked(lambda: validate.observation(raw, prompt.source, prompt.examples, _draft_type(drafts),
                                                            len(prompt.evidence)))
        check = self._claim_check([*event_texts(events), *observation_texts(drafts), *sources],
                                  changed=any(d.files_modified for d in drafts) or not drafts)
        return self._checked(lambda: merge_observation(answer, drafts, events, self.name, evidence=prompt.evidence,
                                                       check=check, topics=prompt.topics))

    def summarize(self, ctx: SessionContext, draft: SessionSummary, sources: Iterable[str] = ()) -> SessionSummary:
        """The draft summary with the clauses of its over-long fields reordered: the model's choice first.

        No call when every field already fits (:func:`prompts.fields_to_condense`). The
        model writes no text here: it picks and orders the draft's own clauses, so
        there is no claim to check (``sources`` are accepted for the same interface as
        :meth:`compress`).
        """
        fields = prompts.fields_to_condense(draft)
        if not fields:
            return draft
        prompt = prompts.summary_prompt(ctx, draft, one_shot=self.one_shot, fields=fields)
        raw = self._ask(prompt)
        counts = {name: len(parts) for name, parts in prompt.clauses.items()}
        answer = self._checked(lambda: validate.session_summary(raw, fields, counts))
        return merge_summary(answer, draft, self.name, clauses=prompt.clauses)

    def _claim_check(self, texts: list[str], *, changed: bool) -> ClaimCheck:
        """A check against these sources that counts into this backend's tally."""
        return ClaimCheck(SourceText(texts), self.stats.claims, changed=changed)

    # -- shared machinery --------------------------------------------------

    def _evidence_chars(self) -> int:
        budget = int(getattr(self.settings.summarizer, "batch_max_tokens", 0) or 0)
        return min(prompts.EVIDENCE_MAX_CHARS, int(budget * 3.5)) if budget else prompts.EVIDENCE_MAX_CHARS

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


def _picked_facts(facts: list[str], picks: list[int]) -> list[str]:
    """The facts the model ranked (1-based numbers of the evidence lines), first, then the others."""
    chosen = [facts[n - 1] for n in picks if 0 < n <= len(facts)]
    return _unique([*chosen, *facts])


def merge_observation(answer: dict, drafts: list[Observation], events: list[EventRecord], backend: str,
                      evidence: list[str] = (), check: ClaimCheck | None = None, topics: tuple = ()) -> Observation:
    """The model's title, type, tags and ranking on top of the drafts' facts.

    Each claim the model wrote goes through ``check`` (when given): an unsupported
    title gives way to the draft's, an unsupported sentence is dropped. Concept tags
    chosen from the offered ``topics`` are words of the session, so they are kept as
    they are (and any other tag is dropped); without topics each tag is a claim.
    """
    files_modified = _unique(f for d in drafts for f in d.files_modified)
    draft_kind = _draft_type(drafts)
    kind = answer["type"]
    if drafts and not files_modified:  # nothing was edited: not a fix, feature or refactor
        if kind in CHANGING_TYPES or (kind == "change" and draft_kind == "discovery"):
            kind = draft_kind
    if draft_kind == "bugfix" and files_modified:  # the payloads show it: a check failed, an edit, it passed
        kind = "bugfix"
    keep = check.claim if check is not None else (lambda _text: True)
    title = answer["title"]
    if not title or not keep(title):
        title = next((d.title for d in drafts if d.title), "")
        if not title:
            raise validate.JunkOutputError(f"model title is unusable or not supported by the session: {answer['title']!r}")
    summary = check.text(answer["summary"]) if check is not None and answer["summary"] else answer["summary"]
    if topics:
        concepts = [c for c in answer["concepts"] if c in topics]
    else:
        concepts = check.tags(answer["concepts"]) if check is not None else answer["concepts"]
    facts = _unique(f for d in drafts for f in d.facts)
    if facts:
        facts = _picked_facts(facts, answer["picks"])
    elif evidence:  # no draft facts: the lines rendered from the payloads the model ranked
        facts = [evidence[n - 1] for n in answer["picks"] if 0 < n <= len(evidence)]
    narrative = "\n".join(_unique([summary, *(d.narrative for d in drafts)]))
    event_ids = sorted({i for d in drafts for i in d.event_ids}) if drafts else sorted({e.id for e in events})
    return Observation(
        type=kind,
        title=title,
        subtitle=next((d.subtitle for d in drafts if d.subtitle), ""),
        facts=facts,
        narrative=narrative,
        concepts=concepts or _unique(c for d in drafts for c in d.concepts),
        files_read=_unique(f for d in drafts for f in d.files_read),
        files_modified=files_modified,
        event_ids=event_ids,
        backend=backend,
    )


def merge_summary(answer: dict, draft: SessionSummary, backend: str, clauses: dict | None = None) -> SessionSummary:
    """Each field the model answered: the draft's clauses with the ones it chose first, in its order.

    ``answer`` maps a field to 1-based clause numbers of ``clauses[field]``. Nothing
    is dropped or written: the field holds the draft's own clauses, reordered so what
    a short display shows first is what the model found most important (the start
    block cuts a field at about 200 characters). Files are always the draft's.
    """
    fields = {}
    for name in prompts.SUMMARY_FIELDS:
        parts = (clauses or {}).get(name) or []
        chosen = [parts[n - 1] for n in answer.get(name) or [] if 0 < n <= len(parts)]
        if chosen:
            rest = [p for p in prompts.clauses(getattr(draft, name), limit=10**6) if p not in chosen]
            fields[name] = "; ".join(_unique([*chosen, *rest]))
        else:
            fields[name] = getattr(draft, name)
    return SessionSummary(
        **fields,
        files_read=list(draft.files_read),
        files_modified=list(draft.files_modified),
        backend=backend,
    )
