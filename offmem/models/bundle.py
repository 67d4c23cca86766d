"""Model bundles: carry verified models to an air-gapped machine in one tar file.

A bundle is an uncompressed tar (GGUF weights do not compress) whose first member
is ``offmem-bundle.json``, the manifest: each model's name, role and files with
their sizes and sha256. The model files follow as ``models/<name>/<path>``.

Import trusts neither the archive nor its manifest: every file is hashed while
it is extracted and must match the sha256 the *local* models.toml pins, and a
model is installed only when all its files verify. A file models.toml does not
pin is refused unless the caller passes ``allow_unpinned`` (``--allow-unpinned``):
the manifest's own hash is no pin, since whoever made the bundle wrote it. Member
names never become paths; destinations come from the catalog.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import time
from io import BytesIO
from pathlib import Path

from offmem.models.catalog import ModelSpec, load_catalog
from offmem.models.errors import BundleError, ChecksumError, ModelError
from offmem.models.local import (
    check_file,
    clean_leftovers,
    inspect_model,
    install_staged,
    load_path,
    model_dir,
    new_staging,
)
from offmem.models.pull import PullResult, models_lock

MANIFEST = "offmem-bundle.json"
BUNDLE_FORMAT = "offmem-model-bundle"
_CHUNK = 1 << 20


def _member(name: str, path: str) -> str:
    return f"models/{name}/{path}"


class _HashingReader:
    """A file wrapper that hashes what tarfile reads from it."""

    def __init__(self, handle, advance) -> None:
        self._handle = handle
        self._advance = advance
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        block = self._handle.read(size)
        self.digest.update(block)
        self._advance(len(block))
        return block


def _manifest(specs: list[ModelSpec], hashes: dict) -> dict:
    from offmem import __version__

    return {
        "format": BUNDLE_FORMAT,
        "version": 1,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "offmem_version": __version__,
        "models": [
            {
                "name": spec.name,
                "role": spec.role,
                "format": spec.format,
                "files": [
                    {"path": f.path, "size": f.size or None, "sha256": hashes[spec.name][f.path],
                     "member": _member(spec.name, f.path)}
                    for f in spec.files
                ],
            }
            for spec in specs
        ],
    }


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    info.mode = 0o644
    tar.addfile(info, BytesIO(data))


def _add_file(tar: tarfile.TarFile, member: str, source: Path, expected: str, advance) -> None:
    info = tarfile.TarInfo(member)
    info.size = source.stat().st_size
    info.mtime = int(source.stat().st_mtime)
    info.mode = 0o644
    with open(source, "rb") as handle:
        reader = _HashingReader(handle, advance)
        tar.addfile(info, reader)
    if reader.digest.hexdigest() != expected:
        raise ChecksumError(f"{source} changed while it was bundled", expected, reader.digest.hexdigest(),
                            "run `offmem pull-models --force` for it and bundle again")


def write_bundle(settings, names: list[str], dest: Path, bar=None) -> dict:
    """Write the named installed, verified models into the tar ``dest``; return its manifest."""
    catalog = load_catalog(settings.home)
    specs = [catalog.get(n) for n in dict.fromkeys(names)]
    hashes = {}
    for spec in specs:
        state = inspect_model(settings.models_dir, spec)
        if not state.verified:
            raise BundleError(f"cannot bundle {spec.name}: it is {state.state} ({state.detail}); "
                              f"run `offmem pull-models {spec.name}` first")
        hashes[spec.name] = state.hashes
    manifest = _manifest(specs, hashes)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".partial")
    total = sum(spec.size for spec in specs)
    try:
        with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar, _bar(bar, f"bundle {dest.name}", total) as advance:
            _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=1).encode("utf-8"))
            for spec in specs:
                folder = model_dir(settings.models_dir, spec.name)
                for f in spec.files:
                    _add_file(tar, _member(spec.name, f.path), folder / f.path, hashes[spec.name][f.path], advance)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return manifest


class _NullBar:
    def __enter__(self):
        return lambda _n: None

    def __exit__(self, *exc) -> None:
        return None


def _bar(bar, description: str, total: int):
    return bar(description, total) if bar is not None else _NullBar()


# ------------------------------------------------------------------ import


def read_manifest(tar: tarfile.TarFile, archive: Path) -> dict:
    try:
        member = tar.getmember(MANIFEST)
        handle = tar.extractfile(member)
        manifest = json.loads(handle.read().decode("utf-8")) if handle else None
    except (KeyError, ValueError, UnicodeDecodeError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{archive} is not an offmem model bundle (no valid {MANIFEST}); "
                          "make one with `offmem pull-models --bundle FILE`")
    if manifest.get("version") != 1 or not isinstance(manifest.get("models"), list):
        raise BundleError(f"{archive}: bundle version {manifest.get('version')!r} is not supported by this offmem")
    return manifest


def _check_manifest_entry(spec: ModelSpec, entry: dict, archive: Path, allow_unpinned: bool = False) -> dict:
    """The manifest's files for ``spec``, checked against the local catalog's pins."""
    unpinned = [f.path for f in spec.files if not f.pinned]
    if unpinned and not allow_unpinned:
        raise BundleError(
            f"{archive}: {spec.name}/{', '.join(unpinned)} has no pinned sha256 in models.toml, so nothing but the "
            "bundle itself vouches for its bytes; nothing was installed. Pin it in models.toml, or pass "
            "--allow-unpinned to trust the bundle's manifest and record the hash"
        )
    raw_files = entry.get("files", [])
    files = {f["path"]: f for f in raw_files if isinstance(f, dict) and isinstance(f.get("path"), str)} \
        if isinstance(raw_files, list) else {}
    expected = {f.path for f in spec.files}
    if set(files) != expected:
        raise BundleError(f"{archive}: {spec.name} holds files {sorted(files)}, but models.toml lists {sorted(expected)}; "
                          "the bundle comes from a different catalog")
    for f in spec.files:
        if f.sha256 and files[f.path].get("sha256") != f.sha256:
            raise ChecksumError(f"{archive}: {spec.name}/{f.path} in the bundle is pinned differently",
                                f.sha256, str(files[f.path].get("sha256")),
                                "the bundle was made from another models.toml; nothing was installed")
    return files


def _extract_model(tar: tarfile.TarFile, spec: ModelSpec, files: dict, staging: Path, archive: Path, advance) -> dict:
    hashes = {}
    for f in spec.files:
        member_name = files[f.path].get("member")
        if not isinstance(member_name, str) or not member_name:
            member_name = _member(spec.name, f.path)
        try:
            member = tar.getmember(member_name)
        except KeyError:
            raise BundleError(f"{archive} lacks {member_name}; the bundle is incomplete") from None
        source = tar.extractfile(member) if member.isreg() else None
        if source is None:
            raise BundleError(f"{archive}: {member_name} is not a regular file")
        dest = staging / f.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        with source, open(dest, "wb") as out:
            while block := source.read(_CHUNK):
                digest.update(block)
                out.write(block)
                size += len(block)
                advance(len(block))
        sha = digest.hexdigest()
        check_file(spec, f.path, sha, size, f"bundle {archive.name}")
        if not f.sha256 and (not isinstance(files[f.path].get("sha256"), str) or files[f.path]["sha256"] != sha):
            raise ChecksumError(f"{archive}: {spec.name}/{f.path} does not match the bundle's manifest",
                                str(files[f.path].get("sha256")), sha, "the bundle is damaged; nothing was installed")
        hashes[f.path] = sha
    return hashes


def _import_one(settings, tar, spec, files, archive, force, bar) -> PullResult:
    started = time.monotonic()
    path = str(load_path(settings.models_dir, spec))
    state = inspect_model(settings.models_dir, spec)
    if state.verified and not force:
        return PullResult(spec.name, "present", path=path, source=state.source, size=spec.size)
    staging = new_staging(settings.models_dir, spec.name)
    try:
        with _bar(bar, f"{spec.name} from {archive.name}", spec.size) as advance:
            hashes = _extract_model(tar, spec, files, staging, archive, advance)
        install_staged(settings.models_dir, spec, staging, hashes, f"bundle {archive.name}")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return PullResult(spec.name, "installed", path=path, source=f"bundle {archive.name}", size=spec.size,
                      seconds=round(time.monotonic() - started, 2))


def import_bundle(settings, archive: Path, names: list[str] | None = None, force: bool = False, bar=None,
                  allow_unpinned: bool = False) -> list[PullResult]:
    """Verify and install the models in a bundle (or only ``names``).

    A file models.toml does not pin is refused unless ``allow_unpinned``; then the
    bundle's manifest hash is checked and recorded in the verified-stamp.
    """
    archive = Path(archive)
    catalog = load_catalog(settings.home)
    try:
        tar = tarfile.open(archive, "r:")
    except (OSError, tarfile.TarError) as exc:
        raise BundleError(f"cannot read bundle {archive}: {exc}") from exc
    results = []
    with tar, models_lock(settings.models_dir):
        clean_leftovers(settings.models_dir)
        manifest = read_manifest(tar, archive)
        entries = {m["name"]: m for m in manifest["models"] if isinstance(m, dict) and isinstance(m.get("name"), str)}
        wanted = names or list(entries)
        for name in wanted:
            if name not in entries:
                raise BundleError(f"{archive} does not contain {name!r}; it holds {', '.join(entries) or 'nothing'}")
        for name in wanted:
            try:
                spec = catalog.get(name)
                files = _check_manifest_entry(spec, entries[name], archive, allow_unpinned)
                results.append(_import_one(settings, tar, spec, files, archive, force, bar))
            except ModelError as exc:
                results.append(PullResult(name, "failed", error=str(exc)))
    return results
