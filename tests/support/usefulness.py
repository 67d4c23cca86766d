"""Does what offmem remembers reach the next session? A scripted scenario for the real Claude Code CLI.

Three small projects, each its own git repository: ``tidewatch`` (Python, tide-gauge
readings), ``quillpad`` (a TypeScript notes app) and ``burrowkv`` (a Go key-value
store). In each, three ordinary sessions are played through the real ``claude -p``
against :class:`tests.support.fake_anthropic.FakeAnthropic`: listing, reading,
running checks that fail and then pass, editing, ``git`` commands, and the agent's
own sentences between tool calls. Among that routine, four facts per project are
taught the way an agent states them in passing: a **cause** ("the preview flickered
because …"), a **decision** with its reason, a **setting** that had to be set, and a
**next step** left open. Nothing is said twice on purpose; a fact is in the session
only where the work produced it.

Then, for each fact, a later session of the same project asks a question that needs
it without naming it ("the nightly job got HTTP 429 again: which knob did we lower?").
The fact *reaches* the agent when one of its ``expect`` strings is in what offmem added
to that session's first request to the model: the SessionStart block or the
prompt-time block (the parts of the request after ``SessionStart hook additional
context:``). A *leak* is any ``expect`` string of another project's facts in what
offmem added to a probe's first request.

:func:`run_scenario` plays it all in one throwaway HOME and returns one row per fact;
``tests/test_e2e_usefulness.py`` asserts on it and ``bench/bench_usefulness.py``
prints it for the default configuration and for ``backend = "rules"``.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.claude_cli import claude_env, run_claude
from tests.support.fake_anthropic import FakeAnthropic, ToolCall

OFFMEM_BIN = Path(sys.executable).parent / "offmem"
START_MARKER = "SessionStart hook additional context:"
PROMPT_MARKER = "UserPromptSubmit hook additional context:"
PROCESSING_TIMEOUT_S = 120
PROBE_ANSWER = "Let me look into that."


@dataclass(frozen=True)
class Fact:
    """One thing a session established, and the later question that needs it."""

    key: str
    kind: str  # cause, decision, setting, next
    expect: tuple[str, ...]  # any of these (case-insensitive) in the added context = reached
    probe: str  # the later prompt; names none of ``expect``


@dataclass
class Project:
    name: str
    files: dict[str, str]
    sessions: list[tuple[str, Callable[[Path], list]]]  # (prompt, script builder)
    facts: list[Fact]


def C(name: str, **kw) -> ToolCall:  # noqa: N802 - reads like the script it builds
    return ToolCall(name, kw)


def bash(command: str, description: str) -> ToolCall:
    return ToolCall("Bash", {"command": command, "description": description})


# ---------------------------------------------------------------------------------------- tidewatch

TIDE_FILES = {
    "tidewatch/__init__.py": "",
    "tidewatch/client.py": (
        '"""The gauge provider\'s API, served from a local sample (120 readings, 50 a page)."""\n\n\n'
        "def get_page(station, cursor=None):\n"
        "    start = int(cursor or 0)\n"
        '    items = [{"station": station, "n": i} for i in range(start, min(start + 50, 120))]\n'
        "    more = start + 50 < 120\n"
        '    return {"items": items, "next_cursor": str(start + 50) if more else None}\n'
    ),
    "tidewatch/fetch.py": (
        "from tidewatch.client import get_page\n\n\n"
        "def fetch_all(station):\n"
        "    readings = []\n"
        "    page = get_page(station)\n"
        '    readings.extend(page["items"])\n'
        "    return readings\n"
    ),
    "tidewatch/cli.py": (
        "import sys\n\nfrom tidewatch.fetch import fetch_all\n\n\n"
        "def main(argv):\n"
        '    station = "PORT-1"\n'
        '    print(f"{station}: {len(fetch_all(station))} readings")\n\n\n'
        'if __name__ == "__main__":\n    main(sys.argv[1:])\n'
    ),
    "tidewatch/report.py": (
        "from tidewatch.fetch import fetch_all\n\n\n"
        "def daily_report(stations):\n"
        '    lines = ["Daily tide report"]\n'
        "    for s in stations:\n"
        '        lines.append(f"- {s}: {len(fetch_all(s))} readings")\n'
        '    return "\\n".join(lines)\n\n\n'
        'if __name__ == "__main__":\n    print(daily_report(["PORT-1", "PORT-7"]))\n'
    ),
    "check_fetch.py": (
        "from tidewatch.fetch import fetch_all\n\n"
        'n = len(fetch_all("PORT-7"))\n'
        'assert n == 120, f"expected 120 readings for PORT-7, got {n}"\n'
        'print("fetch ok: 120 readings")\n'
    ),
    "deploy/env.prod": "TIDE_API_BASE=https://gauges.example.invalid/v2\nTIDE_FETCH_WORKERS=6\nTIDE_LOG_LEVEL=info\n",
    "data/gaps.txt": "2026-03-04 PORT-1 no readings 02:00-09:00\n2026-03-11 PORT-7 no readings 14:00-23:00\n",
}


