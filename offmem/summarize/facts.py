"""Facts read off tool payloads: the error that matters, what a command is, what code defines.

Used by :mod:`offmem.summarize.rules`. Everything here is generic: the shapes of
compiler, test-runner and shell output, and of definitions and comments in the
common programming languages. Standard library only.
"""

from __future__ import annotations

import posixpath
import re
import shlex

from offmem.summarize.sentences import select, trim

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
ERROR_WORD = re.compile(
    r"(error|exception|traceback|failed|failure|fatal|assert|panic|denied|not found|no such|"
    r"cannot|can't|couldn't|could not|undefined|invalid|refused|timed out|segmentation|unknown|missing|unexpected|"
    r"not allowed|forbidden|unable|violat|conflict|incompatible|deprecated|warning)",
    re.IGNORECASE,
)
# The error itself: "ValueError: …", "error: …", "error[E0308]: …", "** (KeyError) …", "E   assert …",
# "fatal: …", "npm ERR! 404 …", "ERROR in …", "TypeError …".
ERROR_MESSAGE = re.compile(
    r"^(?:E\s{2,}|>\s+)?(?:\*\* \([\w.]+\)|[\w.]*(?:Error|Exception|Failure|Fault|Panic)\b[:!(]?|"
    r"(?:error|fatal|panic|FATAL|ERROR|Error)(?:\[[\w-]+\])?\s*[:!]|[\w./-]+:\d+(?::\d+)?:\s*(?:error|fatal)\b|"
    r"thread '.*' panicked|Uncaught |Unhandled )",
)
# Lines a runner prints about the failure, not the failure itself.
RUNNER_LINE = re.compile(
    r"^(?:--- FAIL: \S+ \(|FAILED \((?:errors|failures)=\d+|=+ .*\b(?:failed|passed|errors?)\b.*=*$|Ran \d+ tests? in|"
    r"(?:OK|FAILED|FAIL)$|\d+ (?:tests?|examples?|doctests?|properties|features?),? \d+ (?:failures?|errors?)|"
    r"Tests?:\s+\d+|Test Suites?:|make(?:\[\d+\])?: \*\*\*|npm ERR! (?:code|errno|path|syscall|A complete log|"
    r"This is probably|Failed at|\s*$)|error Command failed|(?:Error: )?Process completed with exit code|"
    r"exit (?:code|status) \d+|command exited with|ELIFECYCLE|Finished in [\d.]+|Randomized with seed|"
    r"Result: FAIL|FAIL\s+\S+\s+[\d.]+s|note: run with|For more information about this error|"
    r"error: could not compile|error: aborting due to|\d+ errors? (?:generated|found|occurred)|Found \d+ errors?)",
    re.IGNORECASE,
)
STACK_LINE = re.compile(r"^(?:File \"|at [\w.$<>\[\]/]+[ (]|at async |at <anonymous>|\(?[\w./-]+\.\w+:\d+:\d+\)?$|"
                        r"\d+: 0x[0-9a-f]+|#\d+ 0x|\s*\^+\s*$|~+$|\|)")
EXIT_CODE = re.compile(r"^\s*Exit code (\d+)", re.IGNORECASE)
CJK_TEXT = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
LOG_LINE = re.compile(r"^(?:\[?\d{4}-\d\d-\d\d[T ]|\[?\d\d:\d\d:\d\d)[^\]]*\]?\s*\[?(?:debug|info|notice|warn(?:ing)?)\b",
                      re.IGNORECASE)
HINT = re.compile(r"^(?:hint|note|help|tip|info)\s*:", re.IGNORECASE)
# A runner's count of failures, which a pipe into tail/head hides from the exit status.
FAILURE_COUNT = re.compile(r"\b[1-9]\d* (?:failures?|failed|errors?|failing)\b|\bFAILED\b|\bFAIL\b", re.IGNORECASE)


def _lines(text: str) -> list[tuple[str, int]]:
    """``(stripped line, indentation)`` of the non-empty lines of ``text``."""
    out = []
    for raw in ANSI.sub("", str(text or "")).splitlines():
        stripped = raw.strip()
        if stripped:
            out.append((stripped, len(raw) - len(raw.lstrip())))
    return out


