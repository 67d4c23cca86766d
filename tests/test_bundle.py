"""The offline bundle, end to end (issue 16): built from this checkout with no package index,
installed into a fresh venv with a fresh HOME by its install.sh, offline, under the network
guard; `offmem setup` runs; a session captured through the installed hooks is in `offmem context`.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

from conftest import fixture_payloads
from tests.support.distribution import extract, offline_bundle, offline_env, run  # noqa: F401 - fixture
from tests.support.network import netguard_shim, network_guard  # noqa: F401 - fixtures

PROJECT = "/home/dev/shop-api"  # the cwd of the captured session in tests/fixtures/hook-payloads.jsonl


def test_bundle_holds_every_wheel_the_models_a_manifest_and_install_sh(offline_bundle, tmp_path):
    summary = offline_bundle["summary"]
    assert offline_bundle["attempts"] == [], "making the bundle reached outside this machine"
    assert summary["python"] == "%d.%d" % sys.version_info[:2]
    assert set(summary["models"]) == {"all-minilm-l6-v2", "qwen2.5-coder-0.5b"}
    folder = extract(offline_bundle["archive"], tmp_path / "x")
    manifest = json.loads((folder / "offmem-offline.json").read_text())
    names = {Path(f["path"]).name for f in manifest["files"]}
    assert "install.sh" in names and "models.tar" in names
    wheels = [n for n in names if n.endswith(".whl")]
    assert len(wheels) == summary["wheels"]
    for wanted in ("offmem-", "llama_cpp_python-", "chromadb-", "numpy-", "onnxruntime-"):
        assert any(n.startswith(wanted) for n in wheels), wanted
    assert not any(n.startswith(("torch-", "sentence_transformers-", "transformers-")) for n in wheels), \
        "the default install must not need PyTorch"
    assert all(len(f["sha256"]) == 64 and f["size"] > 0 for f in manifest["files"])
    assert (folder / "install.sh").stat().st_mode & 0o111


def test_install_sh_refuses_a_damaged_bundle_and_installs_nothing(offline_bundle, tmp_path):
    folder = extract(offline_bundle["archive"], tmp_path / "x")
    victim = next((folder / "wheels").glob("numpy-*.whl"))
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    venv = tmp_path / "venv"
    done = subprocess.run(["sh", str(folder / "install.sh"), str(venv)], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHON": sys.executable}, timeout=300)
    assert done.returncode == 4, done.stderr
    assert f"wheels/{victim.name}: sha256" in done.stderr
    assert not venv.exists()


def test_install_sh_refuses_another_python_and_says_what_to_do(offline_bundle, tmp_path):
    folder = extract(offline_bundle["archive"], tmp_path / "x", ["install.sh", "offmem-offline.json"])
    manifest_path = folder / "offmem-offline.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["python"]["version"] = "3.9"
    manifest_path.write_text(json.dumps(manifest))
    done = subprocess.run(["sh", str(folder / "install.sh"), str(tmp_path / "venv")], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHON": sys.executable}, timeout=300)
    assert done.returncode == 3, done.stderr
    assert "the bundle is for cpython 3.9" in done.stderr
    assert "offmem bundle --python" in done.stderr
    assert not (tmp_path / "venv").exists()


def _installed_hook(home: Path) -> str:
    settings = json.loads((home / ".claude" / "settings.json").read_text())
    commands = {h["command"] for groups in settings["hooks"].values() for g in groups for h in g["hooks"]}
    assert len(commands) == 1, commands
    return commands.pop()


def test_offline_install_then_a_captured_session_is_remembered(offline_bundle, network_guard, tmp_path):
    folder = extract(offline_bundle["archive"], tmp_path / "bundle")
    home, offmem_home, venv = tmp_path / "home", tmp_path / "home" / ".offmem", tmp_path / "home" / "venv"
    home.mkdir()
    env = offline_env(network_guard.env, home, offmem_home, PYTHON=sys.executable)
    env.pop("PIP_FIND_LINKS")  # install.sh gets nothing but its own wheels
    offmem = venv / "bin" / "offmem"
    try:
        started = time.monotonic()
        done = run(["sh", folder / "install.sh", venv, "--json"], env, cwd=tmp_path)
        install_s = time.monotonic() - started
        result = json.loads(done.stdout)
        assert result["ok"], result
        steps = {s["name"]: s for s in result["steps"]}
        assert [s["name"] for s in result["steps"]] == ["models", "runtime", "hooks", "worker", "doctor"]
        assert {m["status"] for m in steps["models"]["data"]["models"]} == {"installed"}
        assert "bundle" in steps["models"]["data"]["source"]
        assert subprocess.run([venv / "bin" / "python", "-c", "import torch"], capture_output=True).returncode != 0

        hook = _installed_hook(home)
        words = shlex.split(hook, comments=True)
        python, launcher = words[1], words[-1]  # after OFFMEM_HOME=...: the venv's interpreter, its launcher
        assert python.startswith(str(venv)) and launcher.startswith(str(venv)) and Path(launcher).is_file(), hook
        for payload in fixture_payloads():  # two real Claude Code sessions in one project, as Claude Code sends them
            if payload["hook_event_name"] == "PreToolUse":
                continue
            ran = subprocess.run(hook, shell=True, input=json.dumps(payload), capture_output=True, text=True, env=env,
                                 timeout=60)  # as Claude Code runs a hook command: through the shell
            assert ran.returncode == 0, ran.stderr

        deadline = time.monotonic() + 600  # the worker setup started compresses them with the default model
        while True:
            context = json.loads(run([offmem, "context", "--project", PROJECT, "--json"], env, cwd=tmp_path).stdout)
            if context["observation_ids"] and "RATES" in context["text"]:
                break
            assert time.monotonic() < deadline, f"no memory after 600 s: {context}"
            time.sleep(2)
        print(f"offline install: {install_s:.0f} s; bundle {offline_bundle['summary']['size'] / 2**20:.0f} MiB")
    finally:
        if offmem.exists():
            subprocess.run([offmem, "worker", "stop"], env=env, capture_output=True, timeout=60)
    assert network_guard.attempts() == [], network_guard.attempts()
