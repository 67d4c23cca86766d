"""The plugin's hook step: ``python -I -S hook.py RUN_PY SETTINGS_FILE...``.

``launch`` runs it with the interpreter ``offmem install`` recorded. While offmem's hooks
are in one of the Claude Code settings files given (a settings-file install), the plugin
steps aside: the payload is read and dropped, exit 0, so an event is never captured by both
routes. Otherwise it runs RUN_PY, offmem's own hook launcher (``offmem/hooks/run.py`` of the
recorded install), exactly as ``python -I -S RUN_PY`` would. Standard library only; reading
the files here costs microseconds, where a ``grep`` in the shell costs a process.
"""
import sys


def _registered(path):
    try:
        with open(path, "rb") as fh:
            text = fh.read()
    except OSError:
        return False
    return b"offmem-hook" in text or b"offmem.hooks.capture" in text


run_py = sys.argv[1]
if any(_registered(path) for path in sys.argv[2:]):
    sys.stdin.buffer.read()
    raise SystemExit(0)
sys.argv = [run_py]
with open(run_py, "rb") as fh:
    code = compile(fh.read(), run_py, "exec")
exec(code, {"__name__": "__main__", "__file__": run_py, "__builtins__": __builtins__})
