"""Background work yields the CPU to the agent's requests.

The worker compresses (llama.cpp, on as many threads as there are cores) and
embeds in its processing thread, while the prompt-time lookup (a 300 ms box) and
the hooks (separate processes) need CPU *now*. On 2 busy cores the lookup got
its share only after the compressor's, and missed its box. The processing
thread therefore runs at a lower scheduling priority (nice +``BACKGROUND_NICE``
for that thread alone, Linux; elsewhere the whole process is left alone):
threads it starts afterwards (llama.cpp's compute threads) inherit it, so
compression still takes every idle cycle but gives way at once when a request
or a hook runs. The request threads and the privacy pass keep normal priority.
"""

from __future__ import annotations

import os
import sys
import threading

BACKGROUND_NICE = 10


def lower_this_thread(step: int = BACKGROUND_NICE) -> int | None:
    """Raise the calling thread's nice value by ``step``; the new value, or None where unsupported."""
    if not sys.platform.startswith("linux") or not hasattr(os, "setpriority"):
        return None
    tid = threading.get_native_id()  # on Linux a thread is a task with its own nice value
    try:
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + step))
        return os.getpriority(os.PRIO_PROCESS, tid)
    except OSError:
        return None
