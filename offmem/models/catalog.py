"""The model catalog: ``models.toml`` parsed into typed, validated records.

The catalog offmem ships lives in ``offmem/data/models.toml`` (the repository's
``models.toml`` links to it). ``OFFMEM_MODELS_TOML`` replaces it with another
file; ``$OFFMEM_HOME/models.toml``, when present, adds models or overrides
entries and defaults by name, so a site can pin its own models.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from offmem.models.errors import CatalogError

CATALOG_ENV = "OFFMEM_MODELS_TOML"
USER_CATALOG = "models.toml"
ROLES = ("embedder", "summarizer")
FORMATS = {"gguf": "summarizer", "sentence-transformers": "embedder"}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class ModelFile:
    """One file of a model: where it goes in the model's folder and what it must hash to."""

    path: str
    size: int
    sha256: str  # "" = not pinned

    @property
    def pinned(self) -> bool:
        return bool(self.sha256)


@dataclass(frozen=True)
class HubSource:
    repo: str
    revision: str
    files: dict = field(default_factory=dict)  # model path -> name in the repository
    kind: str = "hub"

    def remote_name(self, path: str) -> str:
        return self.files.get(path, path)

    def describe(self) -> str:
        return f"hub:{self.repo}@{self.revision[:12]}"


@dataclass(frozen=True)
class PypiSource:
    packages: tuple
    root: str = ""
    parts: dict = field(default_factory=dict)  # model path -> package paths, concatenated
    kind: str = "pypi"

    def pieces(self, path: str) -> list[str]:
        """The package paths whose bytes, in order, make up the model file ``path``."""
        if path in self.parts:
            return list(self.parts[path])
        return [f"{self.root.rstrip('/')}/{path}"]

    def describe(self) -> str:
        more = f" (+{len(self.packages) - 1} more)" if len(self.packages) > 1 else ""
        return f"pypi:{self.packages[0]}{more}"


Source = HubSource | PypiSource


@dataclass(frozen=True)
class ModelSpec:
    """One catalog entry."""

    name: str
    role: str
    format: str
    files: tuple
    sources: tuple
    description: str = ""
    license: str = ""
    params: str = ""
    quantization: str = ""
    context_length: int = 0
    dimensions: int = 0
    hardware: str = ""
    min_ram_gb: float = 0.0
    test_only: bool = False

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def pinned(self) -> bool:
        return all(f.pinned for f in self.files)

    @property
    def entry_file(self) -> str | None:
        """The file a loader opens (the GGUF), or None when it loads the folder."""
        if self.format == "gguf":
            return next(f.path for f in self.files if f.path.endswith(".gguf"))
        return None


@dataclass(frozen=True)
class Catalog:
    models: dict  # name -> ModelSpec, in file order
    defaults: dict  # role -> name
    paths: tuple  # the files it was read from

    def get(self, name: str) -> ModelSpec:
        try:
            return self.models[name]
        except KeyError:
            known = ", ".join(self.models) or "none"
            raise CatalogError(
                f"unknown model {name!r}; the catalog knows: {known}. See `offmem models`."
            ) from None

    def default(self, role: str) -> ModelSpec:
        _check_role(role)
        name = self.defaults.get(role)
        if not name:
            raise CatalogError(f"the catalog names no default {role}; set one under [defaults]")
        return self.get(name)

    def by_role(self, role: str) -> list[ModelSpec]:
        _check_role(role)
        return [m for m in self.models.values() if m.role == role]


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise CatalogError(f"unknown role {role!r}; use one of: {', '.join(ROLES)}")


# ------------------------------------------------------------------ locating


def packaged_catalog_path() -> Path:
    return Path(__file__).resolve().parent.parent / "data" / "models.toml"


def catalog_paths(home: Path | None = None) -> list[Path]:
    """The files that make up the catalog, base first."""
    override = os.environ.get(CATALOG_ENV)
    paths = [Path(override).expanduser() if override else packaged_catalog_path()]
    if home is not None and (home / USER_CATALOG).is_file():
        paths.append(home / USER_CATALOG)
    return paths


def load_catalog(home: Path | None = None) -> Catalog:
    """The catalog for a data directory: the base file plus ``<home>/models.toml``."""
    models: dict = {}
    defaults: dict = {}
    paths = catalog_paths(home)
    for path in paths:
        part_models, part_defaults = _parse_file(path)
        models.update(part_models)
        defaults.update(part_defaults)
    catalog = Catalog(models=models, defaults=defaults, paths=tuple(paths))
    for role, name in defaults.items():
        spec = catalog.get(name)
        if spec.role != role:
            raise CatalogError(f"default {role} {name!r} is a {spec.role}, not a {role}")
    return catalog


# ------------------------------------------------------------------ parsing


def _read_toml(path: Path) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        return tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"model catalog {path} does not exist (check {CATALOG_ENV})") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CatalogError(f"model catalog {path} cannot be read: {exc}") from exc


def _parse_file(path: Path) -> tuple[dict, dict]:
    raw = _read_toml(path)
    where = str(path)
    _no_extra(raw, {"version", "defaults", "model"}, where)
    if raw.get("version", 1) != 1:
        raise CatalogError(f"{where}: catalog version {raw.get('version')!r} is not supported (expected 1)")
    defaults = raw.get("defaults", {})
    if not isinstance(defaults, dict):
        raise CatalogError(f"{where}: [defaults] must be a table")
    for role, name in defaults.items():
        _check_role(role)
        _expect(name, str, f"{where} [defaults] {role}")
    models: dict = {}
    for index, entry in enumerate(_expect(raw.get("model", []), list, f"{where} [[model]]")):
        spec = _parse_model(entry, f"{where} [[model]] #{index + 1}")
        if spec.name in models:
            raise CatalogError(f"{where}: model {spec.name!r} is listed twice")
        models[spec.name] = spec
    return models, dict(defaults)


