"""Start the background worker from a hook, cheaply and detached.

A running worker holds an exclusive ``flock`` on ``$OFFMEM_HOME/worker.lock``
for its whole life, so "is it running?" is one non-blocking lock attempt: no pid
file to go stale, no port to probe. When it is not running, the hook forks a
detached child that execs ``python -m offmem.worker run``; the hook itself
returns at once (about a millisecond for the fork).
"""


import os
import sys
import time

LOCK_NAME = "worker.lock"
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


def spawn_detached(argv: list[str], log_path: str | None = None) -> int:
    """fork + setsid + exec, with stdio detached so Claude Code never waits on it."""
    pid = os.fork()
    if pid:
        return pid
    try:  # child
        os.setsid()
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
        os.execv(argv[0], argv)
    except BaseException:  # noqa: BLE001
        pass
    os._exit(127)


def ensure_processing(home: str, reason: str = "") -> bool:
    """Start the worker unless it runs (or was just started); True when spawned."""
    if worker_running(home) or _recently_spawned(home):
        return False
    with open(os.path.join(home, SPAWN_STAMP), "w") as fh:
        fh.write(f"{reason}\n")
    child = spawn_detached(
        [sys.executable, "-m", "offmem.worker", "run"],
        log_path=os.path.join(home, "worker.out"),
    )
    try:
        os.waitpid(child, 0)  # the intermediate child exits at once
    except OSError:
        pass
    return True
