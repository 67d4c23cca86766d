"""Fresh fake secrets from the templates in formats.toml (see the comment there).

Every value is drawn from a seeded RNG at test time, so nothing secret-looking is
committed and every run is reproducible. :class:`Sample.fragments` are the random
pieces (at least 8 characters) that must never appear anywhere after redaction.
"""

from __future__ import annotations

import base64
import json
import random
import re
import string
import textwrap
import tomllib
import uuid
from dataclasses import dataclass, field
from pathlib import Path

FORMATS_FILE = Path(__file__).with_name("formats.toml")
ALPHABETS = {
    "U": string.ascii_uppercase + string.digits,
    "L": string.ascii_lowercase + string.digits,
    "a": string.ascii_letters + string.digits,
    "h": "0123456789abcdef",
    "b": string.ascii_letters + string.digits + "+/",
    "u": string.ascii_letters + string.digits + "_-",
    "d": string.digits,
    "w": string.ascii_lowercase,
    "c": "qpzry9x8gf2tvdw0s3jn54khce6mua7l".upper(),
    "B": "./" + string.ascii_letters + string.digits,  # crypt(3) hashes
}
FIELD = re.compile(r"\{([A-Za-z]):(\d+)\}|\{(pw|uuid|jwt|basic|openssh|pgp|putty)\}|\{(pem|pem-json):([A-Z ]+)\}")


@dataclass
class Format:
    name: str
    secret: str
    kind: str
    line: str = "{secret}"


@dataclass
class Sample:
    name: str
    kind: str
    secret: str
    line: str
    fragments: list[str] = field(default_factory=list)


def load_formats() -> list[Format]:
    data = tomllib.loads(FORMATS_FILE.read_text("utf-8"))
    return [Format(**entry) for entry in data["format"]]


def _chars(rng: random.Random, alphabet: str, n: int) -> str:
    """n random characters; long mixed fields get a digit and a letter, as real tokens do."""
    while True:
        value = "".join(rng.choice(alphabet) for _ in range(n))
        mixed = any(c.isdigit() for c in alphabet) and any(c.isalpha() for c in alphabet)
        if not mixed or n < 12 or (any(c.isdigit() for c in value) and any(c.isalpha() for c in value)):
            return value


def _password(rng: random.Random) -> str:
    return (_chars(rng, string.ascii_letters, 6) + _chars(rng, string.digits, 3)
            + rng.choice("!%^*+?~") + _chars(rng, string.ascii_letters + string.digits, 4))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _pem(rng: random.Random, label: str, escaped: bool) -> tuple[str, list[str]]:
    body = base64.b64encode(rng.randbytes(600)).decode()
    lines = textwrap.wrap(body, 64)
    newline = "\\n" if escaped else "\n"
    text = newline.join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"]) + newline
    return text, lines


class Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def _field(self, match: re.Match, fragments: list[str]) -> str:
        rng = self.rng
        if match.group(1):
            value = _chars(rng, ALPHABETS[match.group(1)], int(match.group(2)))
            fragments.append(value)
            return value
        special = match.group(3)
        if special == "pw":
            value = _password(rng)
        elif special == "uuid":
            value = str(uuid.UUID(bytes=rng.randbytes(16), version=4))
        elif special == "jwt":
            header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
            claims = {"sub": str(uuid.UUID(bytes=rng.randbytes(16))), "exp": rng.randrange(1_800_000_000, 1_900_000_000)}
            payload, signature = _b64url(json.dumps(claims).encode()), _b64url(rng.randbytes(32))
            fragments.extend([payload, signature])
            return f"{header}.{payload}.{signature}"
        elif special == "basic":
            value = base64.b64encode(f"deploy:{_password(rng)}".encode()).decode()
        elif special in ("openssh", "pgp"):
            label = "OPENSSH PRIVATE KEY" if special == "openssh" else "PGP PRIVATE KEY BLOCK"
            text, lines = _pem(rng, label, escaped=False)
            fragments.extend(lines)
            return text
        elif special == "putty":
            lines = textwrap.wrap(base64.b64encode(rng.randbytes(300)).decode(), 64)
            mac = rng.randbytes(32).hex()
            fragments.extend([*lines, mac])
            return ("PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: deploy\n"
                    f"Private-Lines: {len(lines)}\n" + "\n".join(lines) + f"\nPrivate-MAC: {mac}\n")
        else:
            text, lines = _pem(rng, match.group(5), escaped=match.group(4) == "pem-json")
            fragments.extend(lines)
            return text
        fragments.append(value)
        return value

    def sample(self, fmt: Format) -> Sample:
        fragments: list[str] = []
        secret = FIELD.sub(lambda m: self._field(m, fragments), fmt.secret)
        line = FIELD.sub(lambda m: self._field(m, []), fmt.line.replace("{secret}", "\0"))
        line = line.replace("{{", "{").replace("}}", "}").replace("\0", secret)
        kept = [f for f in fragments if len(f) >= 8]
        return Sample(fmt.name, fmt.kind, secret, line, kept or [secret])


def leaks(sample: Sample, haystack: str | bytes) -> list[str]:
    """The fragments of ``sample`` found in ``haystack`` (also a 12-character middle slice of long ones)."""
    found = []
    for fragment in sample.fragments:
        probes = [fragment]
        if len(fragment) >= 24:
            mid = len(fragment) // 2
            probes.append(fragment[mid - 6:mid + 6])
        for probe in probes:
            needle = probe.encode() if isinstance(haystack, bytes) else probe
            if needle in haystack:
                found.append(probe)
                break
    return found
