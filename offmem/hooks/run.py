"""Launcher of the installed hook: ``python -I -S /abs/path/offmem/hooks/run.py``.

Kept tiny on purpose: a script run by path is compiled on every start, a module
it imports is read from its cached bytecode. ``-S`` skips ``site`` (no .pth
files, no scan of site-packages), which is most of a hook's start-up cost; the
hook needs only the standard library and this package, put on the path here.
``-I`` keeps the opened project out: no ``PYTHON*`` variable (a project's
``PYTHONPATH``) is honoured and neither the current nor this script's directory
is on ``sys.path``. A command written by an older ``offmem install`` lacks ``-I``;
then this script's directory and the ``PYTHONPATH`` entries are taken off here.
"""
import os
import sys

_path = sys.path
if not (sys.flags.isolated or getattr(sys.flags, "safe_path", False)):
    del _path[0]  # this script's directory
if not sys.flags.ignore_environment and os.environ.get("PYTHONPATH"):
    del _path[:len(os.environ["PYTHONPATH"].split(os.pathsep))]  # Python put them first, one entry each
_path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from offmem.hooks.capture import main  # noqa: E402

main(fast_exit=True)  # exits the process itself (os._exit) after flushing stdout
