"""The redactor on its own: the secret corpus, false positives on normal code, settings."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from offmem.config import load_settings, save_settings
from offmem.privacy import Redactor, default_redactor
from offmem.privacy.patterns import assignment_value_is_secret, key_is_secret
from offmem.privacy.redact import STRUCTURAL_KEYS, parse_extra_pattern, shannon_entropy
from secret_corpus.generate import Generator, load_formats, leaks

REPO = Path(__file__).resolve().parent.parent
SEEDS = (1, 2, 3)


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor()


def corpus(seed: int):
    gen = Generator(seed)
    return [gen.sample(fmt) for fmt in load_formats()]


def test_corpus_has_at_least_fifty_formats():
    formats = load_formats()
    assert len(formats) >= 50
    assert len({f.name for f in formats}) == len(formats)


@pytest.mark.parametrize("seed", SEEDS)
def test_every_corpus_secret_is_replaced_by_its_typed_marker(redactor, seed):
    problems = []
    for sample in corpus(seed):
        out = redactor.redact_text(sample.line)
        if leaks(sample, out) or f"[REDACTED:{sample.kind}]" not in out:
            problems.append(f"{sample.name}: {out[:160]!r}")
    assert problems == []


@pytest.mark.parametrize("seed", SEEDS)
def test_corpus_secrets_inside_json_text_and_payload_values(redactor, seed):
    """As a JSON file's text in a tool output, and as a decoded payload value."""
    for sample in corpus(seed):
        as_file = redactor.redact_text(json.dumps({"config": sample.line}, indent=2))
        payload = redactor.redact_payload(
            {"tool_name": "Bash", "tool_input": {"command": f"cat <<'EOF'\n{sample.line}\nEOF"},
             "tool_response": {"stdout": json.dumps({"c": sample.line}), "stderr": ""}}
        )
        assert leaks(sample, as_file) == [], sample.name
        assert leaks(sample, json.dumps(payload)) == [], sample.name


def test_redaction_is_idempotent(redactor):
    for sample in corpus(4):
        once = redactor.redact_text(sample.line)
        assert redactor.redact_text(once) == once, sample.name


NORMAL_TEXT = [
    # git output: SHAs are identifiers
    "commit 3f786850e387550fdab836ed7e6dc881de23001b\nMerge: 1a2b3c4 5d6e7f8\nAuthor: Dev <dev@acme.io>",
    "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3 refs/heads/main",
    "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    # ids Claude Code and offmem use
    "session aec79197-7a7d-4653-bf2b-6e40ad63e1d2 tool toolu_01QzX4mH7nV2bK8pR3sT6wYc msg_01XFDUDYJgAACzvnptvVoYEL",
    # code that names secrets without holding one
    "password = request.form['password']\ntoken = get_token()\nself.api_key = api_key",
    "def login(username: str, password: str = None) -> Token:\n    max_tokens = 320",
    "client = OpenAI(api_key=api_key, base_url=settings.base_url)",
    "SECRET_KEY = os.environ['SECRET_KEY']\nAPI_TOKEN=$API_TOKEN\npassword: ${DB_PASSWORD}",
    "if token == expected_token and password is not None:",
    "CHARS_PER_TOKEN = 3.3\nPASSWORD_MIN_LENGTH = 12\ntoken_type = 'bearer'",
    "PWD=/home/dev/shop-api OLDPWD=/tmp",
    # paths, package names, pod names, lock files
    "/home/dev/shop-api/tests/integration/test_checkout_flow_integration2.py",
    "payment-service-deployment-7d4b9c8f6d-x2k9p   1/1   Running   0   3h",
    '"integrity": "sha512-Xk9mQ2vL8pR4tW7yZ1bN3cF6hJ0sD5gAXk9mQ2vL8pR4tW7yZ1bN3cF6hJ0sD5gA=="',
    "Successfully installed sentence-transformers-3.4.1 transformers-4.48.0 tokenizers-0.21.0",
    "FAILED tests/test_cart.py::test_vat_for_germany_uses_19_percent - AssertionError: 20.0",
    "Wav2Vec2ForSequenceClassification PPDocLayoutV3PreTrainedModel test_names_with_usecols_bug1636",
    "https://github.com/acme/shop-api/blob/main/cart/vat.py#L12",
]


@pytest.mark.parametrize("text", NORMAL_TEXT)
def test_normal_code_and_output_is_left_alone(redactor, text):
    assert redactor.find(text) == [], [text[f.start:f.end] for f in redactor.find(text)]


def test_this_repositorys_own_source_and_history_are_left_alone(redactor):
    """offmem's code (minus the redaction rules and tests that spell out fake secrets)
    and its recent git history, SHAs included, contain nothing to redact."""
    # (the redaction rules, and the tests that plant fake secrets or dummy credentials on purpose)
    skip = ("privacy", "secret_corpus", "test_redact", "test_export", "test_transcripts", "test_forget", "test_faults",
            "test_network_guard", "test_fake_anthropic", "test_models", "test_web_ui", "test_web_security", "test_lean",
            "test_evidence_stage", "test_team")  # test_team*: PostgreSQL roles with throwaway passwords
    files = [p for p in list(REPO.glob("offmem/**/*.py")) + list(REPO.glob("tests/*.py"))
             if not any(s in str(p) for s in skip)]
    assert len(files) > 30
    found = {}
    for path in files:
        text = path.read_text("utf-8")
        hits = [text[f.start:f.end] for f in redactor.find(text)]
        if hits:
            found[str(path.relative_to(REPO))] = hits
    assert found == {}
    log = subprocess.run(["git", "log", "--stat", "-n", "40"], cwd=REPO, capture_output=True, text=True).stdout
    assert "commit " in log
    assert [log[f.start:f.end] for f in redactor.find(log)] == []


