"""How memories are written into injected context: short, factual lines.

Stdlib only and no ``re``: the SessionStart hook formats its context with these.
"""

from __future__ import annotations

from offmem.retrieval.tokens import count_tokens

MCP_POINTER = (
    "More memory on demand: offmem MCP tools search (ids) → timeline (around an id) → "
    "get_observations (full details); remember stores a new memory."
)


_SENTENCE_ENDS = (". ", "! ", "? ", "; ")
_DANGLING = " ,;:-—–(/|"


def clean(text, limit: int) -> str:
    """One line, at most ``limit`` characters, cut between words (an ellipsis marks a cut).

    A cut never splits a word or leaves a backtick expression open: it falls on
    the last space that fits, backs up before an unclosed `` ` ``, and ends at a
    sentence end instead when one is in the last third of what is kept. Only a
    word that would leave less than a third of the room is cut inside.
    """
    text = " ".join(str(text or "").split())
    if len(text) <= limit:
        return text
    if limit <= 1:
        return "…"[: max(0, limit)]
    room = text[: limit - 1]
    space = room.rfind(" ")
    cut = room if text[limit - 1] == " " or space < limit // 3 else room[:space]
    if cut.count("`") % 2:
        before = cut[: cut.rfind("`")].rstrip()
        cut = before if len(before) >= len(cut) // 2 else cut
    end = max(cut.rfind(mark) for mark in _SENTENCE_ENDS)
    if end >= 0 and end + 1 >= 2 * len(cut) / 3:
        return cut[: end + 1] + " …"
    if cut.endswith((".", "!", "?")) and len(cut) >= 2 * limit / 3:
        return cut + " …"
    return cut.rstrip(_DANGLING) + "…"


def day(iso: str | None) -> str:
    return (iso or "")[:10]


def minute(iso: str | None) -> str:
    return (iso or "")[:16].replace("T", " ")


def index_line(obs: dict) -> str:
    """The compact index form: ``#id type: title``."""
    return f"#{obs['id']} {obs.get('type', '')}: {clean(obs.get('title'), 140)}"


def _list(value) -> list:
    """A list column, parsed from its JSON text when it comes straight from SQL."""
    if isinstance(value, str):
        from offmem.lean import fastjson

        try:
            value = fastjson.loads(value) if value else []
        except ValueError:
            return []
    return value if isinstance(value, list) else []


def _new_to(title: str, text) -> bool:
    """False when ``text`` only repeats the (normalized) title."""
    norm = " ".join(str(text).lower().replace("`", "").replace("$ ", "").split())
    return bool(norm) and norm not in title.replace("`", "")


