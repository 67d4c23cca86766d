"""Installed models: layout, verification stamps, resolution and listing.

Layout under ``settings.models_dir``::

    <name>/                     one folder per installed model, holding its files
    <name>/.offmem-verified.json  the verified-stamp: size, mtime and sha256 per file
    .partial/<name>/            resumable downloads in progress (never loaded)
    .staging-<name>-*/          a model being assembled; renamed into place when verified

A model is installed only by renaming a fully verified staging folder into place,
so a loader never sees half-written files. Loading checks each file's size and
mtime against the stamp and rehashes only when they changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from offmem.models.catalog import Catalog, ModelSpec, load_catalog
from offmem.models.errors import ChecksumError, ModelError, ModelMissingError

STAMP = ".offmem-verified.json"
PARTIAL_DIR = ".partial"
_CHUNK = 1 << 20

# A progress callback receives the number of bytes just processed.
Advance = Callable[[int], None]


def _no_progress(_n: int) -> None:
    return None


# ------------------------------------------------------------------ hashing


def sha256_file(path: Path, advance: Advance = _no_progress) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
            advance(len(block))
    return digest.hexdigest()


def copy_hashing(pieces: Iterable[Path], dest: Path, advance: Advance = _no_progress) -> tuple[str, int]:
    """Concatenate ``pieces`` into ``dest`` in one pass; return its sha256 and size."""
    digest = hashlib.sha256()
    size = 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "wb") as out:
        for piece in pieces:
            with open(piece, "rb") as handle:
                while block := handle.read(_CHUNK):
                    digest.update(block)
                    out.write(block)
                    size += len(block)
                    advance(len(block))
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest(), size


def check_file(spec: ModelSpec, path: str, sha256: str, size: int, origin: str) -> None:
    """Raise ChecksumError unless the bytes of ``path`` are the pinned ones."""
    expected = next(f for f in spec.files if f.path == path)
    if expected.size and size != expected.size:
        raise ChecksumError(
            f"{spec.name}/{path} from {origin} has the wrong size", f"{expected.size} bytes", f"{size} bytes",
            "the source is truncated or serves another file; nothing was installed",
        )
    if expected.sha256 and sha256 != expected.sha256:
        raise ChecksumError(
            f"{spec.name}/{path} from {origin} failed its sha256 check", expected.sha256, sha256,
            "the source serves different bytes than models.toml pins; nothing was installed",
        )


# ------------------------------------------------------------------ stamps


def model_dir(models_dir: Path, name: str) -> Path:
    return models_dir / name


def read_stamp(folder: Path) -> dict | None:
    try:
        data = json.loads((folder / STAMP).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("files"), dict) else None


def write_stamp(folder: Path, spec: ModelSpec, hashes: dict, source: str) -> None:
    """Record each file's size, mtime and sha256 as verified right now."""
    files = {}
    for path, sha in hashes.items():
        st = (folder / path).stat()
        files[path] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha}
    stamp = {
        "name": spec.name,
        "role": spec.role,
        "format": spec.format,
        "source": source,
        "verified_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "files": files,
    }
    tmp = folder / f"{STAMP}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.write_text(json.dumps(stamp, indent=1, sort_keys=True), "utf-8")
    os.replace(tmp, folder / STAMP)


# ------------------------------------------------------------------ state


@dataclass
class InstallState:
    state: str  # missing | verified | corrupt | unverified
    detail: str = ""
    source: str = ""
    hashes: dict = field(default_factory=dict)

    @property
    def verified(self) -> bool:
        return self.state == "verified"


def _stamped_ok(spec: ModelSpec, folder: Path, stamp: dict, path: str) -> str | None:
    """The stamped sha256 when ``path`` is unchanged since it was verified, else None."""
    record = stamp["files"].get(path)
    if not isinstance(record, dict):
        return None
    try:
        st = (folder / path).stat()
    except OSError:
        return None
    expected = next(f for f in spec.files if f.path == path)
    if st.st_size != record.get("size") or st.st_mtime_ns != record.get("mtime_ns"):
        return None
    if expected.sha256 and record.get("sha256") != expected.sha256:
        return None
    return record.get("sha256")


def inspect_model(models_dir: Path, spec: ModelSpec, full: bool = False, advance: Advance = _no_progress) -> InstallState:
    """Whether ``spec`` is installed and its bytes are the pinned ones.

    Unchanged files (same size and mtime as the stamp) are trusted without
    rehashing unless ``full``; changed or unstamped files are hashed, and a good
    result refreshes the stamp.
    """
    folder = model_dir(models_dir, spec.name)
    missing = [f.path for f in spec.files if not (folder / f.path).is_file()]
    if missing:
        detail = f"no files in {folder}" if len(missing) == len(spec.files) else f"{', '.join(missing)} missing in {folder}"
        return InstallState("missing", detail)
    stamp = read_stamp(folder) or {"files": {}}
    hashes: dict = {}
    rehashed = False
    for f in spec.files:
        sha = None if full else _stamped_ok(spec, folder, stamp, f.path)
        if sha is None:
            sha = sha256_file(folder / f.path, advance)
            rehashed = True
            trusted = f.sha256 or stamp["files"].get(f.path, {}).get("sha256")
            size = (folder / f.path).stat().st_size
            if (f.size and size != f.size) or (trusted and sha != trusted):
                return InstallState("corrupt", f"{f.path} does not match its pinned sha256/size", stamp.get("source", ""))
            if not trusted:
                return InstallState("unverified", f"{f.path} has no pinned sha256 and was not installed by offmem")
        hashes[f.path] = sha
    if rehashed:
        try:
            write_stamp(folder, spec, hashes, stamp.get("source", "local files"))
        except OSError:
            pass  # a read-only models dir: verified, just not remembered
    return InstallState("verified", "", stamp.get("source", "local files"), hashes)


