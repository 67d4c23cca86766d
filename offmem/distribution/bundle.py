"""The offline bundle: one tar that installs offmem on a machine with no network.

Layout (every member at the archive's top level, so ``tar xf FILE && ./install.sh`` works)::

    install.sh             verifies every file, makes a venv, pip --no-index, offmem setup
    offmem-offline.json    the manifest: target Python and platform, every file with size and sha256
    models.tar             the verified models (an ``offmem pull-models --bundle`` archive)
    wheels/*.whl           offmem's wheel and every dependency's, built for the target

The wheelhouse is made by the target interpreter's own pip (``pip wheel``): it resolves
offmem's requirements for that Python and platform, takes wheels from the index or from
``--find-links`` folders (``--no-index``: from those only), and builds the ones that only
exist as source (llama-cpp-python) once, reusing pip's wheel cache. So a bundle suits one
Python minor version on one OS and CPU architecture, with a C library at least as new as
the building machine's: ``install.sh`` checks both before it installs anything.

The manifest's hashes catch a damaged or incomplete copy; the models are checked again
against the pins of the models.toml inside the installed offmem (``offmem import-models``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from offmem.api import Memory
from offmem.errors import OffmemError

FORMAT = "offmem-offline-bundle"
MANIFEST = "offmem-offline.json"
INSTALLER = "install.sh"
MODELS = "models.tar"
WHEELS = "wheels"
_CHUNK = 1 << 20

# What the target interpreter reports about itself (run with -I: nothing from the working directory).
_PROBE = r"""
import json, platform, sys, sysconfig
libc, libc_version = platform.libc_ver()
try:
    import pip
    pip_version = pip.__version__
except ImportError:
    pip_version = None
