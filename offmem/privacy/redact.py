"""Find secrets in text and JSON-like values and replace them with typed markers.

``Redactor.redact_text("key AKIA…")`` → ``"key [REDACTED:aws-access-key]"``.

Three detectors, all run on the original text, their spans merged:

1. provider formats and generic shapes (:data:`offmem.privacy.patterns.PROVIDER_RULES`,
   plus ``privacy.extra_patterns`` from the settings);
2. assignments whose key names a secret (``DB_PASSWORD=…``, ``"api_key": "…"``,
   ``token: …``), when the value is a literal and not code;
3. high-entropy tokens: at least ``privacy.entropy_min_length`` characters of
   ``[A-Za-z0-9+/_-]`` with Shannon entropy of at least ``privacy.entropy_threshold``
   bits per character, containing a digit and a letter, and not made of words.
   Hexadecimal strings (git SHAs, digests, UUIDs) are never taken for secrets by
   this detector: they are far more often identifiers, and hex secrets in
   assignments are caught by (2).

Values are walked recursively: every string is redacted, and a string stored
under a key that names a secret (``{"password": "hunter2"}``) is replaced whole.
"""

from __future__ import annotations

import math
import re

from offmem.privacy.patterns import (
    ASSIGNMENT,
    PROVIDER_RULES,
    Rule,
    assignment_value_is_secret,
    key_is_secret,
    numeric_value_is_secret,
    passphrase_is_secret,
)

MARKER = "[REDACTED:{}]"
_MARKER = re.compile(r"\[REDACTED:[a-z0-9\-]+\]")
MAX_DEPTH = 64
# Payload fields that are identifiers Claude Code assigns, never user content.
STRUCTURAL_KEYS = frozenset(
    {
        "session_id", "transcript_path", "cwd", "hook_event_name", "tool_name", "tool_use_id",
        "prompt_id", "permission_mode", "agent_id", "agent_type", "agent_transcript_path",
        "source", "reason", "model", "trigger", "stop_hook_active", "duration_ms", "effort",
    }
)
# Prefixes of high-entropy strings that are public identifiers or digests.
BENIGN_PREFIXES = ("toolu_", "srvtoolu_", "msg_", "req_", "call_", "chatcmpl-", "sha1-", "sha256-", "sha384-", "sha512-")
_HEX = re.compile(r"[0-9a-fA-F\-]+")
_SEGMENT = re.compile(r"[-_/.+]")
_WORDY = re.compile(r"[A-Z]?[a-z]{3,}|[A-Z]{4,}")
_RUNS = ("abcdefgh", "ABCDEFGH", "01234567", "qwertyui")
KEY_HINTS = ("pass", "pwd", "secret", "token", "key", "auth", "credential", "dsn", "conn", "pin", "_pat")
# an unquoted value of several words to the end of its line (`passphrase: correct horse battery staple`)
# (YAML and INI only: the key ends in password/passwd/passphrase and no word looks like code)
_PHRASE = re.compile(r"(?:[ \t]+(?!(?:if|else|and|or|not|in|is|for|return|None|True|False)\b)[A-Za-z0-9!@$%^&*+?~_\-]+){1,9}"
                     r"[ \t]*(?=$|\n|\r|\\n|[ \t]+#)")
_PHRASE_WORD = re.compile(r"[A-Za-z0-9!@$%^&*+?~_\-]+")
_PHRASE_KEY = re.compile(r"(?i:pass(?:word|wd|phrase))[\"']?$")
_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_NAME_ONLY = re.compile(r"[a-z0-9][a-z0-9\-]{0,40}")
# a folder or file name as people write them: lower-case words, CamelCase words, or capitals
_SHORT_NAME = re.compile(r"[a-z0-9_\-]{1,7}")  # `lib`, `nvtx3`, `v1`: short parts (lower case only) of paths
_AWS_SECRET_SHAPE = re.compile(r"[A-Za-z0-9+/]{40}")
_LOWER_NAME = re.compile(r"[a-z0-9][a-z0-9_\-+]*[a-z][a-z0-9_\-+]*")
_PATH_PART = re.compile(r"(?:[a-z][a-z0-9]*)?(?:[A-Z][a-z]+[0-9]*)+(?:[_\-+][A-Za-z0-9]+)*|[A-Z0-9][A-Z0-9_\-]*|"
                        r"(?:[A-Z0-9]+|[A-Z][a-z]+)(?:[_\-+](?:[A-Z0-9]+|[A-Z]?[a-z0-9]+|[A-Z][a-z]+[A-Z][a-z]+))+")


