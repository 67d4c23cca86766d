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


class _PgpassFinder:
    """``finditer`` for ``.pgpass`` lines that scans only from each ``:port:`` it finds.

    A regex that starts at the host would be tried at nearly every character (a host
    starts with almost anything); this finds the cheap ``:5432:`` part first, walks back
    to the start of the host and matches the whole line from there.
    """

    PROBE = re.compile(r":(?:\d{1,5}|\*):")
    LINE = re.compile(
        r"(?:[A-Za-z0-9][A-Za-z0-9.\-]*|\*|\[[0-9A-Fa-f:]+\]):(?:\d{1,5}|\*)"
        r":(?:[^:\s\"'\\]|\\[^\"n])+:(?:[^:\s\"'\\]|\\[^\"n])+:((?:[^:\s\"'\\]|\\[^\"n])+)(?=\\?[\"']|\\n|\s|$)"
    )
    HOST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-*[]")
    pattern = LINE.pattern

    def finditer(self, text: str):
        done = 0
        for probe in self.PROBE.finditer(text):
            start = probe.start()
            if start < done:
                continue
            while start > 0 and text[start - 1] in self.HOST:
                start -= 1
            if text[start - 1:start + 1] == "\\n":  # a JSON `\n` escape before the host
                start += 1
            elif start > 0 and text[start - 1] not in " \t\r\n\"'=":
                continue  # glued to something else (`path/file:12:…`), not a line of its own
            match = self.LINE.match(text, start)
            if match is not None:
                done = match.end()
                yield match


class _PgpassRule(Rule):
    __slots__ = ()

    def __init__(self, name: str) -> None:
        super().__init__(name, _PgpassFinder.LINE, 1, (":",))
        self._pattern = _PgpassFinder()


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
    _rule("heroku-api-key", "HRKU-", _edge(r"HRKU-AA[0-9A-Za-z_\-]{58}") + _R),
    _rule("flyio-token", ("fo1_", "fm2_"), _edge(r"f(?:o1_[A-Za-z0-9_\-]{43}|m2_[A-Za-z0-9+/=_\-]{60,})")),
    _rule("netlify-token", "nfp_", _edge(r"nfp_[A-Za-z0-9]{36,}") + _R),
    _rule("supabase-token", ("sbp_", "sb_secret_"), _edge(r"sb(?:p_[a-f0-9]{40}|_secret_[A-Za-z0-9_\-]{31,})") + _R),
    _rule("planetscale-token", "pscale_", _edge(r"pscale_(?:tkn|pw|oauth)_[A-Za-z0-9_\-.]{32,64}") + _R),
    _rule("mapbox-secret-token", "sk.eyJ", _edge(r"sk\.eyJ[A-Za-z0-9_\-]{20,}\.[A-Za-z0-9_\-]{20,}")),
    _rule("tailscale-key", "tskey-", _edge(r"tskey-(?:auth|api|client|scim|webhook)-[A-Za-z0-9]{6,}-[A-Za-z0-9]{20,}") + _R),
    _rule("onepassword-token", "ops_eyJ", _edge(r"ops_eyJ[A-Za-z0-9+/_\-=]{100,}")),
    _rule("cloudflare-origin-ca-key", "v1.0-", _edge(r"v1\.0-[a-f0-9]{24}-[a-f0-9]{146}") + _R),
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
    # the password runs to the *last* `@` before the host (`p@ss@word` is one password); the
    # user part may hold an `@` too (`me@corp.com:pw@host`)
    _rule("url-password", "://", r"://[^\s/:'\"<>]*:([^\s/'\"<>]+)@[^\s/@'\"<>]", 1),
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
    _rule("cli-password", ("storepass", "keypass"),  # keytool, jarsigner
          r"\s-(?:src|dest|new)?(?:storepass|keypass)(?::(?:env|file))?\s+[\"']?([^\s\"'$][^\s\"']*)", 1),
    _rule("cli-password", " pass:",  # openssl -passin pass:…, -passout, -pass
          r"-pass(?:in|out|word)?\s+[\"']?pass:([^\s\"']+)", 1),
    _rule("cli-password", "az login", _edge(r"az\s+login\b[^\n|;&]*?\s-p\s+[\"']?([^\s\"'$][^\s\"']*)"), 1),
    _rule("cli-password", "redis-cli", r"\bredis-cli\b[^\n|;&]*?\s(?:-a|--pass)\s+[\"']?([^\s\"'$\-][^\s\"']*)", 1),
    _rule("cli-password", "ldap", r"\bldap(?:search|add|modify|delete|passwd|whoami|compare)\b[^\n|;&]*?\s-w\s+[\"']?([^\s\"'$\-][^\s\"']*)", 1),
    _rule("cli-password", ("smbclient", "rpcclient"),
          r"\b(?:smbclient|rpcclient)\b[^\n|;&]*?\s(?:-U|--user)\s+[\"']?[^\s%\"']+%([^\s\"']+)", 1),
    _rule("cli-password", ("htpasswd",), r"\bhtpasswd\s+(?:-[a-zA-Z]+\s+)*-[a-zA-Z]*b[a-zA-Z]*\s+(?:-[a-zA-Z]+\s+)*\S+\s+\S+\s+[\"']?([^\s\"']+)", 1),
    # ---------------------------------------------------------------- credential files
    # ~/.netrc: `machine HOST login USER password SECRET` (on one line or several)
    *(_rule("netrc-password", "password", _edge(lead + r"(?:\s+(?:login|account|port|protocol)\s+\S+){0,4}"
                                                   r"\s+password\s+(\"[^\"\n]*\"|[^\s\"]\S*)"), 1)
      for lead in (r"machine[ \t]+\S+", r"default", r"login[ \t]+\S+")),
    # ~/.pgpass: `host:port:database:user:password`, a line of its own (also inside a JSON
    # string, or echoed into the file)
    _PgpassRule("pgpass-password"),
    # password hashes are crackable: crypt(3) formats of /etc/shadow and htpasswd, argon2
    _rule("password-hash", "$",
          r"\$(?:2[aby]?\$\d\d\$[./A-Za-z0-9]{53}|(?:1|5|6|apr1)\$(?:rounds=\d+\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{22,86}"
          r"|y\$[./A-Za-z0-9]+\$[./A-Za-z0-9]{1,64}\$[./A-Za-z0-9]{43}"
          r"|argon2(?:id|i|d)\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]{8,}\$[A-Za-z0-9+/]{16,})"),
    _rule("private-key", "client-key-data", r"client-key-data:\s*[\"']?([A-Za-z0-9+/]{40,}={0,2})", 1),  # kubeconfig
    _rule("openvpn-static-key", "OpenVPN Static key",
          r"-----BEGIN OpenVPN Static key V1-----[\s\S]*?(?:-----END OpenVPN Static key V1-----|$)"),
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


