"""Units shown to people. Standard library only (the hook kernel may use it).

Byte sizes are binary, as the rest of offmem's figures are (README and benches give memory
in MiB): 1 KiB = 1024 bytes, labelled KiB, MiB, GiB, TiB. This is offmem's one byte
formatter; ``offmem models``, ``offmem doctor`` and the web UI's stats page all use it.
"""

from __future__ import annotations

_UNITS = ("KiB", "MiB", "GiB", "TiB")


def format_bytes(n: int | float | None) -> str:
    """``512 B``, ``1.5 KiB``, ``469.1 MiB``; ``–`` for an unknown size (None).

    One decimal above a KiB, the unit chosen on the rounded figure, so a size just under a
    unit boundary reads ``1.0 MiB`` rather than ``1024.0 KiB``.
    """
    if n is None:
        return "–"
    if abs(n) < 1024:
        return f"{n:.0f} B"
    value = float(n)
    for unit in _UNITS:
        value /= 1024
        if abs(round(value, 1)) < 1024 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")
