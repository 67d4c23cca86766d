"""Background work yields the CPU to the agent's requests.

The worker compresses (llama.cpp, on as many threads as there are cores) and
embeds in its processing thread, while the prompt-time lookup (a 300 ms box) and
the hooks (separate processes) need CPU *now*. On 2 busy cores the lookup got
its share only after the compressor's, and missed its box. The processing
thread therefore runs at a lower scheduling priority (nice +``BACKGROUND_NICE``
for that thread alone, Linux; elsewhere the whole process is left alone):
threads it starts afterwards (llama.cpp's OpenMP team, created at its first
decode) inherit it, so compression still takes every idle cycle but gives way at
once when a request or a hook runs. The thread lowers itself only after the
models are loaded and the semantic index opened, so the threads those start
(Chroma's runtime, which also answers the requests' vector queries) keep normal
priority, like the request threads and the privacy pass.
"""

from __future__ import annotations

import os
import sys
import threading

BACKGROUND_NICE = 10
NICE_ENV = "OFFMEM_WORKER_NICE"  # another step (0: none), e.g. to compare in bench_prompt_time.py


def background_nice() -> int:
    """The step: ``OFFMEM_WORKER_NICE`` when it is a number from 0 to 19, else ``BACKGROUND_NICE``."""
    value = os.environ.get(NICE_ENV, "").strip()
    return int(value) if value.isdigit() and int(value) <= 19 else BACKGROUND_NICE


def lower_this_thread(step: int | None = None) -> int | None:
    """Raise the calling thread's nice value by ``step`` (default :func:`background_nice`); the new
    value, or None where unsupported or when the step is 0."""
    step = background_nice() if step is None else step
    if step <= 0 or not sys.platform.startswith("linux") or not hasattr(os, "setpriority"):
        return None
    tid = threading.get_native_id()  # on Linux a thread is a task with its own nice value
    try:
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + step))
        return os.getpriority(os.PRIO_PROCESS, tid)
    except OSError:
        return None
