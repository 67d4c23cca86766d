"""Layers that hold by construction: no import cycle anywhere in offmem, and SQL in the store.

The import graph is read from the source (every ``import`` and ``from … import``, those inside
functions included, as a deferred import is a dependency all the same) and searched for strongly
connected components (Tarjan). import-linter's contracts (pyproject.toml) check layers between
chosen packages; this checks every module against every other.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import offmem

PACKAGE = Path(offmem.__file__).resolve().parent
# SQL outside offmem/store/: the search's FTS and vector queries, forget, and the privacy stage.
SQL_ALLOWED = {"offmem/privacy/forget.py", "offmem/privacy/stage.py", "offmem/search/fts.py", "offmem/search/hybrid.py"}
SQL_BUDGET = 25


def modules() -> dict[str, tuple[Path, bool]]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def import_graph() -> dict[str, set[str]]:
    mods = modules()

    def known(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {name: set() for name in mods}
    for name, (path, is_package) in mods.items():
        base = name if is_package else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                origin = node.module or ""
                if node.level:
                    anchor = base
                    for _ in range(node.level - 1):
                        anchor = anchor.rpartition(".")[0]
                    origin = f"{anchor}.{origin}" if origin else anchor
                targets = [f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in mods else origin for alias in node.names]
            else:
                continue
            for target in targets:
                resolved = known(target) if target.split(".")[0] == "offmem" else None
                if resolved and resolved != name:
                    graph[name].add(resolved)
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_reader_sees_deferred_imports():
    graph = import_graph()
    assert "offmem.retrieval.session" in graph["offmem.hooks.capture"]  # imported inside a function
    assert "offmem.store.spool" in graph["offmem.store.db"]


def test_no_import_cycle_in_offmem():
    cycles = [component for component in strongly_connected(import_graph()) if len(component) > 1]
    assert cycles == [], f"import cycles: {cycles}"


def test_sql_runs_in_the_store_and_in_the_few_places_that_say_so():
    calls = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).as_posix()
        if rel.startswith(("offmem/store/", "offmem/team/")):  # team/: the team store's own (PostgreSQL) SQL
            continue
        count = sum("execute(" in line for line in path.read_text("utf-8").splitlines())
        if count:
            calls[rel] = count
    assert set(calls) <= SQL_ALLOWED, f"SQL outside offmem/store/: {sorted(set(calls) - SQL_ALLOWED)}"
    assert sum(calls.values()) <= SQL_BUDGET, calls
    for rel in calls:
        doc = ast.get_docstring(ast.parse((PACKAGE.parent / rel).read_text("utf-8"))) or ""
        assert re.search(r"outside\s+:mod:`offmem\.store`", doc), f"{rel} runs SQL without saying so in its docstring"