_MODEL_KEYS = {
    "name", "role", "format", "file", "source", "description", "license", "params",
    "quantization", "context_length", "dimensions", "hardware", "min_ram_gb", "test_only",
}


def _parse_model(entry: dict, where: str) -> ModelSpec:
    _expect(entry, dict, where)
    _no_extra(entry, _MODEL_KEYS, where)
    name = _required(entry, "name", str, where)
    if not _NAME.match(name):
        raise CatalogError(f"{where}: model name {name!r} may hold only letters, digits, '.', '_' and '-'")
    where = f"{where} ({name})"
    role = _required(entry, "role", str, where)
    _check_role(role)
    fmt = _required(entry, "format", str, where)
    if FORMATS.get(fmt) != role:
        raise CatalogError(f"{where}: format {fmt!r} does not suit role {role!r} (gguf: summarizer, sentence-transformers: embedder)")
    files = tuple(_parse_file_entry(f, f"{where} file") for f in _expect(entry.get("file", []), list, where))
    if not files:
        raise CatalogError(f"{where}: a model needs at least one [[model.file]]")
    if fmt == "gguf" and not any(f.path.endswith(".gguf") for f in files):
        raise CatalogError(f"{where}: a gguf model needs a file ending in .gguf")
    paths = [f.path for f in files]
    if len(set(paths)) != len(paths):
        raise CatalogError(f"{where}: a file path is listed twice")
    sources = tuple(_parse_source(s, paths, f"{where} source") for s in _expect(entry.get("source", []), list, where))
    if not sources:
        raise CatalogError(f"{where}: a model needs at least one [[model.source]]")
    return ModelSpec(
        name=name, role=role, format=fmt, files=files, sources=sources,
        description=_optional(entry, "description", str, ""),
        license=_optional(entry, "license", str, ""),
        params=_optional(entry, "params", str, ""),
        quantization=_optional(entry, "quantization", str, ""),
        context_length=_optional(entry, "context_length", int, 0),
        dimensions=_optional(entry, "dimensions", int, 0),
        hardware=_optional(entry, "hardware", str, ""),
        min_ram_gb=float(_optional(entry, "min_ram_gb", (int, float), 0.0)),
        test_only=_optional(entry, "test_only", bool, False),
    )


def _parse_file_entry(entry: dict, where: str) -> ModelFile:
    _expect(entry, dict, where)
    _no_extra(entry, {"path", "size", "sha256"}, where)
    path = _required(entry, "path", str, where)
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or path.startswith(".") or "\\" in path:
        raise CatalogError(f"{where}: file path {path!r} must be relative, without '..' or a leading '.'")
    sha = _optional(entry, "sha256", str, "").lower()
    if sha and not _SHA256.match(sha):
        raise CatalogError(f"{where} {path}: sha256 must be 64 hex digits or \"\" (not pinned)")
    size = _optional(entry, "size", int, 0)
    if sha and size <= 0:
        raise CatalogError(f"{where} {path}: a pinned file needs its size in bytes")
    return ModelFile(path=path, size=size, sha256=sha)


def _parse_source(entry: dict, paths: list[str], where: str) -> Source:
    _expect(entry, dict, where)
    kind = _required(entry, "kind", str, where)
    if kind == "hub":
        _no_extra(entry, {"kind", "repo", "revision", "files"}, where)
        files = _optional(entry, "files", dict, {})
        _known_paths(files, paths, where)
        return HubSource(
            repo=_required(entry, "repo", str, where),
            revision=_required(entry, "revision", str, where),
            files={k: _expect(v, str, f"{where} files.{k}") for k, v in files.items()},
        )
    if kind == "pypi":
        _no_extra(entry, {"kind", "packages", "root", "parts"}, where)
        packages = tuple(_expect(p, str, f"{where} packages") for p in _required(entry, "packages", list, where))
        parts = _optional(entry, "parts", dict, {})
        _known_paths(parts, paths, where)
        root = _optional(entry, "root", str, "")
        missing = [p for p in paths if p not in parts]
        if missing and not root:
            raise CatalogError(f"{where}: no `root` and no `parts` entry for {', '.join(missing)}")
        clean_parts = {k: tuple(_expect(x, str, f"{where} parts") for x in _expect(v, list, where)) for k, v in parts.items()}
        return PypiSource(packages=packages, root=root, parts=clean_parts)
    raise CatalogError(f"{where}: unknown source kind {kind!r} (use \"hub\" or \"pypi\")")


def _known_paths(mapping: dict, paths: list[str], where: str) -> None:
    unknown = [k for k in mapping if k not in paths]
    if unknown:
        raise CatalogError(f"{where}: {', '.join(unknown)} is not one of the model's files")


def _expect(value, kind, where: str):
    if isinstance(value, bool) and kind in (int, (int, float)):
        raise CatalogError(f"{where}: expected a number, got {value!r}")
    if not isinstance(value, kind):
        name = kind.__name__ if isinstance(kind, type) else "number"
        raise CatalogError(f"{where}: expected {name}, got {value!r}")
    return value


def _required(entry: dict, key: str, kind, where: str):
    if key not in entry:
        raise CatalogError(f"{where}: missing `{key}`")
    return _expect(entry[key], kind, f"{where} {key}")


def _optional(entry: dict, key: str, kind, default):
    return _expect(entry[key], kind, key) if key in entry else default


def _no_extra(entry: dict, allowed: set, where: str) -> None:
    extra = sorted(set(entry) - allowed)
    if extra:
        raise CatalogError(f"{where}: unknown key(s) {', '.join(extra)}")