def _score(line: str, indent: int, in_traceback: bool, in_log: bool = False) -> int:
    if EXIT_CODE.match(line) or line.startswith("Traceback (most recent") or STACK_LINE.match(line):
        return -9
    if len(re.findall(r"[A-Za-z]", line)) < 3 and not CJK_TEXT.search(line):
        return -9  # box drawing, progress bars, separators
    if in_traceback and indent >= 4:
        return -6  # a source line quoted under a traceback frame
    score = 0
    if ERROR_MESSAGE.match(line):
        score += 6
    if ERROR_WORD.search(line):
        score += 3
    if RUNNER_LINE.match(line):
        score -= 7
    if LOG_LINE.match(line) and not in_log:
        score -= 3  # a log line printed along the way, not the failure the command reports
    if line.startswith(("FAILED ", "FAIL ")) and " - " in line:
        score += 2  # pytest's "FAILED test::name - AssertionError: …" carries the message
    if len(line) < 6:
        score -= 3
    return score


def error_lines(text: str, limit: int = 3) -> list[str]:
    """The lines that state the error (exception and compiler messages over runner summaries
    and traceback source lines), best first; the last line when nothing looks like an error."""
    lines = _lines(text)
    scored = []
    in_traceback = False
    for number, (line, indent) in enumerate(lines):
        starts = line.startswith("Traceback (most recent")
        in_traceback = in_traceback or starts
        score = _score(line, indent, in_traceback)
        if in_traceback and not starts and indent == 0 and not line.startswith("File "):
            in_traceback = False  # the exception line ends the traceback
        scored.append((score, number, line))
    good = [s for s in scored if s[0] > 0]
    if not good:  # nothing reads as an error: the first line that is not a hint says what went wrong
        rest = [s for s in scored if s[0] > -6 and not HINT.match(s[2])] or [s for s in scored if s[0] > -6]
        return [trim(rest[0][2], 200)] if rest else []
    # best score first; among equals the later line (a traceback ends with its exception)
    best = sorted(good, key=lambda s: (-s[0], -s[1]))[:limit]
    return [trim(line, 200) for _s, _n, line in best]


def error_line(text: str) -> str:
    found = error_lines(text, limit=1)
    return found[0] if found else ""


# --------------------------------------------------------------------------- commands

SETUP_COMMANDS = {"cd", "pushd", "popd", "export", "source", ".", "set", "sleep", "mkdir", "true", "unset", "eval"}
WRAPPERS = {"timeout", "time", "nice", "env", "sudo", "stdbuf", "xvfb-run", "nohup", "command", "exec", "caffeinate"}
RUNNERS = {"npx", "pnpx", "bunx", "uvx"}
SCRIPT_RUNNERS = {"npm", "pnpm", "yarn", "bun"}
VIA_RUN = {"uv", "poetry", "pipenv", "bundle", "pdm", "hatch", "rye", "conda"}
OUTPUT_FILTERS = {"tail", "head", "grep", "egrep", "rg", "tee", "less", "more", "cat", "sort", "uniq", "wc", "cut", "awk", "sed", "column", "jq"}
INTERPRETER = re.compile(r"python[\d.]*|py|node|nodejs|deno|ruby|perl|php|bash|sh|zsh|Rscript|julia|lua|elixir|tsx|ts-node")
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def _words(segment: str) -> list[str]:
    try:
        return shlex.split(segment, posix=True)
    except ValueError:
        return segment.split()


def _strip_wrappers(words: list[str]) -> list[str]:
    while words:
        head = posixpath.basename(words[0])
        if ASSIGNMENT.match(words[0]):
            words = words[1:]
        elif head in WRAPPERS:
            words = words[1:]
            while words and (words[0].startswith("-") or re.fullmatch(r"[\d.]+[smhd]?", words[0])):
                words = words[1:]  # timeout 60, nice -n 5, stdbuf -oL
        else:
            break
    return words


def command_core(command: str) -> str:
    """What a shell command runs, without ``cd … &&``, variables, wrappers and output filters.

    ``cd app && FOO=1 timeout 60 mix test test/a_test.exs 2>&1 | tail -20`` → ``mix test test/a_test.exs``.
    """
    text = " ".join(str(command or "").split())
    segments = [s.strip() for s in re.split(r"\s*(?:&&|;|\|\|)\s*", text) if s.strip()]
    kept = []
    for segment in segments:
        pipeline = [p.strip() for p in re.split(r"(?<!\|)\|(?!\|)", segment) if p.strip()]
        while len(pipeline) > 1 and posixpath.basename((_words(pipeline[-1]) or [""])[0]) in OUTPUT_FILTERS:
            pipeline.pop()
        words = _strip_wrappers(_words(" | ".join(pipeline)))
        if not words or posixpath.basename(words[0]) in SETUP_COMMANDS or words[0] == "echo":
            continue
        words = [w for w in words if not re.fullmatch(r"\d?>>?&?\d?|\d?>>?/dev/null|2>&1|&>/dev/null|&", w)]
        kept.append(" ".join(words))
    return " && ".join(kept) if kept else text


