"""``offmem ui``: make sure the worker runs, then show (and open) the web UI's address."""

from __future__ import annotations

import os
import sys

import typer

from offmem.cli.app import app
from offmem.config import load_settings
from offmem.errors import OffmemError


def can_open_browser() -> bool:
    """True where a graphical browser can open; a bare terminal would get lynx or nothing."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


@app.command()
def ui(
    open_browser: bool = typer.Option(True, "--open/--no-open", help="Open the UI in the default browser."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Open the web UI (live memory, search, context preview, settings, forget, stats)."""
    from offmem.worker import control

    settings = load_settings()
    try:
        status = control.start(settings)
    except OffmemError as exc:
        typer.secho(f"offmem: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    url = f"http://127.0.0.1:{status['port']}/"
    opened = False
    if open_browser and can_open_browser():
        import webbrowser

        opened = webbrowser.open(url)
    if as_json:
        import json

        typer.echo(json.dumps({"url": url, "opened": opened, "pid": status.get("pid")}))
        return
    typer.echo(f"offmem UI: {url}")
    if open_browser and not opened:
        typer.echo("(open that address in a browser on this computer)")
