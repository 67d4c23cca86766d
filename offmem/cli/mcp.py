"""Command: ``offmem mcp``, the MCP server Claude Code starts (``offmem install`` registers it)."""

from __future__ import annotations

import typer

from offmem.cli.app import app


@app.command("mcp")
def mcp_command() -> None:
    """Serve offmem's memory tools (search, timeline, get_observations, remember) over stdio MCP."""
    try:
        from offmem.mcp.server import serve
    except ImportError as exc:
        typer.secho(
            f"offmem: the MCP server needs the `mcp` package ({exc}); install it with `pip install 'offmem[local]'`",
            fg=typer.colors.RED, err=True,
        )
        raise typer.Exit(1) from None
    serve()
