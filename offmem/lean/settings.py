"""The settings the hook path reads, without :mod:`offmem.config` (dataclasses, pathlib).

One reader for every section a hook process needs: ``[capture]`` and
``[worker] autostart`` (what is captured, and whether the worker is started),
``[context]`` (SessionStart and prompt-time injection) and ``[privacy]`` (the
redaction of prompts in the hook). Values come from the defaults below, then
config.toml, then ``OFFMEM_<SECTION>_<KEY>``, and are coerced as :mod:`offmem.config`
coerces them (a test keeps the defaults equal).

It never raises and never costs an event a settings problem: a config.toml that
does not parse is replaced by its last parse that did (or the defaults), a value of
the wrong type, in the file or in the environment, by its default; each problem is
logged, a broken file once per process and version of the file.

config.toml's parsed content is cached as JSON so a hook parses TOML only after a
change: each parse of ``<home>/config.toml`` is written to ``<home>/.config-cache.json``
(``{"stamp", "data"}``), the stamp being the file's mtime and size. :func:`cached_config`
reads it; :func:`parse_file` parses the file when the cache is stale and refreshes it
(the one TOML reader: :mod:`offmem.config` uses it too).
"""

from __future__ import annotations

import os

from offmem.lean import fastjson, log

CONFIG_FILE = "config.toml"
CACHE_FILE = ".config-cache.json"


def stamp_of(st: os.stat_result) -> str:
    return f"{st.st_mtime_ns}:{st.st_size}"


def read_cache(config_path: str, st: os.stat_result) -> dict | None:
    """The cached parse of ``config_path`` when it matches the file's stamp ``st``, else None."""
    try:
        with open(os.path.join(os.path.dirname(config_path), CACHE_FILE), encoding="utf-8") as fh:
            cached = fastjson.loads(fh.read())
        if cached.get("stamp") == stamp_of(st) and isinstance(cached.get("data"), dict):
            return cached["data"]
    except (OSError, ValueError, AttributeError):
        pass
    return None


def write_cache(config_path: str, st: os.stat_result, data: dict) -> None:
    """Record ``data`` as the parse of ``config_path`` at stamp ``st`` (atomically; best effort)."""
    cache = os.path.join(os.path.dirname(config_path), CACHE_FILE)
    tmp = f"{cache}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(fastjson.dumps({"stamp": stamp_of(st), "data": data}))
        os.replace(tmp, cache)
    except (OSError, TypeError):
        pass  # a read-only data dir just means no cache


def last_parsed_config(home: str) -> dict | None:
    """The last parse of ``<home>/config.toml`` that succeeded, whatever the file holds now (None if none)."""
    try:
        with open(os.path.join(home, CACHE_FILE), encoding="utf-8") as fh:
            data = fastjson.loads(fh.read()).get("data")
    except (OSError, ValueError, AttributeError):
        return None
    return data if isinstance(data, dict) else None


def cached_config(home: str) -> dict | None:
    """``<home>/config.toml`` as parsed data, without parsing TOML.

    ``{}`` when there is no config file, the cached parse when it is fresh, and
    None when it is stale or unreadable: :func:`parse_config` then parses the file
    and refreshes the cache.
    """
    config = os.path.join(home, CONFIG_FILE)
    try:
        st = os.stat(config)
    except FileNotFoundError:
        return {}
    except OSError:
        return None
    return read_cache(config, st)


def parse_file(path: str) -> dict:
    """The TOML file at ``path`` parsed (``{}`` when absent), through the cache next to it;
    a ValueError naming the file when it cannot be read or parsed. Values are not checked."""
    try:
        st = os.stat(path)
    except OSError:
        return {}
    cached = read_cache(path, st)
    if cached is not None:
        return cached
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        with open(path, encoding="utf-8") as fh:
            data = tomllib.loads(fh.read())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: {exc}") from exc
    write_cache(path, st, data)
    return data


