"""The claim check: what a model wrote is kept only when the session's sources support it.

A small model asked to describe ten tool calls writes plausible text, and
plausible is not true: it names files that were never opened, quotes numbers
nobody printed, and adds filler ("This allowed for more efficient and readable
code"). Every piece of text a model writes (a title, a sentence of a summary, a
concept tag) is one *claim*, and a claim is **unsupported** when

* an identifier it names (``snake_case``, ``camelCase``, ``dotted.name``, a call
  ``f()``, a ``--flag``, a `backticked` or "quoted" span), a path or file name,
  or a number is not in the sources; or
* too few of its content words (stopwords left out, compared by a crude stem so
  "fixed" matches "fix" and "discounts" matches "discount") occur in the
  sources: the sentence is about something the session does not mention; or
* it claims a change ("Added …", "Fixed …") about work that changed no file and
  whose sources never use that verb.

The sources are the session's own text: the hook payloads of its events (prompts,
tool inputs and outputs, errors, the agent's last messages), the transcript
evidence (the agent's sentences between tool calls) and the rule-based drafts
built from both. An unsupported claim is dropped (the caller keeps the rules'
text instead), and every check is counted in a :class:`ClaimTally`, so the
rejection rate of a model is a number offmem reports rather than a guess.

Standard library only.
"""

from __future__ import annotations

import json
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Iterable


