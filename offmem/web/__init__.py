"""The web UI on 127.0.0.1: live memory, search, details, context preview, settings, forget, stats.

Served by the worker (:mod:`offmem.web.routes`); ``offmem ui`` opens it.
"""
