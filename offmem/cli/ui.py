"""``offmem ui``: make sure the worker runs, then show (and open) a one-time sign-in link to the web UI."""

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
    login_url, valid_s = sign_in_link(settings, url)
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


def sign_in_link(settings, url: str) -> tuple[str | None, float]:
    """A one-time link that signs this user's browser in to the UI (the worker serves memory
    only to holders of the install's token) and how long it is valid; None if the worker gives none."""
    from offmem.worker.control import request_json

    issued = request_json(settings, "/api/ui/login-code", timeout=5.0, method="POST", body={}) or {}
    path = issued.get("path")
    if not (isinstance(path, str) and path.startswith("/login?")):
        return None, 0.0
    return url.rstrip("/") + path, float(issued.get("expires_in_s") or 0)
