"""The agent's own sentences: split, told apart by cue words, trimmed.

Between tool calls the agent says what it found, why something failed, what it
chose and why, and what is left. :func:`select` keeps those sentences and drops
the running commentary ("Now let me run the tests.", "Perfect!"), using only
generic cues of English technical prose and the shape of the sentence (does it
name code?), never anything of a particular project.

Each kept sentence gets one :data:`KINDS` label, the first that matches in
this order:

``decision``  a choice, often with its reason ("instead of", "decided", "rather than")
``cause``     why something happened ("because", "the root cause", "the issue was")
``next``      what is left ("next step", "TODO", "still needs", "remaining")
``finding``   something learned about the code ("already", "is defined in", "note that")
``result``    an outcome with a number or a name ("All 31 tests pass")
``intent``    what the agent is about to do ("Let me …", "Now update …"): kept apart,
              a unit of work's title and narrative come from it
``other``     a sentence that names code but carries no cue

Standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KINDS = ("decision", "cause", "next", "finding", "result", "intent", "other")
MAX_SENTENCE = 240

_FENCE = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)
_BULLET = re.compile(r"^\s*(?:[-*•+]|\d{1,3}[.)]|#{1,6})\s+")
_SPLIT = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[A-Z`*\"'(\[])|(?<=[。！？])\s*")
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_ABBREV = re.compile(r"\b(?:e\.g|i\.e|etc|vs|cf|approx|incl|Mr|Dr|No)\.$", re.IGNORECASE)
_MARKUP = re.compile(r"\*\*|__|(?<!\w)\*(?!\s)|(?<!\s)\*(?!\w)")


def _cue(*patterns: str) -> re.Pattern:
    return re.compile(r"(?:" + "|".join(patterns) + r")", re.IGNORECASE)


DECISION = _cue(
    r"\bdecid(?:ed|e to|ing)\b", r"\bdecision\b", r"\b(?:chose|choose|choosing|chosen)\b", r"\bopt(?:ed|ing)? (?:for|to)\b",
    r"\bwent with\b", r"\b(?:go|going) with\b", r"\bsettled on\b", r"\bswitch(?:ed|ing)? (?:to|from)\b",
    r"\binstead of\b", r"\binstead\b", r"\brather than\b", r"\bin favou?r of\b", r"\bprefer(?:red|s|able)?\b",
    r"\bbetter (?:to|approach|option|choice|fit)\b", r"\bthe (?:right|cleaner|simpler|safer) (?:approach|way|call|choice|fix)\b",
    r"\btrade-?offs?\b", r"\b(?:we|i)(?:'ll| will| should) (?:use|keep|go|stick)\b", r"\bstick with\b",
    r"\bnot worth\b", r"\bno need to\b", r"\bwe (?:don't|do not) need\b", r"\bavoid(?:s|ing)?\b",
    r"\brecommend(?:ed|s|ation)?\b", r"\b(?:I|we) (?:dis)?agree\b",
    r"\bthe plan is\b", r"\bkeep(?:ing)? (?:it|them|this|the existing)\b", r"\bdrop(?:ped|ping)? (?:the|it|this)\b",
    r"\bmakes (?:more )?sense\b", r"\bwork(?:-| )?around\b",
)
CAUSE = _cue(
    r"\bbecause\b", r"\bcaused by\b", r"\b(?:the|a) (?:root )?cause\b", r"\broot cause\b",
    r"\bthe (?:\w+ )?(?:issue|problem|bug|error|culprit|reason|failure)s? (?:is|was|are|were|here|comes|seems)\b",
    r"\b(?:this|that|it) (?:happens|happened|fails|failed) (?:because|when|since)\b", r"\bdue to\b",
    r"\bturns? out\b", r"\bthe fix (?:is|was)\b", r"\bfixed by\b", r"\bwas (?:wrong|missing|broken)\b",
    r"\bis (?:missing|wrong|broken)\b", r"\b(?:doesn't|does not|don't|do not|didn't|did not|can't|cannot|won't) "
    r"(?:support|work|exist|match|handle|allow|accept|see|find|recognize|apply)\b",
    r"\bnot supported\b", r"\bknown (?:[\w-]+ ){0,2}(?:bug|issue|limitation|conflict|problem)s?\b",
    r"\b(?:was|is|were|are) (?:likely|probably) (?:from|because|due|caused|the)\b", r"\bcomes from\b", r"\bconflicts? with\b",
    r"\bmismatch\b", r"\bwhich (?:means|is why)\b", r"\bthat(?:'s| is) why\b", r"\bthis means\b",
    r"\bfalse positive\b", r"\brace condition\b", r"\bsince (?:the|it|we|this|there)\b", r"\bso that\b",
    r"\bwhat (?:causes|caused)\b", r"\bthe reason\b", r"\bfails? (?:with|on)\b",
)
NEXT = _cue(
    r"\bnext steps?\b", r"\bnext,", r"\bremaining\b", r"\bstill (?:need|needs|to|has|have|fails|failing|broken|open|missing|pending)\b",
    r"(?-i:\bTODOs?\s*[:(\-])", r"(?-i:^TODO\b)", r"\bto-do\b", r"\bleft (?:to|for|open|unstaged|uncommitted)\b", r"\bfollow[- ]?ups?\b",
    r"\blater\b", r"\bnot yet\b", r"\bpending\b", r"\bwill need\b", r"\bshould also\b", r"\bwe should\b",
    r"\byou (?:may|might|should|could|will|'ll) (?:want|need)\b", r"\bconsider(?:ing)?\b", r"\bwant me to\b",
    r"\bthe next (?:task|step|thing|one)\b", r"\boutstanding\b", r"\bunfinished\b", r"\byet to\b",
    r"\bfiled (?:as|a|an)\b", r"\bseparate (?:issue|ticket|task)\b", r"\bdeferred\b",
    r"\bif (?:that|this|it) (?:fails|doesn't work|does not work)\b",
)
FINDING = _cue(
    r"\bI (?:see|found|notice|noticed)\b", r"\bfound (?:that|the|it|a|an)\b", r"\bshows?\b", r"\bshowed\b",
    r"\b(?:is|are) defined\b", r"\balready\b", r"\bthere (?:is|are|was|were) (?:no|a|an|already|two|\d)\b",
    r"\bnote(?:d)?(?: that|:)", r"\binteresting(?:ly)?\b", r"\bkey (?:insight|finding|point|part)\b",
    r"\bimportant\b", r"\bactually\b", r"\blooks like\b", r"\bseems? (?:to|like)\b", r"\bin fact\b", r"\bconfirm(?:s|ed)?\b", r"\bverified\b",
    r"\b(?:is|are|was|were) (?:only|never|always|not) (?:used|called|referenced|set|needed)\b",
    r"\bnot referenced\b", r"\bunused\b", r"\bredundant\b", r"\bauto-?generat(?:es|ed)\b", r"\bgenerated\b",
    r"\bhandles?\b", r"\bworks by\b", r"\b(?:uses|relies on|depends on|expects|requires|returns)\b",
)
RESULT = _cue(
    r"\bpass(?:es|ed|ing)?\b", r"\bsucceed(?:s|ed)?\b", r"\bsuccessful(?:ly)?\b", r"\bworks\b", r"\bworking\b",
    r"\bcompiles?\b", r"\bclean\b", r"\bfixed\b", r"\bresolved\b", r"\bcomplete(?:d)?\b", r"\bcommitted\b",
    r"\bpushed\b", r"\bmerged\b", r"\bstart(?:ed|ing)\b", r"\brunning\b", r"\blistening\b", r"\bserving\b", r"\bcreated\b", r"\bimplemented\b", r"\badded\b", r"\bupdated\b",
    r"\b0 (?:failures|errors|warnings)\b", r"\bno (?:errors|warnings|failures|issues)\b", r"\bfail(?:s|ed|ing|ures?)\b",
)
INTENT = re.compile(
    r"^(?:(?:now|next|first|then|ok(?:ay)?|great|good|perfect|excellent|alright|right|finally|also|and)\b[,!.]?\s+)*"
    r"(?:let me|let's|let us|i'll|i will|i'm going to|i am going to|i need to|we need to|i should|time to|"
    r"(?:update|add|run|check|read|look|create|write|fix|wire|implement|move|remove|replace|rename|extract|"
    r"verify|test|commit|push|close|start|refactor|install|build|compile|help you)\b)",
    re.IGNORECASE,
)
# The "look around" verbs: an intent made only of these says nothing worth a title.
LOOKING = re.compile(
    r"^(?:(?:now|next|first|then|ok(?:ay)?|great|good|perfect|excellent|alright|right|finally|also|and)\b[,!.]?\s+)*"
    r"(?:let me|let's|i'll|i will|i need to)?\s*(?:also\s+)?(?:read|check|look(?: at)?|see|view|examine|explore|verify|"
    r"run|re-?run|wait|try|understand|inspect|review|search|find|open|compile|test|get|confirm|investigate)\b",
    re.IGNORECASE,
)
CODE = re.compile(
    r"`[^`]+`|\b[A-Z][a-z0-9]+(?:[A-Z][A-Za-z0-9]*)+\b|\b[a-z0-9]+_[a-z0-9_]+\b|\b[\w.-]+/[\w./-]+|"
    r"\b\w+\.(?:py|ex|exs|js|ts|tsx|jsx|rs|go|rb|java|kt|c|h|cpp|md|json|toml|ya?ml|sh|sql|css|html|heex)\b|"
    r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b|--[a-z][\w-]+|\b\w+\(\)|\d+(?:\.\d+)+|:\d{2,5}\b|"
    r"\b\d+\s?(?:ms|s|m|h|MB|KB|GB|px|%|x)\b",
)
FILLER = re.compile(
    r"^(?:perfect|great|good|excellent|done|ok(?:ay)?|nice|alright|right|got it|clean compile|all good|"
    r"looks good|now|hmm|interesting|understood|sure|yes|no)\b[\s.!,:]*$",
    re.IGNORECASE,
)
DIGIT = re.compile(r"\d")


@dataclass
class Sentence:
    text: str
    kind: str
    order: int = 0  # position among the sentences it was selected from


def trim(text: str, limit: int = MAX_SENTENCE) -> str:
    """One line, at most ``limit`` characters, cut at a word boundary."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"