# The last word of a name written without separators (`PGPASSWORD`, `GITHUBTOKEN`,
# `dbpassword`): these secret words are never the tail of an ordinary word.
_COMPACT_TAIL = re.compile(
    r"[a-z0-9]{2,}(?:password|passwd|passphrase|secret|token|apikey|accesskey|secretkey|privatekey|authkey|credentials?)"
)
# `DBPASS`, `SMTPPASS`: an upper-case name ending in PASS, unless it is one of these words.
_NOT_PASS = frozenset(
    "BYPASS COMPASS SURPASS TRESPASS OVERPASS UNDERPASS ENCOMPASS MULTIPASS RENDERPASS SUBPASS ONEPASS TWOPASS "
    "SINGLEPASS FIRSTPASS SECONDPASS LASTPASS EVERPASS IMPASS".split()
)
_LAST_SEGMENT = re.compile(r"[A-Za-z0-9]+$")
# Keys whose digits-only values are secrets (a PIN, a numeric password); other secret keys
# need a longer number (`CHARS_PER_TOKEN = 3`, `token: 42` are not secrets), and a bare
# `pass` word is a count as often as a password (`TOKENS_PER_PASS = 2048`).
_PASSWORDISH = re.compile(r"(?i:pass(?:word|wd|phrase|code)?|pwd|pin(?:[_\-]?code)?)")
_NUMERIC_PASSWORD = re.compile(r"(?i:pass(?:word|wd|phrase|code)|pwd|pin(?:[_\-]?code)?)")
_DIGITS = re.compile(r"\d+")
NUMERIC_PASSWORD_MIN = 4
NUMERIC_SECRET_MIN = 8