def _restates(title: str, text: str) -> bool:
    """Whether ``text`` (a fact, perhaps after a ``label:``) is mostly the title again: a title is
    often a fact's first words, cut. Such a fact adds little next to its title."""
    core = title.replace("`", "").rstrip("…. ").strip()
    if len(core) < 20:
        return False
    low = " ".join(text.lower().replace("`", "").split())
    label, sep, rest = low.partition(": ")
    body = rest if sep and len(label) <= 14 and " " not in label.strip() else low
    return core in body and len(body) - len(core) < max(40, len(core) // 2)


# ---------------------------------------------------------------------- fact salience
#
# A memory's facts are stored in the order they were gathered: for a fix, the
# command, its exit status, its output, then the change and the agent's reason.
# What the next session needs first is the reverse. Each fact is scored by what
# *kind* of statement it is, from its form and from small, generic word classes
# (English discourse markers, not strings of any project):
#
# * form: a command echo with no outcome, a bare exit status, a line of output, a
#   raw diff line or "read <file>" say little on their own; a command with the
#   error it failed with says which error; any other statement is a full fact;
# * content: a statement of cause ("because", "due to", "root cause"), of a
#   decision or rule ("instead", "rather than", "must", "decided"), of a change
#   ("changed", "renamed", "from … to …", an arrow) or of a setting (an
#   ``ENV_VAR``, ``key=value``, a ``--flag``) scores above one without; an
#   error's name or message adds some, and so does each identifier or path the
#   title does not already name; a step left open ("still to do", "next step")
#   adds a little (more put a "not yet" above a decision's reason on the corpus).
#
# Ties keep the stored order, so memories without such signals read as before.

_CAUSE_WORDS = frozenset(
    "because since cause caused causes causing due reason reasons root therefore hence culprit blocker "
    "turns turned why".split()
)
_CAUSE_PHRASES = ("the issue", "the problem", "the bug", "so that", "which is why", "was failing", "fails when",
                  "failed because", "the fix", "this means", "that means")
_DECISION_WORDS = frozenset(
    "decided decide decision decisions chose choose chosen instead rather prefer prefers preferred avoid avoids "
    "never always must convention policy agreed opted tradeoff trade-off deliberately intentionally keep "
    "don't shouldn't mustn't won't".split()
)
_CHANGE_WORDS = frozenset(
    "changed change changes replaced replace renamed rename moved move removed remove added add set sets fixed "
    "fix fixes updated update switched switch bumped pinned upgraded downgraded reverted converted extracted "
    "migrated enabled disabled configured now".split()
)
# A step left open: what the next session may be asked to pick up (issue 14 item 7).
_NEXT_PHRASES = ("still to do", "next step", "left for later", "still needs", "still need", "todo:", "to do:",
                 "remaining", "follow-up", "follow up", "not yet", "left open", "for later")
# Labels offmem's compressors put before a fact, by how much the fact says alone.
_THIN_LABELS = ("output", "read", "during", "task", "starts", "sections", "todos", "in progress")
_THIN_FORMS = ("+ ", "- ", "read ", "wrote ", "found ")
_STRIP = "`'\"()[]{}<>,.;:!?*"


def _words_of(low: str) -> list[str]:
    return [w.strip(_STRIP) for w in low.split()]


def _is_setting(token: str) -> bool:
    """``ENV_VAR``, ``key=value`` or ``--flag``."""
    word = token.strip(_STRIP)
    if word.startswith("--") and len(word) > 3:
        return True
    if "=" in word.strip("=") and not word.startswith(("=", "!")) and "==" not in word:
        return True
    letters = [c for c in word if c.isalpha()]
    return "_" in word and len(letters) >= 3 and all(c.isupper() for c in letters)


def _is_identifier(token: str) -> bool:
    """A path, a dotted or snake_case name, a call, CamelCase: the concrete part of a fact."""
    word = token.strip("`'\",;:!?")
    if len(word) < 3:
        return False
    if any(c in word for c in "_/()[]") or ("." in word.strip(".") and not word.replace(".", "").isdigit()):
        return True
    return any(a.islower() and b.isupper() for a, b in zip(word, word[1:]))


def _outcome(text: str) -> str | None:
    """The outcome part of a ``$ command …`` fact ("" when it has none), None for other facts."""
    if not text.startswith("$ "):
        return None
    for mark in (" failed before: ", " → exit ", " -> "):
        if mark in text:
            rest = text.split(mark, 1)[1]
            if mark == " → exit ":
                rest = rest.split(":", 1)[1] if ":" in rest else ""
            return rest.strip()
    return ""


def fact_salience(fact: str, title: str = "") -> float:
    """How much ``fact`` tells the next session on its own (higher first); see the notes above."""
    text = " ".join(str(fact or "").split())
    low = text.lower()
    if not text:
        return 0.0
    outcome = _outcome(text)
    if outcome is not None:
        base, body = (1.0, outcome.lower()) if outcome else (0.3, "")
    elif low.startswith("exit status") or low.startswith("exit code") or low.replace(" ", "") in ("exit0", "exit1"):
        return 0.05
    else:
        label, sep, rest = low.partition(": ")
        thin = (sep and label in _THIN_LABELS) or low.startswith(_THIN_FORMS)
        base, body = (0.45 if thin else 1.0), (rest if sep and len(label) <= 14 else low)
    if not body:
        return base
    words = _words_of(body)
    score = base
    if _CAUSE_WORDS.intersection(words) or any(p in body for p in _CAUSE_PHRASES):
        score += 1.0
    if _DECISION_WORDS.intersection(words) or "rather than" in body:
        score += 0.8
    if any(p in body for p in _NEXT_PHRASES):
        score += 0.5
    if _CHANGE_WORDS.intersection(words) or "→" in body or " -> " in body or ("from" in words and "to" in words):
        score += 0.6
    raw = text if outcome is None else outcome
    if any(_is_setting(t) for t in raw.split()):
        score += 0.7
    if "error" in body or "exception" in body or "traceback" in body:
        score += 0.4
    known = title.lower()
    new = {t.strip("`'\",;:") for t in raw.split() if _is_identifier(t) and t.strip("`'\",;:").lower() not in known}
    score += 0.15 * min(3, len(new))
    if len(text) < 20:
        score -= 0.3
    return score


def _matches(text: str, terms) -> int:
    """How many of ``terms`` (lowercase words) occur in ``text`` (as a word, or a word's start for long terms)."""
    if not terms:
        return 0
    words = set(_words_of(text.lower()))
    for word in list(words):
        for sep in ("_", ".", "/", "-"):
            if sep in word:
                words.update(word.split(sep))
    found, heads = 0, {}
    for term in terms:
        if term in words:
            found += 1
        elif len(term) >= 5:
            size = max(5, len(term) - 2)
            if size not in heads:
                heads[size] = {w[:size] for w in words if len(w) >= size}
            found += term[:size] in heads[size]
    return found


def rank_facts(facts, title: str = "", terms=()) -> list[str]:
    """``facts`` new to ``title``, most telling first (stored order among equals), duplicates dropped.

    With ``terms`` (a prompt's topic words), facts naming more of them come first:
    at prompt time the fact that answers the prompt beats the generally telling one.
    """
    norm_title = " ".join(str(title or "").lower().split())
    seen, candidates = set(), []
    for n, fact in enumerate(facts):
        text = " ".join(str(fact or "").split())
        if not text or text.lower() in seen or not _new_to(norm_title, text):
            continue
        seen.add(text.lower())
        salience = fact_salience(text, norm_title) - (2.0 if _restates(norm_title, text) else 0.0)
        candidates.append((-_matches(text, terms), -salience, n, text))
    return [c[-1] for c in sorted(candidates)]


# ---------------------------------------------------------------------- lines


def detail_line(obs: dict, facts: int = 2, limit: int = 320, terms=()) -> str:
    """A memory with its date, its most telling facts and its files, for the memories that matter most.

    Facts are chosen by :func:`fact_salience` (the change, the cause, the setting
    before the command and its exit status); each part is cut between words, and
    a part that no longer fits is left out rather than cut to nothing. ``terms``
    (a prompt's topic words) put the facts that name them first.
    """
    return detail_parts(obs, facts, limit, terms)[0]


def _fact_key(text) -> str:
    return " ".join(str(text or "").lower().split())


def detail_parts(obs: dict, facts: int = 2, limit: int = 320, terms=(), skip=frozenset()) -> tuple[str, list[str]]:
    """:func:`detail_line` and the facts it shows whole (a cut fact is not shown whole).

    ``skip``: facts (:func:`_fact_key` form) the reader was already given, left out.
    """
    head = f"- #{obs['id']} {day(obs.get('created_at'))} {obs.get('type', '')}: {clean(obs.get('title'), 160)}"
    title = " ".join(str(obs.get("title") or "").lower().split())
    candidates = list(_list(obs.get("facts")))
    if obs.get("narrative"):
        candidates.append(obs["narrative"])
    if skip:
        candidates = [c for c in candidates if _fact_key(c) not in skip]
    chosen = rank_facts(candidates, title, terms)[:facts]
    files = _list(obs.get("files_modified")) or _list(obs.get("files_read"))
    files = [f for f in files if f and f.lower() not in title][:3]
    files_part = (" — files: " + ", ".join(files)) if files else ""
    line = head
    room = limit - len(line) - (len(files_part) if len(files_part) <= 90 else 0)
    whole = []
    shown = 0
    for n, fact in enumerate(chosen):
        lead = " — facts: " if not shown else "; "
        share = max(40, (room - len(lead)) // (len(chosen) - n)) if n < len(chosen) - 1 else room - len(lead)
        piece = clean(fact, min(200, share))
        if len(piece) < 25 or len(lead) + len(piece) > room:
            continue
        shown += 1
        if piece == " ".join(fact.split()):
            whole.append(_fact_key(fact))
        line += lead + piece
        room -= len(lead) + len(piece)
    if files_part and len(line) + len(files_part) <= limit:
        line += files_part
    return clean(line, limit), whole


def summary_line(summary: dict) -> str:
    """A session summary: when, what was asked, what was learned and left open, then what was done."""
    parts = []
    for key, label, limit in (
        ("request", "asked", 120),
        ("learned", "learned", 200),
        ("next_steps", "next", 180),
        ("completed", "done", 160),
    ):
        if summary.get(key):
            parts.append(f"{label}: {clean(summary[key], limit)}")
    when = minute(summary.get("started_at") or summary.get("updated_at"))
    return f"- {when} · " + " | ".join(parts)


class Budget:
    """Lines kept while they fit into a token budget (each line costs its text plus a newline)."""

    def __init__(self, tokens: int) -> None:
        self.limit = max(0, int(tokens))
        self.used = 0
        self.lines: list[str] = []

    def cost(self, line: str) -> int:
        return count_tokens(line) + 1

    def fits(self, line: str, reserve: int = 0) -> bool:
        return self.used + self.cost(line) + reserve <= self.limit

    def add(self, line: str, reserve: int = 0) -> bool:
        if not self.fits(line, reserve):
            return False
        self.lines.append(line)
        self.used += self.cost(line)
        return True

    def text(self) -> str:
        return "\n".join(self.lines).strip("\n")