def parse_config(home: str) -> dict:
    """``<home>/config.toml`` parsed, refreshing the cache; see :func:`parse_file`."""
    return parse_file(os.path.join(home, CONFIG_FILE))


# --------------------------------------------------------------------------- settings

DEFAULTS = {
    "capture": {
        "max_field_chars": 12000,
        "skip_tools": [],
        "excluded_projects": [],
        "excluded_paths": [],
        "busy_timeout_ms": 2000,
    },
    "worker": {"autostart": True},
    "context": {"budget_tokens": 1500, "max_summaries": 3, "prompt_timeout_ms": 300, "prompt_min_chars": 12},
    "privacy": {"redact": True, "extra_patterns": [], "entropy_min_length": 24, "entropy_threshold": 4.0},
}
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
_LOADED: dict = {}  # home -> (stamp, data) of a config.toml that did not parse, so it is logged once


def coerce(value, default):
    """``value`` as the type of ``default`` (as offmem.config coerces it), or None when it is not one."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        word = value.strip().lower() if isinstance(value, str) else None
        return True if word in _TRUE else False if word in _FALSE else None
    if isinstance(default, (int, float)):
        if isinstance(value, (bool, list, dict)):
            return None
        try:
            return type(default)(value)
        except (TypeError, ValueError, OverflowError):
            return None
    if isinstance(default, list):
        if isinstance(value, list):
            return [str(v) for v in value]
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return None
    return str(value)


def config_data(home: str) -> dict:
    """config.toml as parsed data: the cached parse when fresh, else a new parse (which
    refreshes the cache); when the file does not parse, its last parse that did, or {}."""
    data = cached_config(home)
    if data is not None:
        return data
    try:
        return parse_config(home)
    except Exception as exc:  # noqa: BLE001 - a broken file must not cost the event
        try:
            stamp = stamp_of(os.stat(os.path.join(home, CONFIG_FILE)))
        except OSError:
            stamp = None
        known = _LOADED.get(home)
        if known is not None and known[0] == stamp:
            return known[1]
        data = last_parsed_config(home) or {}
        _LOADED[home] = (stamp, data)
        log(home, f"settings: {exc}; using {'its last readable version' if data else 'the defaults'}")
        return data


def read(home: str, wanted: dict) -> dict:
    """The keys of ``wanted`` (``{section: [key, ...]}``) as one flat dict, each from its
    default, config.toml and ``OFFMEM_<SECTION>_<KEY>`` (the environment wins)."""
    data = config_data(home)
    result: dict = {}
    problems: list[str] = []
    for section, keys in wanted.items():
        values = data.get(section)
        values = values if isinstance(values, dict) else {}
        for key in keys:
            default = DEFAULTS[section][key]
            result[key] = list(default) if isinstance(default, list) else default
            found = [(f"config.toml [{section}] {key}", values[key])] if key in values else []
            name = f"OFFMEM_{section.upper()}_{key.upper()}"
            if name in os.environ:
                found.append((name, os.environ[name]))
            for where, value in found:
                coerced = coerce(value, default)
                if coerced is None:
                    problems.append(f"ignored {where} = {value!r} (expected {type(default).__name__})")
                else:
                    result[key] = coerced
    if problems:
        log(home, "settings: " + "; ".join(problems))
    return result


def capture_settings(home: str) -> dict:
    """``[capture]`` and ``[worker] autostart``: what the hook captures, and whether it starts the worker."""
    return read(home, {"capture": list(DEFAULTS["capture"]), "worker": ["autostart"]})


def context_settings(home: str) -> dict:
    """``[context]``: the SessionStart budget and the prompt-time lookup's time box."""
    return read(home, {"context": list(DEFAULTS["context"])})


def privacy_settings(home: str) -> dict:
    """``[privacy]``: how the hook redacts prompts and messages."""
    return read(home, {"privacy": list(DEFAULTS["privacy"])})