def _clean(piece: str) -> str:
    piece = _BULLET.sub("", piece)
    piece = _MARKUP.sub("", piece)
    return " ".join(piece.split()).strip(" -–—")


def split_sentences(text: str) -> list[str]:
    """Sentences and list items of ``text``; code blocks are left out."""
    return [piece for piece, _item in pieces(text)]


def pieces(text: str) -> list[tuple[str, bool]]:
    """``(sentence, is_list_item)`` of ``text``, in order; code blocks and tables left out."""
    text = _FENCE.sub("\n", str(text or ""))
    out: list[tuple[str, bool]] = []
    for raw in text.splitlines():
        if raw.startswith(("    ", "\t")) and not _BULLET.match(raw):
            continue  # indented code
        line = raw.strip()
        if not line or set(line) <= set("-=*_#|: "):
            continue
        if line.startswith("|"):  # a table row: its cells, as a list item (the header row is too short to keep)
            cells = [c.strip() for c in line.strip("|").split("|") if c.strip()]
            if cells:
                out.append((_clean(" — ".join(cells)), True))
            continue
        if line.startswith((">", "<")):
            continue
        item = bool(_BULLET.match(line))
        line = _BULLET.sub("", line)
        pieces_ = _SPLIT.split(line)
        merged: list[str] = []
        for piece in pieces_:  # re-join splits after an abbreviation
            if merged and _ABBREV.search(merged[-1]):
                merged[-1] += " " + piece
            else:
                merged.append(piece)
        for number, piece in enumerate(merged):
            piece = _clean(piece)
            if piece:
                out.append((piece, item and number == 0))
    return out