def tide_fix(p: Path) -> list:
    fetch, env = str(p / "tidewatch/fetch.py"), str(p / "deploy/env.prod")
    return [
        ["Let me see how readings are fetched.", bash("ls -R tidewatch", "List the package")],
        [C("Read", file_path=fetch)],
        [C("Read", file_path=str(p / "tidewatch/client.py"))],
        [bash("python3 check_fetch.py", "Run the fetch check")],
        ["The missing readings come from pagination: the provider returns a next_cursor with every page and "
         "fetch_all() stopped after the first page, so each station lost everything past reading 50.",
         C("Edit", file_path=fetch, old_string='    page = get_page(station)\n    readings.extend(page["items"])\n',
           new_string='    page = get_page(station)\n    readings.extend(page["items"])\n'
                      '    while page["next_cursor"]:\n'
                      '        page = get_page(station, page["next_cursor"])\n'
                      '        readings.extend(page["items"])\n')],
        [bash("python3 check_fetch.py", "Re-run the fetch check")],
        ["Now the 429 responses in the nightly log.", C("Read", file_path=env)],
        ["The provider throttles us above two parallel requests, which is where the 429s come from, so "
         "TIDE_FETCH_WORKERS has to stay at 2 in deploy/env.prod.",
         C("Edit", file_path=env, old_string="TIDE_FETCH_WORKERS=6\n", new_string="TIDE_FETCH_WORKERS=2\n")],
        [bash("git diff --stat", "Summarize the changes")],
        "Done: fetch_all() now follows every page (check_fetch.py passes with 120 readings), and the fetch "
        "workers are lowered for the provider's limit.",
    ]


def tide_routine(p: Path) -> list:
    cli = str(p / "tidewatch/cli.py")
    return [
        [C("Read", file_path=cli)],
        ["I'll take the station from the first argument and keep PORT-1 as the default.",
         C("Edit", file_path=cli, old_string='    station = "PORT-1"\n',
           new_string='    station = argv[0] if argv else "PORT-1"\n')],
        [bash("python3 -m tidewatch.cli PORT-7", "Try the CLI with a station")],
        [bash("python3 -m tidewatch.cli", "Try the default station")],
        [bash("git status --short", "Show the working tree")],
        "The CLI takes a station argument now (PORT-7 prints 120 readings; without one it uses PORT-1).",
    ]


