"""The secret formats offmem recognizes, each with the marker type it becomes.

A :class:`Rule` is a name (the ``[REDACTED:<name>]`` marker), a regular
expression and the group that holds the secret: only that group is replaced,
so ``postgres://app:s3cret@db/x`` keeps its user and host and
``API_KEY=abc`` keeps its key name. Rules are tried in the order listed; when
two matches overlap, the one starting first (then the longer) wins, so the
specific provider formats are listed before the generic ones.

Assignments (``PASSWORD=…``, ``api_key: …``, ``"token": "…"``) are handled by
:func:`assignment_value_is_secret`, which tells a literal value from code that
merely names a secret (``password = request.form["password"]``,
``token: str``, ``SECRET_KEY=$SECRET_KEY``).
"""

from __future__ import annotations

import re


class Rule:
    """A secret format: a marker name, a regex and the group that is the secret (0: all of it).

    ``hints``: substrings one of which any match contains, checked first because a
    substring search is far cheaper than a regex scan (lowercase hints are looked
    for in the lowercased text). The regex is compiled on first use: a prompt hook
    that meets no hint compiles nothing.
    """

    __slots__ = ("name", "source", "group", "hints", "_pattern")

    def __init__(self, name: str, pattern: "str | re.Pattern", group: int = 0, hints: tuple[str, ...] = ()) -> None:
        self.name = name
        self.source = pattern if isinstance(pattern, str) else pattern.pattern
        self._pattern = None if isinstance(pattern, str) else pattern
        self.group = group
        self.hints = hints

    @property
    def pattern(self) -> re.Pattern:
        if self._pattern is None:
            self._pattern = re.compile(self.source)
        return self._pattern

    def applies(self, text: str, lowered: str) -> bool:
        if not self.hints:
            return True
        return any((h in lowered) if h.islower() else (h in text) for h in self.hints)

    def __repr__(self) -> str:
        return f"Rule({self.name!r}, {self.source!r})"


def _rule(name: str, hints: "str | tuple[str, ...]", regex: str, group: int = 0) -> Rule:
    return Rule(name, regex, group, (hints,) if isinstance(hints, str) else hints)


# Edges: a token must not be glued to more token characters on either side.
_R = r"(?![A-Za-z0-9_\-])"
_LEAD = re.compile(r"(?:[A-Za-z0-9_~:/\-]|\\\.)+|\[[^\]]+\]")


def _edge(regex: str) -> str:
    """``regex`` that must not start right after a token character.

    The check is placed *after* the leading literal (or single character class) as
    a fixed-width look-behind, so the regex engine can still scan for that literal
    quickly; a leading look-behind makes it try every position (about 50x slower).
    """
    lead = _LEAD.match(regex)
    head = lead.group(0) if lead else ""
    if head and regex[len(head):len(head) + 1] in ("{", "*", "+", "?"):
        head = "" if head.startswith("[") else head[:-1]  # the last piece is quantified
    if not head or head.endswith("\\"):
        return r"(?<!(?<!\\)[A-Za-z0-9_\-])" + regex
    width = 1 if head.startswith("[") else len(head.replace("\\", ""))
    # `(?<!\\)`: a JSON escape such as `\n` right before the token is an edge, not part of it
    return f"{head}(?<!(?<!\\\\)[A-Za-z0-9_\\-].{{{width}}}){regex[len(head):]}"

