"""Capture what a Claude Code version really sends its hooks, as test fixtures.

    python -m tests.support.capture_payloads 2.1.332 tests/fixtures/claude-code-2.1.332

Runs the real CLI of that version (:func:`tests.support.claude_cli.find_claude`)
offline against :class:`tests.support.claude_cli.ScriptedClaude`, in a throwaway
HOME and git project, with one hook registered for every event of
:data:`EVENTS` that writes its stdin, untouched, to a log and prints nothing.
One session is driven prompt by prompt (stream-json input):

1. a debugging turn: Bash, Read, a failing check (PostToolUseFailure), Edit, the
   check again, Write, then a subagent (Agent tool, run in the foreground) that
   runs a command of its own; the prompt holds a ``<private>`` span;
2. ``/compact``: PreCompact, the compaction's own SubagentStop, SessionStart with
   source ``compact``, PostCompact;
3. a question answered by a subagent the model does not wait for (the Agent
   tool's default; 2.1.332 runs it in the background), then the reply;
4. a prompt whose model call fails (HTTP 529, no retries): StopFailure (it fires
   only while the process lives on, so not at the end of a plain ``claude -p``).

Written to the output folder: ``hook-payloads.jsonl`` (every payload in firing
order), ``transcript-session.jsonl`` and ``subagents/*.jsonl`` (the session's
transcripts), ``requests.jsonl`` (each Messages request: role, message count,
the hook texts it carries). Only machine paths are changed: the run happens in
``<tmp>/home/dev`` (project ``shop-api``), and ``<tmp>`` is cut from every string,
in its ``/`` and its ``-`` (Claude Code's folder names) forms, so the fixtures read
``/home/dev/shop-api`` like the ones of 2.1.197.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support.claude_cli import ClaudeSession, ScriptedClaude, find_claude, request_role
from tests.support.fake_anthropic import ToolCall

EVENTS = (
    "SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "PostToolUseFailure", "PostToolBatch",
    "Stop", "StopFailure", "SubagentStart", "SubagentStop", "PreCompact", "PostCompact", "SessionEnd",
)
DUMP_HOOK = """\
import sys
data = sys.stdin.buffer.read()
with open(sys.argv[1], "ab") as fh:
    fh.write(data.strip() + b"\\n")