def tide_report(p: Path) -> list:
    report = str(p / "tidewatch/report.py")
    return [
        [C("Read", file_path=report)],
        [bash("python3 -m tidewatch.report", "Print today's report")],
        ["All timestamps stay in UTC in storage and are converted to station-local time only in "
         "render_station_table(), rather than storing local times, because two of the stations sit on "
         "either side of a time-zone border.",
         C("Edit", file_path=report, old_string='    return "\\n".join(lines)\n',
           new_string='    lines.append(render_station_table(stations))\n    return "\\n".join(lines)\n\n\n'
                      "def render_station_table(stations, tz=None):\n"
                      '    rows = [f"| {s} | {len(fetch_all(s))} |" for s in stations]\n'
                      '    return "\\n".join(["| station | readings |", *rows])\n')],
        [bash("python3 -m tidewatch.report", "Print the report with the table")],
        [bash("cat data/gaps.txt", "Look at the known gaps")],
        ["Still to do: the March gaps in data/gaps.txt need a backfill with scripts/refill_gaps.py once the "
         "provider raises our quota; today's quota would be gone in minutes.",
         bash("git diff --stat", "Summarize the changes")],
        "Added the per-station table to the daily report.",
    ]


TIDEWATCH = Project(
    "tidewatch",
    TIDE_FILES,
    [
        ("Some stations are missing most of their readings and the nightly job logs 429s. Please fix.", tide_fix),
        ("Let the CLI take the station as an argument", tide_routine),
        ("Add a per-station table to the daily report", tide_report),
    ],
    [
        Fact("tide-cause", "cause", ("next_cursor", "after the first page"),
             "A few stations show exactly 50 readings for a whole day again. Why did that happen the last time?"),
        Fact("tide-setting", "setting", ("TIDE_FETCH_WORKERS",),
             "The gauge provider answers HTTP 429 to the nightly sync again. Which setting did we lower before?"),
        Fact("tide-decision", "decision", ("render_station_table", "time-zone border"),
             "A user wants the CSV export in local time. Where should time zone conversion happen in this code?"),
        Fact("tide-next", "next", ("refill_gaps", "backfill"),
             "The provider raised our quota this morning. Was there work waiting on that?"),
    ],
)

# ---------------------------------------------------------------------------------------- quillpad

QUILL_FILES = {
    "package.json": '{\n  "name": "quillpad",\n  "private": true,\n  "scripts": {"test": "sh scripts/check.sh"}\n}\n',
    "src/Preview.tsx": (
        'import { useEffect, useState } from "react";\n\n'
        "export function Preview({ text }: { text: string }) {\n"
        "  const [html, setHtml] = useState(\"\");\n"
        "  const timer = setTimeout(() => setHtml(render(text)), 150);\n"
        "  useEffect(() => () => clearTimeout(timer));\n"
        "  return <div className=\"preview\" dangerouslySetInnerHTML={{ __html: html }} />;\n"
        "}\n"
    ),
    "src/drafts.ts": (
        "export function saveDraft(id: string, body: string) {\n"
        "  window.localStorage.setItem(`draft:${id}`, body);\n"
        "}\n"
    ),
    "src/spell.ts": (
        "const dict = process.env.QUILL_DICT_PATH;\n\n"
        "export function spellcheckEnabled(): boolean {\n  return Boolean(dict);\n}\n"
    ),
    "src/export.ts": "export function exportNoteAsPdf(id: string): never {\n  throw new Error(\"not implemented\");\n}\n",
    "src/Toolbar.tsx": (
        "export function Toolbar() {\n  return (\n    <nav>\n      <button>Bold</button>\n"
        "      <button>Export</button>\n    </nav>\n  );\n}\n"
    ),
    "scripts/check.sh": (
        "#!/bin/sh\n"
        "fail=0\n"
        "if grep -q 'useRef' src/Preview.tsx; then echo '  ok  Preview keeps one timer while typing';\n"
        "else echo '  FAIL  Preview keeps one timer while typing: 12 renders for 12 keystrokes'; fail=1; fi\n"
        "if grep -q 'indexedDB' src/drafts.ts; then echo '  ok  a 7 MB draft is saved';\n"
        "else echo '  FAIL  a 7 MB draft is saved: QuotaExceededError'; fail=1; fi\n"
        "echo \"  ok  toolbar renders\"\n"
        "exit $fail\n"
    ),
    ".env.example": "QUILL_API_URL=http://localhost:5173/api\n",
}


