"""Commands: ``offmem setup`` (the first run after installing the package) and ``offmem bundle``
(the offline bundle)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from offmem.cli.app import app
from offmem.errors import OffmemError
from offmem.units import format_bytes

_TITLES = {
    "models": "installing the default models",
    "runtime": "recording the interpreter for the plugin launcher",
    "hooks": "registering the hooks and the MCP server with Claude Code",
    "worker": "starting the worker",
    "doctor": "checking the install",
}


def _say(message: str) -> None:
    typer.secho(message, err=True)


@app.command()
def setup(
    scope: str = typer.Option("user", help="Where the hooks go: user (~/.claude/settings.json) or project."),
    bundle: Optional[Path] = typer.Option(None, "--bundle",
                                          help="Install the models from this bundle (`offmem pull-models --bundle`) "
                                               "instead of their sources."),
    mcp: bool = typer.Option(True, help="Also register the offmem MCP server for Claude Code."),
    worker: bool = typer.Option(True, help="Start the worker."),
    models: bool = typer.Option(True, help="Install the default models."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Set offmem up after installing it: models, hooks and MCP server, worker, doctor.

    Idempotent: run it again at any time; what is in place stays. Exits with status 1
    when a step fails (the summary says which and how to fix it).
    """
    from offmem.cli.core import memory
    from offmem.cli.models import _rich_bar
    from offmem.distribution.setup import STEPS, Step, run_setup

    def progress(index: int, event) -> None:
        if isinstance(event, str):
            _say(f"==> [{index}/{len(STEPS)}] {_TITLES.get(event, event)}")
            return
        assert isinstance(event, Step)
        mark = "skipped" if event.skipped else ("ok" if event.ok else "FAILED")
        _say(f"    {mark} ({event.seconds:.1f} s): {event.detail}")

    try:
        mem = memory()
        result = run_setup(mem, scope=scope, bundle=bundle, mcp=mcp, worker=worker, models=models,
                           bar=None if as_json else _rich_bar, log=None if as_json else _say,
                           on_step=None if as_json else progress)
    except OffmemError as exc:
        typer.secho(f"offmem: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    if as_json:
        typer.echo(json.dumps(result, indent=2, default=str))
    elif result["ok"]:
        typer.secho(f"offmem is set up ({result['seconds']:.0f} s); data in {result['home']}. "
                    "The next Claude Code session is captured.", fg=typer.colors.GREEN, bold=True)
    else:
        failed = [s["name"] for s in result["steps"] if not s["ok"]]
        typer.secho(f"set-up incomplete: {', '.join(failed)} failed (see above); fix it and run `offmem setup` again",
                    fg=typer.colors.RED, bold=True, err=True)
    if not result["ok"]:
        raise typer.Exit(1)


@app.command()
def bundle(
    output: Path = typer.Option(..., "--output", "-o", help="The archive to write (a tar)."),
    python: Optional[Path] = typer.Option(None, "--python",
                                          help="The target interpreter (same OS and CPU as the offline machine, the "
                                               "same Python minor version); default: the one running offmem."),
    find_links: Optional[List[Path]] = typer.Option(None, "--find-links",
                                                    help="A folder of wheels to take packages from (repeatable)."),
    no_index: bool = typer.Option(False, "--no-index", help="Take packages only from --find-links (no package index)."),
    wheel: Optional[Path] = typer.Option(None, "--wheel", help="offmem's own wheel (default: built from the checkout, "
                                                                 "else the one this offmem was installed from, else "
                                                                 "downloaded)."),
    models: Optional[List[str]] = typer.Option(None, "--model", help="Models to carry (default: the default embedder "
                                                                      "and summarizer); repeatable."),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest's summary as JSON."),
) -> None:
    """Write one archive that installs offmem on a machine with no network.

    It holds a wheelhouse for the target platform and Python (every dependency, with a
    built llama-cpp-python wheel), the verified default models, a manifest with the sha256
    of every file and install.sh. On the offline machine: `tar xf FILE && ./install.sh [VENV_DIR]`.
    """
    from offmem.cli.core import memory
    from offmem.cli.models import _rich_bar
    from offmem.distribution.bundle import write_offline_bundle

    try:
        summary = write_offline_bundle(memory(), output, python=python, find_links=find_links or (),
                                       no_index=no_index, wheel=wheel, models=models or (),
                                       bar=None if as_json else _rich_bar, log=None if as_json else _say)
    except (OffmemError, OSError) as exc:
        typer.secho(f"offmem: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    typer.echo(f"bundle written: {summary['path']} ({format_bytes(summary['size'])}, {summary['wheels']} wheels, "
               f"models: {', '.join(summary['models'])}) for Python {summary['python']} on {summary['platform']}, "
               f"in {summary['seconds']:.0f} s")
    typer.echo(f"on the offline machine: tar xf {Path(summary['path']).name} && ./install.sh [VENV_DIR]")