def classify(sentence: str, item: bool = False) -> str:
    """One of :data:`KINDS` (or ``filler``) for a sentence; ``item``: it is a list item.

    A list item is never an intent (a plan's items say what was done) and needs no
    length to count when it names code.
    """
    s = sentence.strip()
    if not s or FILLER.match(s):
        return "filler"
    if item and not (DECISION.search(s) or CAUSE.search(s) or NEXT.search(s)):
        if CODE.search(s) or len(s) >= 40 or (CJK.search(s) and len(s) >= 8):
            return "result" if RESULT.search(s) else "other"
        return "filler"
    if CJK.search(s) and not INTENT.match(s):  # the cues are English: keep what reads as a full sentence
        return "other" if len(s) >= 12 else "filler"
    if DECISION.search(s) and len(s) >= 25 and not s.endswith("?"):  # a question decides nothing
        return "decision"
    if CAUSE.search(s):
        return "cause"
    if NEXT.search(s):
        return "next"
    intent = bool(INTENT.match(s))
    if intent and not s.endswith(":"):
        return "intent"
    if FINDING.search(s) and (CODE.search(s) or len(s) >= 50):
        return "finding"
    if RESULT.search(s) and (DIGIT.search(s) or CODE.search(s) or len(s) >= 40):
        return "result"
    if intent:
        return "intent"
    if CODE.search(s) and len(s) >= 30:
        return "other"
    if len(s) >= 60:  # a longer plain sentence is more likely an explanation than chatter
        return "other"
    return "filler"


