"""Checks on what a model wrote, before any of it is stored.

Small models loop, parrot their prompt or the one-shot example, and title a
record with a bare file name. Every rule here either *sanitizes* a field
(trim it, drop one bad list item, map a type synonym) or *rejects* the whole
answer with :class:`JunkOutputError`, a :class:`SummarizerError`, so the caller
keeps the rule-based draft instead.

Rules, per field:

* the answer must be a JSON object; text fields must be strings (numbers are
  turned into text, lists and objects are rejected);
* ``type``: one of the observation types, a known synonym mapped to one, else
  the draft's type;
* ``title``: at least two words, not only file names or tool verbs, not
  repetitive (else the draft's title stays); the example's title rejects the answer;
* ``evidence`` (and a summary field's clauses): numbers within the lines offered,
  each once, in the model's order;
* ``summary``/``concepts``/summary fields: dropped when empty, repetitive (a
  word, phrase or character looped) or parroting the one-shot example (quoting
  the evidence is what the model is asked to do, so that is no fault);
* over-long text is cut back to a sentence or word boundary;
* an answer with nothing usable left (or mostly parroting the example) is
  rejected.

Whether what survives is *true* is the claim check's job
(:mod:`offmem.summarize.claims`), which runs after these rules.
"""

from __future__ import annotations

import json
import re

from offmem.errors import SummarizerError
from offmem.records import OBSERVATION_TYPES
from offmem.summarize import prompts


class JunkOutputError(SummarizerError):
    """The model answered, but nothing of the answer is fit to store."""


TYPE_SYNONYMS = {
    "fix": "bugfix", "bug": "bugfix", "bug fix": "bugfix", "bug-fix": "bugfix", "hotfix": "bugfix",
    "feat": "feature", "new feature": "feature", "enhancement": "feature", "addition": "feature",
    "refactoring": "refactor", "cleanup": "refactor", "clean-up": "refactor", "restructure": "refactor",
    "update": "change", "edit": "change", "modification": "change", "chore": "change", "config": "change",
    "investigation": "discovery", "research": "discovery", "exploration": "discovery",
    "finding": "discovery", "learning": "discovery", "analysis": "discovery", "debugging": "discovery",
    "choice": "decision", "plan": "decision", "design": "decision",
}
# Words that, next to file names, still say nothing ("Read cart/vat.py").
FILLER_WORDS = frozenset(
    "a an the and or of in on to for at by with from file files read reads reading edit edits edited "
    "editing write writes wrote written update updated updates modify modified change changed changes "
    "create created open opened view viewed ran run bash grep glob ls cat tool tools call calls".split()
)
PATH_TOKEN = re.compile(r"^[\w.~-]*[/\\][\w./\\~-]*$|^[\w.-]+\.[A-Za-z0-9]{1,5}$")
WORD = re.compile(r"[A-Za-z0-9_]+")

COPY_NGRAM = 6  # words in a span that counts as copied
COPY_MAX_FRACTION = 0.6  # share of a field's words inside copied spans
MIN_TITLE_WORDS = 2
MIN_SUMMARY_WORDS = 4


# ---------------------------------------------------------------- primitives


def words(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text)]


