"""Models offmem runs locally: the catalog, installed files, fetching and bundles.

Run time only ever calls :func:`resolve_model_path`, which looks at local files
and never downloads. Installing is ``offmem pull-models`` (:func:`pull_models`)
on a connected machine, or ``offmem import-models`` (:func:`import_bundle`) on
an offline one.

This package imports only the standard library at import time; huggingface-hub
is imported when a hub download starts.
"""

from __future__ import annotations

from offmem.models.bundle import import_bundle, write_bundle
from offmem.models.catalog import Catalog, HubSource, ModelFile, ModelSpec, PypiSource, load_catalog
from offmem.models.errors import (
    BundleError,
    CatalogError,
    ChecksumError,
    ModelError,
    ModelMissingError,
    ModelSourceError,
)
from offmem.models.local import (
    InstallState,
    ModelStatus,
    default_model,
    inspect_model,
    list_models,
    resolve_model_path,
    selected_name,
)
from offmem.models.pull import PullResult, pull_models, select_models


def verify_model(settings, name: str, full: bool = True) -> InstallState:
    """Rehash an installed model's files (``full``) and report its state."""
    return inspect_model(settings.models_dir, load_catalog(settings.home).get(name), full=full)


__all__ = [
    "BundleError",
    "Catalog",
    "CatalogError",
    "ChecksumError",
    "HubSource",
    "InstallState",
    "ModelError",
    "ModelFile",
    "ModelMissingError",
    "ModelSourceError",
    "ModelSpec",
    "ModelStatus",
    "PullResult",
    "PypiSource",
    "default_model",
    "import_bundle",
    "inspect_model",
    "list_models",
    "load_catalog",
    "pull_models",
    "resolve_model_path",
    "select_models",
    "selected_name",
    "verify_model",
    "write_bundle",
]