# Function words and words every description of programming work uses: they say nothing the
# sources would have to contain.
STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing done down during each either else etc even
    ever every few for from further had has have having he her here hers him his how however i if in
    into is it its itself just least less like made make makes making many may me might more most much
    must my near need needed needs neither new no nor not now of off often on once one only onto or other
    our out over own per rather same several she should since so some such than that the their them
    then there these they this those though through thus to too under until up upon us use used uses
    using very via was we well were what when where whether which while who whom whose why will with
    within without would yet you your
    able already another around away back based besides done get gets getting got instead later still
    way ways thing things something anything everything nothing part parts kind sort step steps now
    ensure ensures ensured allow allows allowed provide provides provided include includes included""".split()
)
# Verbs that claim the code changed: supported by a change in the work, or by the sources' own words.
CHANGE_VERBS = frozenset(
    """add added adds adding fix fixed fixes fixing implement implemented implements implementing
    create created creates creating refactor refactored refactors refactoring update updated updates
    updating remove removed removes removing rename renamed renames renaming replace replaced replaces
    replacing migrate migrated migrates migrating resolve resolved resolves resolving introduce introduced
    introduces introducing rewrite rewrote rewritten rewrites modify modified modifies modifying change
    changed changes changing improve improved improves improving delete deleted deletes deleting
    patch patched patches patching""".split()
)

# Words that state an outcome: supported when the sources record one of that kind.
SUCCESS_WORDS = frozenset("pass passed passes passing succeed succeeded succeeds success successful "
                          "successfully green works worked working ok".split())
FAILURE_WORDS = frozenset("fail failed fails failing failure failures error errors broken crash crashed "
                          "crashes raise raised raises exception".split())
_SUCCESS_MARK = re.compile(r"exit 0\b|\bok\b|\bpass(?:ed|es|ing)?\b|\bsucce|\bworks?\b", re.IGNORECASE)
_FAILURE_MARK = re.compile(r"exit [1-9]|\bfail|\berror|traceback|exception|\bbroken\b", re.IGNORECASE)

SOFT_MIN_SUPPORT = 0.5  # share of a sentence's content words the sources must contain
TAG_MIN_SUPPORT = 1.0  # a concept tag: every word
EXAMPLES_KEPT = 8  # unsupported claims remembered for `offmem worker status`

_TOKEN = re.compile(r"`[^`\n]{1,120}`|\"[^\"\n]{2,120}\"|\S+")
_EDGE = "\"'`()[]{}<>,;:!?*…"
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_SNAKE = re.compile(r"^[A-Za-z_][A-Za-z0-9]*_[A-Za-z0-9_]+$")
_CAMEL = re.compile(r"^[A-Za-z]*[a-z][A-Z][A-Za-z0-9]*$|^[A-Z][a-z0-9]+[A-Z][A-Za-z0-9]*$")
_DOTTED = re.compile(r"^[A-Za-z_][\w-]*(?:\.[\w-]+)+$")
_CALL = re.compile(r"^[A-Za-z_][\w.]*\(\)?$|^[A-Za-z_][\w.]*\([^)]*\)$")
_FLAG = re.compile(r"^--?[A-Za-z][\w-]*(?:=\S+)?$")
_FILE_EXT = re.compile(r"^[\w.-]*[A-Za-z0-9_-]\.[A-Za-z][A-Za-z0-9]{0,6}$")
_WORD = re.compile(r"[A-Za-z]+")
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=\S)")
_CALL_NAME = re.compile(r"^([A-Za-z_][\w.]*)\(")
_CAMEL_BREAK = re.compile(r"(?<=[a-z])(?=[A-Z])")
_QUANTITY = re.compile(r"^[~≈<>=+-]?v?\d[\d.,]*(?:%|x|ms|s|m|h|k|kb|mb|gb|kib|mib|gib|b)?$", re.IGNORECASE)
_SUFFIXES = ("ations", "ation", "ings", "ing", "ies", "ied", "ers", "er", "ed", "es", "ly", "s")
_ABBREVIATIONS = frozenset({"e.g", "i.e", "etc", "vs", "cf"})
# JSON keys of a hook payload that hold no session content (ids, modes, the transcript's own path).
_METADATA_KEYS = frozenset({
    "session_id", "transcript_path", "hook_event_name", "prompt_id", "permission_mode", "tool_use_id",
    "effort", "isImage", "interrupted", "noOutputExpected", "userModified", "stop_hook_active",
})


def stem(word: str) -> str:
    """A crude stem: lower case, one common suffix off, at most six letters."""
    word = word.lower()
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)] + ("y" if suffix in ("ies", "ied") else "")
            break
    return word[:6]


def _numbers(text: str) -> set[str]:
    found = {n.replace(",", "") for n in _NUMBER.findall(text)}
    return found | {n.split(".", 1)[0] for n in found}  # "19.0" also supports "19"


def _squash(text: str) -> str:
    return " ".join(text.lower().split())


@dataclass
class Verdict:
    """The check of one claim: supported or not, and what in it the sources lack."""

    supported: bool
    missing: list[str] = field(default_factory=list)


class SourceText:
    """The session's text, indexed once for the checks of every claim written about it."""

    def __init__(self, texts: Iterable[str]) -> None:
        joined = "\n".join(t for t in texts if t)
        self.text = _squash(joined)
        self.numbers = _numbers(joined)
        self.stems = {stem(w) for w in _WORD.findall(_CAMEL_BREAK.sub(" ", joined))}
        self.stems |= {stem(w) for w in _WORD.findall(joined)}
        if _SUCCESS_MARK.search(joined):
            self.stems |= {stem(w) for w in SUCCESS_WORDS}
        if _FAILURE_MARK.search(joined):
            self.stems |= {stem(w) for w in FAILURE_WORDS}

    def has(self, phrase: str) -> bool:
        """A name, path or quoted span, found verbatim (case and spacing aside)."""
        return _squash(phrase) in self.text

    def has_number(self, token: str) -> bool:
        return all(n in self.numbers for n in _numbers(token))

    def has_word(self, word: str) -> bool:
        return stem(word) in self.stems

    def check(self, claim: str, *, changed: bool = True, min_support: float = SOFT_MIN_SUPPORT) -> Verdict:
        """Whether ``claim`` is supported; ``changed`` says whether the work it describes changed files."""
        missing: list[str] = []
        words: list[str] = []
        for raw in _TOKEN.findall(claim):
            call = _CALL_NAME.match(raw.lstrip(_EDGE))
            if call and not _QUANTITY.match(call.group(1)):  # f(x), obj.method(): the name is an identifier
                if not self.has(call.group(1) + "("):
                    missing.append(call.group(1))
                continue
            token = raw.strip(_EDGE)
            if raw[:1] in "`\"" and raw[-1:] == raw[:1] and len(raw) > 2:  # a quoted span: verbatim
                if not self.has(raw[1:-1]):
                    missing.append(raw)
                continue
            token = token.rstrip(".")
            if not token:
                continue
            hard = _hard_kind(token)
            if hard == "number":
                if not self.has_number(token):
                    missing.append(token)
            elif hard == "name":
                if not self.has(token.rstrip("()") if token.endswith("()") else token):
                    missing.append(token)
            else:
                words += [w for w in _WORD.findall(token) if _is_content(w)]
        unsupported_words = []
        for word in words:
            lower = word.lower()
            if lower in CHANGE_VERBS:
                if not changed and not self.has_word(lower):
                    missing.append(word)
                continue
            if not self.has_word(lower):
                unsupported_words.append(word)
        content = [w for w in words if w.lower() not in CHANGE_VERBS]
        if content and (len(content) - len(unsupported_words)) / len(content) < min_support:
            missing += unsupported_words
        return Verdict(supported=not missing, missing=missing)