def test_payload_identifiers_are_kept_and_content_redacted(redactor):
    secret = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    payload = {
        "session_id": "aec79197-7a7d-4653-bf2b-6e40ad63e1d2",
        "tool_use_id": "toolu_01QzX4mH7nV2bK8pR3sT6wYcQzX4mH7nV2bK8pR3",
        "transcript_path": "/home/dev/.claude/projects/-home-dev-shop/aec79197.jsonl",
        "cwd": "/home/dev/shop",
        "hook_event_name": "PostToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": f"git push https://{secret}@github.com/acme/shop.git"},
        "tool_response": {"stdout": "ok", "password": "hunter2", "max_tokens": 320, "token_type": "bearer"},
    }
    out = redactor.redact_payload(payload)
    for key in STRUCTURAL_KEYS & payload.keys():
        assert out[key] == payload[key]
    assert secret not in json.dumps(out)
    assert out["tool_response"]["password"] == "[REDACTED:secret-field]"
    assert out["tool_response"]["max_tokens"] == 320 and out["tool_response"]["token_type"] == "bearer"


def test_deep_nesting_fails_closed(redactor):
    value: object = "AKIA" + "Q" * 16
    for _ in range(200):
        value = [value]
    out = json.dumps(redactor.redact_value(value))
    assert "QQQQQQQQ" not in out and "[REDACTED:too-deep]" in out


@pytest.mark.parametrize(
    "key,secret",
    [("DB_PASSWORD", True), ("apiKey", True), ("client_secret", True), ("X-Api-Key", True), ("_authToken", True),
     ("aws_secret_access_key", True), ("max_tokens", False), ("token_type", False), ("PASSWORD_MIN_LENGTH", False),
     ("bypass", False), ("PWD", False), ("tokenizer", False), ("author", False)],
)
def test_secret_key_names(key, secret):
    assert key_is_secret(key) is secret


@pytest.mark.parametrize(
    "key,sep,value,quoted,secret",
    [
        ("DB_PASSWORD", "=", "hunter2", False, True),
        ("password", ": ", "hunter2", False, True),
        ("POSTGRES_PASSWORD", ": ", "example", False, True),
        ("password", ": ", "str", False, False),
        ("password", " = ", "password", False, False),
        ("api_key", "=", "api_key", False, False),
        ("token", "=", "self.token", False, False),
        ("SECRET_KEY", "=", "$SECRET_KEY", False, False),
        ("token", ": ", "<your-token>", True, False),
        ("api_key", ": ", "abc123", True, True),
        ("CHARS_PER_TOKEN", " = ", "3.3", False, False),
    ],
)
def test_assignment_values(key, sep, value, quoted, secret):
    assert assignment_value_is_secret(key, sep, value, quoted) is secret


def test_entropy_settings_change_what_is_flagged():
    token = "Xk9mQ2vL8pR4tW7yZ1bN3cF6hJ0sD5gA"
    assert shannon_entropy(token) > 4.5
    assert "[REDACTED:high-entropy]" in Redactor().redact_text(f"key {token}")
    assert Redactor(entropy_threshold=6.0).redact_text(f"key {token}") == f"key {token}"
    assert Redactor(entropy_min_length=40).redact_text(f"key {token}") == f"key {token}"


def test_extra_patterns_from_settings(offmem_home):
    settings = load_settings()
    save_settings(settings, {"privacy": {"extra_patterns": ["acme-badge=ACME-[0-9]{6}", r"internal (?P<secret>\w+-\w+)", "bad(["]}})
    redactor = Redactor.from_settings(load_settings())
    out = redactor.redact_text("badge ACME-123456, internal alpha-bravo, key AKIAIOSFODNN7EXAMPL2")
    assert out == "badge [REDACTED:acme-badge], internal [REDACTED:custom], key [REDACTED:aws-access-key]"
    assert len(redactor.warnings) == 1 and "bad([" in redactor.warnings[0]
    assert default_redactor(load_settings()).redact_text("ACME-654321") == "[REDACTED:acme-badge]"


def test_extra_pattern_errors_name_the_entry():
    with pytest.raises(ValueError, match="not a valid regular expression"):
        parse_extra_pattern("name=(unclosed")


def test_redaction_can_be_turned_off(offmem_home):
    save_settings(load_settings(), {"privacy": {"redact": False}})
    redactor = Redactor.from_settings(load_settings())
    text = "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPL2"
    assert redactor.redact_text(text) == text
    assert redactor.redact_payload({"tool_input": {"command": text}}) == {"tool_input": {"command": text}}