def quill_preview(p: Path) -> list:
    preview = str(p / "src/Preview.tsx")
    return [
        [bash("ls src scripts", "List the sources")],
        [C("Read", file_path=preview)],
        [bash("sh scripts/check.sh", "Run the checks")],
        ["The preview flickered because the debounce timer was created anew on every render, so each "
         "keystroke reset it and the pane redrew twice; holding it in a useRef fixes that.",
         C("Edit", file_path=preview,
           old_string='  const timer = setTimeout(() => setHtml(render(text)), 150);\n'
                      '  useEffect(() => () => clearTimeout(timer));\n',
           new_string='  const timer = useRef<number>();\n'
                      '  useEffect(() => {\n'
                      '    clearTimeout(timer.current);\n'
                      '    timer.current = window.setTimeout(() => setHtml(render(text)), 150);\n'
                      '  }, [text]);\n')],
        [C("Edit", file_path=preview, old_string='import { useEffect, useState } from "react";\n',
           new_string='import { useEffect, useRef, useState } from "react";\n')],
        [bash("sh scripts/check.sh", "Re-run the checks")],
        ["The other failure is the draft store.", C("Read", file_path=str(p / "src/drafts.ts"))],
        ["Drafts go to IndexedDB instead of localStorage: long notes with pasted images went past the "
         "5 MB localStorage quota, which is the QuotaExceededError in the check.",
         C("Write", file_path=str(p / "src/drafts.ts"),
           content="import { openDB } from \"./db\";\n\n"
                   "export async function saveDraft(id: string, body: string) {\n"
                   "  const db = await openDB(window.indexedDB);\n"
                   "  await db.put(\"drafts\", body, id);\n}\n")],
        [bash("sh scripts/check.sh", "Run the checks once more")],
        "The preview no longer flickers and big drafts save; all three checks pass.",
    ]


def quill_routine(p: Path) -> list:
    toolbar = str(p / "src/Toolbar.tsx")
    return [
        [C("Read", file_path=toolbar)],
        [C("Edit", file_path=toolbar, old_string="      <button>Bold</button>\n",
           new_string="      <button>Bold</button>\n      <button>Italic</button>\n")],
        [bash("sh scripts/check.sh", "Run the checks")],
        [bash("git status --short", "Show the working tree")],
        "Added an Italic button next to Bold; the checks pass.",
    ]


def quill_spell(p: Path) -> list:
    spell, env = str(p / "src/spell.ts"), str(p / ".env.example")
    return [
        [bash("ls public 2>/dev/null; ls src", "Look for the dictionaries")],
        [C("Read", file_path=spell)],
        ["The spellchecker only loads when QUILL_DICT_PATH points at public/dicts/en_GB.dic; without it "
         "the check is skipped silently, so I'm adding it to the example environment.",
         C("Read", file_path=env)],
        [C("Edit", file_path=env, old_string="QUILL_API_URL=http://localhost:5173/api\n",
           new_string="QUILL_API_URL=http://localhost:5173/api\nQUILL_DICT_PATH=public/dicts/en_GB.dic\n")],
        [bash("sh scripts/check.sh", "Run the checks")],
        [C("Read", file_path=str(p / "src/export.ts"))],
        ["Left for later: the Export button in the toolbar still needs wiring to exportNoteAsPdf() in "
         "src/export.ts, which only throws for now.",
         bash("git diff --stat", "Summarize the changes")],
        "Spellchecking works once the dictionary path is set; .env.example shows it.",
    ]


QUILLPAD = Project(
    "quillpad",
    QUILL_FILES,
    [
        ("The preview pane flickers while typing and saving big drafts fails. Can you fix both?", quill_preview),
        ("Add an Italic button to the toolbar", quill_routine),
        ("Spellcheck does nothing on a fresh checkout; find out why", quill_spell),
    ],
    [
        Fact("quill-cause", "cause", ("debounce timer",),
             "Typing makes the rendered pane blink again after my refactor. What was behind this before?"),
        Fact("quill-decision", "decision", ("IndexedDB instead", "localStorage quota"),
             "Could we keep unsaved notes in the browser's simple key-value storage to cut code, or was that ruled out?"),
        Fact("quill-setting", "setting", ("QUILL_DICT_PATH", "en_GB.dic"),
             "Misspelled words are never underlined on my new laptop. What has to be configured?"),
        Fact("quill-next", "next", ("needs wiring", "export button"),
             "I have an hour free today. What did we leave unfinished in this app?"),
    ],
)

