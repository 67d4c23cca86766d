"""Entry point of the ``offmem`` command.

Command modules register themselves on :data:`offmem.cli.app.app` when imported;
each module owns one group of commands and reaches the library through
:mod:`offmem.api` only.
"""

from __future__ import annotations

import importlib
import sys

# One module per command group; order is the order in --help.
COMMAND_MODULES = [
    "offmem.cli.core",
    "offmem.cli.search",
    "offmem.cli.models",
    "offmem.cli.mcp",
    "offmem.cli.doctor",
    "offmem.cli.ui",
    "offmem.cli.data",
    "offmem.cli.team",
    "offmem.cli.setup",
]


def load_commands():
    from offmem.cli.app import app

    for name in COMMAND_MODULES:
        importlib.import_module(name)
    return app


def run() -> None:
    from offmem.api import restrict_umask

    restrict_umask()  # what any command (and the MCP server) creates in the data directory is private
    if len(sys.argv) == 2 and sys.argv[1] in ("--version", "-V"):
        from offmem import __version__

        print(f"offmem {__version__}")
        return
    from offmem.config import ConfigError

    try:
        load_commands()(prog_name="offmem")
    except ConfigError as exc:  # a broken config.toml or OFFMEM_* value: say which, no traceback
        print(f"offmem: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    run()