def ngrams(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def copied_fraction(text: str, source_grams: set[tuple[str, ...]], n: int = COPY_NGRAM) -> float:
    """Share of ``text``'s words that sit in an ``n``-word span also found in the source."""
    tokens = words(text)
    if len(tokens) < n or not source_grams:
        return 0.0
    covered = [False] * len(tokens)
    for i in range(len(tokens) - n + 1):
        if tuple(tokens[i : i + n]) in source_grams:
            covered[i : i + n] = [True] * n
    return sum(covered) / len(tokens)


def is_repetitive(text: str) -> bool:
    """A character, phrase or word sequence looped, the way small models degenerate."""
    if re.search(r"(\S)\1{7,}", text):  # "aaaaaaaa", "........"
        return True
    if re.search(r"(.{2,40}?)\1{3,}", text):  # ".py.py.py.py", "ha ha ha ha "
        return True
    tokens = words(text)
    if len(tokens) >= 8 and len(set(tokens)) / len(tokens) < 0.35:
        return True
    if len(tokens) >= 12:
        grams = [tuple(tokens[i : i + 3]) for i in range(len(tokens) - 2)]
        if len(set(grams)) / len(grams) < 0.6:
            return True
    return False


def only_file_names(text: str) -> bool:
    """True when every word is a path, a file name or a filler verb ("Read cart/vat.py")."""
    tokens = [t.strip("`'\"()[]{},:;!?") for t in text.split()]
    tokens = [t for t in tokens if t]
    if not any(PATH_TOKEN.match(t) for t in tokens):
        return False
    return all(PATH_TOKEN.match(t) or t.lower() in FILLER_WORDS for t in tokens)


def trim(text: str, limit: int) -> str:
    """Cut to ``limit`` characters, at a sentence end if one is late enough, else a word.

    Text that *reaches* the limit is treated as cut too: a grammar's maxLength
    stops the model mid-word there.
    """
    if len(text) < limit:
        return text
    cut = text[:limit]
    sentence = max(cut.rfind(". "), cut.rfind("; "))
    if sentence >= limit // 2:
        return cut[: sentence + 1].rstrip(";").rstrip() + ("" if cut[sentence] == "." else ".")
    space = cut.rfind(" ")
    return (cut[:space] if space >= limit // 3 else cut[: limit - 1]).rstrip(" ,;:-") + "…"


def as_text(value: object, field: str) -> str:
    """A field's value as one line of text; a wrong type rejects the answer."""
    if value is None:
        return ""
    if isinstance(value, bool) or isinstance(value, (list, dict)):
        raise JunkOutputError(f"model field {field!r} should be text, got {type(value).__name__}")
    return " ".join(str(value).split())


def parse_json_object(text: str) -> dict:
    """The JSON object in a model's answer (fences and chatter around it tolerated)."""
    body = (text or "").strip()
    if body.startswith("```"):
        body = body.strip("`")
        body = body[4:] if body.lower().startswith("json") else body
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end <= start:
        raise JunkOutputError(f"model answer holds no JSON object: {_preview(text)}")
    try:
        data = json.loads(body[start : end + 1])
    except ValueError as exc:
        raise JunkOutputError(f"model answer is not valid JSON ({exc}): {_preview(text)}") from exc
    if not isinstance(data, dict):
        raise JunkOutputError(f"model answer is JSON but not an object: {_preview(text)}")
    return data


def _preview(text: str, limit: int = 160) -> str:
    flat = " ".join((text or "").split())
    return repr(flat if len(flat) <= limit else flat[:limit] + "…")


# ---------------------------------------------------------------- checks


class Sources:
    """The prompt's text, as word n-grams, for the copy checks."""

    def __init__(self, source: str, examples: list[str]) -> None:
        self.example = ngrams(words(" ".join(examples)), COPY_NGRAM)
        self.example_short = ngrams(words(" ".join(examples)), 3)
        self.prompt = ngrams(words(source), COPY_NGRAM) | self.example

    def copied(self, text: str) -> bool:
        return copied_fraction(text, self.prompt) > COPY_MAX_FRACTION

    def from_example(self, text: str) -> bool:
        """Parroting the one-shot example; short texts are compared by 3-word spans."""
        if len(words(text)) < COPY_NGRAM:
            return copied_fraction(text, self.example_short, 3) >= 0.99
        return copied_fraction(text, self.example) > COPY_MAX_FRACTION


def clean_field(value: object, field: str, limit: int, sources: Sources | None) -> str:
    """A sanitized text field, or '' when it is junk (the caller decides if that is fatal)."""
    text = as_text(value, field)
    if not text or not WORD.search(text) or is_repetitive(text):
        return ""
    if sources is not None and sources.copied(text):
        return ""
    return trim(text, limit)


def normalize_type(value: object, default: str) -> str:
    """A valid observation type: the value, a synonym's target, else ``default``."""
    name = as_text(value, "type").lower().strip(" .") if value is not None else ""
    if name in OBSERVATION_TYPES:
        return name
    return TYPE_SYNONYMS.get(name, default if default in OBSERVATION_TYPES else "change")


def check_title(value: object, sources: Sources) -> str:
    title = as_text(value, "title").strip(" .\"'`")
    if not title:
        raise JunkOutputError("model gave an empty title")
    if is_repetitive(title):
        raise JunkOutputError(f"model title is repetitive: {_preview(title)}")
    if only_file_names(title):
        raise JunkOutputError(f"model title names only files: {_preview(title)}")
    if len([w for w in words(title) if w.isalpha()]) < MIN_TITLE_WORDS:
        raise JunkOutputError(f"model title is too short to mean anything: {_preview(title)}")
    if sources.from_example(title):
        raise JunkOutputError(f"model copied the prompt's example title: {_preview(title)}")
    return trim(title, prompts.TITLE_MAX)


def clean_list(value: object, field: str, limit: int, max_items: int, sources: Sources | None) -> list[str]:
    """Items that survive clean_field, de-duplicated, at most ``max_items``."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [part for part in re.split(r"[;,]", value)] if field == "concepts" else [value]
    if not isinstance(value, list):
        raise JunkOutputError(f"model field {field!r} should be a list, got {type(value).__name__}")
    out: list[str] = []
    for item in value:
        if isinstance(item, (list, dict)):
            continue
        text = clean_field(item, field, limit, sources)
        if text and not only_file_names(text) and text.lower() not in (o.lower() for o in out):
            out.append(text)
    return out[:max_items]


def clean_concepts(value: object) -> list[str]:
    """Short lower-case tags; file names and sentences are not concepts."""
    tags = []
    for tag in clean_list(value, "concepts", 200, 20, None):
        tag = tag.lower().strip(" .#")
        if not tag or len(tag) > prompts.CONCEPT_MAX or PATH_TOKEN.match(tag) or len(tag.split()) > 3:
            continue
        if tag not in tags:
            tags.append(tag)
    return tags[: prompts.CONCEPTS_MAX_ITEMS]


# ---------------------------------------------------------------- answers


def clean_picks(value: object, count: int, most: int = prompts.PICKS_MAX_ITEMS) -> list[int]:
    """The evidence numbers a model ranked: 1-based, within ``count``, de-duplicated, in its order."""
    if value is None:
        return []
    if not isinstance(value, list):
        value = [value]
    out: list[int] = []
    for item in value:
        if isinstance(item, bool):
            continue
        try:
            number = int(str(item).strip().lstrip("#"))
        except ValueError:
            continue
        if 1 <= number <= count and number not in out:
            out.append(number)
    return out[:most]


def observation(raw: dict, source: str, examples: list[str], default_type: str = "change", evidence_count: int = 0) -> dict:
    """The usable part of a model's observation answer; JunkOutputError if none is.

    ``evidence_count``: how many numbered evidence lines the prompt offered (the
    valid range of ``evidence``). Quoting the evidence is what the model is asked
    to do, so only parroting the one-shot example counts as copying here.
    """
    if not isinstance(raw, dict):
        raise JunkOutputError(f"model answer is not an object: {type(raw).__name__}")
    sources = Sources("", examples)
    try:
        title = check_title(raw.get("title"), sources)
    except JunkOutputError as exc:
        if sources.from_example(as_text(raw.get("title"), "title")):
            raise  # parroting the example: nothing else in the answer is to be trusted
        title, title_error = "", str(exc)  # the draft's title stays; the rest may still serve
    else:
        title_error = ""
    summary_text = as_text(raw.get("summary", raw.get("narrative")), "summary")
    if summary_text and sources.from_example(summary_text):
        raise JunkOutputError(f"model copied the prompt's example summary: {_preview(summary_text)}")
    summary = clean_field(summary_text, "summary", prompts.SUMMARY_SENTENCE_MAX, None)
    if summary.lower() == title.lower() or len(words(summary)) < MIN_SUMMARY_WORDS:
        summary = ""  # a repeat of the title, or a fragment ("A minimal")
    answer = {
        "type": normalize_type(raw.get("type"), default_type),
        "title": title,
        "concepts": clean_concepts(raw.get("concepts")),
        "picks": clean_picks(raw.get("evidence"), evidence_count),
        "summary": summary,
    }
    if not (title or answer["concepts"] or answer["picks"] or summary):
        raise JunkOutputError(title_error or f"model answer has no usable field: {_preview(json.dumps(raw))}")
    return answer


def session_summary(raw: dict, fields: tuple[str, ...], clause_counts: dict[str, int]) -> dict:
    """The clauses a model chose per summary field (1-based, in its order); JunkOutputError if none.

    ``clause_counts``: how many clauses of each field the prompt offered. A field
    answered with text instead of numbers is a wrong type and rejects the answer.
    """
    if not isinstance(raw, dict):
        raise JunkOutputError(f"model answer is not an object: {type(raw).__name__}")
    out: dict[str, list[int]] = {}
    for name in fields:
        value = raw.get(name)
        if isinstance(value, (str, dict)):
            raise JunkOutputError(f"model field {name!r} should be a list of clause numbers, got {type(value).__name__}")
        out[name] = clean_picks(value, clause_counts.get(name, 0), prompts.CLAUSE_PICKS_MAX)
    if not any(out.values()):
        raise JunkOutputError(f"model summary chose no clause: {_preview(json.dumps(raw))}")
    return out