class Finding:
    """A secret's span in a text and the marker kind it gets."""

    __slots__ = ("start", "end", "kind")

    def __init__(self, start: int, end: int, kind: str) -> None:
        self.start, self.end, self.kind = start, end, kind

    def __eq__(self, other) -> bool:
        return isinstance(other, Finding) and (self.start, self.end, self.kind) == (other.start, other.end, other.kind)

    def __repr__(self) -> str:
        return f"Finding({self.start}, {self.end}, {self.kind!r})"


def shannon_entropy(text: str) -> float:
    """Bits per character of ``text``'s own character distribution."""
    if not text:
        return 0.0
    total = len(text)
    counts: dict[str, int] = {}
    for c in text:
        counts[c] = counts.get(c, 0) + 1
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def parse_extra_pattern(spec: str) -> Rule:
    """``"name=regex"`` or a bare regex (named ``custom``); a group named ``secret`` limits the span.

    Raises ValueError with the reason when the regex does not compile.
    """
    name, regex = "custom", spec
    head, sep, tail = spec.partition("=")
    if sep and _NAME_ONLY.fullmatch(head) and tail:
        name, regex = head, tail
    try:
        pattern = re.compile(regex)
    except re.error as exc:
        raise ValueError(f"privacy.extra_patterns entry {spec!r} is not a valid regular expression: {exc}") from None
    group = pattern.groupindex.get("secret", 0)
    return Rule(name, pattern, group)


