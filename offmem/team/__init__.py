"""Team memory: what one developer's agent learned, shared with the team's agents.

A team store sits beside the local store, on engines made for many clients:
PostgreSQL holds the shared memories (full text with ``tsvector``/GIN, row-level
security per project grant) and a Chroma server holds their vectors. The local
SQLite store stays the hooks' source of truth; the worker alone talks to the
team servers:

* :mod:`offmem.team.key`: the portable project key (the normalized git remote URL).
* :mod:`offmem.team.schema`: the PostgreSQL schema, its migrations, roles and policies.
* :mod:`offmem.team.server`: a member's connection: publish, pull, forget, search.
* :mod:`offmem.team.vectors`: the team's vectors on a Chroma server.
* :mod:`offmem.team.sync`: the worker's loop: the outbox published, the mirror pulled.
* :mod:`offmem.team.admin`: what the team store's administrator runs (migrate, members, grants).

This package owns the team store's SQL (PostgreSQL), as :mod:`offmem.store` owns
SQLite's; what it keeps locally goes through :mod:`offmem.store.team`.

The local side (which projects are joined, the outbox, the mirror of pulled
memories) lives in :mod:`offmem.store.team`.
"""
