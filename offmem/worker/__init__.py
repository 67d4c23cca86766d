"""The background worker (processing, models, HTTP on loopback)."""