def _compact_secret(key: str) -> bool:
    """``PGPASSWORD``, ``DBPASS``, ``GITHUBTOKEN``, ``APP_DBPASS``, ``GH_PAT``: a last segment
    in one case that ends in a secret word, with no separator before it."""
    found = _LAST_SEGMENT.search(key)
    if found is None:
        return False
    segment = found.group(0)
    if segment.isupper():
        if segment.endswith("PASS") and len(segment) > 4 and segment not in _NOT_PASS:
            return True
        if segment == "PAT" and found.start() > 0:  # a personal access token: GH_PAT, AZURE_DEVOPS_PAT
            return True
    elif not segment.islower():
        return False  # camelCase: its words were looked at already
    return bool(_COMPACT_TAIL.fullmatch(segment.lower()))


def key_is_secret(key: str) -> bool:
    """Does a field or variable name *end* in a secret word?

    ``DB_PASSWORD``, ``apiKey``, ``client_secret``, ``X-Api-Key``, ``PGPASSWORD``, ``DBPASS``,
    ``GITHUBTOKEN`` do; ``max_tokens``, ``token_type``, ``PASSWORD_MIN_LENGTH``, ``bypass``,
    ``BYPASS`` and ``PWD`` (the shell's cwd) do not.
    """
    key = key.strip().strip("\"'")
    if not key or key in ("PWD", "OLDPWD") or len(key) > 80:
        return False
    return any(SECRET_WORD.fullmatch(key, start) for start in _word_starts(key)) or _compact_secret(key)


def _passwordish(key: str) -> bool:
    """A key naming a password or PIN (``DB_PASSWORD``, ``pin``, ``PGPASSWORD``), not a token or key."""
    key = key.strip().strip("\"'")
    if key.upper() in ("PWD", "OLDPWD"):
        return False
    starts = _word_starts(key)
    if any(_PASSWORDISH.fullmatch(key, start) for start in starts):
        return True
    found = _LAST_SEGMENT.search(key)
    segment = found.group(0).lower() if found else ""
    return _compact_secret(key) and segment.endswith(("password", "passwd", "passphrase", "pass"))


def numeric_value_is_secret(key: str, digits: str) -> bool:
    """A number under a secret key: a password or PIN of 4+ digits, any other secret of 8+."""
    key = key.strip().strip("\"'")
    if key.upper() in ("PWD", "OLDPWD"):
        return False
    if any(_NUMERIC_PASSWORD.fullmatch(key, start) for start in _word_starts(key)) or (
            _compact_secret(key) and key.lower().endswith(("password", "passwd", "passphrase"))):
        return len(digits) >= NUMERIC_PASSWORD_MIN
    return key_is_secret(key) and len(digits) >= NUMERIC_SECRET_MIN


_SENTENCE_END = re.compile(r"[.?!:…]$")
_MESSAGE_WORDS = re.compile(
    r"(?i)\b(?:your|enter|must|should|please|required|invalid|incorrect|characters?|at least|"
    r"password|passwd|passphrase|secret|token|key)\b"
)


def _is_message(value: str) -> bool:
    """``"Enter your password"``, ``"Password is required."``: text shown to a person."""
    return bool(_SENTENCE_END.search(value) or _MESSAGE_WORDS.search(value))


def passphrase_is_secret(key: str, value: str) -> bool:
    """Several words under a password key (``"correct horse battery staple"``) rather than a
    label or message (``"Enter your password"``, ``"Password is required."``)."""
    if not _passwordish(key) or key.strip("\"'").lower() == "pass":  # `First pass: collect all nodes`
        return False
    words = value.split()
    return 2 <= len(words) <= 10 and len(value) <= 120 and not _is_message(value)


def assignment_value_is_secret(key: str, sep: str, value: str, quoted: bool, after: str = "") -> bool:
    """Is ``value`` a literal secret rather than code that refers to one?

    ``sep`` is the separator as written (``=``, `` = ``, ``: ``); ``after`` is the
    text right after the value (an opening bracket or ``=`` there means code).
    """
    value = value.strip()
    if not quoted:
        value = _CLOSERS.split(value, 1)[0].strip("`")  # the end of a call or literal the value sits in
    if _DIGITS.fullmatch(value):
        return numeric_value_is_secret(key, value)
    if not key_is_secret(key) or key.lower() == "pass":
        return False
    if not value or _PLACEHOLDER.match(value) or _NUMBER.fullmatch(value):
        return False
    low = value.lower()
    if quoted:
        # a literal, unless it is a type name, the key's own name or a sentence
        if low in _TYPE_WORDS or low == key.lower():
            return False
        if " " not in value:
            return True
        if _is_message(value):
            return False  # a label or a message: "Forgot your password?"
        return value.count(" ") < 3 or passphrase_is_secret(key, value)
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