# ---------------------------------------------------------------------------------------- burrowkv

BURROW_FILES = {
    "go.mod": "module example.invalid/burrowkv\n\ngo 1.22\n",
    "cmd/burrowd/main.go": (
        "package main\n\nfunc main() {\n\tstore := openStore()\n\tln := listen()\n"
        "\tinstallSignals(store)\n\tserve(ln, store)\n}\n"
    ),
    "internal/index/index.go": "package index\n\n// Index maps keys to segment offsets, kept in SQLite (WAL).\ntype Index struct{}\n",
    "internal/audit/audit.go": (
        "package audit\n\n// Append writes one audit record to burrow-audit.log.\n"
        "func Append(rec []byte) error { return appendFile(\"burrow-audit.log\", rec) }\n"
    ),
    "deploy/burrow.service": "[Service]\nExecStart=/usr/local/bin/burrowd\nRestart=on-failure\n",
    "bench/results.txt": (
        "engine   writes/s  p99 write  max stall\n"
        "sqlite   41200     3.1ms      12ms\n"
        "lsm      58900     4.0ms      4.2s\n"
    ),
    "scripts/test.sh": (
        "#!/bin/sh\n"
        "if awk '/installSignals/{s=NR}/listen\\(\\)/{l=NR}END{exit !(s<l)}' cmd/burrowd/main.go; then\n"
        "  echo 'ok  burrowkv/cmd/burrowd  0.41s'\nelse\n"
        "  echo '--- FAIL: TestRestartReleasesLock (0.30s)'\n"
        "  echo '    main_test.go:48: open store: database is locked (burrow.lock held by pid 1)'\n"
        "  echo 'FAIL  burrowkv/cmd/burrowd  0.38s'\n  exit 1\nfi\n"
        "echo 'ok  burrowkv/internal/index  0.12s'\necho 'ok  burrowkv/internal/audit  0.05s'\n"
    ),
}


def burrow_lock(p: Path) -> list:
    main, unit = str(p / "cmd/burrowd/main.go"), str(p / "deploy/burrow.service")
    return [
        [bash("sh scripts/test.sh", "Run the tests")],
        [C("Read", file_path=main)],
        ["The stale lock comes from the SIGTERM handler never running: it was installed after the listener "
         "started, and a restart during the first request killed the process before it could release "
         "burrow.lock. Installing the handler first fixes it.",
         C("Edit", file_path=main, old_string="\tln := listen()\n\tinstallSignals(store)\n",
           new_string="\tinstallSignals(store)\n\tln := listen()\n")],
        [bash("sh scripts/test.sh", "Re-run the tests")],
        ["While here, the crash log from the restart also shows 'too many open files'.", C("Read", file_path=unit)],
        ["BURROW_MAX_OPEN_FILES=8192 has to be set in deploy/burrow.service: the default of 1024 runs out "
         "once a store has a few hundred segments.",
         C("Edit", file_path=unit, old_string="Restart=on-failure\n",
           new_string="Restart=on-failure\nEnvironment=BURROW_MAX_OPEN_FILES=8192\n")],
        [bash("git diff --stat", "Summarize the changes")],
        "Fixed: a restart no longer leaves the store locked, and the unit raises the open-file limit.",
    ]


def burrow_routine(p: Path) -> list:
    return [
        [bash("git log --oneline | head -5", "Recent history")],
        [C("Read", file_path=str(p / "internal/index/index.go"))],
        [bash("sh scripts/test.sh", "Run the tests")],
        [bash("wc -l internal/index/index.go internal/audit/audit.go", "Size of the packages")],
        "The index package is a thin layer over SQLite; all tests pass.",
    ]