class Redactor:
    """Replaces secrets with ``[REDACTED:<kind>]``. Stateless after construction; thread-safe."""

    def __init__(
        self,
        extra_rules=(),
        *,
        entropy_min_length: int = 24,
        entropy_threshold: float = 4.0,
        enabled: bool = True,
    ) -> None:
        self.rules: tuple[Rule, ...] = (*extra_rules, *PROVIDER_RULES)
        self.entropy_min_length = max(8, int(entropy_min_length))
        self.entropy_threshold = float(entropy_threshold)
        self.enabled = enabled
        self.warnings: list[str] = []
        self._candidate = re.compile(r"[A-Za-z0-9+/_\-]{%d,}={0,2}" % self.entropy_min_length)

    @classmethod
    def from_settings(cls, settings) -> "Redactor":
        """From ``settings.privacy``; an invalid extra pattern is skipped and named in ``warnings``."""
        privacy = settings.privacy
        extra: list[Rule] = []
        problems: list[str] = []
        for spec in privacy.extra_patterns:
            try:
                extra.append(parse_extra_pattern(str(spec)))
            except ValueError as exc:
                problems.append(str(exc))
        redactor = cls(
            extra,
            entropy_min_length=privacy.entropy_min_length,
            entropy_threshold=privacy.entropy_threshold,
            enabled=privacy.redact,
        )
        redactor.warnings = problems
        return redactor

    # ------------------------------------------------------------------ detection

    def find(self, text: str) -> list[Finding]:
        """Every secret span in ``text``, merged and in order."""
        if not self.enabled or len(text) < 8:
            return []
        spans: list[tuple[int, int, int, str]] = []  # start, end, priority, kind
        lowered = text.lower()
        for priority, rule in enumerate(self.rules):
            if not rule.applies(text, lowered):
                continue
            for match in rule.pattern.finditer(text):
                start, end = match.span(rule.group)
                if start < end:
                    spans.append((start, end, priority, rule.name))
        spans.extend(self._assignments(text, lowered, len(self.rules)))
        spans.extend(self._high_entropy(text, len(self.rules) + 1))
        if "[REDACTED:" in text:  # already redacted text stays as it is
            markers = [m.span() for m in _MARKER.finditer(text)]
            spans = [s for s in spans if not any(a <= s[0] < b for a, b in markers)]
        return _merge(spans)

    def _assignments(self, text: str, lowered: str, priority: int) -> list[tuple[int, int, int, str]]:
        found = []
        for start in _key_starts(text, lowered):
            match = ASSIGNMENT.match(text, start)
            if match is None:
                continue
            for group, quoted in (("dq", True), ("sq", True), ("bare", False)):
                value = match.group(group)
                if value is None:
                    continue
                end = match.end(group)
                if not quoted and _PHRASE_KEY.search(match.group("key")) and _PHRASE_WORD.fullmatch(value):
                    phrase = _PHRASE.match(text, end)
                    if phrase and passphrase_is_secret(match.group("key"), value + phrase.group(0).rstrip()):
                        found.append((match.start(group), phrase.end(), priority, "secret-assignment"))
                        continue
                after = text[end + (1 if quoted else 0):end + 2].lstrip(" ")
                if assignment_value_is_secret(match.group("key"), match.group("sep"), value, quoted, after):
                    found.append((match.start(group), end, priority, "secret-assignment"))
        return found

    def _high_entropy(self, text: str, priority: int) -> list[tuple[int, int, int, str]]:
        found = []
        for match in self._candidate.finditer(text):
            token = match.group(0)
            if text[max(0, match.start() - 3):match.start()] == "h1:":  # go.sum digests
                continue
            if _AWS_SECRET_SHAPE.fullmatch(token) and self._random_base64(token):
                found.append((match.start(), match.end(), priority, "high-entropy"))
            elif "/" in token and _looks_like_path(token):
                found.extend(self._path_runs(token, match.start(), priority))
            elif self.is_high_entropy(token):
                found.append((match.start(), match.end(), priority, "high-entropy"))
        return found

    def _path_runs(self, token: str, offset: int, priority: int) -> list[tuple[int, int, int, str]]:
        """In a path, every run of parts that are not names (``Jejv/alzk3dai4lMZ5bvT9y…``) and is random."""
        found = []
        pos = 0  # where the current part starts in token
        run = None  # where the current run of non-name parts starts
        for part in token.split("/") + [""]:
            named = len(part) < 8 or _path_part(part)  # (a short part is never a secret on its own)
            if named and run is not None:
                chunk = token[run:pos - 1]
                if len(chunk) >= self.entropy_min_length and self.is_high_entropy(chunk):
                    found.append((offset + run, offset + run + len(chunk), priority, "high-entropy"))
                run = None
            elif not named and run is None:
                run = pos
            pos += len(part) + 1
        return found

    def _random_base64(self, token: str) -> bool:
        """40 characters of base64 in three classes, as AWS secret keys are, with the entropy of
        random base64 (4.3 bits a character or more for 99.9% of random keys) and less than 60% of
        it words (chance spells at most 31 of 40 characters as words in 100,000 random keys, 19
        in 99.9%; a CamelCase identifier such as ``hipResViewFormatUnsignedBlockCompressed1`` 36)."""
        classes = (any(c.isupper() for c in token) + any(c.islower() for c in token)
                   + any(c.isdigit() or c in "+/" for c in token))
        return (classes == 3 and not token.startswith("/") and _explained(token) * 5 < len(token) * 3
                and shannon_entropy(token) >= max(4.3, self.entropy_threshold))

    def is_high_entropy(self, token: str) -> bool:
        """A random-looking credential rather than a word, path, hash or identifier."""
        core = token.rstrip("=")
        if len(core) < self.entropy_min_length or core.startswith(BENIGN_PREFIXES):
            return False
        if _HEX.fullmatch(core):
            return False
        if not any(c.isdigit() for c in core) or not any(c.isalpha() for c in core):
            return False
        if any(run in core for run in _RUNS) or _explained(core) > 0.5 * len(core):
            return False
        return shannon_entropy(core) >= self.entropy_threshold

    # ------------------------------------------------------------------ replacement

    def redact_text(self, text: str) -> str:
        findings = self.find(text)
        if not findings:
            return text
        out: list[str] = []
        pos = 0
        for f in findings:
            out.append(text[pos:f.start])
            out.append(MARKER.format(f.kind))
            pos = f.end
        out.append(text[pos:])
        return "".join(out)

    def redact_value(self, value, key: str | None = None, _depth: int = 0):
        """A copy of a JSON-like value with every secret replaced."""
        if not self.enabled:
            return value
        if _depth > MAX_DEPTH:
            return MARKER.format("too-deep")  # fail closed: unreadable nesting is not kept
        if isinstance(value, str):
            if key is not None and assignment_value_is_secret(key, ": ", value, True):
                return MARKER.format("secret-field")
            return self.redact_text(value)
        if isinstance(value, int) and not isinstance(value, bool):
            if key is not None and numeric_value_is_secret(key, str(abs(value))):
                return MARKER.format("secret-field")  # {"password": 98765432}
            return value
        if isinstance(value, dict):
            return {
                (self.redact_text(k) if isinstance(k, str) else k): self.redact_value(v, k if isinstance(k, str) else None, _depth + 1)
                for k, v in value.items()
            }
        if isinstance(value, (list, tuple)):
            return [self.redact_value(v, None, _depth + 1) for v in value]
        return value

    def redact_payload(self, payload: dict) -> dict:
        """A hook payload with its content redacted and its identifiers (session, cwd, ids) kept."""
        if not self.enabled:
            return payload
        return {
            k: (v if k in STRUCTURAL_KEYS else self.redact_value(v, k, 1))
            for k, v in payload.items()
        }


