"""Settings: typed defaults, one TOML file, environment overrides.

Resolution order, last wins:

1. the defaults below;
2. ``$OFFMEM_HOME/config.toml`` (``~/.offmem/config.toml`` when ``OFFMEM_HOME`` is unset);
3. environment variables ``OFFMEM_<SECTION>_<KEY>``, e.g. ``OFFMEM_CONTEXT_BUDGET_TOKENS=800``.

This module is on the hook's hot path, so it imports only the standard library
and parses TOML only when the file changed since its last parse: the parsed
result is cached next to it as JSON keyed by the file's mtime and size.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from offmem.lean import data_home
from offmem.lean.settings import CONFIG_FILE, parse_file
from offmem.errors import ConfigError  # defined with offmem's other errors; re-exported here


def data_dir() -> Path:
    """The data directory: ``$OFFMEM_HOME``, else ``~/.offmem``; ``~`` is expanded and a relative
    path is taken under the home directory (see :func:`offmem.lean.data_home`)."""
    return Path(data_home())


@dataclass
class ContextSettings:
    budget_tokens: int = 1500
    prompt_budget_tokens: int = 300
    prompt_timeout_ms: int = 300
    prompt_max_memories: int = 3
    prompt_min_chars: int = 12
    max_summaries: int = 3


@dataclass
class CaptureSettings:
    max_field_chars: int = 12000
    skip_tools: list = field(default_factory=list)
    excluded_projects: list = field(default_factory=list)
    excluded_paths: list = field(default_factory=list)
    busy_timeout_ms: int = 2000


@dataclass
class SummarizerSettings:
    backend: str = "llamacpp"  # llamacpp | claude | openai | rules
    model: str = ""  # a models.toml name; empty = the default summarizer
    summary_model: str = ""  # a models.toml name for the session summaries only; empty = `model`
    # model | rules: who titles each unit of work. "rules" (the model only condenses long session-summary
    # fields): on the dev corpus model-titled units kept no more facts and ranked no better, ran at
    # 7-27 tool events/min instead of hundreds, and 11-37% of 0.5B's claims were unsupported
    # (bench/bench_summarizer.py --compare; numbers in bench/results/model-choice.md)
    units: str = "rules"
    n_ctx: int = 4096
    n_batch: int = 256  # prompt tokens per decode step; llama.cpp holds logits for this many (Qwen: 0.6 MB each)
    n_threads: int = 0  # 0 = all cores
    max_tokens: int = 320
    temperature: float = 0.2
    timeout_s: float = 120.0
    batch_max_events: int = 12
    batch_max_tokens: int = 2400
    batch_idle_s: float = 15.0
    claude_model: str = "claude-haiku-4-5"
    claude_api_key_env: str = "ANTHROPIC_API_KEY"
    claude_base_url: str = ""
    openai_base_url: str = ""
    openai_model: str = ""
    openai_api_key_env: str = "OPENAI_API_KEY"


@dataclass
class EmbedderSettings:
    backend: str = "auto"  # auto | numpy | sentence-transformers | none
    model: str = ""  # a models.toml name; empty = the default embedder
    batch_size: int = 32
    threads: int = 1  # BLAS/torch threads for embedding; 0 = the library's default (1 measured best on busy 2-core machines)


@dataclass
class ChromaSettings:
    mode: str = "embedded"  # embedded | http
    host: str = "127.0.0.1"
    port: int = 8000
    collection: str = "offmem"


@dataclass
class WorkerSettings:
    host: str = "127.0.0.1"
    port: int = 37810
    autostart: bool = True
    poll_interval_s: float = 1.0


@dataclass
class PrivacySettings:
    redact: bool = True
    extra_patterns: list = field(default_factory=list)
    entropy_min_length: int = 24
    entropy_threshold: float = 4.0


@dataclass
class ModelsSettings:
    dir: str = ""  # empty = <data dir>/models


@dataclass
class TeamSettings:
    """The team store (docs/team.md): PostgreSQL for memories, a Chroma server for their vectors.
    Off while ``dsn`` is empty. The password is never written here: it is read from the
    environment variable ``password_env`` or the file ``password_file`` (libpq's own
    ``~/.pgpass`` and ``PGPASSWORD`` work too)."""

    dsn: str = ""  # libpq connection string or URL without the password, e.g. "host=db.lan dbname=offmem user=alice"
    password_env: str = "OFFMEM_TEAM_PASSWORD"
    password_file: str = ""
    sslmode: str = "prefer"  # disable | allow | prefer | require | verify-ca | verify-full
    sslrootcert: str = ""  # CA certificate (verify-ca / verify-full)
    sslcert: str = ""  # client certificate, when the server asks for one
    sslkey: str = ""
    chroma_url: str = ""  # e.g. "http://db.lan:8000" (https:// for TLS); empty: keyword search only
    chroma_collection: str = "offmem_team"
    chroma_token_env: str = ""  # an environment variable holding the Chroma server's token, if it wants one
    display_name: str = ""  # the author shown on what you share; empty: your login name
    sync_interval_s: float = 15.0  # how often the worker publishes and pulls
    mirror_limit: int = 2000  # pulled memories kept locally per joined project (what hooks can show)
    timeout_s: float = 5.0  # connect and statement timeout
    search_timeout_ms: int = 1500  # team search from CLI, MCP and UI; past it, local results only


@dataclass
class Settings:
    context: ContextSettings = field(default_factory=ContextSettings)
    capture: CaptureSettings = field(default_factory=CaptureSettings)
    summarizer: SummarizerSettings = field(default_factory=SummarizerSettings)
    embedder: EmbedderSettings = field(default_factory=EmbedderSettings)
    chroma: ChromaSettings = field(default_factory=ChromaSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    models: ModelsSettings = field(default_factory=ModelsSettings)
    team: TeamSettings = field(default_factory=TeamSettings)
    home: Path = field(default_factory=data_dir)

    @property
    def db_path(self) -> Path:
        return self.home / "offmem.db"

    @property
    def log_path(self) -> Path:
        return self.home / "offmem.log"

    @property
    def models_dir(self) -> Path:
        return Path(self.models.dir).expanduser() if self.models.dir else self.home / "models"

    @property
    def chroma_dir(self) -> Path:
        return self.home / "chroma"

    @property
    def config_path(self) -> Path:
        return self.home / CONFIG_FILE

    def sections(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "home"}

    def to_dict(self) -> dict:
        return {
            name: {f.name: getattr(section, f.name) for f in fields(section)}
            for name, section in self.sections().items()
        }


def _coerce(value, default, where: str):
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
    elif isinstance(default, int):
        try:
            return int(value)
        except (TypeError, ValueError):
            pass
    elif isinstance(default, float):
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    elif isinstance(default, list):
        if isinstance(value, list):
            return [str(v) for v in value]
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(default, str):
        return str(value)
    raise ConfigError(f"{where}: expected {type(default).__name__}, got {value!r}")


def _apply(settings: Settings, raw: dict, origin: str) -> None:
    sections = settings.sections()
    for section_name, values in raw.items():
        section = sections.get(section_name)
        if section is None or not isinstance(values, dict):
            continue  # unknown sections are ignored, not fatal
        for key, value in values.items():
            if not hasattr(section, key):
                continue
            where = f"{origin} [{section_name}] {key}"
            setattr(section, key, _coerce(value, getattr(section, key), where))


def _read_toml(path: Path) -> dict:
    """The parsed config file, through a JSON cache keyed by mtime and size (:func:`offmem.lean.settings.parse_file`)."""
    try:
        return parse_file(str(path))
    except ValueError as exc:  # unreadable or not TOML (the message names the file)
        raise ConfigError(str(exc)) from exc.__cause__


def _env_overrides(settings: Settings) -> dict:
    raw: dict = {}
    names = settings.sections()
    for key, value in os.environ.items():
        if not key.startswith("OFFMEM_") or key == "OFFMEM_HOME":
            continue
        rest = key[len("OFFMEM_"):].lower()
        for section in names:
            if rest.startswith(section + "_"):
                raw.setdefault(section, {})[rest[len(section) + 1:]] = value
                break
    return raw


def load_settings(home: Path | None = None, *, env: bool = True) -> Settings:
    """Defaults, then the config file, then (unless ``env=False``) ``OFFMEM_*`` overrides."""
    settings = Settings(home=Path(home) if home else data_dir())
    _apply(settings, _read_toml(settings.config_path), str(settings.config_path))
    if env:
        _apply(settings, _env_overrides(settings), "environment")
    return settings


_TOML_ESCAPES = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and every control character escaped."""
    out = []
    for ch in text:
        if ch in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[ch])
        elif ch < " " or ch == "\x7f":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return _toml_string(str(value))


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True  # nan
    return a == b and type(a) is type(b)


