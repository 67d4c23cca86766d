"""Check: the worker runs, and what it last reported."""

from __future__ import annotations

import shlex

from offmem.doctor.base import OK, WARN, Check, Context, spool_files


def check_worker(ctx: Context) -> list[Check]:
    from offmem.worker.launch import worker_running

    settings = ctx.settings
    if not settings.home.is_dir() or not worker_running(str(settings.home)):
        waiting, _bad = spool_files(settings.home)
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