PROVIDER_RULES: tuple[Rule, ...] = (
    # ---------------------------------------------------------------- key material
    _rule(
        "private-key", "PRIVATE KEY",
        r"-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----"
        r"(?:[\s\S]*?-----END[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----"
        r"|(?:[A-Za-z0-9+/=:,\-\s]|\\[nr])*)",  # a block cut short (truncated output) ends at its base64
    ),
    _rule("putty-private-key", "PuTTY", r"PuTTY-User-Key-File-\d:[\s\S]*?Private-(?:MAC|Hash): ?[0-9a-fA-F]+"),
    _rule("age-secret-key", "AGE-SECRET-KEY-1", r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}"),
    # ---------------------------------------------------------------- cloud
    _rule("aws-access-key", ("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AIPA", "ANPA", "ANVA", "AROA", "APKA", "ASCA"),
          _edge(r"A(?:KIA|SIA|BIA|CCA|GPA|IDA|IPA|NPA|NVA|ROA|PKA|SCA)[A-Z0-9]{16}") + _R),
    _rule("aws-secret-key", ("secret_access", "secretaccess", "secret_key", "secretkey"),
          r"(?i:aws_?secret_?(?:access_?)?key|secretaccesskey)[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])", 1),
    _rule("aws-session-token", ("session_token", "sessiontoken"),
          r"(?i:aws_?session_?token|sessiontoken)[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+=]{100,})", 1),
    _rule("gcp-api-key", "AIza", _edge(r"AIza[0-9A-Za-z_\-]{35}") + _R),
    _rule("gcp-oauth-secret", "GOCSPX-", _edge(r"GOCSPX-[A-Za-z0-9_\-]{28}") + _R),
    _rule("google-oauth-token", "ya29.", _edge(r"ya29\.[0-9A-Za-z_\-]{20,}")),
    _rule("google-refresh-token", "1//0", _edge(r"1//0[0-9A-Za-z_\-]{40,}")),
    _rule("azure-storage-key", "accountkey=", r"(?i:AccountKey)=([A-Za-z0-9+/]{86}==)", 1),
    _rule("azure-sas-token", "sig=", r"[?&]sig=([A-Za-z0-9%+/=]{30,})", 1),
    _rule("azure-client-secret", "Q~", _edge(r"[A-Za-z0-9_~.\-][A-Za-z0-9_~.\-]{2}\dQ~[A-Za-z0-9_~.\-]{31,34}") + _R),
    _rule("aws-presigned-signature", "X-Amz-Signature=", r"[?&]X-Amz-Signature=([0-9a-f]{64})", 1),
    _rule("digitalocean-token", "_v1_", _edge(r"do[opr]_v1_[a-f0-9]{64}") + _R),
    _rule("alibaba-access-key", "LTAI", _edge(r"LTAI[A-Za-z0-9]{20}") + _R),
    # ---------------------------------------------------------------- code hosting and CI
    _rule("github-token", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), _edge(r"gh[pousr]_[A-Za-z0-9]{36,255}") + _R),
    _rule("github-token", "github_pat_", _edge(r"github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}") + _R),
    _rule("gitlab-token", "gl", _edge(r"gl(?:pat|dt|rt|ptt|ft|imt|agent|oas|cbt|soat)-[A-Za-z0-9_\-]{20,}") + _R),
    _rule("gitlab-runner-token", "GR1348941", _edge(r"GR1348941[A-Za-z0-9_\-]{20,}") + _R),
    _rule("bitbucket-app-password", "ATBB", _edge(r"ATBB[A-Za-z0-9_=.\-]{28,}") + _R),
    _rule("atlassian-token", "ATATT3", _edge(r"ATATT3[A-Za-z0-9_=\-]{50,}") + _R),
    _rule("npm-token", "npm_", _edge(r"npm_[A-Za-z0-9]{36}") + _R),
    _rule("pypi-token", "pypi-AgE", _edge(r"pypi-AgE[A-Za-z0-9_\-]{50,}")),
    _rule("docker-token", "dckr_", _edge(r"dckr_(?:pat|oat)_[A-Za-z0-9_\-]{27,}") + _R),
    _rule("rubygems-token", "rubygems_", _edge(r"rubygems_[a-f0-9]{48}") + _R),
    _rule("nuget-key", "oy2", _edge(r"oy2[a-z0-9]{43}") + _R),
    _rule("vault-token", ("hvs.", "hvb.", "hvr."), _edge(r"hv[sbr]\.[A-Za-z0-9_\-]{24,}") + _R),
    _rule("terraform-token", ".atlasv1.", _edge(r"[A-Za-z0-9][A-Za-z0-9]{13}\.atlasv1\.[A-Za-z0-9_=\-]{60,}")),
    _rule("doppler-token", "dp.", _edge(r"dp\.(?:pt|st|sa|ct|scim|audit)\.(?:[a-z0-9_\-]{1,30}\.)?[A-Za-z0-9]{40,}") + _R),
    _rule("pulumi-token", "pul-", _edge(r"pul-[a-f0-9]{40}") + _R),
    _rule("databricks-token", "dapi", _edge(r"dapi[a-f0-9]{32}(?:-\d+)?") + _R),
    _rule("sentry-token", "sntry", _edge(r"sntry[su]_[A-Za-z0-9+/=_]{40,}")),
    _rule("sentry-dsn", "sentry", r"https?://([0-9a-f]{32})@[\w.\-]*(?:sentry\.io|ingest\.[\w.\-]+)", 1),
    _rule("postman-api-key", "PMAK-", _edge(r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}") + _R),
    _rule("grafana-token", "glc_", _edge(r"glc_[A-Za-z0-9+/]{32,}={0,2}")),
    _rule("grafana-token", "glsa_", _edge(r"glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}") + _R),
    _rule("newrelic-key", "NR", _edge(r"NR(?:AK|II|JS)-[A-Za-z0-9]{19,32}") + _R),
    _rule("figma-token", "figd_", _edge(r"figd_[A-Za-z0-9_\-]{40,}") + _R),
    _rule("linear-api-key", "lin_api_", _edge(r"lin_api_[A-Za-z0-9]{40}") + _R),
    _rule("notion-token", "secret_", _edge(r"secret_[A-Za-z0-9]{43}") + _R),
    _rule("notion-token", "ntn_", _edge(r"ntn_[A-Za-z0-9]{40,}") + _R),
    _rule("dropbox-token", "sl.", _edge(r"sl\.[A-Za-z0-9_\-]{130,}")),
    # ---------------------------------------------------------------- chat and messaging
    _rule("slack-token", "xox", _edge(r"xox[abposre]-[A-Za-z0-9\-]{10,}")),
    _rule("slack-app-token", "xapp-", _edge(r"xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+") + _R),
    _rule("slack-webhook", "hooks.slack.com", r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_\-]{20,}"),
    _rule("discord-webhook", "/api/webhooks/", r"https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d+/[A-Za-z0-9_\-]{20,}"),
    _rule("discord-token", ".", _edge(r"[MNO][A-Za-z0-9_\-]{23,25}\.[A-Za-z0-9_\-]{6}\.[A-Za-z0-9_\-]{27,38}") + _R),
    _rule("telegram-bot-token", ":AA", _edge(r"[0-9][0-9]{7,9}:AA[0-9A-Za-z_\-]{33}") + _R),
    _rule("teams-webhook", "webhook.office.com", r"https://[\w.\-]+\.webhook\.office\.com/webhookb2/[A-Za-z0-9@/_\-]{40,}"),
    _rule("twilio-api-key", "SK", _edge(r"SK[0-9a-f]{32}") + _R),
    _rule("twilio-account-sid", "AC", _edge(r"AC[0-9a-f]{32}") + _R),
    _rule("sendgrid-api-key", "SG.", _edge(r"SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}") + _R),
    _rule("mailgun-api-key", "key-", _edge(r"key-[0-9a-f]{32}") + _R),
    _rule("mailchimp-api-key", "-us", _edge(r"[0-9a-f][0-9a-f]{31}-us\d{1,2}") + _R),
    _rule("postmark-token", "postmark", r"(?i:x-postmark-server-token)[\"']?\s*[:=]\s*[\"']?([0-9a-f\-]{36})", 1),
    # ---------------------------------------------------------------- payments and commerce
    _rule("stripe-key", ("k_live_", "k_test_"), _edge(r"[sr]k_(?:live|test)_[0-9A-Za-z]{24,}") + _R),
    _rule("stripe-webhook-secret", "whsec_", _edge(r"whsec_[A-Za-z0-9]{32,}") + _R),
    _rule("square-token", "sq0", _edge(r"sq0(?:atp-[0-9A-Za-z_\-]{22}|csp-[0-9A-Za-z_\-]{43})") + _R),
    _rule("square-token", "EAAA", _edge(r"EAAA[A-Za-z0-9_\-]{60}") + _R),
    _rule("braintree-token", "access_token$", r"access_token\$(?:production|sandbox)\$[0-9a-z]{16}\$[0-9a-f]{32}"),
    _rule("shopify-token", "shp", _edge(r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}") + _R),
    _rule("facebook-token", "EAA", _edge(r"EAA[A-Za-z0-9]{90,}") + _R),
    _rule("fcm-server-key", "AAAA", _edge(r"AAAA[A-Za-z0-9_\-]{7}:[A-Za-z0-9_\-]{140}")),
    # ---------------------------------------------------------------- AI APIs
    _rule("anthropic-api-key", "sk-ant-", _edge(r"sk-ant-(?:api|admin|oat|ort)\d{2}-[A-Za-z0-9_\-]{80,}")),
    _rule("openai-api-key", "sk-", _edge(r"sk-(?:proj|svcacct|admin|None)-[A-Za-z0-9_\-]{20,}")),
    _rule("openai-api-key", "T3BlbkFJ", _edge(r"sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}") + _R),
    _rule("api-key", "sk-", _edge(r"sk-[A-Za-z0-9]{32,}") + _R),  # OpenAI-style keys of other vendors
    _rule("huggingface-token", "hf_", _edge(r"hf_[A-Za-z0-9]{30,}") + _R),
    _rule("groq-api-key", "gsk_", _edge(r"gsk_[A-Za-z0-9]{48,}") + _R),
    _rule("replicate-token", "r8_", _edge(r"r8_[A-Za-z0-9]{37}") + _R),
    _rule("perplexity-api-key", "pplx-", _edge(r"pplx-[A-Za-z0-9]{40,}") + _R),
    _rule("xai-api-key", "xai-", _edge(r"xai-[A-Za-z0-9]{60,}") + _R),
    _rule("langsmith-key", "lsv2_", _edge(r"lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}") + _R),
    # ---------------------------------------------------------------- generic shapes
    _rule("jwt", "eyJ", _edge(r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*")),
    _rule("url-password", "://", r"://[^\s/:@'\"<>]*:([^\s/@'\"<>]+)@[^\s/@'\"<>]", 1),
    _rule("auth-header", "bearer", _edge(r"[Bb](?:earer|EARER)\s+(?=[A-Za-z0-9._~+/\-]*\d)([A-Za-z0-9._~+/\-]{16,}=*)"), 1),
    _rule("auth-header", "token", _edge(r"[Tt](?:oken|OKEN)\s+(?=[A-Za-z0-9._~+/\-]*\d)([A-Za-z0-9._~+/\-]{16,}=*)"), 1),
    _rule("basic-auth", "basic",
          r"(?i:authorization[\"']?\s*[:=]\s*[\"']?basic\s+)([A-Za-z0-9+/]{12,}={0,2})(?![A-Za-z0-9+/=])", 1),
    _rule("cli-password", ("-password", "-passwd", "-token", "-api-key", "-apikey", "-secret", "-auth-token"),
          r"-(?<![^\s]-)-?(?:password|passwd|token|api-key|apikey|secret|client-secret|auth-token)[= ][\"']?"
          r"(?=[^\s\"']{6,})(?=[^\s\"']*[0-9A-Z!@#%^&*+=?~])([^\s\"'$<{\-][^\s\"']*)", 1),
    _rule("cli-password", ("mysql", "mariadb"), r"\b(?:mysql|mysqldump|mariadb)\b[^\n|;&]*?\s-p([^\s\-$][^\s]*)", 1),
    _rule("cli-password", "sshpass", r"\bsshpass\s+-p\s*[\"']?([^\s\"']+)", 1),
    _rule("cli-password", "curl", r"\bcurl\b[^\n|;&]*?\s(?:-u|--user)\s+[\"']?[^\s:\"']+:([^\s\"'@]+)", 1),
    _rule("cli-password", "docker", r"\bdocker\s+login\b[^\n|;&]*?\s-p\s+[\"']?([^\s\"'$]+)", 1),
)

# ---------------------------------------------------------------- assignments

SECRET_WORDS = (
    r"pass(?:word|wd|phrase)?|pwd|secret|token|api[_\-]?key|apikey|access[_\-]?key(?:[_\-]?id)?|"
    r"private[_\-]?key|client[_\-]?secret|secret[_\-]?key(?:[_\-]?base)?|auth(?:[_\-]?token|[_\-]?key)?|"
    r"credentials?|signing[_\-]?key|encryption[_\-]?key|master[_\-]?key|authtoken|"
    r"connection[_\-]?string|conn[_\-]?str|sas[_\-]?token|dsn|session[_\-]?key|cookie[_\-]?secret"
)
SECRET_WORD = re.compile(rf"(?i:{SECRET_WORDS})")

# `key = value` and its relatives; backslashes before quotes and `\n` escapes are
# tolerated so JSON that sits inside a JSON string is read too.
ASSIGNMENT = re.compile(
    r"(?P<key>[A-Za-z_][A-Za-z0-9_.\-]*)(?:\\?[\"'])?\]?"
    r"(?P<sep>[ \t]*(?::=|=>|=(?!=)|:)[ \t]*)"
    r"(?:\\?\"(?P<dq>[^\"\n]{1,400}?)\\?\"|\\?'(?P<sq>[^'\n]{1,400}?)\\?'"
    r"|(?P<bare>(?:[^\s\"',;\\]|\\(?![nrt\"'])){1,400}))"
)

_PLACEHOLDER = re.compile(
    r"(?i)^(?:\$[{(]?[A-Za-z_].*|.*(?:\.\.\.|…)|(?:your|my)[-_ ].*|\{\{.*|\{[A-Za-z_][\w.]*\}|<[^>]*>|%\(?\w+\)?s?|\*+|x{3,}|\.{3}|…|"
    r"null|none|nil|true|false|undefined|empty|required|optional|redacted|changeme|\[REDACTED[:\]].*|"
    r"process\.env\..*|os\.environ.*|env\(.*|getenv\(.*|secrets?\..*|vars?\..*|inputs?\..*)$"
)
_TYPE_WORDS = frozenset(
    "str string int integer bool boolean bytes float number any object dict list optional none null "
    "secretstr text varchar char uuid password secret token".split()
)
# a name or a word: `token`, `self.token`, `same-origin` (no digits: `hunter2` is a value)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:[.\-][A-Za-z_][A-Za-z0-9_]*)*")
_CLOSERS = re.compile(r"[)\]}]")
_HAS_DIGIT = re.compile(r"\d")
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?[a-z]{0,2}")


def _word_starts(key: str) -> list[int]:
    """Where the words of an identifier start: after punctuation and at camelCase humps."""
    starts = [0]
    for i in range(1, len(key)):
        prev, cur = key[i - 1], key[i]
        if not prev.isalnum() and cur.isalnum():
            starts.append(i)
        elif prev.islower() and cur.isupper():
            starts.append(i)
    return starts


def key_is_secret(key: str) -> bool:
    """Does a field or variable name *end* in a secret word?

    ``DB_PASSWORD``, ``apiKey``, ``client_secret``, ``X-Api-Key`` do; ``max_tokens``,
    ``token_type``, ``PASSWORD_MIN_LENGTH``, ``bypass`` and ``PWD`` (the shell's cwd) do not.
    """
    key = key.strip().strip("\"'")
    if not key or key in ("PWD", "OLDPWD") or len(key) > 80:
        return False
    return any(SECRET_WORD.fullmatch(key, start) for start in _word_starts(key))


def assignment_value_is_secret(key: str, sep: str, value: str, quoted: bool, after: str = "") -> bool:
    """Is ``value`` a literal secret rather than code that refers to one?

    ``sep`` is the separator as written (``=``, `` = ``, ``: ``); ``after`` is the
    text right after the value (an opening bracket or ``=`` there means code).
    """
    if not key_is_secret(key) or key.lower() == "pass":
        return False
    value = value.strip()
    if not quoted:
        value = _CLOSERS.split(value, 1)[0].strip("`")  # the end of a call or literal the value sits in
    if not value or _PLACEHOLDER.match(value) or _NUMBER.fullmatch(value):
        return False
    low = value.lower()
    if quoted:
        # a literal, unless it is a type name, the key's own name or a sentence
        return low not in _TYPE_WORDS and low != key.lower() and value.count(" ") < 3
    if value[0] in "{[(<#=" or "(" in value or "[" in value or (after and after[0] in "([=|"):
        return False  # a call, a subscript, a literal structure, a comment: code
    if low.rstrip("?|") in _TYPE_WORDS:
        return False  # a type annotation: `token: str`
    name_like = bool(_NAME.fullmatch(value)) and not _HAS_DIGIT.search(value)
    if sep == "=":
        # KEY=value in .env files and shell: a bare value is the secret itself;
        # api_key=key in a call's keywords is code
        return not (name_like and not key.isupper())
    if name_like:
        # a name (`password = password`, `token: self.token`) unless an env-style
        # key is given a plain word in YAML (`POSTGRES_PASSWORD: example`)
        return sep.strip() == ":" and key.isupper() and not value.isupper() and "." not in value
    return True