def _check_round_trip(text: str, written: dict) -> None:
    """Refuse to write ``text`` unless it parses back to exactly ``written``."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        bad = [f"[{s}] {k}" for s, values in written.items() for k, v in values.items()
               if not _encodable(v)]
        raise ConfigError(f"{', '.join(bad) or 'a value'}: not valid text (it holds a lone surrogate); nothing written") from None
    try:
        parsed = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the settings would not parse back ({exc}); nothing written") from exc
    for section, values in written.items():
        for key, value in values.items():
            back = parsed.get(section, {}).get(key)
            if isinstance(value, list):
                ok = isinstance(back, list) and len(back) == len(value) and all(map(_same, back, value))
            else:
                ok = _same(back, value)
            if not ok:
                raise ConfigError(f"[{section}] {key}: {value!r} would read back as {back!r}; nothing written")


def _encodable(value) -> bool:
    if isinstance(value, list):
        return all(map(_encodable, value))
    try:
        str(value).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def save_settings(settings: Settings, changes: dict | None = None) -> Path:
    """Apply ``{section: {key: value}}`` changes, then write the whole file atomically.

    Only values that differ from the defaults are written, so the file stays short
    and future default changes still reach the user. The text is parsed back before
    it is written: a value that would not read back as itself raises ConfigError and
    leaves the file (and ``settings``) as they were.
    """
    if changes:
        import copy

        candidate = copy.deepcopy(settings)
        _apply(candidate, changes, "update")
    else:
        candidate = settings
    defaults = Settings(home=settings.home).to_dict()
    lines = ["# offmem settings. Every key is optional; see `offmem config show`.", ""]
    written: dict = {}
    for section, values in candidate.to_dict().items():
        changed = {k: v for k, v in values.items() if not _same(defaults[section][k], v)}
        if not changed:
            continue
        written[section] = changed
        lines.append(f"[{section}]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in changed.items())
        lines.append("")
    text = "\n".join(lines)
    _check_round_trip(text, written)
    settings.home.mkdir(parents=True, exist_ok=True)
    path = settings.config_path
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(text, "utf-8")
    os.replace(tmp, path)
    if candidate is not settings:
        for name, section in candidate.sections().items():
            setattr(settings, name, section)
    return path