# ------------------------------------------------------------------ resolution


def selected_name(settings, catalog: Catalog, role: str) -> str:
    """The model a role uses: the name in settings, else the catalog default."""
    section = getattr(settings, role)
    return section.model or catalog.default(role).name


def default_model(role: str, settings=None) -> ModelSpec:
    """The catalog's default model for ``role`` (``embedder`` or ``summarizer``)."""
    home = settings.home if settings is not None else None
    return load_catalog(home).default(role)


def resolve_model_path(settings, role: str, name: str | None = None) -> Path:
    """The verified local path a loader opens; never downloads.

    Summarizers resolve to their GGUF file, embedders to the model folder that
    ``SentenceTransformer(str(path))`` loads. Raises ModelMissingError when the
    model is not installed, ModelError when its files fail verification.
    """
    catalog = load_catalog(settings.home)
    spec = catalog.get(name or selected_name(settings, catalog, role))
    if spec.role != role:
        raise ModelError(f"model {spec.name!r} is a {spec.role}, not a {role}; pick a {role} from `offmem models`")
    state = inspect_model(settings.models_dir, spec)
    if state.state == "missing":
        raise ModelMissingError(spec.name, state.detail)
    if state.state == "corrupt":
        raise ModelError(
            f"model {spec.name!r} in {settings.models_dir} is damaged: {state.detail}; "
            f"run `offmem pull-models --force {spec.name}`"
        )
    if state.state == "unverified":
        raise ModelError(
            f"model {spec.name!r} cannot be verified: {state.detail}; pin its sha256 in models.toml "
            f"or run `offmem pull-models --force --allow-unpinned {spec.name}`"
        )
    return load_path(settings.models_dir, spec)


def load_path(models_dir: Path, spec: ModelSpec) -> Path:
    folder = model_dir(models_dir, spec.name)
    return folder / spec.entry_file if spec.entry_file else folder


# ------------------------------------------------------------------ listing


@dataclass
class ModelStatus:
    name: str
    role: str
    format: str
    size: int
    path: str
    installed: bool
    verified: bool
    state: str
    detail: str
    active: bool
    default: bool
    pinned: bool
    test_only: bool
    license: str
    description: str
    hardware: str
    context_length: int
    sources: list
    partial_bytes: int

    def to_dict(self) -> dict:
        return asdict(self)


def _uses_local(settings, role: str) -> bool:
    backend = getattr(settings, role).backend
    return backend == "llamacpp" if role == "summarizer" else backend != "none"


def partial_bytes(models_dir: Path, name: str) -> int:
    folder = models_dir / PARTIAL_DIR / name
    if not folder.is_dir():
        return 0
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def list_models(settings, full: bool = False) -> list[ModelStatus]:
    """Every catalog model with where it lives, whether it verifies and which are active.

    ``active`` marks the model each role will load (settings, else the default)
    when that role's backend is a local one.
    """
    catalog = load_catalog(settings.home)
    active = {role: selected_name(settings, catalog, role) for role in catalog.defaults}
    result = []
    for spec in catalog.models.values():
        state = inspect_model(settings.models_dir, spec, full=full)
        result.append(ModelStatus(
            name=spec.name, role=spec.role, format=spec.format, size=spec.size,
            path=str(load_path(settings.models_dir, spec)),
            installed=state.state != "missing", verified=state.verified,
            state=state.state, detail=state.detail,
            active=active.get(spec.role) == spec.name and _uses_local(settings, spec.role),
            default=catalog.defaults.get(spec.role) == spec.name,
            pinned=spec.pinned, test_only=spec.test_only, license=spec.license,
            description=spec.description, hardware=spec.hardware, context_length=spec.context_length,
            sources=[s.describe() for s in spec.sources],
            partial_bytes=partial_bytes(settings.models_dir, spec.name),
        ))
    return result


# ------------------------------------------------------------------ installing


def new_staging(models_dir: Path, name: str) -> Path:
    models_dir.mkdir(parents=True, exist_ok=True)
    folder = models_dir / f".staging-{name}-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    return folder


def install_staged(models_dir: Path, spec: ModelSpec, staging: Path, hashes: dict, source: str) -> Path:
    """Stamp a fully verified staging folder and rename it into place."""
    write_stamp(staging, spec, hashes, source)
    final = model_dir(models_dir, spec.name)
    old = None
    if final.exists():
        old = models_dir / f".old-{spec.name}-{uuid.uuid4().hex[:8]}"
        os.replace(final, old)
    os.replace(staging, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return final


def clean_leftovers(models_dir: Path) -> None:
    """Remove staging and replaced folders a killed run left behind (not .partial)."""
    if not models_dir.is_dir():
        return
    for child in models_dir.iterdir():
        if child.name.startswith((".staging-", ".old-")) and child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
