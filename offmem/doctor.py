"""``offmem doctor``: check the whole install and say how to fix each problem.

Every check returns :class:`Check` records (ok / warn / fail, a one-line detail
and a command that fixes it). Checks only read: the database is opened without
migrating, Chroma is opened only when its store already exists, llama.cpp is
imported in a child process (a build for another CPU dies of SIGILL there, not
here), and the hook is run once with an empty payload, which it ignores.

    run_checks(settings) -> list[Check]     # the library API
    offmem doctor [--json] [--verify]       # offmem.cli.doctor
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from offmem.config import Settings

OK, WARN, FAIL = "ok", "warn", "fail"
MIN_PYTHON = (3, 10)
MIN_LLAMA_CPP = (0, 3, 36)
HOOK_BUDGET_S = 1.0
HOOK_TIMEOUT_S = 10.0
# CPU features that make llama.cpp fast; one of them should be on.
FAST_CPU_FEATURES = ("AVX2", "AVX512", "NEON", "ARM_FMA")


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str
    fix: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Context:
    settings: Settings
    project: str  # the project whose .claude/settings.json is checked
    full: bool = False  # rehash every model file instead of trusting unchanged ones


def _py() -> str:
    return shlex.quote(sys.executable)


def _pip(requirement: str) -> str:
    return f"{_py()} -m pip install {shlex.quote(requirement)}"


from offmem.units import format_bytes as _human  # noqa: E402  (offmem's one byte formatter)


# ---------------------------------------------------------------------- Python


def check_python(ctx: Context) -> list[Check]:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info[:2] < MIN_PYTHON:
        return [Check("python", FAIL, f"Python {version} at {sys.executable}; offmem needs 3.10 or newer",
                      "install Python 3.10+ and run `PYTHON=python3.11 scripts/setup.sh`")]
    return [Check("python", OK, f"Python {version} at {sys.executable}")]


def _needed_packages(settings: Settings) -> dict[str, str]:
    """Importable module -> the requirement that provides it, for the configured backends."""
    needed = {"huggingface_hub": "offmem[local]", "mcp": "offmem[local]",
              "fastapi": "offmem[local]", "uvicorn": "offmem[local]"}
    embedder = settings.embedder.backend
    if embedder != "none":
        needed["chromadb"] = "offmem[local]"
    if embedder in ("auto", "numpy"):
        needed.update({"numpy": "offmem[local]", "safetensors": "offmem[local]", "tokenizers": "offmem[local]"})
    elif embedder == "sentence-transformers":
        needed["sentence_transformers"] = "offmem[local]"
    backend = settings.summarizer.backend
    if backend == "claude":
        needed["anthropic"] = "offmem[claude]"
    elif backend == "openai":
        needed["httpx"] = "offmem[local]"
    return needed


def check_packages(ctx: Context) -> list[Check]:
    needed = _needed_packages(ctx.settings)
    missing = [module for module in needed if importlib.util.find_spec(module) is None]
    if not missing:
        return [Check("python packages", OK, f"{len(needed)} packages importable: {', '.join(needed)}")]
    extras = sorted({needed[m] for m in missing})
    fix = " && ".join(_pip(e) for e in extras)
    if "sentence_transformers" in missing and importlib.util.find_spec("torch") is None:
        cpu = f"{_py()} -m pip install torch --index-url https://download.pytorch.org/whl/cpu"
        fix = f"{cpu} && {fix}"  # the CPU wheel first, or pip pulls gigabytes of CUDA packages
    return [Check("python packages", FAIL, f"not importable: {', '.join(missing)}", fix)]


# ---------------------------------------------------------------------- llama.cpp

_LLAMA_PROBE = (
    "import json, llama_cpp\n"
    "info = llama_cpp.llama_print_system_info()\n"
    "print(json.dumps({'version': llama_cpp.__version__,"
    " 'info': info.decode('utf-8', 'replace') if isinstance(info, bytes) else str(info),"
    " 'gpu': bool(llama_cpp.llama_supports_gpu_offload())}))\n"
)
LLAMA_INSTALL = ('CMAKE_ARGS="{cmake}" {py} -m pip install --force-reinstall --no-cache-dir '
                 '"llama-cpp-python[server]>=0.3.36"')


def probe_llama_cpp(timeout: float = 60.0) -> dict:
    """Import llama_cpp in a child process; ``{"error": ...}`` when that fails or crashes."""
    from offmem.worker.launch import python_flags

    try:  # isolated, and not in the project: its llama_cpp.py or json.py must not be what gets imported
        done = subprocess.run([sys.executable, *python_flags(), "-c", _LLAMA_PROBE], capture_output=True, text=True,
                              timeout=timeout, cwd="/")
    except subprocess.TimeoutExpired:
        return {"error": f"importing llama_cpp took over {timeout:.0f} s"}
    if done.returncode < 0:
        return {"error": f"importing llama_cpp crashed (signal {-done.returncode}); it was built for another CPU"}
    if done.returncode != 0:
        lines = (done.stderr or "").strip().splitlines()
        return {"error": lines[-1] if lines else f"exit status {done.returncode}"}
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": f"unexpected output: {done.stdout[:200]!r}"}


def cpu_features(info: str) -> list[str]:
    """Feature names switched on in llama_print_system_info(), e.g. ``AVX2 = 1``."""
    found = []
    for part in info.replace("\n", "|").split("|"):
        name, _, value = part.rpartition("=")
        name = name.split(":")[-1].strip()
        if name and value.strip() == "1":
            found.append(name)
    return found


def _version_tuple(text: str) -> tuple:
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def check_llama_cpp(ctx: Context) -> list[Check]:
    backend = ctx.settings.summarizer.backend
    used = backend == "llamacpp"
    probe = probe_llama_cpp()
    fix = LLAMA_INSTALL.format(cmake="-DLLAVA_BUILD=OFF", py=_py())
    if "error" in probe:
        if not used:
            return [Check("llama.cpp", OK, f"not usable ({probe['error']}); not needed by summarizer backend {backend!r}")]
        return [Check("llama.cpp", FAIL, f"{probe['error']}; summaries fall back to rules", fix)]
    features = cpu_features(probe["info"])
    shown = [f for f in features if f in ("AVX", "AVX2", "FMA", "F16C", "AVX512", "NEON", "ARM_FMA", "OPENMP")]
    detail = f"llama-cpp-python {probe['version']}; CPU {', '.join(shown) or 'baseline'}"
    detail += "; GPU offload" if probe.get("gpu") else "; CPU only"
    if not used:
        return [Check("llama.cpp", OK, f"{detail} (not used: summarizer backend {backend!r})")]
    if _version_tuple(probe["version"]) < MIN_LLAMA_CPP:
        return [Check("llama.cpp", WARN, f"{detail}; offmem is tested with 0.3.36 or newer", fix)]
    if not probe.get("gpu") and not any(f in features for f in FAST_CPU_FEATURES):
        return [Check("llama.cpp", WARN, f"{detail}; built without AVX2/NEON, so summaries will be slow",
                      LLAMA_INSTALL.format(cmake="-DGGML_NATIVE=ON -DLLAVA_BUILD=OFF", py=_py()))]
    return [Check("llama.cpp", OK, detail)]


# ---------------------------------------------------------------------- models

_FALLBACK = {
    "summarizer": "the pipeline compresses with rules meanwhile",
    "embedder": "search is keyword-only meanwhile",
}


def _role_is_local(settings: Settings, role: str) -> bool:
    backend = getattr(settings, role).backend
    return backend == "llamacpp" if role == "summarizer" else backend != "none"


def check_models(ctx: Context) -> list[Check]:
    from offmem.models import ModelError, load_catalog

    try:
        catalog = load_catalog(ctx.settings.home)
    except ModelError as exc:
        return [Check("models", FAIL, str(exc), "fix the models.toml named above, or remove $OFFMEM_HOME/models.toml")]
    return [_check_role_model(ctx, catalog, role) for role in ("embedder", "summarizer")]


def _embedder_runner(settings: Settings, path: Path) -> str:
    """Which backend will run the embedding model, and why when ``auto`` cannot use numpy."""
    backend = settings.embedder.backend
    if backend != "auto":
        return f"{backend} (embedder.backend)"
    from offmem.embed.numpy_backend import supports

    reason = supports(path)
    return "numpy (no PyTorch)" if reason is None else f"sentence-transformers ({reason})"


def _check_role_model(ctx: Context, catalog, role: str) -> Check:
    from offmem.models import ModelError, inspect_model, selected_name
    from offmem.models.local import load_path, partial_bytes

    name = f"{role} model"
    settings = ctx.settings
    if not _role_is_local(settings, role):
        return Check(name, OK, f"no local model used ({role}.backend = {getattr(settings, role).backend!r})")
    try:
        spec = catalog.get(selected_name(settings, catalog, role))
    except ModelError as exc:
        default = catalog.defaults.get(role, "")
        return Check(name, FAIL, str(exc), f"offmem config set {role}.model {default}")
    state = inspect_model(settings.models_dir, spec, full=ctx.full)
    if state.verified:
        where = load_path(settings.models_dir, spec)
        runner = f", run by {_embedder_runner(settings, where)}" if role == "embedder" else ""
        return Check(name, OK, f"{spec.name} verified ({_human(spec.size)}) at {where}{runner}")
    if state.state == "missing":
        partial = partial_bytes(settings.models_dir, spec.name)
        resume = f"; {_human(partial)} downloaded so far, the pull resumes" if partial else ""
        return Check(name, FAIL, f"{spec.name} is not installed ({state.detail}){resume}; {_FALLBACK[role]}",
                     f"offmem pull-models {spec.name}")
    if state.state == "corrupt":
        return Check(name, FAIL, f"{spec.name} is damaged: {state.detail}; {_FALLBACK[role]}",
                     f"offmem pull-models --force {spec.name}")
    return Check(name, WARN, f"{spec.name} cannot be verified: {state.detail}",
                 f"pin its sha256 in models.toml, or `offmem pull-models --force --allow-unpinned {spec.name}`")


# ---------------------------------------------------------------------- SQLite


def _spool_files(home: Path) -> tuple[int, int]:
    spool = home / "spool"
    if not spool.is_dir():
        return 0, 0
    return len(list(spool.glob("*.json"))), len(list(spool.glob("*.bad")))


def _corrupt(path: Path, why: str) -> Check:
    return Check("database", FAIL, f"{path} is damaged: {why}",
                 f"mv {shlex.quote(str(path))} {shlex.quote(str(path) + '.corrupt')}  "
                 f"# offmem starts a new one; `sqlite3 {shlex.quote(str(path) + '.corrupt')} .recover` salvages rows")


def check_database(ctx: Context) -> list[Check]:
    from offmem.store.examine import integrity_problems, open_plain, queue_depth, schema_version
    from offmem.store.migrations import LATEST

    path = ctx.settings.db_path
    if not path.exists():
        return [Check("database", WARN, f"no database yet at {path}; the first hook event creates it",
                      "offmem install  # then start a Claude Code session")]
    try:
        conn = open_plain(path)
        try:
            problems = integrity_problems(conn, 5)
            version = schema_version(conn)
            depth = queue_depth(conn)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return [_corrupt(path, str(exc))]
    if problems != ["ok"]:
        return [_corrupt(path, "; ".join(problems)[:300])]
    return [_database_state(ctx, version, LATEST, depth)]


def _database_state(ctx: Context, version: int, latest: int, depth: int | None) -> Check:
    path = ctx.settings.db_path
    waiting, bad = _spool_files(ctx.settings.home)
    detail = (f"{path}: integrity ok, schema v{version}, {depth if depth is not None else 'no'} events queued, "
              f"{waiting} spool files waiting, {_human(path.stat().st_size)}")
    if version > latest:
        return Check("database", FAIL, f"{detail}; written by a newer offmem (this one knows v{latest})",
                     f"{_pip('offmem')} --upgrade")
    if version < latest:
        return Check("database", WARN, f"{detail}; this offmem migrates it to v{latest} on the next open",
                     "offmem status  # opens and migrates it")
    if bad:
        return Check("database", WARN, f"{detail}; {bad} unreadable spool files (*.bad)",
                     f"inspect and delete {ctx.settings.home / 'spool'}/*.bad")
    return Check("database", OK, detail)


# ---------------------------------------------------------------------- Chroma


def check_chroma(ctx: Context) -> list[Check]:
    settings = ctx.settings
    if settings.embedder.backend == "none":
        return [Check("chroma", OK, "semantic search is off (embedder.backend = 'none')")]
    if importlib.util.find_spec("chromadb") is None:
        return [Check("chroma", FAIL, "chromadb is not installed; search is keyword-only", _pip("offmem[local]"))]
    if settings.chroma.mode == "embedded" and not settings.chroma_dir.exists():
        return [Check("chroma", WARN, f"no semantic index yet at {settings.chroma_dir}; "
                      "the worker creates it when it indexes its first observation", "offmem worker start")]
    return [_chroma_collection(ctx)]


def _chroma_fix(settings: Settings) -> str:
    if settings.chroma.mode == "http":
        c = settings.chroma
        return (f"chroma run --path ~/.offmem/chroma-server --host {c.host} --port {c.port}  "
                f"# or: offmem config set chroma.mode embedded")
    return f"mv {shlex.quote(str(settings.chroma_dir))} {shlex.quote(str(settings.chroma_dir) + '.old')} && offmem reindex"


def _chroma_collection(ctx: Context) -> Check:
    from offmem.search.chroma import ChromaIndex
    from offmem.search.errors import SearchIndexError

    settings = ctx.settings
    index = ChromaIndex.from_settings(settings)
    try:
        identity = index.identity()
        count = index.count() if identity is not None else 0
        if settings.chroma.mode == "http":
            index.client.heartbeat()
    except SearchIndexError as exc:
        return Check("chroma", FAIL, f"{exc}; search is keyword-only", _chroma_fix(settings))
    where = f"{index.where}, collection {index.name!r}"
    if identity is None:
        return Check("chroma", WARN, f"{where} does not exist yet; nothing indexed",
                     "offmem worker start  # indexes observations as they arrive")
    detail = f"{where}: {count} vectors from {identity.get('model')} ({identity.get('dim')}-d)"
    detail += _outbox_note(settings)
    configured = _configured_embedder(settings)
    if configured and identity.get("model") and configured != identity.get("model"):
        return Check("chroma", WARN, f"{detail}; the configured embedder is {configured}", "offmem reindex")
    return Check("chroma", OK, detail)


def _outbox_note(settings: Settings) -> str:
    if not settings.db_path.exists():
        return ""
    from offmem.store.examine import outbox_size

    try:
        pending = outbox_size(settings.db_path, readonly=False)
    except sqlite3.DatabaseError:
        return ""
    return f", {pending} observations waiting to be embedded"


def _configured_embedder(settings: Settings) -> str | None:
    """The model id new vectors would carry, without loading the model."""
    try:
        from offmem.embed import get_embedder

        embedder = get_embedder(settings)
    except Exception:  # noqa: BLE001 - a missing model is the models check's business
        return None
    return embedder.model_id if embedder is not None else None


# ---------------------------------------------------------------------- hooks


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text("utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def offmem_hook_commands(path: Path) -> list[str]:
    """The distinct offmem hook command lines in one Claude Code settings file."""
    from offmem.install import MARKER

    hooks = _read_json(path).get("hooks")
    found: list[str] = []
    for groups in (hooks.values() if isinstance(hooks, dict) else []):
        for group in groups if isinstance(groups, list) else []:
            handlers = group.get("hooks") if isinstance(group, dict) else None
            for handler in handlers if isinstance(handlers, list) else []:
                command = str(handler.get("command", "")) if isinstance(handler, dict) else ""
                if (MARKER in command or "offmem.hooks.capture" in command) and command not in found:
                    found.append(command)
    return found


@dataclass
class HookCommand:
    env: dict
    program: str
    launcher: str | None
    flags: list = field(default_factory=list)  # the words between the program and the launcher
    rest: list = field(default_factory=list)  # any words after the launcher (offmem writes none)


def parse_hook_command(command: str) -> HookCommand:
    """Split ``[VAR=value…] program [-I -S] [launcher.py]  # comment`` into its parts.

    Raises ValueError for a line the shell could not parse either (an open quote).
    """
    words = shlex.split(command, comments=True)
    env = {}
    while words and "=" in words[0] and not words[0].startswith(("/", ".")):
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    program = words[0] if words else ""
    at = next((i for i, w in enumerate(words[1:], 1) if w.endswith(".py")), None)
    if at is None:
        return HookCommand(env, program, None, words[1:], [])
    return HookCommand(env, program, words[at], words[1:at], words[at + 1:])


def installed_hook() -> HookCommand:
    """The hook exactly as ``offmem install`` writes it for this installation."""
    from offmem.install import hook_command

    return parse_hook_command(hook_command())


def _same_file(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    if os.path.normpath(os.path.abspath(a)) == os.path.normpath(os.path.abspath(b)):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_hooks(ctx: Context) -> list[Check]:
    from offmem.install import HOOK_EVENTS, installed_events, settings_path

    scopes = {scope: settings_path(scope, ctx.project) for scope in ("user", "project")}
    events = {scope: installed_events(path) for scope, path in scopes.items()}
    installed = [scope for scope, names in events.items() if names]
    if not installed:
        return [Check("hooks", FAIL, f"no offmem hooks in {scopes['user']} or {scopes['project']}; "
                      "nothing is captured", "offmem install")]
    checks = [_scope_check(scope, scopes[scope], events[scope], set(HOOK_EVENTS)) for scope in installed]
    if len(installed) == 2:
        checks.append(Check("hooks", WARN, "installed in both user and project scope: each event is captured twice",
                            "offmem uninstall --scope project --no-mcp"))
    commands = [c for scope in installed for c in offmem_hook_commands(scopes[scope])]
    checks.extend(check_hook_command(ctx, command) for command in dict.fromkeys(commands))
    return checks


def _scope_check(scope: str, path: Path, events: list[str], expected: set) -> Check:
    missing = sorted(expected - set(events))
    fix = "offmem install" + ("" if scope == "user" else " --scope project")
    if missing:
        return Check("hooks", WARN, f"{scope} scope ({path}) lacks {', '.join(missing)}", fix)
    return Check("hooks", OK, f"{scope} scope ({path}): all {len(expected)} events")


def check_hook_command(ctx: Context, command: str) -> Check:
    """The hook's interpreter and launcher exist, and offmem's own hook exits 0 fast on an empty payload.

    The command line comes from a settings file, possibly the opened project's, so it
    is never executed: it is only compared with what ``offmem install`` writes, and
    when its interpreter and launcher are this installation's, the doctor runs those
    two itself (no shell, none of the line's variables or other words).
    """
    fix = "offmem install  # rewrites the hook command for this installation"
    try:
        parsed = parse_hook_command(command)
    except ValueError as exc:
        return Check("hook command", FAIL, f"cannot parse the hook command {command!r}: {exc}; not run", fix)
    ours = installed_hook()
    if not (_same_file(parsed.program, ours.program) and _same_file(parsed.launcher, ours.launcher)):
        for label, path in (("interpreter", parsed.program), ("launcher", parsed.launcher)):
            if path and os.path.isabs(path) and not (os.path.isfile(path) and (label == "launcher" or os.access(path, os.X_OK))):
                return Check("hook command", FAIL, f"the hook's {label} {path} does not exist (moved or deleted install?); "
                             "the doctor does not run it", fix)
        return Check("hook command", FAIL,
                     f"{command!r} is not the hook this offmem installs ({ours.program} {ours.launcher}); "
                     "the doctor does not run it", fix)
    hook_home = parsed.env.get("OFFMEM_HOME")
    if hook_home and Path(hook_home).expanduser().resolve() != ctx.settings.home.expanduser().resolve():
        return Check("hook command", WARN, f"the hook writes to {hook_home}, this doctor checks {ctx.settings.home}",
                     f"OFFMEM_HOME={shlex.quote(hook_home)} offmem doctor  # or run `offmem install` with this OFFMEM_HOME")
    result = _run_hook_once([ours.program, *ours.flags, ours.launcher], ctx.settings.home, fix)
    extra = sorted(set(parsed.env) - {"OFFMEM_HOME"})
    differs = [f"options {' '.join(parsed.flags) or 'none'} instead of {' '.join(ours.flags)}"] if parsed.flags != ours.flags else []
    differs += [f"sets {', '.join(extra)}"] if extra else []
    differs += [f"runs more after the launcher: {shlex.join(parsed.rest)}"] if parsed.rest else []
    if result.status == OK and differs:
        return Check("hook command", WARN, f"{result.detail}; but the installed line differs from what "
                     f"`offmem install` writes ({'; '.join(differs)})", fix)
    return result


def _run_hook_once(argv: list[str], home: Path, fix: str) -> Check:
    started = time.perf_counter()
    try:
        done = subprocess.run(argv, input=b"", capture_output=True, timeout=HOOK_TIMEOUT_S,
                              env={**os.environ, "OFFMEM_HOME": str(home)})
    except subprocess.TimeoutExpired:
        return Check("hook command", FAIL, f"the hook ran past {HOOK_TIMEOUT_S:.0f} s on an empty payload", fix)
    except OSError as exc:
        return Check("hook command", FAIL, f"the hook cannot start: {exc}", fix)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        err = (done.stderr.decode("utf-8", "replace").strip().splitlines() or [""])[-1][:200]
        return Check("hook command", FAIL, f"the hook exited {done.returncode} on an empty payload: {err}", fix)
    if elapsed >= HOOK_BUDGET_S:
        return Check("hook command", WARN, f"the hook took {elapsed:.2f} s on an empty payload (budget {HOOK_BUDGET_S:.0f} s); "
                     "a loaded machine or a slow disk", fix)
    return Check("hook command", OK, f"exits 0 in {elapsed * 1000:.0f} ms on an empty payload: {shlex.join(argv)}")


# ---------------------------------------------------------------------- MCP


def check_mcp(ctx: Context) -> list[Check]:
    from offmem.install import MCP_NAME, claude_json_path, mcp_installed

    path = claude_json_path()
    if not mcp_installed():
        return [Check("mcp server", WARN, f"not registered in {path}: Claude cannot search memory on demand",
                      "offmem install")]
    entry = (_read_json(path).get("mcpServers") or {}).get(MCP_NAME) or {}
    program = str(entry.get("command", "")) if isinstance(entry, dict) else ""
    if os.path.isabs(program) and not os.access(program, os.X_OK):
        return [Check("mcp server", FAIL, f"registered in {path}, but its command {program} does not exist",
                      "offmem install")]
    args = " ".join(map(str, entry.get("args", []))) if isinstance(entry, dict) else ""
    return [Check("mcp server", OK, f"registered in {path}: {program} {args}".rstrip())]


# ---------------------------------------------------------------------- worker


def check_worker(ctx: Context) -> list[Check]:
    from offmem.worker.launch import worker_running

    settings = ctx.settings
    if not settings.home.is_dir() or not worker_running(str(settings.home)):
        waiting, _bad = _spool_files(settings.home)
        auto = ("hooks start it on the next event" if settings.worker.autostart
                else "worker.autostart is off")
        backlog = f"; {waiting} spool files waiting" if waiting else ""
        return [Check("worker", WARN, f"not running ({auto}){backlog}", "offmem worker start")]
    from offmem.worker.control import status

    info = status(settings)
    detail = (f"running (pid {info.get('pid')}, port {info.get('port')}), {info.get('queue_depth')} events queued, "
              f"summarizer {info.get('summarizer_backend')}")
    if info.get("last_error"):
        return [Check("worker", WARN, f"{detail}; last error: {str(info['last_error'])[:200]}",
                      f"less {shlex.quote(str(settings.log_path))}  # then `offmem worker restart`")]
    return [Check("worker", OK, detail)]


# ---------------------------------------------------------------------- running

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


__all__ = ["CHECKS", "Check", "Context", "FAIL", "OK", "WARN", "healthy", "parse_hook_command", "run_checks"]