print(json.dumps({
    "version": "%d.%d" % sys.version_info[:2],
    "full_version": platform.python_version(),
    "implementation": sys.implementation.name,
    "platform": sysconfig.get_platform(),
    "machine": platform.machine(),
    "system": platform.system(),
    "libc": libc,
    "libc_version": libc_version,
    "pip": pip_version,
    "executable": sys.executable,
}))
"""


class OfflineBundleError(OffmemError):
    """The offline bundle cannot be written."""


def probe(python: Path | str) -> dict:
    """The target interpreter's version, platform and C library (see :data:`_PROBE`)."""
    try:
        done = subprocess.run([str(python), "-I", "-c", _PROBE], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OfflineBundleError(f"cannot run {python}: {exc}") from exc
    if done.returncode != 0:
        raise OfflineBundleError(f"{python} failed: {done.stderr.strip()[-300:]}")
    info = json.loads(done.stdout)
    if not info.get("pip"):
        raise OfflineBundleError(f"{python} has no pip; install it (python -m ensurepip) or pick another --python")
    return info


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _pip(python: str, args: list[str], cwd: Path, log) -> None:
    command = [python, "-m", "pip", *args]
    if log is not None:
        log("$ pip " + " ".join(args))
    env = {**os.environ, "PIP_NO_INPUT": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.setdefault("CMAKE_ARGS", "-DLLAVA_BUILD=OFF")  # llama-cpp-python: the multimodal library is not used
    # run from an empty work folder: nothing in the caller's directory is importable by pip
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        tail = " / ".join((done.stderr or done.stdout).strip().splitlines()[-4:])
        raise OfflineBundleError(f"`pip {' '.join(args)}` failed: {tail}")


def _index_options(find_links: Iterable[Path], no_index: bool) -> list[str]:
    options = []
    for folder in find_links:
        options += ["--find-links", str(Path(folder).resolve())]
    if no_index:
        options.append("--no-index")
    return options


def _checkout() -> Path | None:
    """The source tree this offmem runs from, when it runs from one (an editable install)."""
    root = Path(__file__).resolve().parent.parent.parent
    project = root / "pyproject.toml"
    if project.is_file() and 'name = "offmem"' in project.read_text("utf-8", errors="replace"):
        return root
    return None


def _installed_wheel() -> Path | None:
    """The wheel file this offmem was installed from, when pip recorded one (PEP 610)."""
    from importlib import metadata
    from urllib.parse import unquote, urlparse

    try:
        text = metadata.distribution("offmem").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    try:
        url = json.loads(text or "{}").get("url", "")
    except ValueError:
        return None
    parsed = urlparse(url)
    if parsed.scheme == "file" and parsed.path.endswith(".whl") and Path(unquote(parsed.path)).is_file():
        return Path(unquote(parsed.path))
    return None


def own_wheel(python: str, folder: Path, wheel: Path | None, options: list[str], work: Path, log) -> Path:
    """offmem's own wheel in ``folder``: the one given, else built from the checkout, else the
    one this offmem was installed from, else downloaded from the index."""
    from offmem import __version__

    folder.mkdir(parents=True, exist_ok=True)
    if wheel is None:
        wheel = _installed_wheel() if _checkout() is None else None
    if wheel is not None:
        if not Path(wheel).is_file():
            raise OfflineBundleError(f"{wheel} is not a file")
        return Path(shutil.copy2(wheel, folder / Path(wheel).name))
    source = _checkout()
    if source is not None:
        if log is not None:
            log(f"building offmem's wheel from {source}")
        _pip(python, ["wheel", "--no-deps", "-q", "-w", str(folder), *options, str(source)], work, log)
    else:
        _pip(python, ["download", "--no-deps", "--only-binary=:all:", "-q", "-d", str(folder), *options,
                      f"offmem=={__version__}"], work, log)
    found = sorted(folder.glob("offmem-*.whl"))
    if not found:
        raise OfflineBundleError(f"no offmem wheel came out of pip in {folder}")
    return found[-1]


def build_wheelhouse(python: str, wheels: Path, wheel: Path | None, options: list[str], work: Path, log) -> list[Path]:
    """Every wheel offmem's default install needs on the target interpreter, offmem's own included."""
    own = own_wheel(python, work / "own", wheel, options, work, log)
    wheels.mkdir(parents=True, exist_ok=True)
    if log is not None:
        log("collecting the wheels of every dependency (a package with no wheel is built once, "
            "llama-cpp-python for 4-7 minutes on 2 cores unless pip's cache has it)")
    _pip(python, ["wheel", "-q", "-w", str(wheels), *options, str(own)], work, log)
    found = sorted(wheels.iterdir())
    strays = [p.name for p in found if p.suffix != ".whl"]
    if strays:
        raise OfflineBundleError(f"pip left files that are not wheels in the wheelhouse: {', '.join(strays)}")
    if not any(p.name.startswith("offmem-") for p in found):
        shutil.copy2(own, wheels / own.name)
        found = sorted(wheels.iterdir())
    return found


def _installer_text() -> str:
    return (Path(__file__).with_name(INSTALLER)).read_text("utf-8")


def _add(tar: tarfile.TarFile, source: Path, name: str, mode: int = 0o644) -> None:
    info = tar.gettarinfo(str(source), arcname=name)
    info.mode = mode
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    with open(source, "rb") as handle:
        tar.addfile(info, handle)


def write_offline_bundle(mem: Memory, output: Path, *, python: Path | None = None, find_links: Iterable[Path] = (),
                         no_index: bool = False, wheel: Path | None = None, models: Iterable[str] = (),
                         bar=None, log=None) -> dict:
    """Write the offline bundle to ``output``; a summary of it (path, size, counts, target)."""
    from offmem import __version__

    started = time.monotonic()
    output = Path(output).resolve()
    target = probe(python or sys.executable)
    options = _index_options(find_links, no_index)
    output.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        wheels = build_wheelhouse(target["executable"], work / WHEELS, wheel, options, work, log)
        names = list(dict.fromkeys(models))
        results, extra = mem.pull_models(names, defaults=not names, bundle=work / MODELS, bar=bar, log=log)
        failed = [r for r in results if r.status == "failed"]
        if failed:
            raise OfflineBundleError("cannot carry the models: " + "; ".join(f"{r.name}: {r.error}" for r in failed))
        installer = work / INSTALLER
        installer.write_text(_installer_text(), "utf-8")
        installer.chmod(0o755)
        files = [installer, work / MODELS, *wheels]
        entries = [{"path": p.relative_to(work).as_posix(), "size": p.stat().st_size, "sha256": sha256_file(p)}
                   for p in files]
        manifest = {
            "format": FORMAT,
            "version": 1,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "offmem_version": __version__,
            "requirement": f"offmem=={__version__}",
            "python": {k: target[k] for k in ("version", "full_version", "implementation")},
            "platform": {k: target[k] for k in ("platform", "machine", "system", "libc", "libc_version")},
            "models": extra["bundle"]["models"] if extra.get("bundle") else [],
            "files": entries,
        }
        manifest_path = work / MANIFEST
        manifest_path.write_text(json.dumps(manifest, indent=1) + "\n", "utf-8")
        partial = output.with_name(output.name + ".partial")
        try:
            with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
                _add(tar, manifest_path, MANIFEST)
                _add(tar, installer, INSTALLER, 0o755)
                for path in files[1:]:
                    _add(tar, path, path.relative_to(work).as_posix())
            os.replace(partial, output)
        finally:
            partial.unlink(missing_ok=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "path": str(output),
        "size": output.stat().st_size,
        "wheels": len(wheels),
        "wheels_size": sum(e["size"] for e in entries if e["path"].startswith(WHEELS + "/")),
        "models": manifest["models"],
        "models_size": next(e["size"] for e in entries if e["path"] == MODELS),
        "python": target["version"],
        "platform": target["platform"],
        "libc": f"{target['libc']} {target['libc_version']}".strip(),
        "seconds": round(time.monotonic() - started, 1),
    }
