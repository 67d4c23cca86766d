"""config.toml's parsed content, cached as JSON so a hook parses TOML only after a change.

Each parse of ``<home>/config.toml`` is written to ``<home>/.config-cache.json``
(``{"stamp", "data"}``), the stamp being the file's mtime and size. The hook path
reads it through :func:`cached_config`; :func:`parse_config` parses the file when the
cache is stale and refreshes it (the one TOML reader: :mod:`offmem.config` uses it too).
"""

from __future__ import annotations

import os

from offmem.lean import fastjson

CONFIG_FILE = "config.toml"
CACHE_FILE = ".config-cache.json"


class ConfigFileError(ValueError):
    """config.toml cannot be read or is not valid TOML; the message names the file."""


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
    ConfigFileError when it cannot be read or parsed. Values are not checked."""
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
        raise ConfigFileError(f"{path}: {exc}") from exc
    write_cache(path, st, data)
    return data


def parse_config(home: str) -> dict:
    """``<home>/config.toml`` parsed, refreshing the cache; see :func:`parse_file`."""
    return parse_file(os.path.join(home, CONFIG_FILE))