def burrow_engine(p: Path) -> list:
    return [
        [bash("cat bench/results.txt", "Read the engine benchmark")],
        [C("Read", file_path=str(p / "internal/index/index.go"))],
        ["We stay on SQLite with WAL for the index instead of switching to the LSM engine: it wrote 40% "
         "faster, but its compaction stalled writes for up to 4.2 s in the benchmark, which would time out "
         "our clients.",
         bash("sh scripts/test.sh", "Run the tests")],
        [C("Read", file_path=str(p / "internal/audit/audit.go"))],
        ["Next step: audit log rotation by size, since audit.go still appends to burrow-audit.log forever.",
         bash("ls -la", "List the repository")],
        "Benchmarked the engines and kept SQLite for the index.",
    ]


BURROWKV = Project(
    "burrowkv",
    BURROW_FILES,
    [
        ("After a container restart burrowd refuses to start. Investigate and fix.", burrow_lock),
        ("Give me a quick tour of the index package", burrow_routine),
        ("Compare the two storage engines in bench/ and pick one for the index", burrow_engine),
    ],
    [
        Fact("burrow-cause", "cause", ("SIGTERM handler",),
             "The daemon came back after a reboot with 'database is locked' again. What explained that last time?"),
        Fact("burrow-decision", "decision", ("LSM engine", "compaction stalled"),
             "Should we move the index to another storage engine to get faster writes?"),
        Fact("burrow-setting", "setting", ("BURROW_MAX_OPEN_FILES",),
             "On the new server burrowd dies with too many open files. What did we set on the old one?"),
        Fact("burrow-next", "next", ("audit log rotation",),
             "Disk usage on the host keeps growing. Is anything pending in the code that would explain it?"),
    ],
)

PROJECTS = [TIDEWATCH, QUILLPAD, BURROWKV]

# Later routine work, to crowd the SessionStart block (``bench_usefulness.py --noise N``): each
# session adds a small module, reads a neighbour, runs a passing check and looks at git.
NOISE_TOPICS = ["retry budget", "log format", "health endpoint", "metrics labels", "config loader",
                "cache warmup", "pagination helper", "error pages", "release notes", "lint rules"]


def noise_session(project: Project, k: int) -> tuple[str, Callable[[Path], list]]:
    topic = NOISE_TOPICS[k % len(NOISE_TOPICS)]
    slug = topic.replace(" ", "_") + f"_{k}"
    neighbour = next(iter(f for f in project.files if not f.startswith(("data/", "bench/", "deploy/")) and "." in f))

    def build(p: Path) -> list:
        return [
            [C("Read", file_path=str(p / neighbour))],
            [f"I'll keep the {topic} in its own module, next to the existing code.",
             C("Write", file_path=str(p / "notes" / f"{slug}.md"),
               content=f"# {topic.title()} ({k})\n\nThe {topic} lives in notes/{slug}.md for now.\n")],
            [bash(f"grep -c '' notes/{slug}.md", "Check the new file")],
            [bash("git status --short", "Show the working tree")],
            f"Added notes/{slug}.md describing the {topic}.",
        ]

    return f"Write down how the {topic} works (part {k})", build

# ---------------------------------------------------------------------------------------- driving it


@dataclass
class Outcome:
    """What one probe's first request carried."""

    project: str
    fact: Fact
    start: bool = False  # in the SessionStart block
    prompt: bool = False  # in the prompt-time block
    leaks: list[str] = field(default_factory=list)  # other projects' expect strings in the added context
    added: str = ""  # what offmem added (both blocks), for a report on a miss

    @property
    def reached(self) -> bool:
        return self.start or self.prompt


def _git(project: Path, *args: str) -> None:
    git = ["git", "-c", "user.name=dev", "-c", "user.email=dev@example.invalid", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, *args], cwd=project, check=True, capture_output=True)