def command_key(command: str) -> str:
    """The program and what it runs (``mix test``, ``npm run lint``, ``python -m pytest``): two runs of
    the same check have the same key whatever their paths, options, prefixes and filters."""
    core = command_core(command)
    words = _strip_wrappers(_words(core.split(" && ")[-1]))
    if not words:
        return core
    program = posixpath.basename(words[0])
    rest = words[1:]
    if program in RUNNERS:
        return command_key(" ".join(w for w in rest if not w.startswith("-"))) if rest else program
    if program in VIA_RUN and rest[:1] in (["run"], ["exec"]):
        return command_key(" ".join(rest[1:]))
    if re.fullmatch(r"python[\d.]*|py", program) and "-m" in rest:
        module = rest[rest.index("-m") + 1: rest.index("-m") + 2]
        return "python -m " + (module[0] if module else "")  # python, python3, python3.12 alike
    args = [w for w in rest if not w.startswith("-")]
    if INTERPRETER.fullmatch(program) and args:  # the script is what runs: `python a.py` is not `python b.py`
        return f"{re.sub(r'[0-9.]+$', '', program) or program} {args[0]}"  # python3 runs what python runs
    if program in SCRIPT_RUNNERS and args[:1] == ["run"]:
        return " ".join([program, "run", *args[1:2]])
    if args and not re.search(r"[/\\.=:]", args[0]) and len(args[0]) < 30:
        return f"{program} {args[0]}"
    return program


EXPLORE = {"ls", "cat", "head", "tail", "find", "grep", "rg", "tree", "pwd", "wc", "less", "file", "stat", "which",
           "echo", "du", "df", "env", "printenv", "type", "whoami", "date", "sed -n", "awk", "jq", "diff", "ps",
           "git status", "git log", "git diff", "git show", "git branch", "git remote", "git blame", "git ls-files",
           "lsof", "curl -s", "sqlite3", "bd list", "bd show", "bd ready"}


def is_exploration(command: str) -> bool:
    """A command that only looks (listing, reading, searching, status)."""
    core = command_core(command)
    words = _strip_wrappers(_words(core.split(" && ")[0].split("|")[0]))
    if not words:
        return False
    first = posixpath.basename(words[0])
    return first in EXPLORE or f"{first} {words[1] if len(words) > 1 else ''}".strip() in EXPLORE


COMMIT_MESSAGE = re.compile(r"""(?:-m|--message)[= ]\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|\$\(cat <<'?EOF'?\s*(.*?)\s*EOF)""", re.DOTALL)


def commit_message(command: str) -> str:
    """The message of a ``git commit -m`` / heredoc commit, or ""."""
    if "commit" not in command:
        return ""
    match = COMMIT_MESSAGE.search(command)
    if not match:
        return ""
    return " ".join(next(g for g in match.groups() if g is not None).split())


# --------------------------------------------------------------------------- code

DEFINITION = re.compile(
    r"^\s*(?:@\w+\s+)*(?:export\s+(?:default\s+)?)?(?:pub(?:\([\w ]+\))?\s+)?(?:(?:public|private|protected|static|"
    r"abstract|final|async|override|internal|open|sealed|data|inline|extern|unsafe)\s+)*"
    r"(?:def|defp|defmacro|defmacrop|defmodule|defprotocol|defimpl|defstruct|defdelegate|class|function\*?|func|fn|"
    r"interface|type|struct|enum|trait|module|object|record|protocol|impl|mod|macro_rules!|subroutine|sub)\s+"
    r"(?:\([^)]*\)\s*)?([A-Za-z_$][\w.$?!]*)"
)
BINDING = re.compile(r"^\s*(?:export\s+)?(?:const|let|var|val|final)\s+\{?\s*([A-Za-z_$][\w$]*)")
CONSTANT = re.compile(r"^\s*(?:export\s+)?(?:(?:const|let|var|final|static|readonly|public)\s+)*([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[A-Z]{3,}[A-Z0-9]*)\s*(?::[^=]+)?=")
SQL_OBJECT = re.compile(r"\bCREATE\s+(?:UNIQUE\s+|VIRTUAL\s+|TEMP(?:ORARY)?\s+)?(?:TABLE|VIEW|INDEX|TRIGGER)\s+(?:IF NOT EXISTS\s+)?[`\"\[]?([\w.]+)", re.IGNORECASE)
SHELL_FUNCTION = re.compile(r"^\s*(?:function\s+)?([A-Za-z_][\w-]*)\s*\(\)\s*\{?")
HEADING = re.compile(r"^#{1,4}\s+(.+?)\s*#*$")
COMMENT = re.compile(r"^\s*(?:#(?![!{\[])|//+|/\*+|\*(?![/*])|--(?!-)|<!--|;;+|%+(?=\s)|\"\"\"|''')\s*(.*?)\s*(?:\*/|-->|\"\"\"|''')?\s*$")
COMMENT_NOISE = re.compile(r"^(?:noqa|type:|eslint|prettier|pylint|@ts-|istanbul|coding[:=]|-\*-|SPDX|Copyright|"
                           r"[=\-#*~/]{3,}|TODO$|FIXME$)", re.IGNORECASE)
