"""offmem has one byte formatter, binary units, used by every place that shows a size."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import offmem

PACKAGE = Path(offmem.__file__).parent


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (None, "–"),
        (0, "0 B"),
        (1, "1 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (1_500_000, "1.4 MiB"),  # decimal units would say 1.5 MB: the disagreement this replaces
        (1024 * 1024 - 1, "1.0 MiB"),  # not 1024.0 KiB
        (1024 * 1024, "1.0 MiB"),
        (491_400_000, "468.6 MiB"),
        (3 * 1024**3, "3.0 GiB"),
        (5 * 1024**4, "5.0 TiB"),
        (2048 * 1024**4, "2048.0 TiB"),  # the largest unit keeps growing
        (1536.0, "1.5 KiB"),
    ],
)
def test_format_bytes(size, shown):
    from offmem.units import format_bytes

    assert format_bytes(size) == shown


def _byte_formatters() -> list[str]:
    """Functions in offmem's source that divide by 1000 or 1024 and label the result in bytes."""
    labels = {"B", "KB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB", "kB"}
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            constants = [c.value for c in ast.walk(node) if isinstance(c, ast.Constant)]
            strings = {s.strip() for s in constants if isinstance(s, str)}
            numbers = {c for c in constants if isinstance(c, (int, float)) and not isinstance(c, bool)}
            if numbers & {1000, 1024} and len(strings & labels) >= 2:
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}")
            elif {"KiB", "MiB"} <= {part for s in strings for part in s.split()} or {"KB", "MB"} <= strings:
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}")
    return found


def test_the_only_byte_formatter_is_offmem_units():
    assert _byte_formatters() == []  # offmem/units.py keeps its labels in a module constant


def test_the_scan_finds_a_formatter(tmp_path, monkeypatch):
    """The scan above is not vacuous: the formatters it replaced are found."""
    fake = tmp_path / "offmem"
    fake.mkdir()
    (fake / "x.py").write_text(
        "def _human(size):\n"
        "    for unit in ('B', 'KB', 'MB', 'GB'):\n"
        "        if size < 1000 or unit == 'GB':\n"
        "            return f'{size:.1f} {unit}'\n"
        "        size /= 1000\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(__import__(__name__), "PACKAGE", fake)
    assert _byte_formatters() == ["offmem/x.py:1 _human"]
