"""Check: the MCP server is registered in ~/.claude.json and its command exists."""

from __future__ import annotations

import os

from offmem.doctor.base import FAIL, OK, WARN, Check, Context


def check_mcp(ctx: Context) -> list[Check]:
    from offmem.install import claude_json_path, mcp_entry, mcp_installed

    from offmem.install import enabled_plugin

    path = claude_json_path()
    plugin = enabled_plugin("project", ctx.project)
    if plugin and mcp_installed():
        return [Check("mcp server", WARN, f"registered in {path} and served by offmem's plugin too "
                      f"({plugin[0]['plugin']}): Claude sees each offmem tool twice", "offmem install")]
    if plugin:
        return [Check("mcp server", OK, f"served by offmem's plugin ({plugin[0]['plugin']}, its .mcp.json)")]
    if not mcp_installed():
        return [Check("mcp server", WARN, f"not registered in {path}: Claude cannot search memory on demand",
                      "offmem install")]
    entry = mcp_entry()
    program = str(entry.get("command", "")) if isinstance(entry, dict) else ""
    if os.path.isabs(program) and not os.access(program, os.X_OK):
        return [Check("mcp server", FAIL, f"registered in {path}, but its command {program} does not exist",
                      "offmem install")]
    args = " ".join(map(str, entry.get("args", []))) if isinstance(entry, dict) else ""
    return [Check("mcp server", OK, f"registered in {path}: {program} {args}".rstrip())]