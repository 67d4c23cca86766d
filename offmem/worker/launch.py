"""Start the background worker, cheaply and detached, and tell whether it runs.

A running worker holds an exclusive ``flock`` on ``$OFFMEM_HOME/worker.lock``
for its whole life, so "is it running?" is one non-blocking lock attempt: no pid
file to go stale, no port to probe. When it is not running, the hook forks a
detached child that execs ``python -I -m offmem.worker run`` in the data
directory; the hook itself returns at once (about a millisecond for the fork).
The CLI starts the worker the same way (:mod:`offmem.worker.control`).

Standard library only and cheap to import: the hook imports this module.

The hook runs in the opened project, whose directory and environment (its
``PYTHONPATH``) must never reach the worker's imports: a ``json.py`` or an
``offmem/`` folder there would otherwise run as the worker. See :func:`python_flags`.
"""


import os
import sys
import time

LOCK_NAME = "worker.lock"
STATE_NAME = "worker.json"  # the running worker's address (offmem.worker.runner writes it)
SPAWN_STAMP = "worker.spawn"
SPAWN_GRACE_S = 10.0


def worker_running(home: str) -> bool:
    import fcntl

    path = os.path.join(home, LOCK_NAME)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True  # somebody (the worker) holds it
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _recently_spawned(home: str) -> bool:
    stamp = os.path.join(home, SPAWN_STAMP)
    try:
        return time.time() - os.stat(stamp).st_mtime < SPAWN_GRACE_S
    except OSError:
        return False


def _venv_hides_user_site() -> bool:
    """True in a virtual environment without system site-packages (as ``site`` decides)."""
    exe_dir = os.path.dirname(sys.executable)
    for folder in (exe_dir, os.path.dirname(exe_dir)):
        try:
            with open(os.path.join(folder, "pyvenv.cfg"), encoding="utf-8") as fh:
                lines = fh.read(65536).splitlines()
        except OSError:
            continue
        for line in lines:
            key, _, value = line.partition("=")
            if key.strip().lower() == "include-system-site-packages":
                return value.strip().lower() != "true"
        return True
    return False


def python_flags() -> list[str]:
    """Interpreter options for every Python offmem starts: nothing from the project.

    ``-I`` (isolated mode) ignores all ``PYTHON*`` variables (``PYTHONPATH``,
    ``PYTHONHOME``, ``PYTHONSTARTUP``...), never puts the current or the script's
    directory on ``sys.path``, and skips the user site-packages. Only when offmem
    may depend on the user site (a ``pip install --user``, outside a virtual
    environment) is that one part kept: ``-E -P`` on Python 3.11+, ``-E`` alone on
    3.10, where the child's working directory (the data directory) is the path
    entry ``-P`` would have dropped.
    """
    if _venv_hides_user_site():
        return ["-I"]
    import site  # not the hot path: only when a process is about to be started

    try:
        user_site = site.getusersitepackages()
    except Exception:  # noqa: BLE001 - no home directory: there is no user site either
        return ["-I"]
    if not os.path.isdir(user_site):
        return ["-I"]
    return ["-E", "-P"] if sys.version_info >= (3, 11) else ["-E"]


def worker_argv() -> list[str]:
    """The worker's command line (run it with the data directory as working directory)."""
    return [sys.executable, *python_flags(), "-m", "offmem.worker", "run"]


def spawn_detached(argv: list[str], log_path: str | None = None, cwd: str | None = None,
                   env: dict | None = None) -> int:
    """fork + setsid + exec, with stdio detached so Claude Code never waits on it.

    ``cwd`` is the child's working directory (offmem's data directory: never the
    project the hook runs in); ``/`` when it cannot be entered. ``env`` replaces
    the environment when given.
    """
    pid = os.fork()
    if pid:
        return pid
    try:  # child
        os.setsid()
        if cwd is not None:
            try:
                os.chdir(cwd)
            except OSError:
                os.chdir("/")
        if os.fork():  # double fork: the worker is reparented, never a zombie of the hook
            os._exit(0)
        devnull = os.open(os.devnull, os.O_RDWR)
        out = devnull
        if log_path:
            out = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(devnull, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.closerange(3, 1024)
        if env is None:
            os.execv(argv[0], argv)
        os.execve(argv[0], argv, env)
    except BaseException:  # noqa: BLE001
        pass
    os._exit(127)


def ensure_processing(home: str, reason: str = "") -> bool:
    """Start the worker unless it runs (or was just started); True when spawned."""
    if worker_running(home) or _recently_spawned(home):
        return False
    with open(os.path.join(home, SPAWN_STAMP), "w") as fh:
        fh.write(f"{reason}\n")
    home = os.path.abspath(home)  # the worker starts elsewhere: a relative data directory would move
    child = spawn_detached(worker_argv(), log_path=os.path.join(home, "worker.out"), cwd=home,
                           env={**os.environ, "OFFMEM_HOME": home})
    try:
        os.waitpid(child, 0)  # the intermediate child exits at once
    except OSError:
        pass
    return True
