"""One line per problem in ``<data home>/offmem.log``, from code that must never fail on it."""

import os
import sys

from offmem.lean import now_iso

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
