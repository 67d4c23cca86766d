"""``offmem pull-models``: choose models, fetch them from their sources, install them.

Each model is fetched into a staging folder, every file is checked against the
sha256 and size pinned in models.toml, and only then is the folder renamed into
place. Sources are tried in catalog order; a failing source leaves nothing
installed and the next one is tried.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from offmem.models.catalog import ROLES, Catalog, ModelSpec, load_catalog
from offmem.models.errors import CatalogError, ModelError, ModelSourceError
from offmem.models.local import (
    PARTIAL_DIR,
    clean_leftovers,
    inspect_model,
    install_staged,
    load_path,
    new_staging,
)
from offmem.models.sources import FetchContext, fetch

LOCK_FILE = ".lock"


@dataclass
class PullResult:
    name: str
    status: str  # installed | present | failed
    path: str = ""
    source: str = ""
    size: int = 0
    seconds: float = 0.0
    error: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def select_models(
    catalog: Catalog, names: Sequence[str] = (), role: str | None = None, defaults: bool = False
) -> list[ModelSpec]:
    """The models a pull names: NAMEs, the default of --role, or every role's default.

    With nothing named, the defaults are chosen. ``role`` also checks that each
    NAME has that role.
    """
    if role is not None and role not in ROLES:
        raise CatalogError(f"unknown role {role!r}; use one of: {', '.join(ROLES)}")
    chosen: list[ModelSpec] = []
    for name in names:
        spec = catalog.get(name)
        if role is not None and spec.role != role:
            raise CatalogError(f"model {name!r} is a {spec.role}, not a {role}")
        chosen.append(spec)
    if role is not None and not names:
        chosen.append(catalog.default(role))
    if defaults or (not names and role is None):
        chosen.extend(catalog.default(r) for r in ROLES if r in catalog.defaults)
    unique: dict = {}
    for spec in chosen:
        unique.setdefault(spec.name, spec)
    return list(unique.values())


@contextlib.contextmanager
def models_lock(models_dir: Path, log=None) -> Iterator[None]:
    """One pull or import at a time per models directory (POSIX advisory lock)."""
    models_dir.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; concurrent pulls are the user's risk
        yield
        return
    with open(models_dir / LOCK_FILE, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if log is not None:
                log(f"waiting for another offmem pull or import in {models_dir}")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _try_sources(spec: ModelSpec, models_dir: Path, kinds, ctx_args: dict) -> tuple[Path, dict, str]:
    """Fetch from the first source that delivers verified bytes; return (staging, hashes, source)."""
    sources = [s for s in spec.sources if not kinds or s.kind in kinds]
    if not sources:
        raise ModelSourceError(f"{spec.name} has no source of kind {', '.join(kinds)} in models.toml")
    failures = []
    partial = models_dir / PARTIAL_DIR / spec.name
    for source in sources:
        staging = new_staging(models_dir, spec.name)
        try:
            partial.mkdir(parents=True, exist_ok=True)
            hashes = fetch(spec, source, FetchContext(staging=staging, partial=partial, **ctx_args))
            return staging, hashes, source.describe()
        except ModelError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            failures.append(str(exc))
            if ctx_args.get("log") and len(sources) > 1:
                ctx_args["log"](f"{spec.name}: {source.describe()} failed: {exc}")
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    if len(failures) == 1:
        raise ModelSourceError(failures[0])
    raise ModelSourceError(f"no source could supply {spec.name}: " + " | ".join(failures))


def pull_one(settings, spec: ModelSpec, force: bool = False, kinds: Sequence[str] = (), **ctx_args) -> PullResult:
    """Install one model unless it is already installed and verified."""
    models_dir = settings.models_dir
    started = time.monotonic()
    path = str(load_path(models_dir, spec))
    state = inspect_model(models_dir, spec)
    if state.verified and not force:
        return PullResult(spec.name, "present", path=path, source=state.source, size=spec.size)
    staging, hashes, source = _try_sources(spec, models_dir, kinds, ctx_args)
    try:
        install_staged(models_dir, spec, staging, hashes, source)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(models_dir / PARTIAL_DIR / spec.name, ignore_errors=True)
    _prune_empty(models_dir / PARTIAL_DIR)
    return PullResult(spec.name, "installed", path=path, source=source, size=spec.size,
                      seconds=round(time.monotonic() - started, 2))


def _prune_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()


def pull_models(
    settings,
    names: Sequence[str] = (),
    role: str | None = None,
    defaults: bool = False,
    force: bool = False,
    allow_unpinned: bool = False,
    kinds: Sequence[str] = (),
    bar=None,
    log=None,
) -> list[PullResult]:
    """Pull the chosen models; one model's failure does not stop the others."""
    catalog = load_catalog(settings.home)
    specs = select_models(catalog, names, role, defaults)
    results = []
    with models_lock(settings.models_dir, log):
        clean_leftovers(settings.models_dir)
        for spec in specs:
            try:
                results.append(pull_one(settings, spec, force=force, kinds=kinds,
                                        allow_unpinned=allow_unpinned, bar=bar, log=log))
            except ModelError as exc:
                results.append(PullResult(spec.name, "failed", path=str(load_path(settings.models_dir, spec)),
                                          error=str(exc)))
    return results


__all__ = ["PullResult", "models_lock", "pull_models", "pull_one", "select_models"]
