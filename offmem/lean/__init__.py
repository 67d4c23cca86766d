"""The hook path's kernel: standard library only, cheap to import.

Everything a hook process needs besides the event store itself: here,
:func:`data_home` (where offmem keeps its data, one resolution for the hook, the worker
and the CLI), :func:`now_iso` (timestamps as offmem stores them) and :func:`log` (one
line per problem in the data directory's log); in modules, :mod:`~offmem.lean.fastjson`
(JSON on the C accelerator) and :mod:`~offmem.lean.settings` (config.toml parsed once
per change, and the one settings reader of the hook path). Nothing here imports anything of offmem outside this
package. A hook loads every module it imports on each run, so the kernel is a few
modules, not one per function.
"""

import os
import sys
import time


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


def now_iso(t: float | None = None) -> str:
    """``t`` (default: now) as ``2026-01-31T14:00:00.000Z``: UTC, milliseconds; sorts as text in time order."""
    t = time.time() if t is None else t
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)


LOG_FILE = "offmem.log"


def log(home: str, message: str, who: str | None = None) -> None:
    """Append ``<time> <who> <message>`` to the data directory's log (``who`` defaults to
    ``hook[<pid>]``); falls back to stderr, and never raises."""
    line = f"{now_iso()} {who or f'hook[{os.getpid()}]'} {message}\n"
    try:
        os.makedirs(home, mode=0o700, exist_ok=True)
        with open(os.path.join(home, LOG_FILE), "a", encoding="utf-8", errors="replace") as fh:
            fh.write(line)
    except OSError:
        try:
            sys.stderr.write("offmem: " + line)
        except Exception:  # noqa: BLE001 - nothing left to report to
            pass
