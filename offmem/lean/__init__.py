"""The hook path's kernel: standard library only, cheap to import.

Everything a hook process needs besides the event store itself:
:mod:`~offmem.lean.fastjson` (JSON on the C accelerator), :mod:`~offmem.lean.home`
(the data directory), :mod:`~offmem.lean.clock` (timestamps), :mod:`~offmem.lean.log`
(the log file), :mod:`~offmem.lean.config_cache` (config.toml, parsed once per change)
and :mod:`~offmem.lean.settings` (the one settings reader of the hook path).
Nothing here imports anything of offmem outside this package.
"""
