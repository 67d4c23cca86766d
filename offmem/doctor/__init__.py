"""``offmem doctor``: check the whole install and say how to fix each problem.

Every check returns :class:`Check` records (ok / warn / fail, a one-line detail
and a command that fixes it). Checks only read: the database is opened without
migrating, Chroma is opened only when its store already exists, llama.cpp is
imported in a child process (a build for another CPU dies of SIGILL there, not
here), and the hook is run once with an empty payload, which it ignores.

One module per concern: :mod:`~offmem.doctor.python` (interpreter, packages),
:mod:`~offmem.doctor.llama`, :mod:`~offmem.doctor.models`, :mod:`~offmem.doctor.database`,
:mod:`~offmem.doctor.chroma`, :mod:`~offmem.doctor.hooks` (read through
:mod:`offmem.install`), :mod:`~offmem.doctor.mcp`, :mod:`~offmem.doctor.worker`;
:mod:`~offmem.doctor.base` holds what they share.

    run_checks(settings) -> list[Check]     # the library API (offmem.api.Memory.doctor)
    offmem doctor [--json] [--verify]       # offmem.cli.doctor
"""

from __future__ import annotations

import os
from collections.abc import Callable

from offmem.config import Settings
from offmem.doctor.base import FAIL, OK, WARN, Check, Context
from offmem.doctor.chroma import check_chroma
from offmem.doctor.database import check_database
from offmem.doctor.hooks import check_hook_command, check_hooks, parse_hook_command
from offmem.doctor.llama import check_llama_cpp, cpu_features, probe_llama_cpp
from offmem.doctor.mcp import check_mcp
from offmem.doctor.models import check_models
from offmem.doctor.python import check_packages, check_python
from offmem.doctor.team import check_team
from offmem.doctor.worker import check_worker

CHECKS: list[Callable[[Context], list[Check]]] = [
    check_python,
    check_packages,
    check_llama_cpp,
    check_models,
    check_database,
    check_chroma,
    check_hooks,
    check_mcp,
    check_worker,
    check_team,
]


def run_checks(settings: Settings, project: str | None = None, *, full: bool = False) -> list[Check]:
    """Every check in order; a check that crashes is itself reported as a failure."""
    from offmem.project import project_root

    ctx = Context(settings, project_root(project or os.getcwd()), full)
    results: list[Check] = []
    for check in CHECKS:
        try:
            results.extend(check(ctx))
        except Exception as exc:  # noqa: BLE001 - the doctor reports, it does not crash
            name = check.__name__.removeprefix("check_").replace("_", " ")
            results.append(Check(name, FAIL, f"the check itself failed: {type(exc).__name__}: {exc}",
                                 "report this with the output of `offmem doctor --json`"))
    return results


def healthy(checks: list[Check]) -> bool:
    return all(c.status != FAIL for c in checks)


__all__ = ["CHECKS", "Check", "Context", "FAIL", "OK", "WARN", "check_chroma", "check_database",
           "check_hook_command", "check_hooks", "check_llama_cpp", "check_mcp", "check_models", "check_packages",
           "check_python", "check_worker", "cpu_features", "healthy", "parse_hook_command", "probe_llama_cpp",
           "run_checks"]
