"""Units of work: a session's events cut where one piece of work ends, and the agent's words placed in them.

A unit is what one observation covers (issue 14 item 3): the tool calls of one
prompt's turn, cut further where an edit → run → fix cycle is complete (files
were edited and a check passed after the last edit, and the next call edits or
reads code again: the commit, the ticket update and the todo list after the
passing check still belong to the cycle), or at a size cap (a safety limit, not
the rule). Every turn gives
at least one unit, so a turn with no tool call at all (a question answered in
prose) still has one for the agent's words.

:func:`segment` cuts pending events into :class:`Unit` s and boundary events
(Stop, SessionEnd, PreCompact) in spool order; the last unit is open
(``closed_by is None``) until something closes it.

The agent's words come from the transcript as evidence records
(:class:`offmem.store.evidence.EvidenceRecord`, used here by their fields). Each is
placed (:func:`place`) in a turn, after a tool event, from the tool call it
follows and the number of prompts since that call; :func:`take_evidence` then
hands a unit the records that fall inside it. Text that follows a unit's last
call goes to the next unit of the same turn when it opens with what the agent is
about to do next ("Now let's move to the exporter."), else it stays with the
unit it follows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from offmem.summarize.facts import is_exploration
from offmem.summarize.rules import EDIT_TOOLS, READ_TOOLS, check_failed, command_of
from offmem.summarize.sentences import classify, split_sentences
from offmem.records import EventRecord

TOOL_KINDS = ("PostToolUse", "PostToolUseFailure")
BOUNDARY_KINDS = ("Stop", "SessionEnd", "PreCompact")
UNIT_KINDS = ("assistant_text", "user_correction")  # evidence that belongs to a unit of work
DEFAULT_MAX_EVENTS = 40


@dataclass
class Unit:
    events: list[EventRecord] = field(default_factory=list)  # tool events
    carry: list[EventRecord] = field(default_factory=list)  # other events, marked done with the unit
    turn: int | None = None
    closed_by: str | None = None  # prompt | stop | cycle | cap | end | idle; None while open
    until: int | None = None  # a unit without tool events takes no words placed after this event id

    @property
    def all_events(self) -> list[EventRecord]:
        return sorted(self.carry + self.events, key=lambda e: e.id)


@dataclass
class Boundary:
    event: EventRecord


def is_edit(ev: EventRecord) -> bool:
    return ev.tool_name in EDIT_TOOLS and ev.kind == "PostToolUse"


def is_check(ev: EventRecord) -> bool:
    """A command that builds, tests, lints or otherwise checks (not one that only looks)."""
    return ev.tool_name == "Bash" and not is_exploration(command_of(ev))


def _passed(ev: EventRecord) -> bool:
    return ev.kind == "PostToolUse" and not check_failed(ev)


def moves_on(ev: EventRecord) -> bool:
    """Work moving to its next piece: an edit, or reading code (not a check, a commit, the todo list)."""
    return ev.tool_name in EDIT_TOOLS or ev.tool_name in READ_TOOLS


class _Cycle:
    def __init__(self) -> None:
        self.edited = False
        self.passed = False

    def see(self, ev: EventRecord) -> None:
        if is_edit(ev):
            self.edited, self.passed = True, False
        elif self.edited and is_check(ev) and _passed(ev):
            self.passed = True

    def complete(self) -> bool:
        return self.edited and self.passed


def segment(events: list[EventRecord], *, max_events: int = DEFAULT_MAX_EVENTS, max_tokens: int | None = None,
            size=None) -> list[Unit | Boundary]:
    """Units and boundaries of a session's pending ``events`` (in spool order), in order.

    ``max_events`` / ``max_tokens`` (with ``size(event)``, an estimate) cap a unit.
    """
    out: list[Unit | Boundary] = []
    current = Unit()
    cycle = _Cycle()
    tokens = 0

    def close(reason: str) -> None:
        nonlocal current, cycle, tokens
        if current.events or current.carry:
            current.closed_by = reason
            out.append(current)
        turn = current.turn
        current, cycle, tokens = Unit(turn=turn), _Cycle(), 0

    for ev in events:
        if ev.kind in TOOL_KINDS:
            if current.events and ev.prompt_number != current.turn:
                close("prompt")
            elif current.events and len(current.events) >= max_events:
                close("cap")
            elif current.events and max_tokens is not None and size is not None and tokens + size(ev) > max_tokens:
                close("cap")
            elif cycle.complete() and moves_on(ev):
                close("cycle")
            if current.turn is None or not current.events:
                current.turn = ev.prompt_number
            current.events.append(ev)
            tokens += size(ev) if size is not None else 0
            cycle.see(ev)
        elif ev.kind == "UserPromptSubmit":
            if current.events or any(e.kind == "UserPromptSubmit" for e in current.carry):
                close("prompt")  # a start or a lone lifecycle event goes along with the turn instead
            current.turn = ev.prompt_number
            current.carry.append(ev)
        elif ev.kind in BOUNDARY_KINDS:
            close("end" if ev.kind == "SessionEnd" else "stop")
            out.append(Boundary(ev))
        else:
            if current.turn is None:
                current.turn = ev.prompt_number
            current.carry.append(ev)
    if current.events or current.carry:
        out.append(current)  # open: closed_by None
    return out


def place(records: list) -> list:
    """Set each record's ``turn`` and ``after`` (in place; ``records`` in transcript order).

    A record after a known tool event sits in that event's turn (plus the prompts
    typed since), right after the event when no prompt came between. A record
    before any tool call counts turns from the session's start. A record whose tool
    call offmem never got (a skipped tool) takes the place of the record before it.
    """
    previous: tuple[int | None, int | None] = (None, None)
    for r in records:
        if r.anchor_event_id is not None:
            base = r.anchor_prompt or 0
            r.turn = base + max(0, r.prompts_since_tool)
            r.after = r.anchor_event_id if r.prompts_since_tool == 0 else None
        elif r.after_tool_use_id is None:
            r.turn, r.after = max(0, r.prompts_since_tool), None
        else:
            r.turn, r.after = previous
        previous = (r.turn, r.after)
    return records


def opens_next_piece(text: str) -> bool:
    """Does this text start with what the agent is about to do (it then introduces the next unit)?"""
    for sentence in split_sentences(text):
        kind = classify(sentence)
        if kind == "filler":
            continue
        return kind == "intent"
    return False


def _belongs(r, unit: Unit) -> bool:
    if r.turn is None:
        return True  # nowhere better: the next unit takes it
    turn = unit.turn if unit.turn is not None else 0
    if r.turn < turn:
        return True  # left over from an earlier turn
    if r.turn > turn:
        return False
    if not unit.events:
        return r.after is None or unit.until is None or r.after <= unit.until
    if r.after is None:
        return True
    first, last = unit.events[0].id, unit.events[-1].id
    if r.after < last:
        return True  # inside, or left over from an earlier unit of the turn
    if r.after > last:
        return False
    if unit.closed_by in ("cycle", "cap"):
        return not opens_next_piece(r.text)
    return True


def take_evidence(unit: Unit, pool: list) -> list:
    """The records of ``pool`` (placed, in order) that belong to ``unit``; removed from ``pool``.

    """
    taken, kept = [], []
    for r in pool:
        if r.kind not in UNIT_KINDS:
            kept.append(r)
        elif _belongs(r, unit):
            taken.append(r)
        else:
            kept.append(r)
    pool[:] = kept
    return taken
