"""Getting offmem onto a machine: ``offmem setup`` and the offline bundle (``offmem bundle``).

This package sits above :mod:`offmem.api`: it composes the operations of
:class:`offmem.api.Memory` (models, hooks and MCP server, worker, doctor) into the
first-run sequence, and writes the single archive that installs offmem with no
network. The CLI's ``setup`` and ``bundle`` commands call it; it imports no face.

- :mod:`offmem.distribution.setup`: the set-up steps, idempotent, each timed.
- :mod:`offmem.distribution.bundle`: the offline bundle (wheelhouse, models,
  manifest with sha256, ``install.sh``).
"""
