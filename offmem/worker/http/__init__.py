"""The worker's HTTP face (FastAPI, on 127.0.0.1 only): an adapter at the edge.

:mod:`~offmem.worker.http.app` builds the app with its guards
(:mod:`~offmem.worker.http.security`: Host/Origin, the install's token, the browser's
sign-in); :mod:`~offmem.worker.http.search` and :mod:`~offmem.worker.http.memories`
are the JSON API the CLI, the MCP server and the hook call (through
:mod:`offmem.worker.client`); the web UI (:mod:`offmem.web`) adds its pages. Every
route reaches the library through the app's :class:`offmem.api.Memory` only.
"""