def _key_starts(text: str, lowered: str) -> list[int]:
    """Where identifiers containing a secret word start (cheap substring search, no regex scan)."""
    starts: set[int] = set()
    size = len(text)
    for hint in KEY_HINTS:
        i = lowered.find(hint)
        while i >= 0:
            j = i + len(hint)
            while j < size and text[j] in _KEY_CHARS:
                j += 1
            k = i
            while k > 0 and text[k - 1] in _KEY_CHARS and not (k >= 2 and text[k - 2] == "\\"):
                k -= 1  # (a JSON escape like `\n` before the key ends it)
            while k < i and not (text[k].isalpha() or text[k] == "_"):
                k += 1
            starts.add(k)
            i = lowered.find(hint, j)
    return sorted(starts)


def _explained(token: str) -> int:
    """How many characters of ``token`` are words, digests or numbers rather than noise.

    ``recent-models-64f9a55bb3115b4f513ec026`` or ``test_e2e_claude_cli_run`` are almost
    all explained; a random credential has few dictionary-like runs and no long hex run.
    """
    total = 0
    for part in _SEGMENT.split(token):
        if len(part) < 4 or part.isdigit() or (len(part) >= 8 and _HEX.fullmatch(part)):
            total += len(part)
        else:
            total += sum(len(w) for w in _WORDY.findall(part) if _is_word(w))
    return total


def _is_word(run: str) -> bool:
    """A pronounceable run (``models``, ``Checkout``, ``draft``), not a random one (``pmfsq``).

    Measured on 1,016 long high-entropy identifiers from installed packages and on random
    tokens: with this test and the 50% rule of :meth:`Redactor.is_high_entropy`, 1.9% of the
    identifiers are still flagged and 94.5% of random 24-64 character tokens are caught.
    """
    vowels = sum(1 for c in run if c in "aeiouyAEIOUY")
    return 0.2 * len(run) <= vowels <= 0.7 * len(run)


def _looks_like_path(token: str) -> bool:
    """``src/components/Button`` (words between slashes) rather than base64 with slashes.

    A part counts as a path part when it is written in one style (lower case, CamelCase or
    capitals) and pronounceable words, numbers or hex explain half of it (:func:`_explained`).
    Chance alone explains about half of a random run of base64 (``qlXoXBvOYSZVgNojh``: 9 of
    17) but hardly ever writes it in one style; without the style test, 7% of 40-character
    AWS secret keys (those with a ``/``) passed for paths and were never redacted.
    """
    parts = [p for p in token.split("/") if p]
    if token.startswith(("/", "~", ".")):  # `/usr/share/doc/libxslt1-dev`: one named part will do
        return not parts or any(_path_part(p) for p in parts)
    votes = [_path_part(p) for p in parts if len(p) >= 8 or _SHORT_NAME.fullmatch(p)]
    return len(parts) >= 2 and any(votes) and sum(votes) * 2 >= len(votes)


def _path_part(part: str) -> bool:
    """``include``, ``nvtx3``, ``components``, ``InvoiceLine``: a name, not a random run."""
    if len(part) < 8:
        return bool(_SHORT_NAME.fullmatch(part))
    if len(part) < 24 and _LOWER_NAME.fullmatch(part):  # a random run of base64 is rarely all lower case
        return True
    return bool(_PATH_PART.fullmatch(part)) and _explained(part) * 2 >= len(part)


def _merge(spans: list[tuple[int, int, int, str]]) -> list[Finding]:
    """Union of overlapping spans (nothing detected is ever left out); each merged
    span is named after its most specific member (the provider rules come first)."""
    spans.sort(key=lambda s: (s[0], -(s[1] - s[0])))
    merged: list[list] = []  # start, end, priority, kind
    for start, end, priority, kind in spans:
        if merged and start < merged[-1][1]:
            last = merged[-1]
            last[1] = max(last[1], end)
            if priority < last[2]:
                last[2], last[3] = priority, kind
        else:
            merged.append([start, end, priority, kind])
    return [Finding(s, e, k) for s, e, _p, k in merged]
