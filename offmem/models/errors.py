"""Errors of the model subsystem, all under :class:`offmem.errors.ModelError`.

    ModelError
    ├── ModelMissingError     not installed (offmem.errors; names `offmem pull-models`)
    ├── CatalogError          models.toml is unreadable or invalid, or names an unknown model
    ├── ChecksumError         bytes do not match the pinned sha256 or size
    ├── ModelSourceError      a source cannot supply the bytes (hub, mirror, pip, package)
    └── BundleError           a model bundle is unreadable, incomplete or does not verify
"""

from __future__ import annotations

from offmem.errors import ModelError, ModelMissingError


class CatalogError(ModelError):
    pass


class ChecksumError(ModelError):
    def __init__(self, what: str, expected: str, actual: str, fix: str = "") -> None:
        self.expected = expected
        self.actual = actual
        message = f"{what}: expected {expected}, got {actual}"
        super().__init__(f"{message}; {fix}" if fix else message)


class ModelSourceError(ModelError):
    pass


class BundleError(ModelError):
    pass


__all__ = ["BundleError", "CatalogError", "ChecksumError", "ModelError", "ModelMissingError", "ModelSourceError"]
