"""Open next steps reach the next session (issue 14 item 7).

* A next step the agent states mid-session, after which the session only looked
  around (``git diff``, ``ls``, reads), is still open at the end: the summary
  lists it (before, only the last words counted, so "Still to do: backfill the
  March gaps" said before a closing ``git diff --stat`` was lost).
* SessionStart's "Recent sessions" prefers sessions that learned, changed or left
  something over newer ones that only asked a question and got a short answer.
"""

from __future__ import annotations

from offmem.config import load_settings
from offmem.retrieval.session import build_session_context
from offmem.summarize import rules
from offmem.summarize.types import SessionContext
from tests.support.seed import add_summary, days_ago
from tests.test_evidence_rules import PROJECT, Events, said, tool_events


def test_a_next_step_followed_only_by_looking_around_stays_open():
    ev = Events()
    ev.read("tidewatch/report.py")
    edit = ev.edit("tidewatch/report.py")
    look = ev.bash("cat data/gaps.txt", "2026-03-04 PORT-1 no readings\n")
    ev.bash("git diff --stat", " tidewatch/report.py | 6 ++++++\n")
    evidence = [
        said("Still to do: the March gaps need a backfill with scripts/refill_gaps.py once the quota is raised.",
             look, ident=1),
        said("Added the per-station table to the daily report.", ev.out[-1], ident=2),
    ]
    ctx = SessionContext(session_id="s", project=PROJECT, prompts=["add a table"], observations=[],
                         events=tool_events(ev.out), last_assistant_message="Added the per-station table.")
    summary = rules.summarize_session(ctx, evidence)
    assert "refill_gaps.py" in summary.next_steps
    assert edit.id < look.id


def test_a_next_step_the_session_went_on_to_do_is_not_open():
    ev = Events()
    edit = ev.edit("cart/vat.py")
    ev.bash("make docs", "built\n")
    ev.bash("git status --short", " M docs/index.html\n")
    evidence = [said("Next step: regenerate the docs.", edit, ident=1)]
    ctx = SessionContext(session_id="s", project=PROJECT, prompts=["fix it"], observations=[],
                         events=tool_events(ev.out), last_assistant_message="Done.")
    assert "regenerate the docs" not in rules.summarize_session(ctx, evidence).next_steps


def test_recent_sessions_prefer_substance_over_newer_bare_questions(store):
    project = "/home/dev/tides"
    add_summary(store, project, "work", days_ago(2), request="Add the station table",
                learned="agent: timestamps stay in UTC until render_station_table()",
                completed="Added the table; modified tidewatch/report.py")
    for n in range(4):
        add_summary(store, project, f"asked-{n}", days_ago(1 - n / 10), request=f"Question number {n} about tides?",
                    completed="Let me look into that.")
    block = build_session_context(store, project, load_settings())
    assert "render_station_table" in block["text"]
    assert "Question number 3" in block["text"]  # the newest session still shows first


# ---------------------------------------------------------------------- "what is left?" at prompt time


def plant_open_work(store, project: str) -> int:
    old = add_summary(store, project, "left-open", days_ago(20), request="Make spellcheck work on a fresh checkout",
                      learned="agent: the checker loads only when the dictionary path is set",
                      completed="Spellchecking works once the path is set",
                      next_steps="the toolbar's Export button still needs wiring to exportNoteAsPdf()")
    for n in range(3):  # later sessions that left work open too take SessionStart's three places
        add_summary(store, project, f"later-{n}", days_ago(10 - n), request=f"Polish the sidebar, part {n}",
                    learned=f"agent: the sidebar width comes from layout token {n}",
                    completed=f"Adjusted sidebar part {n}", next_steps=f"tune the sidebar shadow {n}")
    return old


def test_a_question_about_what_is_left_gets_the_open_next_steps(store, settings):
    from offmem.retrieval import prompt_memories
    from offmem.retrieval.session import session_start_block

    project = "/home/dev/notes-app"
    old = plant_open_work(store, project)
    block = session_start_block(str(settings.home), project, "probe")
    assert "exportNoteAsPdf" not in block and "shadow 2" in block
    result = prompt_memories(store, project, "I have an hour free today. Did we leave anything unfinished on exporting?",
                             settings, session_id="probe")
    assert old in result["summary_ids"] and "exportNoteAsPdf" in result["text"]
    assert "shadow 2" not in result["text"]  # given whole at SessionStart: not repeated
    line = next(ln for ln in result["text"].splitlines() if "exportNoteAsPdf" in ln)
    assert line.index("next:") < line.index("asked:")  # what is left comes first


def test_other_questions_do_not_get_open_next_steps_for_nothing(store, settings):
    from offmem.retrieval import prompt_memories

    project = "/home/dev/notes-app"
    old = plant_open_work(store, project)
    result = prompt_memories(store, project, "How is the markdown renderer configured for tables?", settings)
    assert old not in result["summary_ids"] and not result["summary_ids"]
    # asked what is left about another topic (as in another project): open work of this one is noise
    result = prompt_memories(store, project, "What was still left in the tracing epic?", settings)
    assert old not in result["summary_ids"]


def test_a_memory_line_shows_the_step_left_open_before_what_happened_during_it():
    from offmem.retrieval.format import detail_line

    decision = ("agent: All timestamps stay in UTC in storage and are converted only in render_station_table(), "
                "rather than storing local times, because two stations straddle a time-zone border.")
    obs = {"id": 11, "type": "decision", "created_at": "2026-03-02T10:00:00Z", "title": decision[7:167],
           "facts": [decision, "agent: Still to do: the March gaps need a backfill with scripts/refill_gaps.py.",
                     "during: Edited tidewatch/report.py: + def render_station_table(stations, tz=None):"]}
    facts = detail_line(obs).split(" — facts: ", 1)[1]
    assert facts.startswith("agent: Still to do: the March gaps need a backfill"), facts
