"""config.toml's parsed content, cached as JSON so the hooks never parse TOML.

:mod:`offmem.config` writes ``<home>/.config-cache.json`` (``{"stamp", "data"}``)
each time it parses the file; the stamp is the file's mtime and size. The hook
path reads it through :func:`cached_config`, which imports only the standard
library and offmem's JSON helper.
"""

from __future__ import annotations

import os

from offmem import _fastjson

CONFIG_FILE = "config.toml"
CACHE_FILE = ".config-cache.json"


def stamp_of(st: os.stat_result) -> str:
    return f"{st.st_mtime_ns}:{st.st_size}"


def read_cache(config_path: str, st: os.stat_result) -> dict | None:
    """The cached parse of ``config_path`` when it matches the file's stamp ``st``, else None."""
    try:
        with open(os.path.join(os.path.dirname(config_path), CACHE_FILE), encoding="utf-8") as fh:
            cached = _fastjson.loads(fh.read())
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
            fh.write(_fastjson.dumps({"stamp": stamp_of(st), "data": data}))
        os.replace(tmp, cache)
    except (OSError, TypeError):
        pass  # a read-only data dir just means no cache


def data_home() -> str:
    """The data directory, resolved the same way by the hook, the worker and the CLI.

    ``$OFFMEM_HOME`` with ``~`` expanded; a relative value is taken under the user's
    home directory, not the current one (a hook runs in whichever project Claude Code
    has open, a worker in its own folder, so the current directory names a different
    place for each); the result is normalized. ``~/.offmem`` when unset or empty.
    """
    user_home = os.path.expanduser("~")
    value = os.environ.get("OFFMEM_HOME")
    if not value:
        return os.path.join(user_home, ".offmem")
    return os.path.normpath(os.path.join(user_home, os.path.expanduser(value)))  # an absolute value replaces user_home


def last_parsed_config(home: str) -> dict | None:
    """The last parse of ``<home>/config.toml`` that succeeded, whatever the file holds now (None if none)."""
    try:
        with open(os.path.join(home, CACHE_FILE), encoding="utf-8") as fh:
            data = _fastjson.loads(fh.read()).get("data")
    except (OSError, ValueError, AttributeError):
        return None
    return data if isinstance(data, dict) else None


def cached_config(home: str) -> dict | None:
    """``<home>/config.toml`` as parsed data, without parsing TOML.

    ``{}`` when there is no config file, the cached parse when it is fresh, and
    None when it is stale or unreadable: the caller then goes through
    :func:`offmem.config.load_settings`, which parses the file and refreshes the cache.
    """
    config = os.path.join(home, CONFIG_FILE)
    try:
        st = os.stat(config)
    except FileNotFoundError:
        return {}
    except OSError:
        return None
    return read_cache(config, st)
