"""offmem/errors.py documents offmem's exceptions; the tree it draws is the real one.

The docstring is parsed (the box-drawing tree under ``OffmemError``, then the list of exception
classes that are deliberately outside it) and compared with the classes found by importing every
module of the package: same names, same parents, defined in the modules it names.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import offmem

# Modules that do their work when imported (console and hook launchers): never imported here;
# their source is checked instead to define no class at all.
LAUNCHERS = {"offmem.__main__", "offmem.worker.__main__", "offmem.hooks.run"}

TREE_LINE = re.compile(r"^(?P<prefix>[ │├└─]*)(?P<name>[A-Z]\w*)(?P<rest>.*)$")
MODULE_NOTE = re.compile(r"\((?P<module>offmem(?:\.\w+)+)")
OTHER_LINE = re.compile(r"^    (?P<name>[A-Z]\w*)\s+\((?P<module>offmem(?:\.\w+)+)")


def documented() -> tuple[dict[str, tuple[str | None, str]], dict[str, str]]:
    """From errors.py's docstring: {name: (parent, module)} of the tree, {name: module} of the rest."""
    import offmem.errors

    lines = (offmem.errors.__doc__ or "").splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == "OffmemError"), None)
    assert start is not None, "errors.py's docstring draws no tree rooted at OffmemError"
    base = len(lines[start]) - len(lines[start].lstrip())
    tree: dict[str, tuple[str | None, str]] = {}
    stack: list[str] = []
    end = start
    for end in range(start, len(lines)):
        line = lines[end]
        if not line.strip():
            break
        match = TREE_LINE.match(line)
        assert match, f"cannot read this line of the tree: {line!r}"
        width = len(match["prefix"]) - base
        assert width >= 0 and width % 4 == 0, f"misaligned line in the tree: {line!r}"
        depth = width // 4
        assert depth <= len(stack), f"line deeper than its parent: {line!r}"
        del stack[depth:]
        name = match["name"]
        assert name not in tree, f"{name} drawn twice"
        note = MODULE_NOTE.search(match["rest"])
        tree[name] = (stack[-1] if stack else None, note["module"] if note else "offmem.errors")
        stack.append(name)
    others = {}
    for line in lines[end:]:
        match = OTHER_LINE.match(line)
        if match:
            assert match["name"] not in others and match["name"] not in tree, f"{match['name']} listed twice"
            others[match["name"]] = match["module"]
    return tree, others


def all_modules() -> list[str]:
    names = ["offmem"]
    for info in pkgutil.walk_packages(offmem.__path__, "offmem."):
        names.append(info.name)
    return sorted(names)


def real() -> tuple[dict[str, tuple[str | None, str]], dict[str, str]]:
    """Every exception class offmem defines: {name: (parent, module)} under OffmemError, {name: module} else."""
    from offmem.errors import OffmemError

    classes: set[type] = set()
    for name in all_modules():
        if name in LAUNCHERS:
            continue
        module = importlib.import_module(name)  # an import error fails the test: all extras are installed
        classes.update(
            value
            for value in vars(module).values()
            if isinstance(value, type) and issubclass(value, BaseException) and value.__module__ == name
        )
    pending = [OffmemError]
    while pending:  # also subclasses made where a module scan cannot see them (inside functions)
        cls = pending.pop()
        if cls.__module__.startswith("offmem."):
            classes.add(cls)
        pending.extend(cls.__subclasses__())

    tree: dict[str, tuple[str | None, str]] = {}
    others: dict[str, str] = {}
    for cls in classes:
        assert cls.__name__ not in tree and cls.__name__ not in others, f"two exception classes named {cls.__name__}"
        if issubclass(cls, OffmemError):
            if cls is OffmemError:
                tree[cls.__name__] = (None, cls.__module__)
                continue
            parents = [base for base in cls.__bases__ if issubclass(base, OffmemError)]
            assert len(parents) == 1, f"{cls.__name__} has {len(parents)} OffmemError bases"
            tree[cls.__name__] = (parents[0].__name__, cls.__module__)
        else:
            others[cls.__name__] = cls.__module__
    return tree, others


def test_the_docstring_tree_is_the_real_tree():
    documented_tree, _ = documented()
    real_tree, _ = real()
    assert documented_tree == real_tree


def test_exceptions_outside_the_tree_are_listed_as_such():
    _, documented_others = documented()
    _, real_others = real()
    assert documented_others == real_others


def test_every_module_is_imported_except_the_launchers():
    names = set(all_modules())
    assert LAUNCHERS <= names, f"launchers no longer there: {LAUNCHERS - names}"
    assert {"offmem.store.db", "offmem.summarize.validate", "offmem.models.errors"} <= names
    for name in LAUNCHERS:
        path = Path(offmem.__file__).parent.joinpath(*name.split(".")[1:]).with_suffix(".py")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        assert not [node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)], f"{name} defines a class"


@pytest.mark.parametrize(
    "broken",
    [
        "    OffmemError\n    ├── StoreError\n    └── StoreError\n",  # twice
        "    OffmemError\n    ├── StoreError\n            └── ModelError\n",  # too deep
    ],
)
def test_the_parser_rejects_a_malformed_tree(broken, monkeypatch):
    import offmem.errors

    monkeypatch.setattr(offmem.errors, "__doc__", "Errors.\n\n" + broken)
    with pytest.raises(AssertionError):
        documented()


def test_config_error_is_an_offmem_error_and_still_a_value_error():
    from offmem.config import ConfigError
    from offmem.errors import OffmemError

    assert issubclass(ConfigError, OffmemError)
    assert issubclass(ConfigError, ValueError)  # callers that catch ValueError keep working
