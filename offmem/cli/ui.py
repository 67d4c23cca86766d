"""``offmem ui``: make sure the worker runs, then show (and open) a one-time sign-in link to the web UI."""

from __future__ import annotations

import os
import sys

import typer

from offmem.cli.app import app
from offmem.cli.core import memory
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
    mem = memory()
    try:
        status = mem.start_worker()
    except OffmemError as exc:
        typer.secho(f"offmem: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    url = f"http://127.0.0.1:{status['port']}/"
    login_url, valid_s = mem.sign_in_link(url)
    opened = False
    if open_browser and can_open_browser():
        import webbrowser

        opened = webbrowser.open(login_url or url)
    if as_json:
        import json

        typer.echo(json.dumps({"url": url, "login_url": login_url, "opened": opened, "pid": status.get("pid")}))
        return
    typer.echo(f"offmem UI: {login_url or url}")
    if login_url:
        typer.echo(f"(a one-time sign-in link, valid for {valid_s / 60:.0f} minutes: "
                   "run `offmem ui` again for a new one)")
    if open_browser and not opened:
        typer.echo("(open that address in a browser on this computer)")
