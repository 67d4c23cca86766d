"""Launcher of the installed hook: ``python -S /abs/path/offmem/hooks/run.py``.

Kept tiny on purpose: a script run by path is compiled on every start, a module
it imports is read from its cached bytecode. ``-S`` skips ``site`` (no .pth
files, no scan of site-packages), which is most of a hook's start-up cost; the
hook needs only the standard library and this package, put on the path here.
"""
import os
import sys

sys.path[0] = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from offmem.hooks.capture import main  # noqa: E402

main(fast_exit=True)  # exits the process itself (os._exit) after flushing stdout