PROSE_FILES = (".md", ".markdown", ".rst", ".txt", ".adoc", ".org")


def definitions(text: str, path: str = "", limit: int = 12) -> list[str]:
    """Names the code in ``text`` defines (functions, classes, modules, constants, tables, shell
    functions), or a document's headings, in order of appearance."""
    names: list[str] = []
    prose = path.lower().endswith(PROSE_FILES)
    shell = path.lower().endswith((".sh", ".bash", ".zsh")) or str(text).startswith("#!")
    for line in str(text or "").splitlines():
        if prose:
            match = HEADING.match(line)
        else:
            match = (DEFINITION.match(line) or CONSTANT.match(line) or SQL_OBJECT.search(line)
                     or (SHELL_FUNCTION.match(line) if shell else None) or BINDING.match(line))
        if match:
            name = match.group(1).strip().strip("*_`")
            if name and name not in names and len(name) > 1:
                names.append(trim(name, 80))
        if len(names) >= limit:
            break
    return names


def comments(text: str, limit: int = 3) -> list[str]:
    """Explaining comments and docstrings of the code in ``text`` (four words or more)."""
    found: list[str] = []
    for line in str(text or "").splitlines():
        match = COMMENT.match(line)
        if not match:
            continue
        body = match.group(1).strip(" *#/-")
        if len(body.split()) < 4 or COMMENT_NOISE.match(body) or not re.search(r"[A-Za-z]{3}", body):
            continue
        body = trim(body, 160)
        if body not in found:
            found.append(body)
        if len(found) >= limit:
            break
    return found


def prose_sentences(text: str, limit: int = 4) -> list[str]:
    """The telling sentences and list items of a document (README, notes, CLAUDE.md)."""
    return [s.text for s in select([text], limit=limit)]


TRIVIAL_LINE = re.compile(r"^[\s{}()\[\];,<>/]*(?:end|else|do|fi|done|esac|\}\)?;?|\);?|\]\)?,?|</\w+>)?[\s{}()\[\];,]*$")


def added_lines(old: str, new: str, limit: int = 3) -> list[str]:
    """Lines of ``new`` that ``old`` does not have, the most telling first (definitions, then comments,
    then the longest), at most ``limit``."""
    before = {ln.strip() for ln in str(old or "").splitlines()}
    fresh = [ln.strip() for ln in str(new or "").splitlines()
             if ln.strip() and ln.strip() not in before and not TRIVIAL_LINE.match(ln.strip()) and len(ln.strip()) >= 8]
    if not fresh:
        return []

    def rank(line: str) -> tuple:
        if DEFINITION.match(line) or CONSTANT.match(line):
            return (0, 0)
        if COMMENT.match(line):
            return (1, 0)
        return (2, -len(line))

    chosen = sorted(range(len(fresh)), key=lambda i: rank(fresh[i]))[:limit]
    return [trim(fresh[i], 160) for i in sorted(chosen)]


def removed_lines(old: str, new: str, limit: int = 2) -> list[str]:
    """Lines of ``old`` that ``new`` dropped (non-trivial), in order."""
    after = {ln.strip() for ln in str(new or "").splitlines()}
    gone = [ln.strip() for ln in str(old or "").splitlines()
            if ln.strip() and ln.strip() not in after and not TRIVIAL_LINE.match(ln.strip()) and len(ln.strip()) >= 8]
    return [trim(line, 160) for line in gone[:limit]]


def reports_failure(output: str) -> bool:
    """Does a command's output report failures (``3 failed``, ``FAILED``), whatever its exit status?"""
    tail = "\n".join(ln for ln, _indent in _lines(output)[-6:])
    return bool(FAILURE_COUNT.search(tail)) and not re.search(r"\b0 (?:failures|failed|errors)\b(?!.*[1-9]\d* fail)", tail)


def notable_lines(output: str, limit: int = 2) -> list[str]:
    """Lines of a successful command's output that report a problem (a log's errors, refusals)."""
    scored = sorted(((_score(ln, indent, False, in_log=True), n, ln) for n, (ln, indent) in enumerate(_lines(output))),
                    key=lambda s: (-s[0], s[1]))
    return [trim(ln, 160) for score, _n, ln in scored[:limit] if score >= 3]