def sentences(text: str) -> list[str]:
    """A model's text cut into sentences (and "; "-separated clauses): the claims it makes.

    A period inside a name (``cart/vat.py``, ``e.g.``, ``19.0``) is no sentence end:
    only punctuation followed by white space is.
    """
    out: list[str] = []
    for piece in _SENTENCE_END.split(text or ""):
        piece = piece.strip()
        if out and (out[-1].lower().endswith(tuple(a + "." for a in _ABBREVIATIONS)) or not piece[:1].strip()):
            out[-1] += " " + piece
        elif piece:
            out.append(piece)
    return out


def _hard_kind(token: str) -> str:
    """'number', 'name' (an identifier, path or file name) or '' (ordinary words)."""
    if token.lower() in _ABBREVIATIONS:
        return ""
    if _QUANTITY.match(token):
        return "number"  # 42, 3.14, v1.2.3, 90%, 10ms, 3x
    if "/" in token or "\\" in token:
        return "name"
    if _SNAKE.match(token) or _CAMEL.match(token) or _CALL.match(token) or _FLAG.match(token):
        return "name"
    if _FILE_EXT.match(token) or _DOTTED.match(token):
        return "name"
    if any(c.isdigit() for c in token):
        return "name"  # a word with digits in it: sha256, utf8, py311
    return ""


def _is_content(word: str) -> bool:
    lower = word.lower()
    return len(lower) >= 3 and lower not in STOPWORDS


@dataclass
class ClaimTally:
    """How many claims were checked and how many were dropped as unsupported."""

    checked: int = 0
    unsupported: int = 0
    examples: deque = field(default_factory=lambda: deque(maxlen=EXAMPLES_KEPT))

    def record(self, claim: str, verdict: Verdict) -> None:
        self.checked += 1
        if not verdict.supported:
            self.unsupported += 1
            self.examples.append({"claim": claim[:200], "missing": verdict.missing[:6]})

    def add(self, other: "ClaimTally") -> None:
        self.checked += other.checked
        self.unsupported += other.unsupported
        self.examples.extend(other.examples)

    def as_dict(self, examples: bool = False) -> dict:
        out = {"checked": self.checked, "unsupported": self.unsupported,
               "rate": round(self.unsupported / self.checked, 4) if self.checked else None}
        if examples:
            out["last_unsupported"] = list(self.examples)
        return out


class ClaimCheck:
    """Checks claims about one piece of work against its sources, counting into a tally."""

    def __init__(self, sources: SourceText, tally: ClaimTally, *, changed: bool = True) -> None:
        self.sources = sources
        self.tally = tally
        self.changed = changed

    def claim(self, text: str, *, min_support: float = SOFT_MIN_SUPPORT) -> bool:
        """Check one claim; True when it may be kept."""
        verdict = self.sources.check(text, changed=self.changed, min_support=min_support)
        self.tally.record(text, verdict)
        return verdict.supported

    def text(self, text: str) -> str:
        """``text`` without its unsupported sentences (each sentence is one claim)."""
        kept = [s for s in sentences(text) if self.claim(s)]
        return " ".join(kept)

    def tags(self, tags: list[str]) -> list[str]:
        return [t for t in tags if self.claim(t, min_support=TAG_MIN_SUPPORT)]


# ---------------------------------------------------------------------- sources


def payload_texts(payload: object) -> list[str]:
    """Every string and number in a hook payload, metadata (ids, modes, the transcript path) left out."""
    out: list[str] = []

    def walk(value: object, key: str = "") -> None:
        if key in _METADATA_KEYS:
            return
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, bool) or value is None:
            return
        elif isinstance(value, (int, float)):
            out.append(str(value))
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, str(k))
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v, key)
        else:
            out.append(json.dumps(value, default=str))

    walk(payload)
    return out


def event_texts(events: Iterable) -> list[str]:
    """The text of events (``EventRecord``s): their payloads' strings and numbers."""
    return [text for ev in events for text in payload_texts(getattr(ev, "payload", None) or {})]


def observation_texts(observations: Iterable) -> list[str]:
    """The text of observations (rules' drafts, or a session's stored memories)."""
    out: list[str] = []
    for obs in observations:
        out += [obs.title, obs.subtitle, obs.narrative, *obs.facts, *obs.concepts,
                *obs.files_read, *obs.files_modified]
    return out