def make_project(root: Path, project: Project) -> Path:
    path = root / project.name
    for rel, text in project.files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    _git(path, "init", "-q")
    commit(path)
    return path


def commit(path: Path) -> None:
    """Commit the work with a neutral message: the CLI's gitStatus shows recent commit subjects."""
    _git(path, "add", "-A")
    _git(path, "commit", "-qm", "wip", "--allow-empty")


def added_context(request_text: str) -> tuple[str, str]:
    """(SessionStart block, prompt-time block) of a first request's JSON text ('' when absent)."""
    start = prompt = ""
    if START_MARKER in request_text:
        start = request_text.split(START_MARKER, 1)[1]
        start = start.split(PROMPT_MARKER, 1)[0]
    if PROMPT_MARKER in request_text:
        prompt = request_text.split(PROMPT_MARKER, 1)[1]
    return start, prompt


def contains(text: str, needles) -> list[str]:
    low = text.lower()
    return [n for n in needles if n.lower() in low]


class Scenario:
    """One run of the scenario in ``root`` with ``config`` (config.toml text) and a models folder."""

    def __init__(self, root: Path, fake: FakeAnthropic, claude_bin: Path, config: str, log=print,
                 noise: int = 0) -> None:
        self.root, self.fake, self.claude_bin, self.log, self.noise = root, fake, claude_bin, log, noise
        self.home, self.data = root / "home", root / "offmem-data"
        self.home.mkdir(parents=True)
        self.data.mkdir(parents=True)
        (self.data / "config.toml").write_text(config)
        self.paths = {p.name: make_project(root / "projects", p) for p in PROJECTS}
        self.db = self.data / "offmem.db"
        self.timings: dict[str, float] = {}

    def offmem(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        env = claude_env(self.home, self.fake.base_url, self.data)
        return subprocess.run([str(OFFMEM_BIN), *args], cwd=cwd or self.root, env=env, capture_output=True,
                              text=True, timeout=180)

    def install(self) -> None:
        done = self.offmem("install", "--scope", "user")
        assert done.returncode == 0, f"offmem install failed:\n{done.stdout}\n{done.stderr}"

    def claude(self, project: str, prompt: str, script: list) -> tuple[str, int]:
        run = self.fake.set_script(script)
        result = run_claude(prompt, cwd=self.paths[project], home=self.home, base_url=self.fake.base_url,
                            offmem_home=self.data, timeout=180, binary=self.claude_bin)
        assert result.returncode == 0 and result.result.get("is_error") is False, result.describe()
        return result.result["session_id"], run

    def teach(self) -> list[str]:
        """Every project's sessions, in turn; each session processed before the next starts."""
        started = time.monotonic()
        ids = []
        for round_ in range(3):
            for project in PROJECTS:
                prompt, build = project.sessions[round_]
                session_id, _run = self.claude(project.name, prompt, build(self.paths[project.name]))
                self.wait_processed(session_id)
                commit(self.paths[project.name])
                ids.append(session_id)
        for k in range(self.noise):  # later routine work: the facts are no longer the newest memories
            for project in PROJECTS:
                prompt, build = noise_session(project, k)
                session_id, _run = self.claude(project.name, prompt, build(self.paths[project.name]))
                self.wait_processed(session_id)
                commit(self.paths[project.name])
                ids.append(session_id)
        self.timings["teach_s"] = time.monotonic() - started
        return ids

    def wait_processed(self, session_id: str, timeout: float = PROCESSING_TIMEOUT_S) -> None:
        """Until the session has its summary, no pending event and nothing left to embed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._query("SELECT 1 FROM summaries WHERE session_id = ?", session_id) and not self._query(
                "SELECT 1 FROM events WHERE session_id = ? AND status = 'pending'", session_id
            ) and not self._query("SELECT 1 FROM vector_outbox LIMIT 1"):
                return
            time.sleep(0.3)
        raise AssertionError(f"session {session_id} was not processed within {timeout:.0f}s; see {self.data}/offmem.log")

    def _query(self, sql: str, *params) -> list:
        if not self.db.exists():
            return []
        conn = sqlite3.connect(self.db, timeout=10)
        try:
            return conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise
        finally:
            conn.close()

    def probe(self) -> list[Outcome]:
        """One later session per fact; what its first request carried."""
        started = self.offmem("worker", "start", "--json")
        assert started.returncode == 0, started.stderr
        t0 = time.monotonic()
        outcomes = []
        for project in PROJECTS:
            others = [e for p in PROJECTS if p is not project for f in p.facts for e in f.expect]
            for fact in project.facts:
                assert not contains(fact.probe, fact.expect), f"probe {fact.key} names its own fact"
                session_id, run = self.claude(project.name, fact.probe, [PROBE_ANSWER])
                requests = self.fake.agent_requests(run=run)
                assert requests, f"probe {fact.key} sent no request"
                body = requests[0].body
                system_text = json.dumps(body.get("system"), ensure_ascii=False)
                assert not contains(system_text, fact.expect), f"{fact.key}: the fact is in the system prompt itself"
                sent = json.dumps(body.get("messages"), ensure_ascii=False)
                start, prompt = added_context(sent)
                outcomes.append(Outcome(project.name, fact, bool(contains(start, fact.expect)),
                                        bool(contains(prompt, fact.expect)), contains(start + prompt, others),
                                        (start + prompt).replace("\\n", "\n")))
                self.wait_processed(session_id)
        self.timings["probe_s"] = time.monotonic() - t0
        return outcomes

    def stop(self) -> None:
        self.offmem("worker", "stop")
        # A worker exits once its data directory is gone; moving it also ends one a late hook started.
        if self.data.exists():
            self.data.rename(self.data.with_name("offmem-data.stopped"))


def run_scenario(root: Path, fake: FakeAnthropic, claude_bin: Path, config: str, log=print,
                 noise: int = 0) -> tuple[list[Outcome], dict]:
    """Install, teach (then ``noise`` routine sessions per project), probe; returns the outcomes and
    a few figures (timings, stored counts)."""
    scenario = Scenario(root, fake, claude_bin, config, log, noise)
    try:
        scenario.install()
        scenario.teach()
        counts = {
            "observations": scenario._query("SELECT count(*) FROM observations")[0][0],
            "summaries": scenario._query("SELECT count(*) FROM summaries")[0][0],
        }
        outcomes = scenario.probe()
        return outcomes, {**counts, **{k: round(v, 1) for k, v in scenario.timings.items()}}
    finally:
        scenario.stop()


def config_text(models_dir: Path, *, rules: bool, prompt_timeout_ms: int = 3000) -> str:
    """config.toml for a run: the default configuration (or ``backend = "rules"``), the shared models
    folder, and a prompt-time box wide enough for a loaded CI machine (the box itself is measured by
    ``bench/bench_prompt_time.py``; this scenario measures what is delivered)."""
    lines = [f'[models]\ndir = "{models_dir}"\n', f"[context]\nprompt_timeout_ms = {prompt_timeout_ms}\n"]
    if rules:
        lines.insert(0, '[summarizer]\nbackend = "rules"\n')
    return "\n".join(lines)


def score(outcomes: list[Outcome]) -> dict:
    n = len(outcomes) or 1
    by_kind: dict[str, list[Outcome]] = {}
    for o in outcomes:
        by_kind.setdefault(o.fact.kind, []).append(o)
    return {
        "facts": len(outcomes),
        "reached": sum(o.reached for o in outcomes) / n,
        "start": sum(o.start for o in outcomes) / n,
        "prompt": sum(o.prompt for o in outcomes) / n,
        "leaks": sum(len(o.leaks) for o in outcomes),
        "by_kind": {k: sum(o.reached for o in v) / len(v) for k, v in sorted(by_kind.items())},
        "missed": [o.fact.key for o in outcomes if not o.reached],
    }
