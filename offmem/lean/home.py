"""Where offmem keeps its data: one resolution for the hook, the worker and the CLI."""

import os


def data_home() -> str:
    """The data directory, resolved the same way by the hook, the worker and the CLI.

    ``$OFFMEM_HOME`` with ``~`` expanded; a relative value is taken under the user's
    home directory, not the current one (a hook runs in whichever project Claude Code
    has open, a worker in its own folder, so the current directory names a different
    place for each); the result is normalized. ``~/.offmem`` when unset or empty.
    """
    user_home = os.path.expanduser("~")
    value = os.environ.get("OFFMEM_HOME")
    if not value:
        return os.path.join(user_home, ".offmem")
    return os.path.normpath(os.path.join(user_home, os.path.expanduser(value)))  # an absolute value replaces user_home
