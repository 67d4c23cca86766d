"""Print the ``--help`` of ``offmem`` and of every subcommand, as Markdown, for README.md.

README.md's "Command reference" runs this through cog (``cog -r README.md`` rewrites it,
``cog --check README.md`` in scripts/test.sh fails when it is stale). The text must not
depend on the machine that renders it, so this fixes, before typer and rich are imported:
the width (``TERMINAL_WIDTH`` for typer's rich console, ``COLUMNS`` for rich and click), no
colour (``NO_COLOR``, ``TERM=dumb``) and no forced terminal (``_TYPER_FORCE_DISABLE_TERMINAL``
overrides ``GITHUB_ACTIONS``/``FORCE_COLOR``/``PY_COLORS``). Run it in a fresh interpreter:
typer reads these variables once, when it is imported.
"""

from __future__ import annotations

import os
import sys

WIDTH = 100
FIXED_ENV = {
    "TERMINAL_WIDTH": str(WIDTH),
    "COLUMNS": str(WIDTH),
    "LINES": "50",
    "NO_COLOR": "1",
    "TERM": "dumb",
    "_TYPER_FORCE_DISABLE_TERMINAL": "1",
}
UNSET_ENV = ("FORCE_COLOR", "PY_COLORS", "GITHUB_ACTIONS", "TYPER_USE_RICH", "CLICOLOR_FORCE")


def command_paths(command, path=()):
    """Every command path under a (typer) click command, the root first, in --help order.

    typer >= 0.22 carries its own copy of click, so groups are recognised by what they do.
    """
    yield path
    if hasattr(command, "list_commands"):
        ctx = command.make_context("offmem", [], resilient_parsing=True)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                yield from command_paths(sub, path + (name,))


def render() -> str:
    for key in UNSET_ENV:
        os.environ.pop(key, None)
    os.environ.update(FIXED_ENV)
    # imported only now, with the environment above in place
    import typer.main
    from typer.testing import CliRunner

    from offmem.cli.main import load_commands

    app = load_commands()
    runner = CliRunner()
    blocks = []
    for path in command_paths(typer.main.get_command(app)):
        args = [*path, "--help"]
        result = runner.invoke(app, args, prog_name="offmem", env=FIXED_ENV, color=False)
        if result.exit_code != 0:
            raise SystemExit(f"offmem {' '.join(args)} exited {result.exit_code}:\n{result.output}")
        text = "\n".join(line.rstrip() for line in result.output.strip("\n").splitlines())
        blocks.append(f"```text\n$ offmem {' '.join(args)}\n{text}\n```\n")
    return "\n".join(blocks)


if __name__ == "__main__":
    sys.stdout.write(render())
