"""offmem's MCP server, a face at the edge: ``offmem mcp`` (registered as ``python -I -m offmem mcp``).

:mod:`~offmem.mcp.server` declares the tools over the official ``mcp`` SDK;
:mod:`~offmem.mcp.tools` checks their arguments and renders compact answers, reaching
the library through :class:`offmem.api.Memory` only.
"""