"""
VAT_PY = 'RATES = {"DE": 0.19, "FR": 0.20, "IT": 0.22}\n\n\ndef vat(amount, country):\n    rate = 0.2\n' \
         '    return round(amount * rate, 2)\n'
CHECK_PY = 'from cart.vat import vat\n\nassert vat(100, "DE") == 19.0, vat(100, "DE")\nprint("ok")\n'
FIRST_PROMPT = "Fix the VAT calculation for EU carts; my token is <private>sk-live-123</private>"
COMPACT_SUMMARY = ("Summary: the user asked to fix the VAT calculation. vat() in cart/vat.py used a flat 0.2 rate;"
                   " it now uses RATES[country] and check.py passes. An Explore subagent confirmed RATES is only"
                   " defined in cart/vat.py.")
SUBAGENT_REPORT = "RATES is defined once, in cart/vat.py; nothing else reads it."


def _project(root: Path) -> tuple[Path, Path]:
    home = root / "home" / "dev"
    project = home / "shop-api"
    (project / "cart").mkdir(parents=True)
    (home / ".claude").mkdir()
    (project / "cart" / "__init__.py").write_text("")
    (project / "cart" / "vat.py").write_text(VAT_PY)
    (project / "check.py").write_text(CHECK_PY)
    git = ["git", "-c", "user.name=dev", "-c", "user.email=dev@example.invalid"]
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    subprocess.run([*git, "add", "-A"], cwd=project, check=True)
    subprocess.run([*git, "commit", "-qm", "init"], cwd=project, check=True)
    return home, project


def _register(home: Path, log: Path) -> None:
    hook = home / "dump_hook.py"
    hook.write_text(DUMP_HOOK)
    handler = {"type": "command", "command": f"{sys.executable} {hook} {log}"}
    settings = {"hooks": {event: [{"hooks": [handler]}] for event in EVENTS}}
    (home / ".claude" / "settings.json").write_text(json.dumps(settings))


def debugging_turns(project: Path) -> list:
    vat = str(project / "cart" / "vat.py")
    return [
        [ToolCall("Bash", {"command": "ls cart", "description": "List the cart package"})],
        [ToolCall("Read", {"file_path": vat})],
        [ToolCall("Bash", {"command": "python3 check.py", "description": "Run the VAT check"})],
        [ToolCall("Edit", {"file_path": vat, "old_string": "    rate = 0.2\n",
                           "new_string": "    rate = RATES[country]\n"})],
        [ToolCall("Bash", {"command": "python3 check.py", "description": "Re-run the VAT check"})],
        [ToolCall("Write", {"file_path": str(project / "NOTES.md"), "content": "VAT uses RATES[country].\n"})],
        [ToolCall("Agent", {"description": "Find other RATES users", "prompt": "Which files read RATES?",
                            "subagent_type": "Explore", "run_in_background": False})],
        "Fixed vat(): it now looks up RATES[country], so DE gives 19.0 and check.py passes.",
    ]


def capture(version: str, out: Path, keep: bool = False) -> Path:
    binary = find_claude(version)
    if binary is None:
        raise SystemExit(f"Claude Code {version} is not installed (see tests/support/claude_cli.py)")
    root = Path(tempfile.mkdtemp(prefix="offmem-capture-"))
    try:
        home, project = _project(root)
        log = root / "payloads.jsonl"
        _register(home, log)
        subagent = [[ToolCall("Bash", {"command": "grep -rn RATES --include=*.py .", "description": "Find RATES"})],
                    SUBAGENT_REPORT]
        roles: list[dict] = []
        with ScriptedClaude(subagent_script=subagent, compact_summary=COMPACT_SUMMARY) as fake:
            env = dict(cwd=project, home=home, base_url=fake.base_url, offmem_home=root / "offmem-data")
            # No retries: a failed model call ends its turn at once (StopFailure).
            with ClaudeSession(binary=binary, extra_env={"CLAUDE_CODE_MAX_RETRIES": "0"}, **env) as session:
                fake.set_script(debugging_turns(project))
                session.send(FIRST_PROMPT)
                fake.set_script(["Compacted."])
                session.send("/compact")
                fake.set_script([
                    [ToolCall("Agent", {"description": "Double-check RATES", "prompt": "Is RATES[country] used?",
                                        "subagent_type": "Explore"})],
                    "RATES lives in cart/vat.py; a subagent is double-checking its users.",
                ])
                session.send("Where are the VAT rates defined?")
                _wait_for(log, lambda p: p["hook_event_name"] == "SubagentStop" and p.get("agent_type"), count=2)
                session.drain()  # the turn the background agent's report opens
                fake.fail_all(529, "scripted overload")
                session.send("Summarize the VAT change for the changelog")
                time.sleep(3)  # StopFailure hooks run detached; the session must outlive them
                fake.fail_all(None)
                session_id = session.session_id
            for req in fake.messages_requests():
                text = req.dumps()
                roles.append({"role": request_role(req.body), "run": req.run,
                              "messages": len(req.body.get("messages") or []) if isinstance(req.body, dict) else 0,
                              "hook_texts": [line for line in text.split("\\n") if "hook additional context" in line]})
        out.mkdir(parents=True, exist_ok=True)
        cut = [str(root), "-" + str(root).strip("/").replace("/", "-").replace(".", "-").replace("_", "-")]
        _write_cut(log.read_text(), out / "hook-payloads.jsonl", cut)
        _write_cut("".join(json.dumps(r) + "\n" for r in roles), out / "requests.jsonl", cut)
        transcripts = next((home / ".claude" / "projects").iterdir())
        _write_cut((transcripts / f"{session_id}.jsonl").read_text(), out / "transcript-session.jsonl", cut)
        sub_dir = transcripts / session_id / "subagents"
        if sub_dir.is_dir():
            shutil.rmtree(out / "subagents", ignore_errors=True)
            for path in sorted(sub_dir.glob("*.jsonl")):
                _write_cut(path.read_text(), out / "subagents" / path.name, cut)
        return out
    finally:
        if keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


def _wait_for(log: Path, match, count: int = 1, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = log.read_text().splitlines() if log.exists() else []
        if sum(1 for line in lines if match(json.loads(line))) >= count:
            return
        time.sleep(0.2)
    raise SystemExit(f"the expected hook payload did not arrive within {timeout:.0f}s")


def _write_cut(text: str, path: Path, cut: list[str]) -> None:
    """Write ``text`` with the temporary root cut out of every path in it (longest form first)."""
    for form in sorted(cut, key=len, reverse=True):
        text = text.replace(form, "")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("version")
    parser.add_argument("out", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the temporary HOME and project")
    args = parser.parse_args(argv)
    out = capture(args.version, args.out, keep=args.keep)
    for line in (out / "hook-payloads.jsonl").read_text().splitlines():
        p = json.loads(line)
        print(p["hook_event_name"], p.get("tool_name") or p.get("source") or p.get("trigger") or p.get("agent_type")
              or p.get("reason") or p.get("error") or "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