VAGUE_OBJECT = re.compile(
    r"\b(?:everything|all of (?:it|them)|(?:all )?(?:the|these|those) (?:changes|fixes|edits|files|steps|tasks?)|"
    r"this(?: \w+)?|that|these|those|it|them)\s*(?:now|too|as well|first|directly|in parallel)?\s*[.:!]*$",
    re.IGNORECASE,
)


def is_substantive_intent(sentence: str) -> bool:
    """An intent worth a title: not just "let me read/check/run …" something, nor one whose object
    only points back ("implement everything", "fix this", "apply the changes")."""
    if LOOKING.match(sentence) or VAGUE_OBJECT.search(sentence):
        return False
    words = re.sub(r"^(?:now|next|first|then|ok(?:ay)?|also)\b[,]?\s+", "", sentence, flags=re.IGNORECASE).split()
    return len(words) >= 4


BOOKKEEPING = re.compile(
    r"\b(?:commit|push|close|mark|sync|merge|wait|continue|proceed|todo list|track|stage|amend)\b", re.IGNORECASE)


def best_intent(sentences: list["Sentence"]) -> "Sentence | None":
    """The intent that best names a unit's work: one that names code and is not bookkeeping
    (committing, closing a ticket, waiting), else the first substantive one."""
    intents = [s for s in sentences if s.kind == "intent" and is_substantive_intent(s.text)]
    if not intents:
        return None
    work = [s for s in intents if not BOOKKEEPING.search(s.text)]
    named = [s for s in work if CODE.search(s.text)]
    return (named or work or intents)[0]


def intent_title(sentence: str, limit: int = 140) -> str:
    """"Now let me implement the X sync." → "Implement the X sync"."""
    s = re.sub(
        r"^(?:(?:now|next|first|then|ok(?:ay)?|great|good|perfect|excellent|alright|right|finally|also|and)\b[,!.]?\s+)*"
        r"(?:(?:let me|let's|let us|i'll|i will|i'm going to|i am going to|i need to|we need to|i should|time to)\s+"
        r"(?:also\s+|now\s+|go ahead and\s+|help you\s+|start by\s+|first\s+)*)?",
        "", sentence.strip(), flags=re.IGNORECASE,
    )
    s = s.rstrip(" .:!")
    s = s[:1].upper() + s[1:] if s else s
    return trim(s, limit)


def select(texts: list[str], *, limit: int | None = None) -> list[Sentence]:
    """The sentences of ``texts`` worth keeping, each classified, in order, without repeats."""
    seen: set[str] = set()
    kept: list[Sentence] = []
    order = 0
    for text in texts:
        for sentence, item in pieces(text):
            kind = classify(sentence, item)
            order += 1
            if kind == "filler":
                continue
            key = " ".join(sentence.lower().split())
            if key in seen:
                continue
            seen.add(key)
            kept.append(Sentence(trim(sentence), kind, order))
    if limit is not None and len(kept) > limit:
        kept = prioritized(kept, limit)
    return kept


PRIORITY = {"decision": 0, "cause": 0, "next": 1, "finding": 2, "result": 3, "other": 4, "intent": 5}


def prioritized(sentences: list[Sentence], limit: int) -> list[Sentence]:
    """At most ``limit`` sentences, the most telling kinds first, kept in their original order."""
    ranked = sorted(sentences, key=lambda s: (PRIORITY.get(s.kind, 9), s.order))[:limit]
    return sorted(ranked, key=lambda s: s.order)
