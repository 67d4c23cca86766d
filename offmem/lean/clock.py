"""Timestamps as offmem stores them: UTC, ISO 8601, milliseconds, ``Z``."""

import time


def now_iso(t: float | None = None) -> str:
    """``t`` (default: now) as ``2026-01-31T14:00:00.000Z``; sorts as text in time order."""
    t = time.time() if t is None else t
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)
